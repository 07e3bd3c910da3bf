"""The widget API behind plan picker, checkout and signup, over HTTP against the sandbox."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe

from tests.tokens import mint_user_token
from tests.widget_api import Widget, action, open_widget, page_config


@pytest.fixture
def catalog(stripe_client: stripe.StripeClient) -> dict[str, str]:
    free = stripe_client.v1.products.create(
        params={"name": "Free", "metadata": {"service": "notes", "tier": "free"}}
    )
    pro = stripe_client.v1.products.create(
        params={"name": "Pro", "metadata": {"service": "notes", "tier": "pro"}}
    )
    team = stripe_client.v1.products.create(
        params={"name": "Team", "metadata": {"service": "notes", "tier": "team"}}
    )

    def price(product: str, amount: int, interval: str = "month", **extra: Any) -> str:
        params = {
            "product": product,
            "currency": "usd",
            "unit_amount": amount,
            "recurring": {"interval": interval, **extra},
        }
        return str(stripe_client.v1.prices.create(params=params).id)

    return {
        "free": price(free.id, 0),
        "pro_month": price(pro.id, 1200),
        "pro_year": price(pro.id, 12000, "year"),
        "team_month": price(team.id, 3000),
        "pro_trial": price(pro.id, 1500, trial_period_days="14"),
    }


def test_checkout_subscribes_once_however_often_it_is_sent(
    api: httpx.Client,
    create_tenant,
    catalog,
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
) -> None:
    tenant = create_tenant()
    token = mint_user_token(tenant, email="buyer@example.com", user_id="u-7")
    widget = open_widget(api, tenant, "checkout", token=token, price=catalog["pro_month"])
    assert widget.config["stripeKey"] == f"pk_test_{sandbox_account}"
    body = {"price": catalog["pro_month"], "action_id": action(), "payment_method": "pm_card_visa"}
    first = widget.call("POST", "/w/api/subscribe", body)
    assert first.status_code == 200, first.text
    subscription = first.json()["subscription"]
    assert subscription["status"] == "active"
    assert subscription["metadata"]["service"] == "notes"
    assert subscription["metadata"]["tier"] == "pro"
    assert subscription["metadata"]["billport_user_id"] == "u-7"
    again = widget.call("POST", "/w/api/subscribe", body)
    assert again.status_code == 200
    assert again.json()["subscription"]["id"] == subscription["id"]
    customers = stripe_client.v1.customers.list(params={"email": "buyer@example.com"}).data
    assert len(customers) == 1
    subs = stripe_client.v1.subscriptions.list(params={"customer": customers[0].id}).data
    assert [s.id for s in subs] == [subscription["id"]]
    other = widget.call("POST", "/w/api/subscribe", {**body, "action_id": action()})
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "already_subscribed"


def test_declined_card_leaves_no_subscription(
    api: httpx.Client, create_tenant, catalog, stripe_client: stripe.StripeClient
) -> None:
    tenant = create_tenant()
    token = mint_user_token(tenant, email="declined@example.com")
    widget = open_widget(api, tenant, "checkout", token=token)
    answer = widget.call(
        "POST",
        "/w/api/subscribe",
        {
            "price": catalog["pro_month"],
            "action_id": action(),
            "payment_method": "pm_card_visa_chargeDeclined",
        },
    )
    assert answer.status_code == 402
    assert "declined" in answer.json()["error"]["message"]
    customers = stripe_client.v1.customers.list(params={"email": "declined@example.com"}).data
    assert len(customers) <= 1
    for customer in customers:
        assert stripe_client.v1.subscriptions.list(
            params={"customer": customer.id, "status": "all"}
        ).data == [] or all(
            s.status == "canceled"
            for s in stripe_client.v1.subscriptions.list(
                params={"customer": customer.id, "status": "all"}
            ).data
        )


def test_later_failing_card_is_cancelled_not_left_incomplete(
    api: httpx.Client, create_tenant, catalog, stripe_client: stripe.StripeClient
) -> None:
    tenant = create_tenant()
    widget = open_widget(
        api, tenant, "checkout", token=mint_user_token(tenant, email="fails@example.com")
    )
    answer = widget.call(
        "POST",
        "/w/api/subscribe",
        {
            "price": catalog["pro_month"],
            "action_id": action(),
            "payment_method": "pm_card_chargeCustomerFail",
        },
    )
    assert answer.status_code == 402
    customer = stripe_client.v1.customers.list(params={"email": "fails@example.com"}).data[0]
    live = stripe_client.v1.subscriptions.list(params={"customer": customer.id}).data
    assert live == []


def test_plan_change_previews_and_changes_the_same_subscription(
    api: httpx.Client, create_tenant, catalog, stripe_client: stripe.StripeClient
) -> None:
    tenant = create_tenant()
    token = mint_user_token(tenant, email="upgrader@example.com")
    checkout = open_widget(api, tenant, "checkout", token=token)
    subscribed = checkout.call(
        "POST",
        "/w/api/subscribe",
        {"price": catalog["pro_month"], "action_id": action(), "payment_method": "pm_card_visa"},
    ).json()["subscription"]

    picker = open_widget(api, tenant, "plan-picker", token=token)
    current = picker.config["current"]
    assert current["subscription"] == subscribed["id"]
    assert current["price"] == catalog["pro_month"]
    assert [p["current"] for p in picker.config["plans"] if p["name"] == "Pro"] == [True]

    preview = picker.call(
        "POST",
        f"/w/api/subscriptions/{subscribed['id']}/preview",
        {"price": catalog["team_month"], "quantity": 1},
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["amount_due"] > 0
    changed = picker.call(
        "POST",
        f"/w/api/subscriptions/{subscribed['id']}/change",
        {"price": catalog["team_month"], "quantity": 1, "action_id": action()},
    )
    assert changed.status_code == 200, changed.text
    sub = changed.json()["subscription"]
    assert sub["id"] == subscribed["id"]
    assert sub["items"]["data"][0]["price"]["id"] == catalog["team_month"]
    assert sub["metadata"]["tier"] == "team"
    customer = stripe_client.v1.customers.list(params={"email": "upgrader@example.com"}).data[0]
    assert len(stripe_client.v1.subscriptions.list(params={"customer": customer.id}).data) == 1


def test_someone_elses_subscription_is_not_found(api: httpx.Client, create_tenant, catalog) -> None:
    tenant = create_tenant()
    owner = open_widget(
        api, tenant, "checkout", token=mint_user_token(tenant, email="o@example.com")
    )
    sub = owner.call(
        "POST",
        "/w/api/subscribe",
        {"price": catalog["pro_month"], "action_id": action(), "payment_method": "pm_card_visa"},
    ).json()["subscription"]
    intruder = open_widget(
        api, tenant, "plan-picker", token=mint_user_token(tenant, email="i@example.com")
    )
    stolen = intruder.call(
        "POST",
        f"/w/api/subscriptions/{sub['id']}/change",
        {"price": catalog["team_month"], "action_id": action()},
    )
    assert stolen.status_code == 404


def test_trial_signup_without_a_card_and_rate_limits(
    api: httpx.Client, create_tenant, catalog, stripe_client: stripe.StripeClient
) -> None:
    tenant = create_tenant()
    api.patch(
        "/api/v1/tenant",
        headers={"Authorization": f"Bearer {tenant['secret_key']}"},
        json={"widget_options": {"trial_days": 14, "require_card": False}},
    )
    signup = open_widget(api, tenant, "signup")
    answer = signup.call(
        "POST",
        "/w/api/subscribe",
        {"price": catalog["pro_month"], "action_id": action(), "email": "trial@example.com"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["subscription"]["status"] == "trialing"
    bad_email = open_widget(api, tenant, "signup").call(
        "POST",
        "/w/api/subscribe",
        {"price": catalog["pro_month"], "action_id": action(), "email": "x"},
    )
    assert bad_email.status_code == 422
    statuses = [
        open_widget(api, tenant, "signup")
        .call(
            "POST",
            "/w/api/subscribe",
            {"price": catalog["pro_month"], "action_id": action(), "email": f"t{i}@example.com"},
        )
        .status_code
        for i in range(12)
    ]
    assert 429 in statuses
    assert statuses[:8] == [200] * 8


def test_anonymous_signup_needs_the_tenant_origin(
    api: httpx.Client, create_tenant, catalog
) -> None:
    tenant = create_tenant()
    page = api.get("/w/signup", params={"key": tenant["publishable_key"]})
    widget = Widget(api, page_config(page.text))
    answer = widget.call(
        "POST",
        "/w/api/subscribe",
        {
            "price": catalog["pro_month"],
            "action_id": action(),
            "email": "x@example.com",
            "payment_method": "pm_card_visa",
        },
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "origin_required"


def test_promotion_codes(api: httpx.Client, create_tenant, catalog, stripe_client) -> None:
    coupon = stripe_client.v1.coupons.create(params={"percent_off": 20, "duration": "forever"})
    stripe_client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "SAVE20"}
    )
    tenant = create_tenant()
    widget = open_widget(
        api, tenant, "checkout", token=mint_user_token(tenant, email="p@example.com")
    )
    checked = widget.call("POST", "/w/api/promotion-codes/check", {"code": "SAVE20"})
    assert checked.status_code == 200, checked.text
    assert checked.json()["coupon"]["percent_off"] == 20
    bad = widget.call("POST", "/w/api/promotion-codes/check", {"code": "NOPE"})
    assert bad.status_code == 422
    assert bad.json()["error"]["message"] == "NOPE is not a valid promotion code."
    sub = widget.call(
        "POST",
        "/w/api/subscribe",
        {
            "price": catalog["pro_month"],
            "action_id": action(),
            "payment_method": "pm_card_visa",
            "promotion_code": "SAVE20",
        },
    ).json()["subscription"]
    invoice = stripe_client.v1.invoices.retrieve(
        sub["latest_invoice"]["id"]
        if isinstance(sub["latest_invoice"], dict)
        else sub["latest_invoice"]
    )
    assert invoice.total == 960


def test_widget_api_refuses_bad_input(api: httpx.Client, create_tenant, catalog) -> None:
    tenant = create_tenant()
    widget = open_widget(
        api, tenant, "checkout", token=mint_user_token(tenant, email="b@example.com")
    )
    cases = [
        ({"price": catalog["pro_month"], "action_id": "short"}, 422),
        ({"price": "price_unknown", "action_id": action(), "payment_method": "pm_card_visa"}, 422),
        ({"price": catalog["pro_month"], "action_id": action()}, 422),
        (
            {
                "price": catalog["pro_month"],
                "action_id": action(),
                "quantity": 0,
                "payment_method": "pm_card_visa",
            },
            422,
        ),
        ({"price": catalog["pro_month"], "action_id": action(), "payment_method": "card"}, 422),
        ({"nonsense": True}, 422),
    ]
    for body, status in cases:
        answer = widget.call("POST", "/w/api/subscribe", body)
        assert answer.status_code == status, (body, answer.text)
        assert set(answer.json()) == {"error"}
    assert api.post("/w/api/subscribe", json={}).status_code == 401


def test_language_currency_theme_and_page_options(
    api: httpx.Client, create_tenant, stripe_client: stripe.StripeClient
) -> None:
    product = stripe_client.v1.products.create(
        params={"name": "Pro", "metadata": {"service": "notes", "tier": "pro"}}
    )
    stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 1200,
            "recurring": {"interval": "month"},
            "currency_options": {"eur": {"unit_amount": 1100}},
        }
    )
    basic = stripe_client.v1.products.create(
        params={"name": "Basic", "metadata": {"service": "notes", "tier": "basic"}}
    )
    stripe_client.v1.prices.create(
        params={
            "product": basic.id,
            "currency": "usd",
            "unit_amount": 500,
            "recurring": {"interval": "month"},
        }
    )
    tenant = create_tenant()
    key = tenant["publishable_key"]
    french = api.get("/w/plan-picker", params={"key": key}, headers={"Accept-Language": "fr-FR"})
    assert "11\u00a0€ / mois" in french.text.replace("\u202f", "\u00a0")
    assert "Choisir Pro" in french.text
    assert "5\u00a0$US / mois" in french.text.replace("\u202f", "\u00a0")
    english = api.get("/w/plan-picker", params={"key": key, "locale": "en"})
    assert "$12 / month" in english.text
    euros = api.get("/w/plan-picker", params={"key": key, "currency": "eur"})
    assert "€11 / month" in euros.text and "Basic" not in euros.text

    api.patch(
        "/api/v1/tenant",
        headers={"Authorization": f"Bearer {tenant['secret_key']}"},
        json={
            "widget_options": {
                "theme": {
                    "primary": "#5b21b6",
                    "font": "'Inter', sans-serif",
                    "radius": "4px; } body { display: none",
                },
                "disabled_plans": ["notes:basic"],
            }
        },
    )
    themed = api.get("/w/plan-picker", params={"key": key})
    assert "--bp-primary: #5b21b6;" in themed.text
    # A configured language wins over the browser's, and ?locale= over both.
    page = api.post(
        "/api/v1/billing_pages",
        headers={"Authorization": f"Bearer {tenant['secret_key']}"},
        json={"widget": "plan-picker", "name": "Tarifs", "options": {"language": "fr"}},
    ).json()
    tarifs = {"key": key, "billing_page": page["id"]}
    french = api.get("/w/plan-picker", params=tarifs, headers={"Accept-Language": "en-US"})
    assert "Choisir Pro" in french.text
    english = api.get("/w/plan-picker", params={**tarifs, "locale": "en"})
    assert "Choose Pro" in english.text
    assert "--bp-font: 'Inter', sans-serif;" in themed.text
    assert "display: none" not in themed.text
    assert "Unavailable" in themed.text
    config = page_config(themed.text)
    assert [p["disabled"] for p in config["plans"] if p["name"] == "Basic"] == [True]
