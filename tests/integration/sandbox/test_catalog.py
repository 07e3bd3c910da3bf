from __future__ import annotations

from decimal import Decimal

import pytest
import stripe


def _error(call, *args, **kwargs) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        call(*args, **kwargs)
    return caught.value


def _event_types(client: stripe.StripeClient, pattern: str) -> list[str]:
    events = client.v1.events.list(params={"type": pattern, "limit": 100}).data
    return [event.type for event in reversed(events)]


def test_product_lifecycle_with_default_price(stripe_client: stripe.StripeClient) -> None:
    product = stripe_client.v1.products.create(
        params={
            "name": "Pro",
            "description": "Everything",
            "marketing_features": [{"name": "Unlimited projects"}, {"name": "SSO"}],
            "metadata": {"tier": "pro"},
            "default_price_data": {
                "currency": "usd",
                "unit_amount": 2900,
                "recurring": {"interval": "month"},
            },
        }
    )
    assert product.id.startswith("prod_")
    assert product.active is True
    assert [f.name for f in product.marketing_features] == ["Unlimited projects", "SSO"]
    assert product.metadata.to_dict() == {"tier": "pro"}
    price = stripe_client.v1.prices.retrieve(str(product.default_price))
    assert (price.product, price.unit_amount, price.currency) == (product.id, 2900, "usd")
    assert price.type == "recurring" and price.recurring is not None
    assert price.recurring.interval == "month" and price.recurring.interval_count == 1

    updated = stripe_client.v1.products.update(
        product.id,
        params={
            "name": "Pro plus",
            "marketing_features": "",
            "description": "",
            "metadata": {"tier": "", "rank": "2"},
        },
    )
    assert updated.name == "Pro plus"
    assert updated.marketing_features == []
    assert updated.description is None
    assert updated.metadata.to_dict() == {"rank": "2"}
    assert updated.updated >= product.updated

    events = stripe_client.v1.events.list(params={"type": "product.updated"}).data
    assert events[0].data.object.id == product.id
    previous = events[0].data.previous_attributes
    assert previous is not None and previous.name == "Pro"
    assert _event_types(stripe_client, "product.*") == ["product.created", "product.updated"]
    assert _event_types(stripe_client, "price.*") == ["price.created"]

    error = _error(stripe_client.v1.products.delete, product.id)
    assert error.http_status == 400
    assert "cannot be deleted because it has one or more user-created prices" in str(
        error.user_message
    )


def test_product_without_prices_can_be_deleted(stripe_client: stripe.StripeClient) -> None:
    product = stripe_client.v1.products.create(params={"name": "Temp", "id": "temp_plan"})
    assert product.id == "temp_plan"
    duplicate = _error(stripe_client.v1.products.create, params={"name": "X", "id": "temp_plan"})
    assert duplicate.code == "resource_already_exists"
    deleted = stripe_client.v1.products.delete(product.id)
    assert (deleted.id, deleted.deleted) == ("temp_plan", True)
    missing = _error(stripe_client.v1.products.retrieve, "temp_plan")
    assert missing.http_status == 404 and missing.code == "resource_missing"
    assert _event_types(stripe_client, "product.*") == ["product.created", "product.deleted"]


def test_product_list_filters(stripe_client: stripe.StripeClient) -> None:
    first = stripe_client.v1.products.create(params={"name": "A"})
    second = stripe_client.v1.products.create(params={"name": "B", "active": False})
    third = stripe_client.v1.products.create(params={"name": "C"})
    listed = stripe_client.v1.products.list(params={"active": True})
    assert [p.id for p in listed.data] == [third.id, first.id]
    archived = stripe_client.v1.products.list(params={"active": False})
    assert [p.id for p in archived.data] == [second.id]
    chosen = stripe_client.v1.products.list(params={"ids": [first.id, second.id]})
    assert {p.id for p in chosen.data} == {first.id, second.id}


def test_product_validation_errors(stripe_client: stripe.StripeClient) -> None:
    missing = _error(stripe_client.v1.products.create, params={})
    assert (missing.code, missing.param) == ("parameter_missing", "name")
    unknown = _error(stripe_client.v1.products.create, params={"name": "X", "colour": "red"})
    assert unknown.param == "colour" and "unknown parameter" in str(unknown.user_message)
    empty = _error(stripe_client.v1.products.create, params={"name": ""})
    assert empty.param == "name"
    assert _error(stripe_client.v1.products.retrieve, "prod_missing").http_status == 404
    product = stripe_client.v1.products.create(params={"name": "X"})
    other = stripe_client.v1.prices.create(
        params={"product_data": {"name": "Other"}, "currency": "usd", "unit_amount": 5}
    )
    foreign = _error(
        stripe_client.v1.products.update, product.id, params={"default_price": other.id}
    )
    assert foreign.param == "default_price"


def test_one_time_and_recurring_prices(stripe_client: stripe.StripeClient) -> None:
    product = stripe_client.v1.products.create(params={"name": "Seats"})
    one_time = stripe_client.v1.prices.create(
        params={"product": product.id, "currency": "EUR", "unit_amount_decimal": "1250.5"}
    )
    assert one_time.type == "one_time" and one_time.recurring is None
    assert one_time.currency == "eur"
    assert one_time.unit_amount is None
    assert Decimal(str(one_time.unit_amount_decimal)) == Decimal("1250.5")
    yearly = stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 10000,
            "nickname": "Yearly",
            "tax_behavior": "exclusive",
            "recurring": {"interval": "year", "interval_count": 1, "trial_period_days": 14},
            "transform_quantity": {"divide_by": 10, "round": "up"},
            "metadata": {"plan": "yearly"},
        }
    )
    assert yearly.recurring is not None
    assert yearly.recurring.trial_period_days == 14
    assert yearly.recurring.usage_type == "licensed"
    assert yearly.transform_quantity is not None and yearly.transform_quantity.divide_by == 10
    assert (yearly.nickname, yearly.tax_behavior) == ("Yearly", "exclusive")
    assert yearly.unit_amount_decimal is not None
    assert Decimal(str(yearly.unit_amount_decimal)) == 10000
    inline = stripe_client.v1.prices.create(
        params={
            "product_data": {"name": "Inline", "metadata": {"k": "v"}},
            "currency": "usd",
            "unit_amount": 0,
        }
    )
    made = stripe_client.v1.products.retrieve(str(inline.product))
    assert made.name == "Inline" and made.metadata.to_dict() == {"k": "v"}


def test_tiered_prices_show_tiers_only_when_expanded(stripe_client: stripe.StripeClient) -> None:
    product = stripe_client.v1.products.create(params={"name": "API"})
    graduated = stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": [
                {"up_to": 1000, "unit_amount": 0, "flat_amount": 500},
                {"up_to": "inf", "unit_amount_decimal": "0.25"},
            ],
            "recurring": {"interval": "month"},
        }
    )
    assert graduated.billing_scheme == "tiered" and graduated.tiers_mode == "graduated"
    assert graduated.unit_amount is None
    assert "tiers" not in graduated
    shown = stripe_client.v1.prices.retrieve(graduated.id, params={"expand": ["tiers"]})
    tiers = shown.tiers
    assert tiers is not None
    assert [t.up_to for t in tiers] == [1000, None]
    assert tiers[0].flat_amount == 500
    assert Decimal(str(tiers[1].unit_amount_decimal)) == Decimal("0.25")
    volume = stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "billing_scheme": "tiered",
            "tiers_mode": "volume",
            "tiers": [{"up_to": 10, "unit_amount": 100}, {"up_to": "inf", "unit_amount": 80}],
        }
    )
    listed = stripe_client.v1.prices.list(
        params={"product": product.id, "expand": ["data.tiers"]}
    ).data
    assert [p.id for p in listed] == [volume.id, graduated.id]
    assert listed[0].tiers is not None and listed[0].tiers[1].unit_amount == 80


def test_currency_options(stripe_client: stripe.StripeClient) -> None:
    price = stripe_client.v1.prices.create(
        params={
            "product_data": {"name": "Global"},
            "currency": "usd",
            "unit_amount": 1000,
            "currency_options": {"eur": {"unit_amount": 900}, "gbp": {"unit_amount": 800}},
        }
    )
    assert "currency_options" not in price
    shown = stripe_client.v1.prices.retrieve(price.id, params={"expand": ["currency_options"]})
    assert shown.currency_options is not None
    options = shown.currency_options.to_dict()
    assert {c: o["unit_amount"] for c, o in options.items()} == {
        "usd": 1000,
        "eur": 900,
        "gbp": 800,
    }
    updated = stripe_client.v1.prices.update(
        price.id,
        params={"currency_options": {"eur": {"unit_amount": 950}}, "expand": ["currency_options"]},
    )
    assert updated.currency_options is not None
    assert updated.currency_options.to_dict()["eur"]["unit_amount"] == 950
    clash = _error(
        stripe_client.v1.prices.update,
        price.id,
        params={"currency_options": {"usd": {"unit_amount": 1}}},
    )
    assert clash.param == "currency_options[usd]"


def test_lookup_keys_are_unique_and_transferable(stripe_client: stripe.StripeClient) -> None:
    product = stripe_client.v1.products.create(params={"name": "Team"})
    base = {"product": product.id, "currency": "usd", "recurring": {"interval": "month"}}
    old = stripe_client.v1.prices.create(
        params={**base, "unit_amount": 1000, "lookup_key": "team_monthly"}
    )
    taken = _error(
        stripe_client.v1.prices.create,
        params={**base, "unit_amount": 1200, "lookup_key": "team_monthly"},
    )
    assert taken.param == "lookup_key" and old.id in str(taken.user_message)
    new = stripe_client.v1.prices.create(
        params={
            **base,
            "unit_amount": 1200,
            "lookup_key": "team_monthly",
            "transfer_lookup_key": True,
        }
    )
    assert stripe_client.v1.prices.retrieve(old.id).lookup_key is None
    found = stripe_client.v1.prices.list(params={"lookup_keys": ["team_monthly", "nothing"]})
    assert [p.id for p in found.data] == [new.id]
    # The freed key can be given back by an update.
    stripe_client.v1.prices.update(
        old.id, params={"lookup_key": "team_monthly", "transfer_lookup_key": True}
    )
    assert stripe_client.v1.prices.retrieve(new.id).lookup_key is None
    refused = _error(stripe_client.v1.prices.update, new.id, params={"lookup_key": "team_monthly"})
    assert refused.param == "lookup_key"


def test_price_list_filters_and_expand(stripe_client: stripe.StripeClient) -> None:
    product = stripe_client.v1.products.create(params={"name": "Filters"})
    monthly = stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 100,
            "recurring": {"interval": "month"},
        }
    )
    yearly = stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 1000,
            "recurring": {"interval": "year"},
        }
    )
    once = stripe_client.v1.prices.create(
        params={"product": product.id, "currency": "eur", "unit_amount": 50}
    )
    stripe_client.v1.prices.update(once.id, params={"active": False})

    def ids(**filters) -> list[str]:
        return [p.id for p in stripe_client.v1.prices.list(params=filters).data]

    assert ids(type="recurring") == [yearly.id, monthly.id]
    assert ids(type="one_time") == [once.id]
    assert ids(currency="eur") == [once.id]
    assert ids(active=True) == [yearly.id, monthly.id]
    assert ids(active=False) == [once.id]
    assert ids(recurring={"interval": "month"}) == [monthly.id]
    assert ids(recurring={"usage_type": "licensed"}) == [yearly.id, monthly.id]
    assert ids(product="prod_other") == []
    expanded = stripe_client.v1.prices.list(params={"limit": 1, "expand": ["data.product"]})
    assert expanded.data[0].product.id == product.id
    assert expanded.data[0].product.name == "Filters"


def test_price_updates(stripe_client: stripe.StripeClient) -> None:
    product = stripe_client.v1.products.create(
        params={"name": "P", "default_price_data": {"currency": "usd", "unit_amount": 100}}
    )
    default = str(product.default_price)
    refused = _error(stripe_client.v1.prices.update, default, params={"active": False})
    assert "default price" in str(refused.user_message)
    stripe_client.v1.products.update(product.id, params={"default_price": ""})
    archived = stripe_client.v1.prices.update(
        default, params={"active": False, "nickname": "old", "metadata": {"a": "b"}}
    )
    assert (archived.active, archived.nickname) == (False, "old")
    assert archived.metadata.to_dict() == {"a": "b"}
    immutable = _error(stripe_client.v1.prices.update, default, params={"unit_amount": 5})
    assert immutable.param == "unit_amount"
    stripe_client.v1.prices.update(default, params={"tax_behavior": "inclusive"})
    locked = _error(stripe_client.v1.prices.update, default, params={"tax_behavior": "exclusive"})
    assert locked.param == "tax_behavior"
    updated = stripe_client.v1.events.list(params={"type": "price.updated"}).data
    assert updated[-1].data.previous_attributes is not None
    assert updated[-1].data.previous_attributes.active is True


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({"unit_amount": 100}, "parameter_missing", "product"),
        ({"product": "$P", "unit_amount": 100, "currency": None}, "parameter_missing", "currency"),
        ({"product": "$P"}, "parameter_missing", "unit_amount"),
        ({"product": "$P", "unit_amount": -1}, "parameter_invalid_integer", "unit_amount"),
        ({"product": "$P", "unit_amount": 1, "unit_amount_decimal": "1"}, None, None),
        ({"product": "prod_nope", "unit_amount": 1}, "resource_missing", "product"),
        (
            {"product": "$P", "unit_amount": 1, "recurring": {"interval": "decade"}},
            None,
            "recurring[interval]",
        ),
        (
            {
                "product": "$P",
                "unit_amount": 1,
                "recurring": {"interval": "month", "interval_count": 37},
            },
            None,
            "recurring[interval_count]",
        ),
        (
            {
                "product": "$P",
                "billing_scheme": "tiered",
                "tiers": [{"up_to": "inf", "unit_amount": 1}],
            },
            "parameter_missing",
            "tiers_mode",
        ),
        (
            {
                "product": "$P",
                "billing_scheme": "tiered",
                "tiers_mode": "volume",
                "tiers": [{"up_to": 5, "unit_amount": 1}],
            },
            None,
            "tiers[0][up_to]",
        ),
        (
            {
                "product": "$P",
                "billing_scheme": "tiered",
                "tiers_mode": "volume",
                "tiers": [{"up_to": "inf", "unit_amount": 1}],
                "transform_quantity": {"divide_by": 2, "round": "up"},
            },
            None,
            "transform_quantity",
        ),
        (
            {
                "product": "$P",
                "unit_amount": 1,
                "recurring": {"interval": "month", "usage_type": "metered"},
            },
            "parameter_missing",
            "recurring[meter]",
        ),
        (
            {
                "product": "$P",
                "unit_amount": 1,
                "recurring": {"interval": "month", "usage_type": "metered", "meter": "mtr_x"},
            },
            "resource_missing",
            "recurring[meter]",
        ),
    ],
)
def test_price_validation_errors_name_the_parameter(
    stripe_client: stripe.StripeClient, params: dict, code: str | None, param: str | None
) -> None:
    product = stripe_client.v1.products.create(params={"name": "V"})
    request = {"currency": "usd", **params}
    request = {k: (product.id if v == "$P" else v) for k, v in request.items() if v is not None}
    error = _error(stripe_client.v1.prices.create, params=request)
    assert error.http_status in (400, 404)
    if code is not None:
        assert error.code == code
    if param is not None:
        assert error.param == param
    assert stripe_client.v1.prices.list(params={"product": product.id}).data == []


def test_metered_price_with_a_meter(stripe_client: stripe.StripeClient) -> None:
    meter = stripe_client.v1.billing.meters.create(
        params={
            "display_name": "API calls",
            "event_name": "api_call",
            "default_aggregation": {"formula": "sum"},
        }
    )
    price = stripe_client.v1.prices.create(
        params={
            "product_data": {"name": "Metered"},
            "currency": "usd",
            "unit_amount_decimal": "0.5",
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
        }
    )
    assert price.recurring is not None
    assert (price.recurring.usage_type, price.recurring.meter) == ("metered", meter.id)
    listed = stripe_client.v1.prices.list(params={"recurring": {"usage_type": "metered"}})
    assert [p.id for p in listed.data] == [price.id]
    licensed_meter = _error(
        stripe_client.v1.prices.create,
        params={
            "product": str(price.product),
            "currency": "usd",
            "unit_amount": 1,
            "recurring": {"interval": "month", "meter": meter.id},
        },
    )
    assert licensed_meter.param == "recurring[meter]"
