from __future__ import annotations

import uuid

import pytest
import stripe

from tests.integration.sandbox.billing_support import (
    DAY,
    advance,
    clock,
    make_customer,
)


def _meter(client: stripe.StripeClient, formula: str = "sum") -> stripe.billing.Meter:
    return client.v1.billing.meters.create(
        params={
            "display_name": "API calls",
            "event_name": f"api_call_{uuid.uuid4().hex[:8]}",
            "default_aggregation": {"formula": formula},
        }
    )


def _report(
    client: stripe.StripeClient,
    meter: stripe.billing.Meter,
    customer_id: str,
    value: int,
    timestamp: int | None = None,
    identifier: str | None = None,
) -> stripe.billing.MeterEvent:
    params: dict[str, object] = {
        "event_name": meter.event_name,
        "payload": {"stripe_customer_id": customer_id, "value": str(value)},
    }
    if timestamp is not None:
        params["timestamp"] = timestamp
    if identifier is not None:
        params["identifier"] = identifier
    return client.v1.billing.meter_events.create(params=params)  # type: ignore[arg-type]


def test_meter_lifecycle(stripe_client: stripe.StripeClient) -> None:
    meter = _meter(stripe_client)
    assert meter.status == "active"
    assert meter.customer_mapping.event_payload_key == "stripe_customer_id"
    assert meter.value_settings.event_payload_key == "value"
    renamed = stripe_client.v1.billing.meters.update(meter.id, params={"display_name": "Calls"})
    assert renamed.display_name == "Calls"
    assert stripe_client.v1.billing.meters.retrieve(meter.id).display_name == "Calls"
    off = stripe_client.v1.billing.meters.deactivate(meter.id)
    assert off.status == "inactive" and off.status_transitions.deactivated_at is not None
    assert [m.id for m in stripe_client.v1.billing.meters.list(params={"status": "active"})] == []
    on = stripe_client.v1.billing.meters.reactivate(meter.id)
    assert on.status == "active"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.billing.meters.create(
            params={
                "display_name": "Again",
                "event_name": meter.event_name,
                "default_aggregation": {"formula": "sum"},
            }
        )
    assert caught.value.param == "event_name"


def test_event_summaries_aggregate_per_customer(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    meter = _meter(stripe_client)
    ada = make_customer(stripe_client, payment_method=None)
    bob = make_customer(stripe_client, payment_method=None)
    now = clock(sandbox_url, sandbox_account)
    hour = now - now % 3600 - 3 * 3600
    _report(stripe_client, meter, ada.id, 5, hour + 10, identifier="a-1")
    _report(stripe_client, meter, ada.id, 7, hour + 3600 + 10)
    _report(stripe_client, meter, ada.id, 7, hour + 3600 + 20, identifier="a-1")
    _report(stripe_client, meter, bob.id, 100, hour + 20)

    def summaries(customer_id: str, **extra: object) -> list[tuple[int, float]]:
        found = stripe_client.v1.billing.meters.event_summaries.list(
            meter.id,
            params={
                "customer": customer_id,
                "start_time": hour,
                "end_time": hour + 3 * 3600,
                **extra,  # type: ignore[typeddict-item]
            },
        )
        return [(s.start_time, s.aggregated_value) for s in found.data]

    # The repeated identifier was not counted twice.
    assert summaries(ada.id) == [(hour, 12)]
    assert summaries(bob.id) == [(hour, 100)]
    assert summaries(ada.id, value_grouping_window="hour") == [
        (hour + 7200, 0),
        (hour + 3600, 7),
        (hour, 5),
    ]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.billing.meters.event_summaries.list(
            meter.id, params={"customer": ada.id, "start_time": hour + 1, "end_time": hour + 60}
        )
    assert caught.value.param == "start_time"


def test_count_and_last_formulas(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    counted = _meter(stripe_client, "count")
    latest = _meter(stripe_client, "last")
    customer = make_customer(stripe_client, payment_method=None)
    now = clock(sandbox_url, sandbox_account)
    start = now - now % 60 - 600
    for offset, value in ((10, 3), (20, 9), (30, 4)):
        _report(stripe_client, counted, customer.id, value, start + offset)
        _report(stripe_client, latest, customer.id, value, start + offset)
    window = {"customer": customer.id, "start_time": start, "end_time": start + 600}
    count = stripe_client.v1.billing.meters.event_summaries.list(counted.id, params=window)
    last = stripe_client.v1.billing.meters.event_summaries.list(latest.id, params=window)
    assert count.data[0].aggregated_value == 3
    assert last.data[0].aggregated_value == 4


def test_meter_event_validation(stripe_client: stripe.StripeClient) -> None:
    meter = _meter(stripe_client)
    customer = make_customer(stripe_client, payment_method=None)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.billing.meter_events.create(
            params={"event_name": meter.event_name, "payload": {"value": "1"}}
        )
    assert caught.value.param == "payload[stripe_customer_id]"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.billing.meter_events.create(
            params={
                "event_name": meter.event_name,
                "payload": {"stripe_customer_id": customer.id, "value": "lots"},
            }
        )
    assert caught.value.param == "payload[value]"
    event = _report(stripe_client, meter, customer.id, 2)
    assert event.object == "billing.meter_event" and event.identifier


def test_metered_usage_is_billed_at_renewal(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    meter = _meter(stripe_client)
    product = stripe_client.v1.products.create(params={"name": "API"})
    per_call = stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 3,
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
        }
    )
    base = stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 1000,
            "recurring": {"interval": "month"},
        }
    )
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": base.id}, {"price": per_call.id}],
            "expand": ["latest_invoice"],
        }
    )
    assert subscription.latest_invoice.total == 1000
    metered_item = next(i for i in subscription["items"].data if i.price.id == per_call.id)
    assert "quantity" not in metered_item.to_dict()
    now = clock(sandbox_url, sandbox_account)
    _report(stripe_client, meter, customer.id, 100, now)
    _report(stripe_client, meter, customer.id, 250, now + 60)
    advance(sandbox_url, sandbox_account, 2 * DAY)
    _report(stripe_client, meter, customer.id, 50)

    upcoming = stripe_client.v1.invoices.create_preview(params={"subscription": subscription.id})
    assert upcoming.total == 1000 + 400 * 3

    end = subscription["items"].data[0].current_period_end
    advance(sandbox_url, sandbox_account, end - clock(sandbox_url, sandbox_account) + 60)
    renewal = stripe_client.v1.invoices.list(params={"subscription": subscription.id}).data[0]
    assert renewal.billing_reason == "subscription_cycle"
    usage_line = next(
        line for line in renewal.lines.data if line.pricing.price_details.price == per_call.id
    )
    assert usage_line.quantity == 400 and usage_line.amount == 1200
    assert usage_line.period.end == end
    assert renewal.total == renewal.amount_paid == 2200
