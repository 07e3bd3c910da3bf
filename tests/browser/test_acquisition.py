"""Plan picker, checkout and signup in Chromium, from the embed snippet to Stripe state."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe
from playwright.sync_api import Page, expect

from tests.browser.host import HostSite, events, fill_card, open_page, payload, widget_div
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
    def product(name: str, tier: str, **extra: Any) -> str:
        params = {"name": name, "metadata": {"service": "notes", "tier": tier}, **extra}
        return str(stripe_client.v1.products.create(params=params).id)

    def price(product_id: str, amount: int, interval: str = "month") -> str:
        params = {
            "product": product_id,
            "currency": "usd",
            "unit_amount": amount,
            "recurring": {"interval": interval},
        }
        return str(stripe_client.v1.prices.create(params=params).id)

    free = product("Free", "free", marketing_features=[{"name": "100 notes"}])
    pro = product("Pro", "pro", marketing_features=[{"name": "Unlimited notes"}])
    team = product("Team", "team", unit_label="seat")
    return {
        "free": price(free, 0),
        "pro_month": price(pro, 1200),
        "pro_year": price(pro, 12000, "year"),
        "team_month": price(team, 3000),
        "team_year": price(team, 30000, "year"),
    }


def customer_with_subscription(
    client: stripe.StripeClient, email: str, price: str, with_card: bool = True
) -> str:
    customer = client.v1.customers.create(params={"email": email})
    if with_card:
        card = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
        client.v1.customers.update(
            customer.id, params={"invoice_settings": {"default_payment_method": card.id}}
        )
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price}]}
    )
    assert subscription.status == "active"
    return str(subscription.id)


def only_subscriptions(client: stripe.StripeClient, email: str) -> list[Any]:
    customers = client.v1.customers.list(params={"email": email}).data
    assert len(customers) <= 1
    if not customers:
        return []
    return list(
        client.v1.subscriptions.list(params={"customer": customers[0].id, "status": "all"}).data
    )


def test_freemium_upgrade_asks_for_a_card_and_keeps_the_subscription(
    page: Page, portal_url: str, site, tenant, plans, stripe_client: stripe.StripeClient
) -> None:
    email = f"free-{uuid.uuid4().hex[:6]}@example.com"
    subscription = customer_with_subscription(stripe_client, email, plans["free"], with_card=False)
    token = mint_user_token(tenant, email=email)
    frame = open_page(
        page, site, portal_url, widget_div("plan-picker", tenant["publishable_key"], token)
    )
    free = frame.locator(".bp-plan", has_text="100 notes")
    expect(free.get_by_role("button", name="Current plan")).to_be_disabled()
    frame.get_by_role("button", name="Choose Pro").click()
    expect(frame.get_by_text("Due now")).to_be_visible()
    fill_card(frame, "4242424242424242")
    frame.get_by_role("button", name="Confirm change").click()
    expect(frame.get_by_text("Your plan is now Pro.")).to_be_visible()
    expect(frame.locator(".bp-plan-current")).to_have_count(1)

    assert events(page) == [
        "pre_load",
        "post_load",
        "select_plan",
        "pre_change_plan",
        "change_plan",
    ]
    changed = payload(page, "change_plan")["response"]
    assert changed["id"] == subscription
    assert changed["status"] == "active"
    assert changed["default_payment_method"]
    subs = only_subscriptions(stripe_client, email)
    assert [s.id for s in subs] == [subscription]
    assert subs[0]["items"]["data"][0]["price"]["id"] == plans["pro_month"]
    invoices = stripe_client.v1.invoices.list(params={"subscription": subscription}).data
    assert invoices[0].status == "paid" and invoices[0].amount_paid > 0


def test_paid_upgrade_changes_the_same_subscription(
    page: Page, portal_url: str, site, tenant, plans, stripe_client: stripe.StripeClient
) -> None:
    email = f"up-{uuid.uuid4().hex[:6]}@example.com"
    subscription = customer_with_subscription(stripe_client, email, plans["pro_month"])
    token = mint_user_token(tenant, email=email)
    frame = open_page(
        page, site, portal_url, widget_div("plan-picker", tenant["publishable_key"], token)
    )

    pro = frame.locator(".bp-plan", has_text="Unlimited notes")
    expect(pro.get_by_text("Current plan").first).to_be_visible()
    expect(pro.get_by_role("button", name="Current plan")).to_be_disabled()
    frame.get_by_role("button", name="Choose Team").click()
    expect(frame.get_by_text("Due now")).to_be_visible()
    expect(frame.get_by_label("Card number")).to_have_count(0)
    frame.get_by_role("button", name="Confirm change").click()
    expect(frame.get_by_text("Your plan is now Team.")).to_be_visible()

    assert events(page) == [
        "pre_load",
        "post_load",
        "select_plan",
        "pre_change_plan",
        "change_plan",
    ]
    changed = payload(page, "change_plan")["response"]
    assert changed["id"] == subscription
    assert changed["metadata"]["tier"] == "team"
    subs = only_subscriptions(stripe_client, email)
    assert [s.id for s in subs] == [subscription]
    assert subs[0]["items"]["data"][0]["price"]["id"] == plans["team_month"]


def test_free_trial_signup_without_a_card(
    page: Page,
    portal_url: str,
    site,
    tenant,
    plans,
    api: httpx.Client,
    stripe_client: stripe.StripeClient,
) -> None:
    api.patch(
        "/api/v1/tenant",
        headers={"Authorization": f"Bearer {tenant['secret_key']}"},
        json={"widget_options": {"trial_days": 14, "require_card": False, "password_field": True}},
    )
    frame = open_page(
        page,
        site,
        portal_url,
        widget_div("signup", tenant["publishable_key"], price=plans["pro_month"]),
    )
    email = f"trial-{uuid.uuid4().hex[:6]}@example.com"
    expect(frame.get_by_label("Card number")).to_have_count(0)
    frame.get_by_label("Email").fill(email)
    frame.get_by_label("Password").fill("correct horse battery")
    frame.get_by_role("button", name="Subscribe").click()
    expect(frame.get_by_text("Your Pro trial has started.")).to_be_visible()

    assert events(page) == ["pre_load", "post_load", "pre_subscribe", "create_subscription"]
    created = payload(page, "create_subscription")
    assert created["response"]["status"] == "trialing"
    assert created["extras"] == {"email": email, "password": "correct horse battery"}
    subs = only_subscriptions(stripe_client, email)
    assert [s.status for s in subs] == ["trialing"]
    assert "correct horse battery" not in str(
        stripe_client.v1.customers.list(params={"email": email})
    )


@pytest.mark.parametrize(
    ("card", "outcome"),
    [("4242424242424242", "active"), ("4000000000000002", "declined")],
)
def test_pay_up_front_signup(
    page: Page,
    portal_url: str,
    site,
    tenant,
    plans,
    stripe_client: stripe.StripeClient,
    card: str,
    outcome: str,
) -> None:
    frame = open_page(
        page,
        site,
        portal_url,
        widget_div("signup", tenant["publishable_key"], price=plans["pro_month"]),
    )
    email = f"pay-{uuid.uuid4().hex[:6]}@example.com"
    frame.get_by_label("Email").fill(email)
    fill_card(frame, card)
    frame.get_by_role("button", name="Subscribe").click()
    if outcome == "active":
        expect(frame.get_by_text("You are now subscribed to Pro.")).to_be_visible()
        assert events(page)[-2:] == ["pre_subscribe", "create_subscription"]
        assert payload(page, "create_subscription")["response"]["status"] == "active"
        assert [s.status for s in only_subscriptions(stripe_client, email)] == ["active"]
    else:
        expect(frame.get_by_role("alert")).to_contain_text("declined")
        assert "create_subscription" not in events(page)
        live = [s for s in only_subscriptions(stripe_client, email) if s.status != "canceled"]
        assert live == []
        expect(frame.get_by_role("button", name="Subscribe")).to_be_enabled()


def test_three_d_secure_card(
    page: Page, portal_url: str, site, tenant, plans, stripe_client: stripe.StripeClient
) -> None:
    email = f"sca-{uuid.uuid4().hex[:6]}@example.com"
    token = mint_user_token(tenant, email=email)
    frame = open_page(
        page,
        site,
        portal_url,
        widget_div("checkout", tenant["publishable_key"], token, price=plans["pro_month"]),
    )
    fill_card(frame, "4000002500003155")
    frame.get_by_role("button", name="Subscribe").click()
    frame.get_by_role("button", name="Complete authentication").click()
    expect(frame.get_by_text("You are now subscribed to Pro.")).to_be_visible()
    assert events(page) == ["pre_load", "post_load", "pre_subscribe", "create_subscription"]
    assert payload(page, "create_subscription")["response"]["status"] == "active"
    assert [s.status for s in only_subscriptions(stripe_client, email)] == ["active"]


def test_failed_three_d_secure_leaves_nothing(
    page: Page, portal_url: str, site, tenant, plans, stripe_client: stripe.StripeClient
) -> None:
    email = f"scafail-{uuid.uuid4().hex[:6]}@example.com"
    token = mint_user_token(tenant, email=email)
    frame = open_page(
        page,
        site,
        portal_url,
        widget_div("checkout", tenant["publishable_key"], token, price=plans["pro_month"]),
    )
    fill_card(frame, "4000002500003155")
    frame.get_by_role("button", name="Subscribe").click()
    frame.get_by_role("button", name="Fail authentication").click()
    expect(frame.get_by_role("alert")).to_be_visible()
    assert events(page) == ["pre_load", "post_load", "pre_subscribe"]
    assert all(s.status != "active" for s in only_subscriptions(stripe_client, email))
    assert [s for s in only_subscriptions(stripe_client, email) if s.status == "incomplete"] == []


def test_promotion_code_and_seats(
    page: Page,
    portal_url: str,
    site,
    tenant,
    plans,
    api: httpx.Client,
    stripe_client: stripe.StripeClient,
) -> None:
    coupon = stripe_client.v1.coupons.create(params={"percent_off": 25, "duration": "once"})
    stripe_client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "LAUNCH25"}
    )
    api.patch(
        "/api/v1/tenant",
        headers={"Authorization": f"Bearer {tenant['secret_key']}"},
        json={"widget_options": {"quantity": {"min": 2, "max": 50, "step": 1}}},
    )
    email = f"seats-{uuid.uuid4().hex[:6]}@example.com"
    token = mint_user_token(tenant, email=email)
    frame = open_page(
        page,
        site,
        portal_url,
        widget_div("checkout", tenant["publishable_key"], token, price=plans["team_month"]),
    )
    frame.get_by_label("Seats").fill("5")
    frame.get_by_label("Promotion code").fill("NOPE")
    frame.get_by_role("button", name="Apply").click()
    expect(frame.get_by_text("NOPE is not a valid promotion code.")).to_be_visible()
    frame.get_by_label("Promotion code").fill("LAUNCH25")
    frame.get_by_role("button", name="Apply").click()
    expect(frame.get_by_text("LAUNCH25: 25% off")).to_be_visible()
    fill_card(frame, "4242424242424242")
    frame.get_by_role("button", name="Subscribe").click()
    expect(frame.get_by_text("You are now subscribed to Team.")).to_be_visible()

    assert events(page) == ["pre_load", "post_load", "pre_subscribe", "create_subscription"]
    created = payload(page, "create_subscription")["response"]
    assert created["items"]["data"][0]["quantity"] == 5
    invoice = stripe_client.v1.invoices.retrieve(created["latest_invoice"]["id"])
    assert invoice.total == 5 * 3000 * 75 // 100


def test_interval_toggle_and_anonymous_visitors(
    page: Page, portal_url: str, site, tenant, plans
) -> None:
    frame = open_page(page, site, portal_url, widget_div("plan-picker", tenant["publishable_key"]))
    expect(frame.get_by_text("$12 / month")).to_be_visible()
    expect(frame.get_by_text("$120 / year")).to_be_hidden()
    yearly = frame.get_by_role("radio", name="Yearly")
    yearly.click()
    expect(yearly).to_have_attribute("aria-checked", "true")
    expect(frame.get_by_text("$120 / year")).to_be_visible()
    expect(frame.get_by_text("$12 / month")).to_be_hidden()
    yearly.press("ArrowLeft")
    expect(frame.get_by_role("radio", name="Monthly")).to_be_focused()
    expect(frame.get_by_text("$12 / month")).to_be_visible()
    frame.get_by_role("button", name="Choose Pro").click()
    page.wait_for_function("seen.settings.some((p) => p.event === 'select_plan')")
    assert events(page) == ["pre_load", "post_load", "select_plan"]
    chosen = payload(page, "select_plan")["response"]
    assert chosen["price"] == plans["pro_month"]
    assert chosen["interval"] == "month"
    expect(frame.locator("#bp-checkout")).to_be_hidden()


def test_double_click_and_retries_make_one_subscription(
    page: Page,
    portal_url: str,
    site,
    tenant,
    plans,
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
) -> None:
    email = f"double-{uuid.uuid4().hex[:6]}@example.com"
    token = mint_user_token(tenant, email=email)
    frame = open_page(
        page,
        site,
        portal_url,
        widget_div("checkout", tenant["publishable_key"], token, price=plans["pro_month"]),
    )
    fill_card(frame, "4242424242424242")
    fault = {"method": "POST", "path": "/v1/subscriptions", "status": 500, "times": 1}
    httpx.post(f"{sandbox_url}/_sandbox/faults", json=fault)
    try:
        subscribe = frame.get_by_role("button", name="Subscribe")
        subscribe.dblclick()
        expect(frame.get_by_role("alert")).to_contain_text("try again")
        subscribe.click()
        expect(frame.get_by_text("You are now subscribed to Pro.")).to_be_visible()
    finally:
        httpx.delete(f"{sandbox_url}/_sandbox/faults")
    assert [s.status for s in only_subscriptions(stripe_client, email)] == ["active"]
    assert events(page) == [
        "pre_load",
        "post_load",
        "pre_subscribe",
        "pre_subscribe",
        "create_subscription",
    ]


def test_a_stripe_timeout_then_a_retry_makes_one_subscription(
    page: Page,
    portal_url: str,
    site,
    tenant,
    plans,
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
) -> None:
    email = f"slow-{uuid.uuid4().hex[:6]}@example.com"
    token = mint_user_token(tenant, email=email)
    frame = open_page(
        page,
        site,
        portal_url,
        widget_div("checkout", tenant["publishable_key"], token, price=plans["pro_month"]),
    )
    fill_card(frame, "4242424242424242")
    # Longer than the portal waits for Stripe (5 s in tests): Stripe answers too late.
    fault = {
        "method": "POST",
        "path": "/v1/subscriptions",
        "status": None,
        "latency_ms": 6000,
        "times": 1,
    }
    httpx.post(f"{sandbox_url}/_sandbox/faults", json=fault)
    try:
        frame.get_by_role("button", name="Subscribe").click()
        expect(frame.get_by_role("alert")).to_contain_text("try again", timeout=15_000)
        frame.get_by_role("button", name="Subscribe").click()
        expect(frame.get_by_text("You are now subscribed to Pro.")).to_be_visible(timeout=15_000)
    finally:
        httpx.delete(f"{sandbox_url}/_sandbox/faults")
    assert [s.status for s in only_subscriptions(stripe_client, email)] == ["active"]


def test_names_with_markup_are_text(
    page: Page, portal_url: str, site, tenant, stripe_client: stripe.StripeClient
) -> None:
    hostile = "<img src=x onerror=\"window.parent.postMessage(1, '*'); document.title='owned'\">"
    product = stripe_client.v1.products.create(
        params={
            "name": hostile,
            "description": "<script>document.title='owned'</script>",
            "marketing_features": [{"name": "<b>bold</b>"}],
        }
    )
    stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 500,
            "recurring": {"interval": "month"},
        }
    )
    frame = open_page(page, site, portal_url, widget_div("plan-picker", tenant["publishable_key"]))
    expect(frame.get_by_role("heading", name=hostile)).to_be_visible()
    expect(frame.get_by_text("<b>bold</b>")).to_be_visible()
    expect(frame.locator("img")).to_have_count(0)
    assert frame.locator("body").evaluate("() => document.title") != "owned"


def test_warm_plan_picker_makes_no_stripe_call(
    api: httpx.Client, tenant, plans, sandbox_url: str, sandbox_account: str
) -> None:
    key = tenant["publishable_key"]
    assert api.get("/w/plan-picker", params={"key": key}).status_code == 200
    httpx.delete(f"{sandbox_url}/_sandbox/requests")
    for _ in range(3):
        assert api.get("/w/plan-picker", params={"key": key}).status_code == 200
    log = httpx.get(f"{sandbox_url}/_sandbox/requests", params={"account": sandbox_account})
    assert log.json()["requests"] == []
