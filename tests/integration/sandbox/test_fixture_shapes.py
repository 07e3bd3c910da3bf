"""Every object the sandbox serves has the shape of Stripe's published example.

Objects are made through the SDK and read back raw over HTTP, so nothing is converted, then
compared with ``tests/data/stripe_fixtures3.json``: same keys, same nesting, same JSON type per
key. A fixture ``null`` admits anything; our ``null`` is accepted only for the fields listed in
``NULLABLE``, each one documented by Stripe as nullable.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import stripe

from tests.conftest import STRIPE_FIXTURES

FIXTURES: dict[str, Any] = json.loads(STRIPE_FIXTURES.read_text())["resources"]

# Dotted paths (list elements add no segment) that Stripe documents as nullable and that our
# objects leave null where the fixture's example happens to be filled in.
_ITEM_NULLABLE = {
    "billing_thresholds",
    "plan.transform_usage",
    "price.custom_unit_amount",
    "price.transform_quantity",
}
_LINE_NULLABLE = {
    "parent.invoice_item_details",
    "parent.subscription_item_details.proration_details.credited_items",
}
NULLABLE: dict[str, set[str]] = {
    "customer": {
        "address",
        "currency",
        "description",
        "discount",
        "email",
        "invoice_settings.rendering_options",
        "name",
        "phone",
        "shipping",
        "test_clock",
    },
    "product": {
        "default_price",
        "description",
        "package_dimensions",
        "shippable",
        "statement_descriptor",
        "tax_code",
        "unit_label",
        "url",
    },
    "price": {
        "custom_unit_amount",
        "lookup_key",
        "nickname",
        "recurring.meter",
        "recurring.trial_period_days",
        "tiers_mode",
        "transform_quantity",
        "unit_amount",
        "unit_amount_decimal",
    },
    "coupon": {"amount_off", "duration_in_months", "max_redemptions", "redeem_by", "name"},
    "promotion_code": {"customer", "expires_at", "max_redemptions"},
    "webhook_endpoint": {"api_version", "application", "description"},
    "payment_method": {
        "billing_details.address.city",
        "billing_details.address.country",
        "billing_details.address.line1",
        "billing_details.address.line2",
        "billing_details.address.postal_code",
        "billing_details.address.state",
        "billing_details.email",
        "billing_details.name",
        "billing_details.phone",
        "card.generated_from",
        "card.wallet",
    },
    "setup_intent": {"last_setup_error", "next_action"},
    "payment_intent": {
        "canceled_at",
        "last_payment_error",
        "next_action",
        "processing",
        "shipping",
        "transfer_data",
    },
    "subscription": {
        "automatic_tax.liability",
        "billing_cycle_anchor_config",
        "billing_mode.flexible",
        "billing_thresholds",
        "cancel_at",
        "canceled_at",
        "ended_at",
        "managed_payments",
        "next_pending_invoice_item_invoice",
        "pause_collection",
        "payment_settings.payment_method_options",
        "pending_invoice_item_interval",
        "pending_update",
        "transfer_data",
        "trial_end",
        "trial_start",
        *(f"items.data.{path}" for path in _ITEM_NULLABLE),
    },
    "subscription_item": _ITEM_NULLABLE,
    "subscription_schedule": {
        "billing_mode.flexible",
        "canceled_at",
        "completed_at",
        "default_settings.automatic_tax.liability",
        "default_settings.billing_thresholds",
        "default_settings.transfer_data",
        "phases.billing_thresholds",
        "phases.invoice_settings",
        "phases.items.billing_thresholds",
        "phases.items.plan.transform_usage",
        "phases.transfer_data",
        "released_at",
    },
    "invoice": {
        "automatic_tax.liability",
        "customer_address",
        "customer_shipping",
        "due_date",
        "effective_at",
        "from_invoice",
        "last_finalization_error",
        *(f"lines.data.{path}" for path in _LINE_NULLABLE),
        "next_payment_attempt",
        "parent.quote_details",
        "payment_settings.payment_method_options",
        "rendering",
        "shipping_cost",
        "shipping_details",
        "webhooks_delivered_at",
    },
    "invoiceitem": {"parent"},
    "line_item": _LINE_NULLABLE,
}

# Keys Stripe documents as present only for some values of a sibling ``type`` (so the fixture,
# showing one case, lacks them).
OPTIONAL_KEYS: dict[str, set[str]] = {
    "invoice": {"lines.data.pricing.price_details"},
    "line_item": {"pricing.price_details"},
    "invoiceitem": {"pricing.price_details"},
    "invoice_payment": {"payment.payment_intent"},
}

# Keys whose value is any object: an event's ``data.object`` is whatever changed (the fixture
# example is a plan, which the sandbox does not serve).
ANY_OBJECT: dict[str, set[str]] = {"event": {"data.object"}}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


@dataclass(frozen=True)
class Allowed:
    """Where one object type may depart from the example (dotted paths)."""

    nullable: frozenset[str] = frozenset()
    any_object: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()

    @classmethod
    def of(cls, name: str) -> Allowed:
        return cls(
            frozenset(NULLABLE.get(name, ())),
            frozenset(ANY_OBJECT.get(name, ())),
            frozenset(OPTIONAL_KEYS.get(name, ())),
        )


def shape_problems(ours: Any, example: Any, path: str, allowed: Allowed) -> list[str]:
    """How ``ours`` differs in shape from Stripe's ``example`` (empty when it does not)."""
    where = path or "<root>"
    if example is None:
        return []
    if ours is None:
        if path in allowed.nullable:
            return []
        return [f"{where}: null where Stripe has {_json_type(example)}"]
    if _json_type(ours) != _json_type(example):
        return [f"{where}: {_json_type(ours)} where Stripe has {_json_type(example)}"]
    if isinstance(example, dict):
        if path in allowed.any_object or not example or path.rsplit(".", 1)[-1] == "metadata":
            # Metadata and empty example objects are maps (currency options ...): any keys.
            return []

        def child(key: str) -> str:
            return f"{path}.{key}" if path else key

        problems = [f"{where}: missing key {k!r}" for k in sorted(set(example) - set(ours))]
        problems += [
            f"{where}: extra key {k!r}"
            for k in sorted(set(ours) - set(example))
            if child(k) not in allowed.optional
        ]
        for key in sorted(set(example) & set(ours)):
            problems += shape_problems(ours[key], example[key], child(key), allowed)
        return problems
    if isinstance(example, list) and example:
        problems = []
        for item in ours:
            problems += shape_problems(item, example[0], path, allowed)
        return problems
    return []


def _form(params: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        if isinstance(value, dict):
            pairs += _form(value, name)
        elif isinstance(value, list):
            pairs += _form({str(i): item for i, item in enumerate(value)}, name)
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        else:
            pairs.append((name, str(value)))
    return pairs


@dataclass
class Sandbox:
    """The SDK for setting things up, raw HTTP for reading them back."""

    sdk: stripe.StripeClient
    url: str
    key: str

    def _call(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        answer = httpx.request(
            method,
            self.url + path,
            headers={"Authorization": f"Bearer {self.key}"},
            params=_form(params or {}) if method == "GET" else None,
            data=dict(_form(params or {})) if method != "GET" else None,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params)

    def post(self, path: str, **params: Any) -> Any:
        return self._call("POST", path, params)

    def delete(self, path: str) -> Any:
        return self._call("DELETE", path)


def _customer(sb: Sandbox) -> Any:
    customer = sb.sdk.v1.customers.create(
        params={"email": "shape@example.com", "name": "Shape", "metadata": {"a": "b"}}
    )
    return sb.get(f"/v1/customers/{customer.id}")


def _deleted_customer(sb: Sandbox) -> Any:
    return sb.delete(f"/v1/customers/{sb.sdk.v1.customers.create().id}")


def _tax_id(sb: Sandbox) -> Any:
    customer = sb.sdk.v1.customers.create(params={"email": "vat@example.com"})
    tax_id = sb.sdk.v1.customers.tax_ids.create(
        customer.id, params={"type": "eu_vat", "value": "DE123456789"}
    )
    return sb.get(f"/v1/customers/{customer.id}/tax_ids/{tax_id.id}")


def _deleted_tax_id(sb: Sandbox) -> Any:
    customer = sb.sdk.v1.customers.create(params={"email": "vat@example.com"})
    tax_id = sb.sdk.v1.customers.tax_ids.create(
        customer.id, params={"type": "gb_vat", "value": "GB123456789"}
    )
    return sb.delete(f"/v1/customers/{customer.id}/tax_ids/{tax_id.id}")


def _product(sb: Sandbox) -> Any:
    product = sb.sdk.v1.products.create(
        params={
            "name": "Shape",
            "marketing_features": [{"name": "Fast"}],
            "images": ["https://example.com/a.png"],
            "default_price_data": {"currency": "usd", "unit_amount": 100},
        }
    )
    return sb.get(f"/v1/products/{product.id}")


def _deleted_product(sb: Sandbox) -> Any:
    return sb.delete(f"/v1/products/{sb.sdk.v1.products.create(params={'name': 'X'}).id}")


def _price(sb: Sandbox) -> Any:
    price = sb.sdk.v1.prices.create(
        params={
            "product_data": {"name": "Shape"},
            "currency": "usd",
            "unit_amount": 2000,
            "recurring": {"interval": "month"},
        }
    )
    return sb.get(f"/v1/prices/{price.id}")


def _tiered_price(sb: Sandbox) -> Any:
    price = sb.sdk.v1.prices.create(
        params={
            "product_data": {"name": "Tiers"},
            "currency": "usd",
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": [{"up_to": 10, "unit_amount": 5}, {"up_to": "inf", "unit_amount": 3}],
            "recurring": {"interval": "month"},
            "lookup_key": "shape_tiers",
            "nickname": "Tiered",
        }
    )
    return sb.get(f"/v1/prices/{price.id}")


def _metered_price(sb: Sandbox) -> Any:
    meter = sb.sdk.v1.billing.meters.create(
        params={
            "display_name": "Calls",
            "event_name": "shape_call",
            "default_aggregation": {"formula": "sum"},
        }
    )
    price = sb.sdk.v1.prices.create(
        params={
            "product_data": {"name": "Metered"},
            "currency": "usd",
            "unit_amount": 1,
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
            "transform_quantity": {"divide_by": 100, "round": "up"},
        }
    )
    return sb.get(f"/v1/prices/{price.id}")


def _coupon(sb: Sandbox) -> Any:
    coupon = sb.sdk.v1.coupons.create(
        params={"percent_off": 25.5, "duration": "forever", "currency": "usd", "name": "Shape"}
    )
    return sb.get(f"/v1/coupons/{coupon.id}")


def _deleted_coupon(sb: Sandbox) -> Any:
    return sb.delete(f"/v1/coupons/{sb.sdk.v1.coupons.create(params={'percent_off': 5}).id}")


def _promotion_code(sb: Sandbox) -> Any:
    coupon = sb.sdk.v1.coupons.create(params={"percent_off": 20})
    promo = sb.sdk.v1.promotion_codes.create(
        params={
            "promotion": {"type": "coupon", "coupon": coupon.id},
            "restrictions": {"minimum_amount": 100, "minimum_amount_currency": "usd"},
        }
    )
    return sb.get(f"/v1/promotion_codes/{promo.id}")


def _webhook_endpoint(sb: Sandbox) -> Any:
    endpoint = sb.sdk.v1.webhook_endpoints.create(
        params={"url": "https://example.com/hook", "enabled_events": ["charge.failed"]}
    )
    return sb.get(f"/v1/webhook_endpoints/{endpoint.id}")


def _deleted_webhook_endpoint(sb: Sandbox) -> Any:
    endpoint = sb.sdk.v1.webhook_endpoints.create(
        params={"url": "https://example.com/hook", "enabled_events": ["*"]}
    )
    return sb.delete(f"/v1/webhook_endpoints/{endpoint.id}")


def _event(sb: Sandbox) -> Any:
    sb.sdk.v1.products.create(params={"name": "Evented"})
    event = sb.sdk.v1.events.list(params={"type": "product.created"}).data[0]
    return sb.get(f"/v1/events/{event.id}")


VISA = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}


def _payment_method(sb: Sandbox) -> Any:
    customer = sb.sdk.v1.customers.create()
    pm = sb.sdk.v1.payment_methods.create(params={"type": "card", "card": VISA})
    sb.sdk.v1.payment_methods.attach(pm.id, params={"customer": customer.id})
    return sb.get(f"/v1/payment_methods/{pm.id}")


def _setup_intent(sb: Sandbox) -> Any:
    customer = sb.sdk.v1.customers.create()
    intent = sb.sdk.v1.setup_intents.create(
        params={"customer": customer.id, "payment_method": "pm_card_visa", "confirm": True}
    )
    return sb.get(f"/v1/setup_intents/{intent.id}")


def _payment_intent(sb: Sandbox) -> Any:
    customer = sb.sdk.v1.customers.create()
    intent = sb.sdk.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    return sb.get(f"/v1/payment_intents/{intent.id}")


def _meter(sb: Sandbox) -> Any:
    meter = sb.sdk.v1.billing.meters.create(
        params={
            "display_name": "Shape",
            "event_name": "shape_meter",
            "default_aggregation": {"formula": "count"},
        }
    )
    return sb.get(f"/v1/billing/meters/{meter.id}")


def _meter_event(sb: Sandbox) -> Any:
    customer = sb.sdk.v1.customers.create()
    sb.sdk.v1.billing.meters.create(
        params={
            "display_name": "Events",
            "event_name": "shape_event",
            "default_aggregation": {"formula": "sum"},
        }
    )
    return sb.post(
        "/v1/billing/meter_events",
        event_name="shape_event",
        payload={"stripe_customer_id": customer.id, "value": "3"},
    )


def _meter_event_summary(sb: Sandbox) -> Any:
    customer = sb.sdk.v1.customers.create()
    meter = sb.sdk.v1.billing.meters.create(
        params={
            "display_name": "Summaries",
            "event_name": "shape_summary",
            "default_aggregation": {"formula": "sum"},
        }
    )
    sb.sdk.v1.billing.meter_events.create(
        params={
            "event_name": "shape_summary",
            "payload": {"stripe_customer_id": customer.id, "value": "4"},
        }
    )
    now = int(time.time())
    start = now - now % 3600 - 3600
    summaries = sb.get(
        f"/v1/billing/meters/{meter.id}/event_summaries",
        customer=customer.id,
        start_time=start,
        end_time=start + 4 * 3600,
    )
    assert summaries["data"], summaries
    return summaries["data"][0]


def _subscribed(sb: Sandbox, **extra: Any) -> Any:
    """A paying customer's subscription to a monthly plan, read back raw."""
    customer = sb.sdk.v1.customers.create(params={"email": "sub@example.com"})
    pm = sb.sdk.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    price = sb.sdk.v1.prices.create(
        params={
            "product_data": {"name": "Plan"},
            "currency": "usd",
            "unit_amount": 1500,
            "recurring": {"interval": "month"},
        }
    )
    subscription = sb.sdk.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id, "quantity": 2}],
            "default_payment_method": pm.id,
            **extra,
        }
    )
    return sb.get(f"/v1/subscriptions/{subscription.id}")


def _subscription(sb: Sandbox) -> Any:
    return _subscribed(sb)


def _subscription_item(sb: Sandbox) -> Any:
    item = _subscribed(sb)["items"]["data"][0]
    return sb.get(f"/v1/subscription_items/{item['id']}")


def _deleted_subscription_item(sb: Sandbox) -> Any:
    subscription = _subscribed(sb)
    extra = sb.sdk.v1.prices.create(
        params={
            "product_data": {"name": "Add-on"},
            "currency": "usd",
            "unit_amount": 300,
            "recurring": {"interval": "month"},
        }
    )
    item = sb.sdk.v1.subscription_items.create(
        params={"subscription": subscription["id"], "price": extra.id}
    )
    return sb.delete(f"/v1/subscription_items/{item.id}")


def _subscription_schedule(sb: Sandbox) -> Any:
    subscription = _subscribed(sb)
    schedule = sb.sdk.v1.subscription_schedules.create(
        params={"from_subscription": subscription["id"]}
    )
    return sb.get(f"/v1/subscription_schedules/{schedule.id}")


def _invoice(sb: Sandbox) -> Any:
    return sb.get(f"/v1/invoices/{_subscribed(sb)['latest_invoice']}")


def _invoice_preview(sb: Sandbox) -> Any:
    subscription = _subscribed(sb)
    return sb.post(
        "/v1/invoices/create_preview",
        customer=subscription["customer"],
        subscription=subscription["id"],
    )


def _line_item(sb: Sandbox) -> Any:
    lines = sb.get(f"/v1/invoices/{_subscribed(sb)['latest_invoice']}/lines")
    assert lines["data"], lines
    return lines["data"][0]


def _deleted_invoice(sb: Sandbox) -> Any:
    customer = sb.sdk.v1.customers.create()
    invoice = sb.sdk.v1.invoices.create(params={"customer": customer.id})
    return sb.delete(f"/v1/invoices/{invoice.id}")


def _invoice_payment(sb: Sandbox) -> Any:
    invoice = sb.get(f"/v1/invoices/{_subscribed(sb)['latest_invoice']}")
    payments = sb.get("/v1/invoice_payments", invoice=invoice["id"])
    assert payments["data"], payments
    return sb.get(f"/v1/invoice_payments/{payments['data'][0]['id']}")


def _invoiceitem(sb: Sandbox) -> Any:
    customer = sb.sdk.v1.customers.create()
    item = sb.sdk.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 500, "currency": "usd", "description": "Setup"}
    )
    return sb.get(f"/v1/invoiceitems/{item.id}")


def _deleted_invoiceitem(sb: Sandbox) -> Any:
    customer = sb.sdk.v1.customers.create()
    item = sb.sdk.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 500, "currency": "usd"}
    )
    return sb.delete(f"/v1/invoiceitems/{item.id}")


def _discount(sb: Sandbox) -> Any:
    coupon = sb.sdk.v1.coupons.create(
        params={"percent_off": 10, "duration": "repeating", "duration_in_months": 3}
    )
    promo = sb.sdk.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}}
    )
    subscription = _subscribed(sb, discounts=[{"promotion_code": promo.id}])
    expanded = sb.get(f"/v1/subscriptions/{subscription['id']}", expand=["discounts"])
    assert expanded["discounts"], expanded
    return expanded["discounts"][0]


# Object name in the fixtures -> how to make one and read it back raw.
MAKERS: dict[str, Callable[[Sandbox], Any]] = {
    "customer": _customer,
    "deleted_customer": _deleted_customer,
    "tax_id": _tax_id,
    "deleted_tax_id": _deleted_tax_id,
    "product": _product,
    "deleted_product": _deleted_product,
    "price": _price,
    "price (tiered)": _tiered_price,
    "price (metered)": _metered_price,
    "coupon": _coupon,
    "deleted_coupon": _deleted_coupon,
    "promotion_code": _promotion_code,
    "webhook_endpoint": _webhook_endpoint,
    "deleted_webhook_endpoint": _deleted_webhook_endpoint,
    "event": _event,
    "payment_method": _payment_method,
    "setup_intent": _setup_intent,
    "payment_intent": _payment_intent,
    "billing.meter": _meter,
    "billing.meter_event": _meter_event,
    "billing.meter_event_summary": _meter_event_summary,
    "subscription": _subscription,
    "subscription_item": _subscription_item,
    "deleted_subscription_item": _deleted_subscription_item,
    "subscription_schedule": _subscription_schedule,
    "invoice": _invoice,
    "invoice (preview)": _invoice_preview,
    "line_item": _line_item,
    "deleted_invoice": _deleted_invoice,
    "invoice_payment": _invoice_payment,
    "invoiceitem": _invoiceitem,
    "deleted_invoiceitem": _deleted_invoiceitem,
    "discount": _discount,
}


@pytest.mark.parametrize("name", list(MAKERS))
def test_object_matches_stripe_fixture(
    name: str, stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    fixture_name = name.split(" ")[0]
    sandbox = Sandbox(stripe_client, sandbox_url, f"sk_test_{sandbox_account}")
    ours = MAKERS[name](sandbox)
    problems = shape_problems(ours, FIXTURES[fixture_name], "", Allowed.of(fixture_name))
    assert problems == [], f"{name} differs from Stripe's fixture:\n" + "\n".join(problems)


def test_the_comparison_catches_differences() -> None:
    example = {"a": 1, "b": {"c": "x"}, "d": [{"e": True}], "f": None, "g": {}}
    same = {"a": 2, "b": {"c": "y"}, "d": [], "f": [1], "g": {"anything": "goes"}}
    strict = Allowed()
    assert shape_problems(same, example, "", strict) == []
    wrong = {"a": "1", "b": {"c": None, "z": 1}, "d": [{"e": 1}], "f": None, "g": {}}
    assert shape_problems(wrong, example, "", strict) == [
        "a: string where Stripe has number",
        "b: extra key 'z'",
        "b.c: null where Stripe has string",
        "d.e: number where Stripe has boolean",
    ]
    assert shape_problems({"a": 1}, example, "", strict)[0] == "<root>: missing key 'b'"
    lenient = Allowed(nullable=frozenset({"b.c"}), optional=frozenset({"b.z"}))
    assert shape_problems(wrong["b"], example["b"], "b", lenient) == []
