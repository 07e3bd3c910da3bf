"""The portal's payment methods, invoices and billing details API, over HTTP on the sandbox."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe

from tests.tokens import mint_user_token
from tests.widget_api import (
    ORIGIN,
    PORTAL_API,
    Subscriber,
    Widget,
    action,
    attach,
    fail_next_renewal,
    new_subscriber,
    open_widget,
    page_config,
)
from widgets.portal.details import tax_id_error


def open_portal(
    api: httpx.Client, tenant: dict[str, Any], customer: str, widget: str = "customer-portal"
) -> Widget:
    token = mint_user_token(tenant, customer_id=customer)
    return open_widget(api, tenant, widget, base=PORTAL_API, token=token)


@pytest.fixture
def price(stripe_client: stripe.StripeClient) -> str:
    product = stripe_client.v1.products.create(
        params={"name": "Pro", "metadata": {"service": "notes", "tier": "pro"}}
    )
    return str(
        stripe_client.v1.prices.create(
            params={
                "product": product.id,
                "currency": "usd",
                "unit_amount": 1200,
                "recurring": {"interval": "month"},
            }
        ).id
    )


@pytest.fixture
def subscriber(stripe_client: stripe.StripeClient, price: str):
    def make(name: str = "Ada") -> Subscriber:
        return new_subscriber(stripe_client, price, name)

    return make


def one_off_invoice(client: stripe.StripeClient, customer: str) -> str:
    """An open invoice outside any subscription (a set-up fee), left for the customer to pay."""
    client.v1.invoice_items.create(
        params={"customer": customer, "amount": 500, "currency": "usd", "description": "Setup"}
    )
    invoice = client.v1.invoices.create(
        params={"customer": customer, "pending_invoice_items_behavior": "include"}
    )
    client.v1.invoices.finalize_invoice(invoice.id, params={"auto_advance": False})
    return str(invoice.id)


def default_card(client: stripe.StripeClient, customer: str) -> str | None:
    found = client.v1.customers.retrieve(customer).invoice_settings.default_payment_method
    return str(found) if found else None


# -- payment methods ----------------------------------------------------------------------
def test_add_a_card_make_it_default_and_remove_the_old_one(
    api: httpx.Client, create_tenant, subscriber, stripe_client: stripe.StripeClient
) -> None:
    tenant = create_tenant()
    ada = subscriber()
    widget = open_portal(api, tenant, ada.customer)

    listed = widget.call("GET", "/payment-methods")
    assert listed.status_code == 200, listed.text
    assert listed.json()["payment_methods"] == [
        {
            "id": ada.card,
            "brand": "visa",
            "last4": "4242",
            "exp_month": listed.json()["payment_methods"][0]["exp_month"],
            "exp_year": listed.json()["payment_methods"][0]["exp_year"],
            "default": True,
        }
    ]

    setup_action = action()
    setup = widget.call("POST", "/payment-methods/setup", {"action_id": setup_action})
    assert setup.status_code == 200, setup.text
    secret = setup.json()["client_secret"]
    intent = stripe_client.v1.setup_intents.retrieve(setup.json()["id"])
    assert intent.customer == ada.customer
    assert intent.usage == "off_session"
    again = widget.call("POST", "/payment-methods/setup", {"action_id": setup_action})
    assert again.json()["client_secret"] == secret
    confirmed = stripe_client.v1.setup_intents.confirm(
        intent.id, params={"payment_method": "pm_card_mastercard"}
    )
    assert confirmed.status == "succeeded"
    new_card = str(confirmed.payment_method)

    cards = widget.call("GET", "/payment-methods").json()["payment_methods"]
    assert {c["id"]: c["default"] for c in cards} == {ada.card: True, new_card: False}
    assert {c["brand"] for c in cards} == {"visa", "mastercard"}

    made = widget.call("POST", f"/payment-methods/{new_card}/default", {"action_id": action()})
    assert made.status_code == 200, made.text
    assert made.json()["payment_method"]["id"] == new_card
    assert made.json()["subscriptions"] == [ada.subscription]
    assert default_card(stripe_client, ada.customer) == new_card
    sub = stripe_client.v1.subscriptions.retrieve(ada.subscription)
    assert sub.default_payment_method == new_card

    refused = widget.call("DELETE", f"/payment-methods/{new_card}")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "default_payment_method"
    assert stripe_client.v1.payment_methods.retrieve(new_card).customer == ada.customer

    removed = widget.call("DELETE", f"/payment-methods/{ada.card}")
    assert removed.status_code == 200, removed.text
    assert stripe_client.v1.payment_methods.retrieve(ada.card).customer is None
    assert widget.call("DELETE", f"/payment-methods/{ada.card}").status_code == 404
    cards = widget.call("GET", "/payment-methods").json()["payment_methods"]
    assert [c["id"] for c in cards] == [new_card]


def test_a_card_paying_a_subscription_is_not_removed(
    api: httpx.Client, create_tenant, subscriber, stripe_client: stripe.StripeClient
) -> None:
    tenant = create_tenant()
    ada = subscriber()
    other = attach(stripe_client, ada.customer, "pm_card_mastercard")
    stripe_client.v1.subscriptions.update(
        ada.subscription, params={"default_payment_method": other}
    )
    widget = open_portal(api, tenant, ada.customer)
    refused = widget.call("DELETE", f"/payment-methods/{other}")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "subscription_payment_method"
    assert stripe_client.v1.payment_methods.retrieve(other).customer == ada.customer


def test_payment_method_routes_refuse_bad_input(
    api: httpx.Client, create_tenant, subscriber, stripe_client: stripe.StripeClient
) -> None:
    tenant = create_tenant()
    ada = subscriber()
    widget = open_portal(api, tenant, ada.customer)
    for body in ({}, {"action_id": "short"}, {"action_id": action(), "extra": 1}, None):
        answer = widget.call("POST", "/payment-methods/setup", body)
        assert answer.status_code in (400, 422), (body, answer.text)
        assert set(answer.json()) == {"error"}
    for card in ("pm_card_visa", "pm_doesnotexist", "cus_123", "x" * 300, ada.subscription):
        made = widget.call("POST", f"/payment-methods/{card}/default", {"action_id": action()})
        assert made.status_code == 404, (card, made.text)
        assert widget.call("DELETE", f"/payment-methods/{card}").status_code == 404
    assert default_card(stripe_client, ada.customer) == ada.card
    assert api.get("/w/api/portal/payment-methods").status_code == 401
    tampered = {next(iter(widget.headers)): "nonsense"}
    assert api.get("/w/api/portal/payment-methods", headers=tampered).status_code == 401


def test_only_the_portal_manages_cards_and_details(
    api: httpx.Client, create_tenant, subscriber
) -> None:
    tenant = create_tenant()
    ada = subscriber()
    invoices = open_portal(api, tenant, ada.customer, "invoices")
    assert invoices.call("GET", "/invoices").status_code == 200
    assert invoices.call("GET", "/payment-methods").status_code == 403
    assert (
        invoices.call("POST", "/payment-methods/setup", {"action_id": action()}).status_code == 403
    )
    assert invoices.call("GET", "/details").status_code == 403
    picker = open_portal(api, tenant, ada.customer, "plan-picker")
    assert picker.call("GET", "/invoices").status_code == 403
    assert picker.call("GET", "/payment-methods").status_code == 403


def test_a_user_without_a_customer_sees_empty_lists(api: httpx.Client, create_tenant) -> None:
    tenant = create_tenant()
    token = mint_user_token(tenant, email=f"new-{action()[:6]}@example.com")
    page = api.get(
        "/w/customer-portal",
        params={"key": tenant["publishable_key"], "origin": ORIGIN, "token": token},
    )
    widget = Widget(api, page_config(page.text), PORTAL_API)
    assert widget.call("GET", "/payment-methods").json() == {"payment_methods": []}
    assert widget.call("GET", "/invoices").json() == {"invoices": []}
    assert widget.call("GET", "/details").json()["name"] is None
    setup = widget.call("POST", "/payment-methods/setup", {"action_id": action()})
    assert setup.status_code == 404
    assert setup.json()["error"]["code"] == "customer_not_found"


# -- invoices -----------------------------------------------------------------------------
def test_invoices_newest_first_with_pdf_and_the_show_all_option(
    api: httpx.Client, create_tenant, subscriber, stripe_client: stripe.StripeClient
) -> None:
    tenant = create_tenant()
    ada = subscriber()
    one_off = one_off_invoice(stripe_client, ada.customer)
    stripe_client.v1.invoices.create(params={"customer": ada.customer})  # stays a draft

    widget = open_portal(api, tenant, ada.customer)
    answer = widget.call("GET", "/invoices")
    assert answer.status_code == 200, answer.text
    invoices = answer.json()["invoices"]
    assert len(invoices) == 1
    first = invoices[0]
    assert first["subscription"] == ada.subscription
    assert first["status"] == "paid"
    assert first["total"] == 1200 and first["currency"] == "usd"
    assert first["number"] and first["created"]
    assert first["hosted_invoice_url"].startswith("http")
    pdf = httpx.get(first["invoice_pdf"])
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")

    api.patch(
        "/api/v1/tenant",
        headers={"Authorization": f"Bearer {tenant['secret_key']}"},
        json={"widget_options": {"show_all_invoices": True}},
    )
    every = open_portal(api, tenant, ada.customer).call("GET", "/invoices").json()["invoices"]
    assert [i["id"] for i in every] == [one_off, first["id"]]
    assert every[0]["subscription"] is None and every[0]["status"] == "open"
    assert all(i["status"] != "draft" for i in every)


def test_pay_a_past_due_invoice_after_a_decline(
    api: httpx.Client,
    create_tenant,
    subscriber,
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
) -> None:
    tenant = create_tenant()
    ada = subscriber()
    invoice = fail_next_renewal(stripe_client, ada, sandbox_url, sandbox_account)
    widget = open_portal(api, tenant, ada.customer)
    listed = widget.call("GET", "/invoices").json()["invoices"]
    assert [i["status"] for i in listed] == ["open", "paid"]

    declined = widget.call("POST", f"/invoices/{invoice}/pay", {"action_id": action()})
    assert declined.status_code == 402
    assert "declined" in declined.json()["error"]["message"]
    assert stripe_client.v1.invoices.retrieve(invoice).status == "open"

    good = attach(stripe_client, ada.customer, "pm_card_visa")
    paid = widget.call(
        "POST", f"/invoices/{invoice}/pay", {"action_id": action(), "payment_method": good}
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["invoice"]["id"] == invoice
    assert paid.json()["invoice"]["status"] == "paid"
    assert "client_secret" not in paid.json()
    assert stripe_client.v1.invoices.retrieve(invoice).status == "paid"
    assert stripe_client.v1.subscriptions.retrieve(ada.subscription).status == "active"

    twice = widget.call("POST", f"/invoices/{invoice}/pay", {"action_id": action()})
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "invoice_already_paid"


def test_pay_with_three_d_secure_then_refresh(
    api: httpx.Client,
    create_tenant,
    subscriber,
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
) -> None:
    tenant = create_tenant()
    ada = subscriber()
    invoice = fail_next_renewal(stripe_client, ada, sandbox_url, sandbox_account)
    card = attach(stripe_client, ada.customer, "pm_card_authenticationRequired")
    widget = open_portal(api, tenant, ada.customer)
    body = {"action_id": action(), "payment_method": card}
    answer = widget.call("POST", f"/invoices/{invoice}/pay", body)
    assert answer.status_code == 200, answer.text
    secret = answer.json()["client_secret"]
    assert answer.json()["invoice"]["status"] == "open"
    intent = secret.split("_secret_")[0]
    authenticated = httpx.post(
        f"{sandbox_url}/v1/payment_intents/{intent}/_sandbox_authenticate",
        data={"client_secret": secret, "outcome": "complete"},
        headers={"Authorization": f"Bearer pk_test_{sandbox_account}"},
    )
    assert authenticated.status_code == 200, authenticated.text
    refreshed = widget.call("POST", f"/invoices/{invoice}/refresh")
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["invoice"]["status"] == "paid"
    assert stripe_client.v1.subscriptions.retrieve(ada.subscription).status == "active"


def test_invoice_routes_refuse_bad_input(
    api: httpx.Client, create_tenant, subscriber, stripe_client: stripe.StripeClient
) -> None:
    tenant = create_tenant()
    ada = subscriber()
    widget = open_portal(api, tenant, ada.customer)
    paid = stripe_client.v1.invoices.list(params={"customer": ada.customer}).data[0]
    for invoice in ("in_nope", "sub_123", "x" * 300, ada.subscription):
        assert widget.call("POST", f"/invoices/{invoice}/pay", {}).status_code == 404
        assert widget.call("POST", f"/invoices/{invoice}/refresh").status_code == 404
    assert widget.call("POST", f"/invoices/{paid.id}/pay", {"action_id": 5}).status_code in (
        400,
        422,
    )
    assert widget.call("POST", f"/invoices/{paid.id}/pay", {}).status_code == 409


# -- billing details ----------------------------------------------------------------------
def details(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "action_id": action(),
        "name": "Ada Lovelace Ltd",
        "phone": "+44 20 7946 0000",
        "address": {
            "line1": "12 St James's Square",
            "line2": "Floor 2",
            "city": "London",
            "postal_code": "SW1Y 4JH",
            "state": "",
            "country": "GB",
        },
    }
    body.update(changes)
    return body


def test_billing_details_are_saved_on_the_customer(
    api: httpx.Client, create_tenant, subscriber, stripe_client: stripe.StripeClient
) -> None:
    tenant = create_tenant()
    ada = subscriber()
    widget = open_portal(api, tenant, ada.customer)
    shown = widget.call("GET", "/details")
    assert shown.status_code == 200, shown.text
    assert shown.json()["name"] == "Ada"
    assert shown.json()["email"].startswith("ada-")
    assert "GB" in shown.json()["countries"] and "EU" not in shown.json()["countries"]
    assert "eu_vat" in [t["type"] for t in shown.json()["tax_id_types"]]

    saved = widget.call("POST", "/details", details())
    assert saved.status_code == 200, saved.text
    assert saved.json()["name"] == "Ada Lovelace Ltd"
    customer = stripe_client.v1.customers.retrieve(ada.customer)
    assert customer.name == "Ada Lovelace Ltd"
    assert customer.phone == "+44 20 7946 0000"
    assert customer.address.line1 == "12 St James's Square"
    assert customer.address.city == "London"
    assert customer.address.postal_code == "SW1Y 4JH"
    assert customer.address.country == "GB"


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 257}, "name"),
        ({"phone": "call me"}, "phone"),
        ({"address": {"city": "London", "country": "GB"}}, "address.line1"),
        ({"address": {"line1": "1 Main St", "city": "Paris", "country": "XX"}}, "address.country"),
        ({"address": {"line1": "1 Main St", "city": "Paris", "country": "fra"}}, "address.country"),
        ({"address": {"line1": "1", "city": "P" * 101, "country": "FR"}}, "address.city"),
        ({"tax_id": {"type": "xx_vat", "value": "1"}}, "tax_id.type"),
        ({"tax_id": {"type": "eu_vat", "value": "DE12"}}, "tax_id.value"),
        ({"tax_id": {"type": "eu_vat", "value": "US123456789"}}, "tax_id.value"),
        ({"tax_id": {"type": "gb_vat", "value": ""}}, "tax_id.value"),
        ({"tax_id": {"type": "us_ein", "value": "12-34"}}, "tax_id.value"),
    ],
)
def test_billing_details_are_checked_before_stripe(
    api: httpx.Client,
    create_tenant,
    subscriber,
    stripe_client: stripe.StripeClient,
    changes: dict[str, Any],
    param: str,
) -> None:
    tenant = create_tenant()
    ada = subscriber()
    widget = open_portal(api, tenant, ada.customer)
    answer = widget.call("POST", "/details", details(**changes))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["param"] == param
    assert answer.json()["error"]["message"]
    customer = stripe_client.v1.customers.retrieve(ada.customer)
    assert customer.name == "Ada" and customer.address is None


def test_malformed_details_are_refused(api: httpx.Client, create_tenant, subscriber) -> None:
    tenant = create_tenant()
    widget = open_portal(api, tenant, subscriber().customer)
    for body in ({"name": "A"}, details(address="London"), details(unknown=1), details(name=3)):
        answer = widget.call("POST", "/details", body)
        assert answer.status_code in (400, 422), (body, answer.text)
        assert set(answer.json()) == {"error"}


def test_stripe_refusing_a_tax_id_is_answered_next_to_the_field() -> None:
    refused = stripe.InvalidRequestError(
        "Invalid value for eu_vat.", "value", code="tax_id_invalid", http_status=400
    )
    error = tax_id_error(refused)
    assert (error.status_code, error.code, error.param) == (422, "tax_id_invalid", "tax_id.value")
    assert error.message == "Invalid value for eu_vat."
    other = tax_id_error(stripe.APIConnectionError("down"))
    assert other.status_code == 503 and other.retryable


# -- one customer never reaches another's billing ------------------------------------------
def test_a_customer_cannot_reach_another_customers_billing(
    api: httpx.Client,
    create_tenant,
    subscriber,
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
) -> None:
    tenant = create_tenant()
    ada, bob = subscriber("Ada"), subscriber("Bob")
    bob_spare = attach(stripe_client, bob.customer, "pm_card_mastercard")
    bob_invoice = fail_next_renewal(stripe_client, bob, sandbox_url, sandbox_account)
    bob_default = default_card(stripe_client, bob.customer)
    ada_widget = open_portal(api, tenant, ada.customer)

    ada_invoice = one_off_invoice(stripe_client, ada.customer)
    for card in (bob.card, bob_spare, bob_default):
        made = ada_widget.call("POST", f"/payment-methods/{card}/default", {"action_id": action()})
        assert made.status_code == 404, made.text
        assert ada_widget.call("DELETE", f"/payment-methods/{card}").status_code == 404
        with_bobs_card = ada_widget.call(
            "POST", f"/invoices/{ada_invoice}/pay", {"action_id": action(), "payment_method": card}
        )
        assert with_bobs_card.status_code == 404, with_bobs_card.text
    assert stripe_client.v1.invoices.retrieve(ada_invoice).status == "open"
    paying = ada_widget.call(
        "POST", f"/invoices/{bob_invoice}/pay", {"action_id": action(), "payment_method": ada.card}
    )
    assert paying.status_code == 404
    assert ada_widget.call("POST", f"/invoices/{bob_invoice}/pay", {}).status_code == 404
    assert ada_widget.call("POST", f"/invoices/{bob_invoice}/refresh").status_code == 404
    saved = ada_widget.call("POST", "/details", details(name="Mallory"))
    assert saved.status_code == 200
    setup = ada_widget.call("POST", "/payment-methods/setup", {"action_id": action()})
    assert stripe_client.v1.setup_intents.retrieve(setup.json()["id"]).customer == ada.customer

    seen_cards = ada_widget.call("GET", "/payment-methods").json()["payment_methods"]
    assert [c["id"] for c in seen_cards] == [ada.card]
    seen_invoices = ada_widget.call("GET", "/invoices").json()["invoices"]
    assert bob_invoice not in [i["id"] for i in seen_invoices]

    # Bob's billing is exactly as it was.
    assert default_card(stripe_client, bob.customer) == bob_default
    for card in (bob.card, bob_spare):
        assert stripe_client.v1.payment_methods.retrieve(card).customer == bob.customer
    assert stripe_client.v1.invoices.retrieve(bob_invoice).status == "open"
    assert stripe_client.v1.subscriptions.retrieve(bob.subscription).status == "past_due"
    bob_customer = stripe_client.v1.customers.retrieve(bob.customer)
    assert bob_customer.name == "Bob" and bob_customer.address is None
