"""Subscription schedules through the official SDK: phases, the clock, release and cancel."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe

from portal.sandbox.resources.billing import boundary
from tests.integration.sandbox.billing_support import (
    DAY,
    advance,
    clock,
    event_types,
    events_of,
    make_customer,
    make_price,
)


def _invoices(client: stripe.StripeClient, subscription_id: str) -> list[stripe.Invoice]:
    """The subscription's invoices, oldest first."""
    found = client.v1.invoices.list(params={"subscription": subscription_id, "limit": 100})
    return list(found.data)[::-1]


def _subscribe(client: stripe.StripeClient, price: stripe.Price, quantity: int = 1) -> Any:
    customer = make_customer(client)
    return client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id, "quantity": quantity}]}
    )


def _downgrade(
    client: stripe.StripeClient, schedule: Any, price: stripe.Price, **next_phase: Any
) -> Any:
    """Keep the current phase as it is, then ``price`` for the next one."""
    current = schedule.phases[0]
    return client.v1.subscription_schedules.update(
        schedule.id,
        params={
            "end_behavior": "release",
            "phases": [
                {
                    "items": [
                        {"price": item.price, "quantity": item.quantity} for item in current.items
                    ],
                    "start_date": current.start_date,
                    "end_date": current.end_date,
                },
                {"items": [{"price": price.id, "quantity": 1}], **next_phase},
            ],
        },
    )


def test_a_downgrade_takes_effect_at_the_period_end_without_proration(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    pro = make_price(stripe_client, 2000, name="Pro")
    starter = make_price(stripe_client, 900, name="Starter")
    subscription = _subscribe(stripe_client, pro)
    item = subscription["items"].data[0]
    start, end = item.current_period_start, item.current_period_end

    schedule = stripe_client.v1.subscription_schedules.create(
        params={"from_subscription": subscription.id}
    )
    assert schedule.status == "active"
    assert schedule.subscription == subscription.id
    assert schedule.customer == subscription.customer
    assert schedule.end_behavior == "release"
    assert (schedule.current_phase.start_date, schedule.current_phase.end_date) == (start, end)
    [phase] = schedule.phases
    assert (phase.start_date, phase.end_date) == (start, end)
    assert [(i.price, i.quantity) for i in phase["items"]] == [(pro.id, 1)]
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).schedule == schedule.id

    schedule = _downgrade(stripe_client, schedule, starter, iterations=1)
    assert [p.start_date for p in schedule.phases] == [start, end]
    month_after = boundary(subscription.billing_cycle_anchor, "month", 1, 2)
    assert schedule.phases[1].end_date == month_after
    assert schedule.phases[1]["items"][0].price == starter.id
    assert schedule.current_phase.end_date == end

    # Before the boundary nothing changes.
    advance(sandbox_url, sandbox_account, end - clock(sandbox_url, sandbox_account) - 60)
    current = stripe_client.v1.subscriptions.retrieve(subscription.id)
    assert current["items"].data[0].price.id == pro.id
    assert len(_invoices(stripe_client, subscription.id)) == 1

    # Past it, the subscription is on Starter and the renewal bills Starter only.
    advance(sandbox_url, sandbox_account, 120)
    current = stripe_client.v1.subscriptions.retrieve(subscription.id)
    [new_item] = current["items"].data
    assert new_item.price.id == starter.id
    assert new_item.current_period_start == end
    assert current.status == "active"
    assert current.schedule == schedule.id
    invoices = _invoices(stripe_client, subscription.id)
    assert [i.total for i in invoices] == [2000, 900]
    renewal = invoices[1]
    assert renewal.billing_reason == "subscription_cycle"
    assert renewal.status == "paid"
    assert renewal.created == end
    [line] = renewal.lines.data
    assert line.pricing.price_details.price == starter.id
    assert line.parent.subscription_item_details.proration is False
    assert (line.period.start, line.period.end) == (end, month_after)
    pending = stripe_client.v1.invoice_items.list(
        params={"customer": subscription.customer, "pending": True}
    )
    assert pending.data == []

    schedule = stripe_client.v1.subscription_schedules.retrieve(schedule.id)
    assert schedule.status == "active"
    assert (schedule.current_phase.start_date, schedule.current_phase.end_date) == (
        end,
        month_after,
    )
    # One update swapped Pro for Starter, at the boundary (the renewal's own update follows).
    [switched] = [
        e
        for e in events_of(stripe_client, "customer.subscription.updated")
        if "items" in e.data.previous_attributes
        and e.data.previous_attributes["items"].data[0].price.id == pro.id
    ]
    assert switched.created == end
    assert switched.data.object["items"].data[0].price.id == starter.id
    phase_moves = events_of(stripe_client, "subscription_schedule.updated")
    assert phase_moves[-1].data.previous_attributes.current_phase.start_date == start
    # The items change before the renewal invoice is made.
    order = [e.id for e in stripe_client.v1.events.list(params={"limit": 100}).data][::-1]
    created_invoices = events_of(stripe_client, "invoice.created")
    assert created_invoices[-1].data.object.id == renewal.id
    assert order.index(switched.id) < order.index(created_invoices[-1].id)
    assert order.index(phase_moves[-1].id) < order.index(created_invoices[-1].id)

    # After its last phase the schedule lets go; the subscription renews on Starter.
    advance(sandbox_url, sandbox_account, month_after - clock(sandbox_url, sandbox_account) + 60)
    schedule = stripe_client.v1.subscription_schedules.retrieve(schedule.id)
    assert schedule.status == "released"
    assert schedule.released_at == month_after
    assert schedule.released_subscription == subscription.id
    assert schedule.subscription is None
    assert schedule.current_phase is None
    current = stripe_client.v1.subscriptions.retrieve(subscription.id)
    assert current.schedule is None
    assert current.status == "active"
    assert [i.total for i in _invoices(stripe_client, subscription.id)] == [2000, 900, 900]
    released = events_of(stripe_client, "subscription_schedule.released")
    assert [e.data.object.id for e in released] == [schedule.id]
    assert "subscription_schedule.created" in event_types(stripe_client)


def test_a_phase_ending_inside_a_period_prorates_as_asked(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    pro = make_price(stripe_client, 3000)
    starter = make_price(stripe_client, 1000)
    subscription = _subscribe(stripe_client, pro)
    item = subscription["items"].data[0]
    start, end = item.current_period_start, item.current_period_end
    switch = start + 10 * DAY
    schedule = stripe_client.v1.subscription_schedules.create(
        params={"from_subscription": subscription.id}
    )
    stripe_client.v1.subscription_schedules.update(
        schedule.id,
        params={
            "phases": [
                {
                    "items": [{"price": pro.id, "quantity": 1}],
                    "start_date": start,
                    "end_date": switch,
                },
                {
                    "items": [{"price": starter.id, "quantity": 1}],
                    "duration": {"interval": "month"},
                },
            ],
        },
    )
    advance(sandbox_url, sandbox_account, switch - clock(sandbox_url, sandbox_account) + 60)
    current = stripe_client.v1.subscriptions.retrieve(subscription.id)
    assert current["items"].data[0].price.id == starter.id
    pending = stripe_client.v1.invoice_items.list(
        params={"customer": subscription.customer, "pending": True}
    ).data
    credit = round(-3000 * (end - switch) / (end - start))
    charge = round(1000 * (end - switch) / (end - start))
    assert sorted(i.amount for i in pending) == [credit, charge]
    assert all(i.proration for i in pending)

    advance(sandbox_url, sandbox_account, end - clock(sandbox_url, sandbox_account) + 60)
    renewal = _invoices(stripe_client, subscription.id)[-1]
    assert renewal.total == credit + charge + 1000


def test_no_proration_inside_a_period_when_the_phase_says_none(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    pro = make_price(stripe_client, 3000)
    starter = make_price(stripe_client, 1000)
    subscription = _subscribe(stripe_client, pro)
    item = subscription["items"].data[0]
    start, end = item.current_period_start, item.current_period_end
    schedule = stripe_client.v1.subscription_schedules.create(
        params={"from_subscription": subscription.id}
    )
    stripe_client.v1.subscription_schedules.update(
        schedule.id,
        params={
            "phases": [
                {"items": [{"price": pro.id}], "start_date": start, "end_date": start + DAY},
                {"items": [{"price": starter.id}], "proration_behavior": "none"},
            ],
        },
    )
    advance(sandbox_url, sandbox_account, 2 * DAY)
    assert stripe_client.v1.subscriptions.retrieve(subscription.id)["items"].data[0].price.id == (
        starter.id
    )
    pending = stripe_client.v1.invoice_items.list(
        params={"customer": subscription.customer, "pending": True}
    )
    assert pending.data == []
    advance(sandbox_url, sandbox_account, end - clock(sandbox_url, sandbox_account) + 60)
    assert _invoices(stripe_client, subscription.id)[-1].total == 1000


def test_a_scheduled_subscription_refuses_direct_changes(
    stripe_client: stripe.StripeClient,
) -> None:
    pro = make_price(stripe_client, 2000)
    starter = make_price(stripe_client, 900)
    subscription = _subscribe(stripe_client, pro)
    item = subscription["items"].data[0]
    schedule = stripe_client.v1.subscription_schedules.create(
        params={"from_subscription": subscription.id}
    )
    changes: list[dict[str, Any]] = [
        {"items": [{"id": item.id, "price": starter.id}]},
        {"cancel_at_period_end": True},
        {"cancel_at": item.current_period_end},
    ]
    for change in changes:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            stripe_client.v1.subscriptions.update(subscription.id, params=change)
        message = str(caught.value.user_message)
        assert f"managed by the subscription schedule `{schedule.id}`" in message
        assert "Please update the schedule instead." in message
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.subscription_items.update(item.id, params={"quantity": 2})
    # Other fields change as usual.
    updated = stripe_client.v1.subscriptions.update(
        subscription.id, params={"metadata": {"team": "blue"}}
    )
    assert updated.metadata["team"] == "blue"
    assert updated["items"].data[0].price.id == pro.id


def test_release_leaves_the_subscription_as_it_is(
    stripe_client: stripe.StripeClient,
) -> None:
    pro = make_price(stripe_client, 2000)
    starter = make_price(stripe_client, 900)
    subscription = _subscribe(stripe_client, pro, quantity=2)
    schedule = stripe_client.v1.subscription_schedules.create(
        params={"from_subscription": subscription.id}
    )
    _downgrade(stripe_client, schedule, starter)
    released = stripe_client.v1.subscription_schedules.release(schedule.id)
    assert released.status == "released"
    assert released.released_subscription == subscription.id
    assert released.subscription is None
    assert released.released_at is not None
    current = stripe_client.v1.subscriptions.retrieve(subscription.id)
    assert current.schedule is None
    assert current.status == "active"
    assert [(i.price.id, i.quantity) for i in current["items"].data] == [(pro.id, 2)]
    assert [
        e.data.object.id for e in events_of(stripe_client, "subscription_schedule.released")
    ] == [schedule.id]
    updates = events_of(stripe_client, "customer.subscription.updated")
    assert updates[-1].data.previous_attributes.schedule == schedule.id

    # Released: the subscription changes directly again, the schedule no more.
    stripe_client.v1.subscriptions.update(
        subscription.id, params={"items": [{"id": current["items"].data[0].id, "quantity": 3}]}
    )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.subscription_schedules.release(schedule.id)
    assert "`released`" in str(caught.value.user_message)
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.subscription_schedules.update(
            schedule.id, params={"end_behavior": "cancel"}
        )
    # The subscription can have a new schedule.
    again = stripe_client.v1.subscription_schedules.create(
        params={"from_subscription": subscription.id}
    )
    assert again.status == "active"


def test_cancel_ends_the_schedule_and_the_subscription(
    stripe_client: stripe.StripeClient,
) -> None:
    pro = make_price(stripe_client, 2000)
    subscription = _subscribe(stripe_client, pro)
    schedule = stripe_client.v1.subscription_schedules.create(
        params={"from_subscription": subscription.id}
    )
    canceled = stripe_client.v1.subscription_schedules.cancel(
        schedule.id, params={"invoice_now": False, "prorate": False}
    )
    assert canceled.status == "canceled"
    assert canceled.canceled_at is not None
    assert canceled.current_phase is None
    assert canceled.subscription == subscription.id
    current = stripe_client.v1.subscriptions.retrieve(subscription.id)
    assert current.status == "canceled"
    types = event_types(stripe_client)
    assert types.index("customer.subscription.deleted") < types.index(
        "subscription_schedule.canceled"
    )
    assert len(_invoices(stripe_client, subscription.id)) == 1
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.subscription_schedules.cancel(schedule.id)
    assert "`canceled`" in str(caught.value.user_message)


def test_canceling_the_subscription_cancels_its_schedule(
    stripe_client: stripe.StripeClient,
) -> None:
    subscription = _subscribe(stripe_client, make_price(stripe_client, 2000))
    schedule = stripe_client.v1.subscription_schedules.create(
        params={"from_subscription": subscription.id}
    )
    stripe_client.v1.subscriptions.cancel(subscription.id)
    assert stripe_client.v1.subscription_schedules.retrieve(schedule.id).status == "canceled"


def test_end_behavior_cancel_ends_the_subscription_with_the_last_phase(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    subscription = _subscribe(stripe_client, make_price(stripe_client, 2000))
    end = subscription["items"].data[0].current_period_end
    schedule = stripe_client.v1.subscription_schedules.create(
        params={"from_subscription": subscription.id}
    )
    schedule = stripe_client.v1.subscription_schedules.update(
        schedule.id, params={"end_behavior": "cancel", "metadata": {"reason": "leaving"}}
    )
    assert schedule.end_behavior == "cancel"
    assert schedule.metadata["reason"] == "leaving"
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).cancel_at == end
    advance(sandbox_url, sandbox_account, end - clock(sandbox_url, sandbox_account) + 60)
    current = stripe_client.v1.subscriptions.retrieve(subscription.id)
    assert current.status == "canceled"
    assert current.ended_at == end
    schedule = stripe_client.v1.subscription_schedules.retrieve(schedule.id)
    assert schedule.status == "completed"
    assert schedule.completed_at == end
    completed = events_of(stripe_client, "subscription_schedule.completed")
    assert [e.data.object.id for e in completed] == [schedule.id]
    assert len(_invoices(stripe_client, subscription.id)) == 1


def test_switching_back_to_release_undoes_the_cancellation(
    stripe_client: stripe.StripeClient,
) -> None:
    subscription = _subscribe(stripe_client, make_price(stripe_client, 2000))
    schedule = stripe_client.v1.subscription_schedules.create(
        params={"from_subscription": subscription.id}
    )
    stripe_client.v1.subscription_schedules.update(schedule.id, params={"end_behavior": "cancel"})
    stripe_client.v1.subscription_schedules.update(schedule.id, params={"end_behavior": "release"})
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).cancel_at is None


def test_a_schedule_from_phases_starts_its_subscription(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    starter = make_price(stripe_client, 900)
    customer = make_customer(stripe_client)
    schedule = stripe_client.v1.subscription_schedules.create(
        params={
            "customer": customer.id,
            "start_date": "now",
            "end_behavior": "cancel",
            "phases": [{"items": [{"price": starter.id, "quantity": 2}], "iterations": 2}],
        }
    )
    assert schedule.status == "active"
    subscription = stripe_client.v1.subscriptions.retrieve(
        schedule.subscription, params={"expand": ["latest_invoice"]}
    )
    assert subscription.status == "active"
    assert subscription.schedule == schedule.id
    assert subscription.latest_invoice.total == 1800
    assert subscription.cancel_at == schedule.phases[0].end_date

    # A schedule starting later makes its subscription when the clock gets there.
    later = stripe_client.v1.subscription_schedules.create(
        params={
            "customer": customer.id,
            "start_date": clock(sandbox_url, sandbox_account) + DAY,
            "phases": [{"items": [{"price": starter.id}]}],
        }
    )
    assert later.status == "not_started"
    assert later.subscription is None
    assert later.current_phase is None
    waiting = stripe_client.v1.subscription_schedules.list(
        params={"customer": customer.id, "scheduled": True}
    )
    assert [s.id for s in waiting.data] == [later.id]
    advance(sandbox_url, sandbox_account, DAY + 60)
    later = stripe_client.v1.subscription_schedules.retrieve(later.id)
    assert later.status == "active"
    started = stripe_client.v1.subscriptions.retrieve(later.subscription)
    assert started.status == "active"
    assert started.created == later.phases[0].start_date
    assert started.schedule == later.id
    listed = stripe_client.v1.subscription_schedules.list(params={"customer": customer.id})
    assert [s.id for s in listed.data] == [later.id, schedule.id]


def test_refusals_name_the_parameter(stripe_client: stripe.StripeClient) -> None:
    price = make_price(stripe_client, 2000)
    subscription = _subscribe(stripe_client, price)
    schedule = stripe_client.v1.subscription_schedules.create(
        params={"from_subscription": subscription.id}
    )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.subscription_schedules.create(
            params={"from_subscription": subscription.id}
        )
    assert "already attached to a schedule" in str(caught.value.user_message)
    other = _subscribe(stripe_client, price)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.subscription_schedules.create(
            params={"from_subscription": other.id, "end_behavior": "cancel"}
        )
    assert caught.value.param == "end_behavior"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.subscription_schedules.create(
            params={"customer": other.customer, "default_settings": {"description": "x"}}
        )
    assert caught.value.param == "default_settings"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.subscription_schedules.create(params={"customer": other.customer})
    assert caught.value.param == "phases"
    current = schedule.phases[0]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.subscription_schedules.update(
            schedule.id,
            params={
                "phases": [{"items": [{"price": price.id}], "start_date": current.start_date + 1}]
            },
        )
    assert caught.value.param == "phases[0][start_date]"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.subscription_schedules.update(
            schedule.id,
            params={"phases": [{"items": [{"price": price.id}], "trial_end": "now"}]},
        )
    assert caught.value.param == "phases[0][trial_end]"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.subscription_schedules.update(
            schedule.id, params={"phases": [{"items": [{"price": "price_missing"}]}]}
        )
    assert caught.value.param == "phases[0][items][0][price]"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.subscription_schedules.retrieve("sub_sched_missing")
    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"
    # Nothing of the refused updates stuck.
    unchanged = stripe_client.v1.subscription_schedules.retrieve(schedule.id)
    assert unchanged.to_dict() == schedule.to_dict()


def test_expanding_the_subscription(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    subscription = _subscribe(stripe_client, make_price(stripe_client, 2000))
    schedule = stripe_client.v1.subscription_schedules.create(
        params={"from_subscription": subscription.id}
    )
    answer = httpx.get(
        f"{sandbox_url}/v1/subscription_schedules/{schedule.id}",
        params={"expand[]": ["subscription", "phases.items.price"]},
        headers={"Authorization": f"Bearer sk_test_{sandbox_account}"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["subscription"]["id"] == subscription.id
    assert body["phases"][0]["items"][0]["price"]["object"] == "price"
