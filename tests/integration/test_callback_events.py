"""Every browser action's callback reaches the tenant once, signed, with the right body.

The widget API is driven as the iframe scripts drive it; the tenant's receiver verifies every
request with the ``standardwebhooks`` library before recording it.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import pytest
import stripe

from portal.settings import Settings
from tests.callbacks_support import Clock, Receiver, work
from tests.integration.sandbox.billing_support import advance
from tests.tokens import mint_user_token
from tests.widget_api import (
    MONTH,
    PORTAL_API,
    Widget,
    action,
    attach,
    fail_next_renewal,
    new_subscriber,
    open_renewal,
    open_widget,
)

BODY_KEYS = {"id", "event", "response", "created", "livemode", "customer"}


@pytest.fixture
def plans(stripe_client: stripe.StripeClient) -> dict[str, str]:
    def price(name: str, tier: str, amount: int) -> str:
        product = stripe_client.v1.products.create(
            params={"name": name, "metadata": {"service": "notes", "tier": tier}}
        )
        params = {
            "product": product.id,
            "currency": "usd",
            "unit_amount": amount,
            "recurring": {"interval": "month"},
        }
        return str(stripe_client.v1.prices.create(params=params).id)

    return {"pro": price("Pro", "pro", 1200), "team": price("Team", "team", 3000)}


@pytest.fixture
def tenant(create_tenant, plans: dict[str, str], receiver_port: int) -> dict[str, Any]:
    # After the plans exist: the tenant's catalog is read from Stripe when it is created.
    return create_tenant(callback_url=f"http://127.0.0.1:{receiver_port}/billing/hook")


def deliver_all(settings: Settings) -> None:
    """Run the worker until nothing is due; one customer's events go out one per round."""
    clock = Clock()
    for _ in range(30):
        if work(settings, clock) == 0:
            return
    raise AssertionError("the worker still had deliveries after 30 rounds")


def arrived(receiver: Receiver, started: float, customer: str) -> list[dict[str, Any]]:
    """The bodies received, in arrival order, each checked against the CONTRACT's shape."""
    ids = [r["id"] for r in receiver.received]
    assert [n for n in Counter(ids).values() if n > 1] == [], ids
    bodies = []
    for delivery in receiver.received:
        assert delivery["status"] == 200
        body = delivery["body"]
        assert set(body) == BODY_KEYS, body
        assert body["id"] == delivery["id"] and body["id"].startswith("evt_")
        assert body["customer"] == customer
        assert body["livemode"] is False
        assert isinstance(body["created"], int)
        assert int(started) <= body["created"] <= time.time() + 1
        bodies.append(body)
    return bodies


def price_of(subscription: dict[str, Any]) -> str:
    [item] = subscription["items"]["data"]
    return str(item["price"]["id"])


def portal_call(portal: Widget, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = portal.call("POST", path, body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def new_card(portal: Widget, client: stripe.StripeClient, test_card: str) -> str:
    """Add a card the way the portal's card form does: a SetupIntent the browser confirms."""
    setup = portal_call(portal, "/payment-methods/setup", {"action_id": action()})
    confirmed = client.v1.setup_intents.confirm(setup["id"], params={"payment_method": test_card})
    assert confirmed.status == "succeeded"
    return str(confirmed.payment_method)


def test_a_customers_journey_is_reported_once_per_action_in_order(
    api: httpx.Client,
    tenant,
    plans: dict[str, str],
    receiver: Receiver,
    portal_settings: Settings,
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
) -> None:
    started = time.time()
    token = mint_user_token(tenant, email=f"journey-{action()[:8]}@example.com")
    # What each action answered the browser, in the order the actions happened.
    answered: list[tuple[str, dict[str, Any]]] = []

    # Checkout: create_subscription, once however often the click is sent.
    checkout = open_widget(api, tenant, "checkout", token=token, price=plans["pro"])
    subscribe = {"price": plans["pro"], "action_id": action(), "payment_method": "pm_card_visa"}
    first = checkout.call("POST", "/w/api/subscribe", subscribe)
    assert first.status_code == 200, first.text
    created = first.json()["subscription"]
    again = checkout.call("POST", "/w/api/subscribe", subscribe)
    assert again.status_code == 200 and again.json()["subscription"]["id"] == created["id"]
    assert created["status"] == "active" and price_of(created) == plans["pro"]
    assert created["metadata"]["service"] == "notes" and created["metadata"]["tier"] == "pro"
    sub_id, customer = created["id"], created["customer"]
    assert customer.startswith("cus_")
    answered.append(("create_subscription", created))

    deliver_all(portal_settings)
    [delivered] = arrived(receiver, started, customer)
    assert delivered["event"] == "create_subscription"
    assert delivered["response"] == created

    # The customer portal: upgrade to Team.
    portal = open_widget(api, tenant, "customer-portal", base=PORTAL_API, token=token)
    upgrade = {"price": plans["team"], "quantity": 1, "action_id": action()}
    upgraded = portal_call(portal, f"/subscriptions/{sub_id}/change", upgrade)["subscription"]
    assert upgraded["id"] == sub_id and price_of(upgraded) == plans["team"]
    assert upgraded["status"] == "active" and upgraded["metadata"]["tier"] == "team"
    assert upgraded["metadata"]["service"] == "notes"
    repeated = portal.call("POST", f"/subscriptions/{sub_id}/change", upgrade)
    assert repeated.status_code in (200, 422), repeated.text
    answered.append(("change_plan", upgraded))

    # The plan picker: a second seat, the same click sent twice.
    picker = open_widget(api, tenant, "plan-picker", token=token)
    assert picker.config["current"]["subscription"] == sub_id
    seats = {"price": plans["team"], "quantity": 2, "action_id": action()}
    path = f"/w/api/subscriptions/{sub_id}/change"
    changed = picker.call("POST", path, seats)
    assert changed.status_code == 200, changed.text
    grown = changed.json()["subscription"]
    assert price_of(grown) == plans["team"] and grown["items"]["data"][0]["quantity"] == 2
    assert grown["metadata"]["service"] == "notes" and grown["metadata"]["tier"] == "team"
    twice = picker.call("POST", path, seats)
    assert twice.status_code == 200 and twice.json()["subscription"]["id"] == sub_id
    answered.append(("change_plan", grown))

    # Cancel at the period's end, the same click sent twice.
    cancel = {"action_id": action(), "reason": "too_expensive"}
    cancelled = portal_call(portal, f"/subscriptions/{sub_id}/cancel", cancel)["subscription"]
    assert cancelled["id"] == sub_id and cancelled["status"] == "active"
    assert cancelled["cancel_at_period_end"] is True
    assert cancelled["metadata"]["tier"] == "team"
    assert portal_call(portal, f"/subscriptions/{sub_id}/cancel", cancel)["subscription"][
        "cancel_at_period_end"
    ]
    answered.append(("cancel_subscription", cancelled))

    # Changed their mind: resubscribe undoes the cancellation.
    resume = {"action_id": action()}
    resumed = portal_call(portal, f"/subscriptions/{sub_id}/resume", resume)["subscription"]
    assert resumed["id"] == sub_id and resumed["status"] == "active"
    assert resumed["cancel_at_period_end"] is False
    assert resumed["metadata"]["service"] == "notes" and resumed["metadata"]["tier"] == "team"
    again_resumed = portal.call("POST", f"/subscriptions/{sub_id}/resume", resume)
    assert again_resumed.status_code in (200, 409), again_resumed.text
    answered.append(("resubscribe", resumed))

    # A new default card (one whose later charges fail), the same click sent twice.
    failing = new_card(portal, stripe_client, "pm_card_chargeCustomerFail")
    make_default = {"action_id": action()}
    made = portal_call(portal, f"/payment-methods/{failing}/default", make_default)
    assert made["payment_method"]["id"] == failing
    assert made["payment_method"]["object"] == "payment_method"
    assert made["payment_method"]["customer"] == customer
    assert made["subscriptions"] == [sub_id]
    again_made = portal_call(portal, f"/payment-methods/{failing}/default", make_default)
    assert again_made["payment_method"]["id"] == failing
    answered.append(("update_payment_method", made["payment_method"]))

    # The renewal is declined; the customer pays the open invoice with another card.
    advance(sandbox_url, sandbox_account, MONTH)
    invoice = open_renewal(stripe_client, sub_id)
    good = new_card(portal, stripe_client, "pm_card_visa")
    pay = {"action_id": action(), "payment_method": good}
    paid = portal_call(portal, f"/invoices/{invoice}/pay", pay)["invoice"]
    assert paid["id"] == invoice and paid["status"] == "paid"
    assert paid["customer"] == customer
    assert stripe_client.v1.invoices.retrieve(invoice).status == "paid"
    again_paid = portal.call("POST", f"/invoices/{invoice}/pay", pay)
    assert again_paid.status_code == 409, again_paid.text
    answered.append(("pay_invoice", paid))

    deliver_all(portal_settings)
    bodies = arrived(receiver, started, customer)
    assert [(b["event"], b["response"]) for b in bodies] == answered
    assert Counter(b["event"] for b in bodies) == {
        "create_subscription": 1,
        "change_plan": 2,
        "cancel_subscription": 1,
        "resubscribe": 1,
        "update_payment_method": 1,
        "pay_invoice": 1,
    }
    pay_invoice = bodies[-1]["response"]
    assert pay_invoice["object"] == "invoice" and pay_invoice["amount_remaining"] == 0
    assert pay_invoice["parent"]["subscription_details"]["subscription"] == sub_id

    # Sent once more after delivery, the actions still add nothing.
    checkout.call("POST", "/w/api/subscribe", subscribe)
    picker.call("POST", path, seats)
    portal.call("POST", f"/payment-methods/{failing}/default", make_default)
    portal.call("POST", f"/invoices/{invoice}/pay", pay)
    assert work(portal_settings, Clock()) == 0
    assert len(receiver.received) == len(answered)


def test_resubscribing_after_the_subscription_ended(
    api: httpx.Client,
    tenant,
    plans: dict[str, str],
    receiver: Receiver,
    portal_settings: Settings,
    stripe_client: stripe.StripeClient,
) -> None:
    started = time.time()
    options = api.patch(
        "/api/v1/tenant",
        headers={"Authorization": f"Bearer {tenant['secret_key']}"},
        json={"widget_options": {"cancel_mode": "immediately"}},
    )
    assert options.status_code == 200, options.text
    token = mint_user_token(tenant, email=f"returning-{action()[:8]}@example.com")
    checkout = open_widget(api, tenant, "checkout", token=token, price=plans["team"])
    subscribe = {"price": plans["team"], "action_id": action(), "payment_method": "pm_card_visa"}
    first = checkout.call("POST", "/w/api/subscribe", subscribe)
    assert first.status_code == 200, first.text
    created = first.json()["subscription"]
    customer = created["customer"]

    portal = open_widget(api, tenant, "customer-portal", base=PORTAL_API, token=token)
    cancel = {"action_id": action()}
    ended = portal_call(portal, f"/subscriptions/{created['id']}/cancel", cancel)["subscription"]
    assert ended["id"] == created["id"] and ended["status"] == "canceled"

    resume = {"action_id": action()}
    back = portal_call(portal, f"/subscriptions/{created['id']}/resume", resume)["subscription"]
    assert back["id"] != created["id"] and back["customer"] == customer
    assert back["status"] == "active" and price_of(back) == plans["team"]
    assert back["metadata"]["service"] == "notes" and back["metadata"]["tier"] == "team"
    assert back["metadata"]["billport_resubscribed_from"] == created["id"]
    again = portal.call("POST", f"/subscriptions/{created['id']}/resume", resume)
    assert again.status_code in (200, 409), again.text
    live = stripe_client.v1.subscriptions.list(params={"customer": customer}).data
    assert [s.id for s in live] == [back["id"]]

    deliver_all(portal_settings)
    bodies = arrived(receiver, started, customer)
    assert [(b["event"], b["response"]) for b in bodies] == [
        ("create_subscription", created),
        ("cancel_subscription", ended),
        ("resubscribe", back),
    ]


def test_an_invoice_paid_after_three_d_secure_is_reported_once(
    api: httpx.Client,
    tenant,
    plans: dict[str, str],
    receiver: Receiver,
    portal_settings: Settings,
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
) -> None:
    started = time.time()
    ada = new_subscriber(stripe_client, plans["pro"])
    invoice = fail_next_renewal(stripe_client, ada, sandbox_url, sandbox_account)
    token = mint_user_token(tenant, customer_id=ada.customer)
    portal = open_widget(api, tenant, "invoices", base=PORTAL_API, token=token)
    card = attach(stripe_client, ada.customer, "pm_card_authenticationRequired")

    asked = portal_call(portal, f"/invoices/{invoice}/pay", {"payment_method": card})
    assert asked["invoice"]["status"] == "open" and asked["client_secret"]
    secret = asked["client_secret"]
    authenticated = httpx.post(
        f"{sandbox_url}/v1/payment_intents/{secret.split('_secret_')[0]}/_sandbox_authenticate",
        data={"client_secret": secret, "outcome": "complete"},
        headers={"Authorization": f"Bearer pk_test_{sandbox_account}"},
    )
    assert authenticated.status_code == 200, authenticated.text
    # The script asks again once 3D Secure is done; a reload of the widget asks once more.
    paid = portal_call(portal, f"/invoices/{invoice}/refresh", {})["invoice"]
    assert paid["id"] == invoice and paid["status"] == "paid"
    assert portal_call(portal, f"/invoices/{invoice}/refresh", {})["invoice"]["status"] == "paid"

    deliver_all(portal_settings)
    bodies = arrived(receiver, started, ada.customer)
    assert [(b["event"], b["response"]) for b in bodies] == [("pay_invoice", paid)]
    assert bodies[0]["response"]["customer"] == ada.customer
