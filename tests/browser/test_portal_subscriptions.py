"""The customer portal's subscriptions in Chromium: change, cancel, keep, resubscribe, usage."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe
from playwright.sync_api import Page, expect

from tests.browser.host import HostSite, events, open_page, payload, widget_div
from tests.servers import ServerThread
from tests.tokens import mint_user_token


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[HostSite, str]]:
    app = HostSite()
    with ServerThread(app) as server:
        yield app, server.url


@pytest.fixture
def tenant(create_tenant, site) -> dict[str, Any]:
    return create_tenant(allowed_origins=[site[1]])


@pytest.fixture
def plans(stripe_client: stripe.StripeClient) -> dict[str, str]:
    def product(name: str, tier: str) -> str:
        params = {"name": name, "metadata": {"service": "notes", "tier": tier}}
        return str(stripe_client.v1.products.create(params=params).id)

    def price(product_id: str, amount: int, interval: str = "month") -> str:
        params = {
            "product": product_id,
            "currency": "usd",
            "unit_amount": amount,
            "recurring": {"interval": interval},
        }
        return str(stripe_client.v1.prices.create(params=params).id)

    starter, pro = product("Starter", "starter"), product("Pro", "pro")
    return {
        "starter": price(starter, 1000),
        "pro": price(pro, 2000),
        "pro_year": price(pro, 20000, "year"),
    }


def set_options(api: httpx.Client, tenant: dict[str, Any], **options: Any) -> None:
    answer = api.patch(
        "/api/v1/tenant",
        headers={"Authorization": f"Bearer {tenant['secret_key']}"},
        json={"widget_options": options},
    )
    assert answer.status_code == 200, answer.text


def subscriber(client: stripe.StripeClient, price: str, **extra: Any) -> tuple[str, str]:
    """A customer with a card and a subscription; answers (email, subscription id)."""
    email = f"sub-{uuid.uuid4().hex[:8]}@example.com"
    customer = client.v1.customers.create(params={"email": email})
    card = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": card.id}}
    )
    sub = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price}], **extra}
    )
    return email, str(sub.id)


def open_portal(page: Page, site, portal_url: str, tenant: dict[str, Any], email: str):
    token = mint_user_token(tenant, email=email)
    frame = open_page(
        page, site, portal_url, widget_div("customer-portal", tenant["publishable_key"], token)
    )
    expect(frame.get_by_role("tab", name="Subscriptions")).to_have_attribute(
        "aria-selected", "true"
    )
    return frame


def test_upgrade_with_a_preview(
    page: Page, portal_url: str, site, tenant, plans, stripe_client: stripe.StripeClient
) -> None:
    email, sub_id = subscriber(stripe_client, plans["starter"])
    frame = open_portal(page, site, portal_url, tenant, email)
    expect(frame.get_by_role("heading", name="Starter")).to_be_visible()
    expect(frame.get_by_text("Renews on")).to_be_visible()
    frame.get_by_role("button", name="Change plan").click()
    frame.get_by_label("Pro — $20 / month").check()
    expect(frame.get_by_text("Due now")).to_be_visible()
    frame.get_by_role("button", name="Confirm change").click()
    expect(frame.get_by_role("heading", name="Pro")).to_be_visible()
    assert events(page)[-2:] == ["pre_change_plan", "change_plan"]
    assert payload(page, "change_plan")["response"]["id"] == sub_id
    sub = stripe_client.v1.subscriptions.retrieve(sub_id)
    assert sub["items"]["data"][0]["price"]["id"] == plans["pro"]
    assert sub.metadata["tier"] == "pro"


def test_interval_change_to_yearly(
    page: Page, portal_url: str, site, tenant, plans, stripe_client: stripe.StripeClient
) -> None:
    email, sub_id = subscriber(stripe_client, plans["pro"])
    frame = open_portal(page, site, portal_url, tenant, email)
    frame.get_by_role("button", name="Change plan").click()
    frame.get_by_label("Pro — $200 / year").check()
    expect(frame.get_by_text("Due now")).to_be_visible()
    frame.get_by_role("button", name="Confirm change").click()
    expect(frame.locator(".bp-facts dd", has_text="$200 / year")).to_be_visible()
    assert events(page)[-2:] == ["pre_change_plan", "change_plan"]
    sub = stripe_client.v1.subscriptions.retrieve(sub_id)
    assert sub["items"]["data"][0]["price"]["id"] == plans["pro_year"]


def test_downgrade_waits_for_the_renewal(
    page: Page,
    portal_url: str,
    site,
    tenant,
    plans,
    api,
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
) -> None:
    set_options(api, tenant, proration_behavior="downgrade_at_period_end")
    email, sub_id = subscriber(stripe_client, plans["pro"])
    frame = open_portal(page, site, portal_url, tenant, email)
    frame.get_by_role("button", name="Change plan").click()
    frame.get_by_label("Starter — $10 / month").check()
    expect(frame.get_by_text("Nothing is charged now.")).to_be_visible()
    frame.get_by_role("button", name="Confirm change").click()
    expect(frame.get_by_text("Changes to Starter ($10 / month) on")).to_be_visible()
    assert events(page)[-2:] == ["pre_change_plan", "change_plan"]
    sub = stripe_client.v1.subscriptions.retrieve(sub_id)
    assert sub["items"]["data"][0]["price"]["id"] == plans["pro"]
    assert sub.schedule

    advance = {"account": sandbox_account, "seconds": 32 * 86400}
    assert httpx.post(f"{sandbox_url}/_sandbox/clock/advance", json=advance).status_code == 200
    sub = stripe_client.v1.subscriptions.retrieve(sub_id, params={"expand": ["latest_invoice"]})
    assert sub["items"]["data"][0]["price"]["id"] == plans["starter"]
    assert sub.latest_invoice.total == 1000
    assert sub.metadata["tier"] == "starter"


def test_a_waiting_downgrade_can_be_dropped(
    page: Page, portal_url: str, site, tenant, plans, api, stripe_client: stripe.StripeClient
) -> None:
    set_options(api, tenant, proration_behavior="downgrade_at_period_end")
    email, sub_id = subscriber(stripe_client, plans["pro"])
    frame = open_portal(page, site, portal_url, tenant, email)
    frame.get_by_role("button", name="Change plan").click()
    frame.get_by_label("Starter — $10 / month").check()
    frame.get_by_role("button", name="Confirm change").click()
    frame.get_by_role("button", name="Keep Pro").click()
    expect(frame.get_by_text("Changes to Starter")).to_have_count(0)
    assert not stripe_client.v1.subscriptions.retrieve(sub_id).schedule
    assert events(page)[-1] == "change_plan"


def test_upgrades_apply_at_once_when_downgrades_wait(
    page: Page, portal_url: str, site, tenant, plans, api, stripe_client: stripe.StripeClient
) -> None:
    set_options(api, tenant, proration_behavior="downgrade_at_period_end")
    email, sub_id = subscriber(stripe_client, plans["starter"])
    frame = open_portal(page, site, portal_url, tenant, email)
    frame.get_by_role("button", name="Change plan").click()
    frame.get_by_label("Pro — $20 / month").check()
    expect(frame.get_by_text("Due now")).to_be_visible()
    frame.get_by_role("button", name="Confirm change").click()
    expect(frame.get_by_role("heading", name="Pro")).to_be_visible()
    sub = stripe_client.v1.subscriptions.retrieve(sub_id)
    assert sub["items"]["data"][0]["price"]["id"] == plans["pro"]
    assert not sub.schedule


def test_seat_change(
    page: Page, portal_url: str, site, tenant, plans, api, stripe_client: stripe.StripeClient
) -> None:
    set_options(api, tenant, quantity={"min": 1, "max": 20})
    email, sub_id = subscriber(stripe_client, plans["pro"])
    frame = open_portal(page, site, portal_url, tenant, email)
    frame.get_by_role("button", name="Change plan").click()
    frame.get_by_label("Seats").fill("4")
    frame.get_by_label("Seats").press("Tab")
    expect(frame.get_by_text("Due now")).to_be_visible()
    frame.get_by_role("button", name="Confirm change").click()
    expect(frame.locator(".bp-facts dd", has_text="4")).to_be_visible()
    assert events(page)[-2:] == ["pre_change_plan", "change_plan"]
    sub = stripe_client.v1.subscriptions.retrieve(sub_id)
    assert sub["items"]["data"][0]["quantity"] == 4


def test_cancel_at_period_end_with_a_reason_then_keep_it(
    page: Page, portal_url: str, site, tenant, plans, stripe_client: stripe.StripeClient
) -> None:
    email, sub_id = subscriber(stripe_client, plans["pro"])
    frame = open_portal(page, site, portal_url, tenant, email)
    frame.get_by_role("button", name="Cancel subscription").click()
    frame.get_by_label("It's too expensive").check()
    frame.get_by_label("Anything else we should know? (optional)").fill("Budget cuts")
    frame.get_by_role("button", name="Cancel subscription").last.click()
    expect(frame.get_by_text("Your subscription ends on")).to_be_visible()
    assert payload(page, "cancel_subscription")["response"]["id"] == sub_id
    sub = stripe_client.v1.subscriptions.retrieve(sub_id)
    assert sub.cancel_at_period_end is True
    assert sub.cancellation_details.feedback == "too_expensive"
    assert sub.cancellation_details.comment == "Budget cuts"

    frame.get_by_role("button", name="Keep my subscription").click()
    expect(frame.get_by_text("Your subscription ends on")).to_have_count(0)
    assert events(page)[-2:] == ["pre_resubscribe", "resubscribe"]
    assert stripe_client.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False


def test_cancel_immediately_when_the_tenant_says_so(
    page: Page, portal_url: str, site, tenant, plans, api, stripe_client: stripe.StripeClient
) -> None:
    set_options(api, tenant, cancel_mode="immediately")
    email, sub_id = subscriber(stripe_client, plans["pro"])
    frame = open_portal(page, site, portal_url, tenant, email)
    frame.get_by_role("button", name="Cancel subscription").click()
    frame.get_by_label("I don't use it enough").check()
    frame.get_by_role("button", name="Cancel subscription").last.click()
    expect(frame.get_by_text("Ended", exact=True)).to_be_visible()
    expect(frame.get_by_role("button", name="Subscribe again")).to_be_visible()
    assert events(page)[-1] == "cancel_subscription"
    assert payload(page, "cancel_subscription")["response"]["status"] == "canceled"
    sub = stripe_client.v1.subscriptions.retrieve(sub_id)
    assert sub.status == "canceled"
    assert sub.cancellation_details.feedback == "unused"


def test_retention_offer_is_shown_once_and_keeps_the_customer(
    page: Page, portal_url: str, site, tenant, plans, api, stripe_client: stripe.StripeClient
) -> None:
    coupon = stripe_client.v1.coupons.create(
        params={"percent_off": 50, "duration": "repeating", "duration_in_months": 3}
    )
    set_options(
        api,
        tenant,
        retention_coupon=coupon.id,
        retention_message="Stay and get 50% off for three months.",
    )
    email, sub_id = subscriber(stripe_client, plans["pro"])
    frame = open_portal(page, site, portal_url, tenant, email)
    frame.get_by_role("button", name="Cancel subscription").click()
    frame.get_by_role("button", name="Cancel subscription").last.click()
    expect(frame.get_by_text("Stay and get 50% off for three months.")).to_be_visible()
    frame.get_by_role("button", name="Accept offer").click()
    expect(frame.get_by_text("Stay and get 50% off")).to_have_count(0)
    sub = stripe_client.v1.subscriptions.retrieve(sub_id, params={"expand": ["discounts"]})
    assert sub.cancel_at_period_end is False
    assert [d.source.coupon for d in sub.discounts] == [coupon.id]
    assert "cancel_subscription" not in events(page)

    # Offered once: cancelling again goes straight through.
    frame.get_by_role("button", name="Cancel subscription").click()
    frame.get_by_role("button", name="Cancel subscription").last.click()
    expect(frame.get_by_text("Your subscription ends on")).to_be_visible()
    assert stripe_client.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is True


def test_resubscribe_after_the_end_makes_a_new_subscription(
    page: Page, portal_url: str, site, tenant, plans, stripe_client: stripe.StripeClient
) -> None:
    email, sub_id = subscriber(stripe_client, plans["pro"])
    stripe_client.v1.subscriptions.cancel(sub_id)
    frame = open_portal(page, site, portal_url, tenant, email)
    expect(frame.get_by_text("Ended", exact=True)).to_be_visible()
    frame.get_by_role("button", name="Subscribe again").click()
    expect(frame.get_by_text("Active", exact=True)).to_be_visible()
    renewed = payload(page, "resubscribe")["response"]
    assert renewed["id"] != sub_id
    assert renewed["status"] == "active"
    assert (
        stripe_client.v1.subscriptions.retrieve(renewed["id"])["items"]["data"][0]["price"]["id"]
        == plans["pro"]
    )


def test_past_due_subscription_paid_with_pay_now(
    page: Page,
    portal_url: str,
    site,
    tenant,
    plans,
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
) -> None:
    email = f"due-{uuid.uuid4().hex[:8]}@example.com"
    customer = stripe_client.v1.customers.create(params={"email": email})
    failing = stripe_client.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", params={"customer": customer.id}
    )
    sub = stripe_client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": plans["pro"]}],
            "trial_period_days": 3,
            "default_payment_method": failing.id,
        }
    )
    advance = {"account": sandbox_account, "seconds": 4 * 86400}
    assert httpx.post(f"{sandbox_url}/_sandbox/clock/advance", json=advance).status_code == 200
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    good = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    stripe_client.v1.subscriptions.update(sub.id, params={"default_payment_method": good.id})

    frame = open_portal(page, site, portal_url, tenant, email)
    expect(frame.get_by_text("Your last payment of $20.00 failed.")).to_be_visible()
    frame.get_by_role("button", name="Pay now").click()
    expect(frame.get_by_text("Active", exact=True)).to_be_visible()
    assert events(page)[-1] == "pay_invoice"
    assert payload(page, "pay_invoice")["response"]["status"] == "paid"
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_metered_usage_is_shown(
    page: Page, portal_url: str, site, tenant, stripe_client: stripe.StripeClient
) -> None:
    meter = stripe_client.v1.billing.meters.create(
        params={
            "display_name": "API calls",
            "event_name": f"api_{uuid.uuid4().hex[:8]}",
            "default_aggregation": {"formula": "sum"},
        }
    )
    product = stripe_client.v1.products.create(
        params={"name": "API", "metadata": {"unit": "API call"}}
    )
    price = stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": [{"up_to": 1000, "unit_amount": 0}, {"up_to": "inf", "unit_amount": 10}],
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
        }
    )
    email, _ = subscriber(stripe_client, price.id)
    customer = stripe_client.v1.customers.list(params={"email": email}).data[0]
    for value in (700, 800):
        stripe_client.v1.billing.meter_events.create(
            params={
                "event_name": meter.event_name,
                "payload": {"stripe_customer_id": customer.id, "value": str(value)},
            }
        )
    frame = open_portal(page, site, portal_url, tenant, email)
    expect(frame.get_by_text("API this period: 1,500 × API call, $50 so far")).to_be_visible()
    expect(frame.get_by_text("$0.10 per API call after 1,000 / month").first).to_be_visible()


def test_another_customers_subscription_cannot_be_touched(
    api: httpx.Client, tenant, plans, stripe_client: stripe.StripeClient
) -> None:
    _, victim = subscriber(stripe_client, plans["pro"])
    attacker_email, _ = subscriber(stripe_client, plans["starter"])
    page = api.get(
        "/w/customer-portal",
        params={
            "key": tenant["publishable_key"],
            "token": mint_user_token(tenant, email=attacker_email),
        },
    )
    header_value = page.text.split('"session": "')[1].split('"')[0]
    headers = {"X-Billport-Widget-Session": header_value}
    base = f"/w/api/portal/subscriptions/{victim}"
    attempts = [
        ("preview", {"price": plans["starter"]}),
        ("change", {"price": plans["starter"], "action_id": uuid.uuid4().hex}),
        ("cancel", {"action_id": uuid.uuid4().hex}),
        ("accept-offer", {"action_id": uuid.uuid4().hex}),
        ("resume", {"action_id": uuid.uuid4().hex}),
    ]
    for action, body in attempts:
        answer = api.post(f"{base}/{action}", json=body, headers=headers)
        assert answer.status_code in {403, 404}, (action, answer.text)
    untouched = stripe_client.v1.subscriptions.retrieve(victim)
    assert untouched.status == "active" and untouched.cancel_at_period_end is False
    assert untouched["items"]["data"][0]["price"]["id"] == plans["pro"]
    listed = api.get("/w/api/portal/subscriptions", headers=headers).json()["subscriptions"]
    assert victim not in [s["id"] for s in listed]
