from __future__ import annotations

import httpx
import pytest
import stripe

from portal.sandbox import SandboxApp
from portal.sandbox.errors import InvalidRequest
from portal.sandbox.resources.coupons import discounted_amount, redeem, resolve_discount


def _error(call, *args, **kwargs) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        call(*args, **kwargs)
    return caught.value


def _advance(sandbox_url: str, account: str, seconds: int) -> None:
    answer = httpx.post(
        f"{sandbox_url}/_sandbox/clock/advance", json={"account": account, "seconds": seconds}
    )
    answer.raise_for_status()


def test_coupon_lifecycle(stripe_client: stripe.StripeClient) -> None:
    coupon = stripe_client.v1.coupons.create(
        params={
            "id": "LAUNCH25",
            "percent_off": 25.5,
            "duration": "repeating",
            "duration_in_months": 3,
            "max_redemptions": 100,
            "name": "Launch",
            "metadata": {"campaign": "launch"},
        }
    )
    assert coupon.id == "LAUNCH25"
    assert (coupon.percent_off, coupon.amount_off, coupon.currency) == (25.5, None, None)
    assert (coupon.duration, coupon.duration_in_months) == ("repeating", 3)
    assert (coupon.times_redeemed, coupon.valid) == (0, True)
    generated = stripe_client.v1.coupons.create(
        params={"amount_off": 500, "currency": "usd", "duration": "forever"}
    )
    assert len(generated.id) == 8 and generated.duration_in_months is None
    assert (generated.amount_off, generated.currency) == (500, "usd")

    renamed = stripe_client.v1.coupons.update(
        coupon.id, params={"name": "Launch week", "metadata": {"campaign": "", "x": "1"}}
    )
    assert renamed.name == "Launch week" and renamed.metadata.to_dict() == {"x": "1"}
    refused = _error(stripe_client.v1.coupons.update, coupon.id, params={"percent_off": 10})
    assert refused.param == "percent_off"

    listed = [c.id for c in stripe_client.v1.coupons.list().data]
    assert listed == [generated.id, coupon.id]
    deleted = stripe_client.v1.coupons.delete(coupon.id)
    assert (deleted.id, deleted.deleted) == ("LAUNCH25", True)
    assert _error(stripe_client.v1.coupons.retrieve, coupon.id).http_status == 404
    types = [e.type for e in stripe_client.v1.events.list(params={"type": "coupon.*"}).data]
    assert types == ["coupon.deleted", "coupon.updated", "coupon.created", "coupon.created"]


def test_coupon_applies_to_and_currency_options_show_on_expand(
    stripe_client: stripe.StripeClient,
) -> None:
    product = stripe_client.v1.products.create(params={"name": "Only this"})
    coupon = stripe_client.v1.coupons.create(
        params={
            "amount_off": 1000,
            "currency": "usd",
            "applies_to": {"products": [product.id]},
            "currency_options": {"eur": {"amount_off": 900}},
        }
    )
    assert "applies_to" not in coupon
    shown = stripe_client.v1.coupons.retrieve(
        coupon.id, params={"expand": ["applies_to", "currency_options"]}
    )
    assert shown.applies_to is not None and shown.applies_to.products == [product.id]
    assert shown.currency_options is not None
    assert shown.currency_options.to_dict() == {
        "eur": {"amount_off": 900},
        "usd": {"amount_off": 1000},
    }
    unknown = _error(
        stripe_client.v1.coupons.create,
        params={"percent_off": 5, "applies_to": {"products": ["prod_nope"]}},
    )
    assert unknown.http_status == 404 and unknown.param == "applies_to[products][0]"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({}, "percent_off"),
        ({"percent_off": 10, "amount_off": 5, "currency": "usd"}, "amount_off"),
        ({"percent_off": 0}, "percent_off"),
        ({"percent_off": 101}, "percent_off"),
        ({"amount_off": 500}, "currency"),
        ({"percent_off": 10, "duration": "repeating"}, "duration_in_months"),
        ({"percent_off": 10, "duration": "weekly"}, "duration"),
        ({"percent_off": 10, "redeem_by": 1000}, "redeem_by"),
        ({"percent_off": 10, "max_redemptions": 0}, "max_redemptions"),
    ],
)
def test_coupon_validation(stripe_client: stripe.StripeClient, params: dict, param: str) -> None:
    error = _error(stripe_client.v1.coupons.create, params=params)
    assert error.http_status == 400 and error.param == param


def test_promotion_codes(stripe_client: stripe.StripeClient) -> None:
    coupon = stripe_client.v1.coupons.create(params={"percent_off": 20, "max_redemptions": 5})
    customer = stripe_client.v1.customers.create(params={"email": "p@example.com"})
    promo = stripe_client.v1.promotion_codes.create(
        params={
            "promotion": {"type": "coupon", "coupon": coupon.id},
            "code": "Fall20",
            "max_redemptions": 3,
            "restrictions": {
                "first_time_transaction": True,
                "minimum_amount": 1000,
                "minimum_amount_currency": "usd",
            },
            "metadata": {"channel": "mail"},
        }
    )
    assert promo.id.startswith("promo_")
    assert (promo.code, promo.active, promo.times_redeemed) == ("Fall20", True, 0)
    assert promo.promotion.type == "coupon" and promo.promotion.coupon == coupon.id
    assert promo.restrictions.minimum_amount == 1000
    assert promo.restrictions.first_time_transaction is True

    clash = _error(
        stripe_client.v1.promotion_codes.create,
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "FALL20"},
    )
    assert clash.param == "code"
    for_customer = stripe_client.v1.promotion_codes.create(
        params={
            "promotion": {"type": "coupon", "coupon": coupon.id},
            "code": "FALL20",
            "customer": customer.id,
        }
    )
    generated = stripe_client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}}
    )
    assert generated.code and generated.code.isalnum()

    by_code = stripe_client.v1.promotion_codes.list(params={"code": "fall20"}).data
    assert [p.id for p in by_code] == [for_customer.id, promo.id]
    off = stripe_client.v1.promotion_codes.update(promo.id, params={"active": False})
    assert off.active is False
    assert [p.id for p in stripe_client.v1.promotion_codes.list(params={"active": False}).data] == [
        promo.id
    ]
    by_coupon = stripe_client.v1.promotion_codes.list(params={"coupon": coupon.id}).data
    assert len(by_coupon) == 3
    # With the first one inactive, its code is free for a new active one.
    reused = stripe_client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "fall20"}
    )
    refused = _error(stripe_client.v1.promotion_codes.update, promo.id, params={"active": True})
    assert refused.param == "code"
    assert reused.active is True
    types = [e.type for e in stripe_client.v1.events.list(params={"type": "promotion_code.*"})]
    assert types.count("promotion_code.created") == 4
    assert types.count("promotion_code.updated") == 1


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"promotion": None}, "promotion"),
        ({"promotion": {"type": "coupon"}}, "promotion[coupon]"),
        ({"promotion": {"type": "gift", "coupon": "$C"}}, "promotion[type]"),
        ({"promotion": {"type": "coupon", "coupon": "nope"}}, "promotion[coupon]"),
        ({"code": "has space"}, "code"),
        ({"max_redemptions": 11}, "max_redemptions"),
        ({"expires_at": 1000}, "expires_at"),
        ({"customer": "cus_nope"}, "customer"),
        ({"restrictions": {"minimum_amount": 10}}, "restrictions[minimum_amount_currency]"),
    ],
)
def test_promotion_code_validation(
    stripe_client: stripe.StripeClient, extra: dict, param: str
) -> None:
    coupon = stripe_client.v1.coupons.create(params={"percent_off": 10, "max_redemptions": 10})
    params = {"promotion": {"type": "coupon", "coupon": coupon.id}, **extra}
    if isinstance(params["promotion"], dict) and params["promotion"].get("coupon") == "$C":
        params["promotion"]["coupon"] = coupon.id
    error = _error(
        stripe_client.v1.promotion_codes.create,
        params={k: v for k, v in params.items() if v is not None},
    )
    assert error.param == param


def test_expiry_follows_the_account_clock(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    now = int(httpx.get(f"{sandbox_url}/_sandbox/clock?account={sandbox_account}").json()["now"])
    coupon = stripe_client.v1.coupons.create(params={"percent_off": 10, "redeem_by": now + 3600})
    promo = stripe_client.v1.promotion_codes.create(
        params={
            "promotion": {"type": "coupon", "coupon": coupon.id},
            "expires_at": now + 600,
        }
    )
    _advance(sandbox_url, sandbox_account, 601)
    assert stripe_client.v1.promotion_codes.retrieve(promo.id).active is False
    assert stripe_client.v1.coupons.retrieve(coupon.id).valid is True
    _advance(sandbox_url, sandbox_account, 3600)
    assert stripe_client.v1.coupons.retrieve(coupon.id).valid is False
    error = _error(
        stripe_client.v1.promotion_codes.create,
        params={"promotion": {"type": "coupon", "coupon": coupon.id}},
    )
    assert error.code == "coupon_expired"


def test_deleting_a_coupon_deactivates_its_codes(stripe_client: stripe.StripeClient) -> None:
    coupon = stripe_client.v1.coupons.create(params={"amount_off": 100, "currency": "usd"})
    promo = stripe_client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "GONE"}
    )
    stripe_client.v1.coupons.delete(coupon.id)
    assert stripe_client.v1.promotion_codes.retrieve(promo.id).active is False


def test_discount_helpers(
    stripe_client: stripe.StripeClient, sandbox_app: SandboxApp, sandbox_account: str
) -> None:
    """The functions billing uses to apply coupons, on the account the SDK just filled."""
    coupon = stripe_client.v1.coupons.create(
        params={
            "percent_off": 15,
            "duration": "repeating",
            "duration_in_months": 2,
            "max_redemptions": 2,
        }
    )
    customer = stripe_client.v1.customers.create(params={"name": "D"})
    other = stripe_client.v1.customers.create(params={"name": "E"})
    promo = stripe_client.v1.promotion_codes.create(
        params={
            "promotion": {"type": "coupon", "coupon": coupon.id},
            "customer": customer.id,
            "max_redemptions": 1,
            "restrictions": {"minimum_amount": 1000, "minimum_amount_currency": "usd"},
        }
    )
    account = sandbox_app.state.account(sandbox_account)

    discount = resolve_discount(
        account, coupon=None, promotion_code=promo.id, customer_id=customer.id, param="discounts"
    )
    assert discount["object"] == "discount" and discount["id"].startswith("di_")
    assert discount["source"] == {"coupon": coupon.id, "type": "coupon"}
    assert discount["promotion_code"] == promo.id and discount["customer"] == customer.id
    assert discount["end"] is not None and 58 * 86400 <= discount["end"] - discount["start"]
    with pytest.raises(InvalidRequest) as wrong_customer:
        resolve_discount(
            account, coupon=None, promotion_code=promo.id, customer_id=other.id, param="discounts"
        )
    assert wrong_customer.value.param == "discounts"
    with pytest.raises(InvalidRequest):
        resolve_discount(
            account,
            coupon=None,
            promotion_code=promo.id,
            customer_id=customer.id,
            param="discounts",
            amount=999,
            currency="usd",
        )
    with pytest.raises(InvalidRequest) as unknown:
        resolve_discount(
            account, coupon="nope", promotion_code=None, customer_id=customer.id, param="coupon"
        )
    assert unknown.value.code == "resource_missing"

    redeem(account, coupon.id, promo.id)
    assert stripe_client.v1.promotion_codes.retrieve(promo.id).active is False
    assert stripe_client.v1.coupons.retrieve(coupon.id).times_redeemed == 1
    redeem(account, coupon.id)
    exhausted = stripe_client.v1.coupons.retrieve(coupon.id)
    assert (exhausted.times_redeemed, exhausted.valid) == (2, False)
    with pytest.raises(InvalidRequest) as over:
        redeem(account, coupon.id)
    assert over.value.code == "coupon_expired"

    assert discounted_amount({"percent_off": 15.0, "amount_off": None}, 1999) == 1699
    assert discounted_amount({"percent_off": None, "amount_off": 500}, 1999) == 1499
    assert discounted_amount({"percent_off": None, "amount_off": 5000}, 1999) == 0


def test_subscribing_with_a_promotion_code_redeems_it(stripe_client: stripe.StripeClient) -> None:
    coupon = stripe_client.v1.coupons.create(
        params={"percent_off": 50, "duration": "forever", "max_redemptions": 5}
    )
    promo = stripe_client.v1.promotion_codes.create(
        params={
            "promotion": {"type": "coupon", "coupon": coupon.id},
            "code": "HALF",
            "max_redemptions": 1,
        }
    )
    price = stripe_client.v1.prices.create(
        params={
            "product_data": {"name": "Half off"},
            "currency": "usd",
            "unit_amount": 2000,
            "recurring": {"interval": "month"},
        }
    )

    def subscribe() -> stripe.Subscription:
        customer = stripe_client.v1.customers.create(params={"email": "half@example.com"})
        pm = stripe_client.v1.payment_methods.attach(
            "pm_card_visa", params={"customer": customer.id}
        )
        return stripe_client.v1.subscriptions.create(
            params={
                "customer": customer.id,
                "items": [{"price": price.id}],
                "default_payment_method": pm.id,
                "discounts": [{"promotion_code": promo.id}],
                "expand": ["latest_invoice", "discounts"],
            }
        )

    subscription = subscribe()
    assert subscription.status == "active"
    discount = subscription.discounts[0]
    assert discount.promotion_code == promo.id and discount.source.coupon == coupon.id
    assert subscription.latest_invoice.amount_due == 1000
    assert stripe_client.v1.coupons.retrieve(coupon.id).times_redeemed == 1
    used = stripe_client.v1.promotion_codes.retrieve(promo.id)
    assert (used.times_redeemed, used.active) == (1, False)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        subscribe()
    assert caught.value.param == "discounts[0]"
    assert stripe_client.v1.coupons.retrieve(coupon.id).times_redeemed == 1
