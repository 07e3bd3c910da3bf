from __future__ import annotations

from datetime import UTC, datetime

import stripe

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


def test_trial_notice_then_the_first_charge(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    price = make_price(stripe_client, 2500)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}], "trial_period_days": 14}
    )
    advance(sandbox_url, sandbox_account, 10 * DAY)
    assert "customer.subscription.trial_will_end" not in event_types(stripe_client)
    advance(sandbox_url, sandbox_account, 1 * DAY + 60)
    notices = events_of(stripe_client, "customer.subscription.trial_will_end")
    assert [e.data.object.id for e in notices] == [subscription.id]

    advance(sandbox_url, sandbox_account, 3 * DAY)
    current = stripe_client.v1.subscriptions.retrieve(subscription.id)
    assert current.status == "active"
    item = current["items"].data[0]
    assert item.current_period_start == subscription.trial_end
    invoices = _invoices(stripe_client, subscription.id)
    assert [i.total for i in invoices] == [0, 2500]
    assert invoices[1].status == "paid"
    assert invoices[1].billing_reason == "subscription_cycle"
    assert invoices[1].created == subscription.trial_end
    assert len(events_of(stripe_client, "customer.subscription.trial_will_end")) == 1
    updated = events_of(stripe_client, "customer.subscription.updated")
    assert any(e.data.previous_attributes.to_dict().get("status") == "trialing" for e in updated)


def test_trial_end_without_a_card_goes_past_due(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    price = make_price(stripe_client, 2500)
    customer = make_customer(stripe_client, payment_method=None)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}], "trial_period_days": 3}
    )
    advance(sandbox_url, sandbox_account, 3 * DAY + 10)
    current = stripe_client.v1.subscriptions.retrieve(
        subscription.id, params={"expand": ["latest_invoice"]}
    )
    assert current.status == "past_due"
    assert current.latest_invoice.status == "open"
    assert current.latest_invoice.next_payment_attempt is not None
    assert "invoice.payment_failed" in event_types(stripe_client)

    # The customer adds a card and pays: the subscription is in good standing again.
    pm = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    paid = stripe_client.v1.invoices.pay(
        current.latest_invoice.id, params={"payment_method": pm.id}
    )
    assert paid.status == "paid"
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).status == "active"


def test_trial_end_with_a_failing_card_goes_past_due(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    price = make_price(stripe_client, 2500)
    customer = make_customer(stripe_client, "pm_card_chargeCustomerFail")
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}], "trial_period_days": 7}
    )
    advance(sandbox_url, sandbox_account, 8 * DAY)
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).status == "past_due"


def test_trial_end_behaviour_without_a_payment_method(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    price = make_price(stripe_client, 2500)
    customer = make_customer(stripe_client, payment_method=None)

    def trial(behaviour: str) -> str:
        return str(
            stripe_client.v1.subscriptions.create(
                params={
                    "customer": customer.id,
                    "items": [{"price": price.id}],
                    "trial_period_days": 2,
                    "trial_settings": {"end_behavior": {"missing_payment_method": behaviour}},
                }
            ).id
        )

    canceled, paused = trial("cancel"), trial("pause")
    advance(sandbox_url, sandbox_account, 2 * DAY + 10)
    assert stripe_client.v1.subscriptions.retrieve(canceled).status == "canceled"
    assert stripe_client.v1.subscriptions.retrieve(paused).status == "paused"
    assert [e.data.object.id for e in events_of(stripe_client, "customer.subscription.paused")] == [
        paused
    ]
    assert _invoices(stripe_client, canceled)[-1].total == 0

    make_card = stripe_client.v1.payment_methods.attach(
        "pm_card_visa", params={"customer": customer.id}
    )
    stripe_client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": make_card.id}}
    )
    resumed = stripe_client.v1.subscriptions.resume(paused, params={"expand": ["latest_invoice"]})
    assert resumed.status == "active"
    assert resumed.latest_invoice.status == "paid" and resumed.latest_invoice.total == 2500
    assert "customer.subscription.resumed" in event_types(stripe_client)


def test_monthly_renewals_follow_the_calendar(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    # Start on January 31st: the next periods end on February 28th, then March 31st.
    target = int(datetime(2031, 1, 31, 12, 0, tzinfo=UTC).timestamp())
    advance(sandbox_url, sandbox_account, target - clock(sandbox_url, sandbox_account))
    price = make_price(stripe_client, 1000)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    start = subscription["items"].data[0].current_period_start
    assert datetime.fromtimestamp(start, UTC).day == 31
    advance(sandbox_url, sandbox_account, 62 * DAY)
    invoices = _invoices(stripe_client, subscription.id)
    assert [i.status for i in invoices] == ["paid", "paid", "paid"]
    ends = [
        datetime.fromtimestamp(line.period.end, UTC).date().isoformat()
        for i in invoices
        for line in i.lines.data
    ]
    assert ends == ["2031-02-28", "2031-03-31", "2031-04-30"]
    assert [i.number for i in invoices] == [f"{customer.invoice_prefix}-000{n}" for n in (1, 2, 3)]
    current = stripe_client.v1.subscriptions.retrieve(subscription.id)
    assert datetime.fromtimestamp(current["items"].data[0].current_period_end, UTC).day == 30


def test_failed_renewal_retries_then_cancels(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    price = make_price(stripe_client, 1000)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    failing = stripe_client.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", params={"customer": customer.id}
    )
    stripe_client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": failing.id}}
    )
    end = subscription["items"].data[0].current_period_end
    advance(sandbox_url, sandbox_account, end - clock(sandbox_url, sandbox_account) + 60)
    current = stripe_client.v1.subscriptions.retrieve(
        subscription.id, params={"expand": ["latest_invoice"]}
    )
    assert current.status == "past_due"
    renewal = current.latest_invoice
    assert renewal.status == "open" and renewal.attempt_count == 1
    assert renewal.next_payment_attempt == end + 3 * DAY
    failures = events_of(stripe_client, "invoice.payment_failed")
    assert [e.data.object.id for e in failures] == [renewal.id]

    advance(sandbox_url, sandbox_account, 3 * DAY)
    assert stripe_client.v1.invoices.retrieve(renewal.id).attempt_count == 2
    advance(sandbox_url, sandbox_account, 12 * DAY)
    final = stripe_client.v1.subscriptions.retrieve(subscription.id)
    assert final.status == "canceled"
    assert final.cancellation_details.reason == "payment_failed"
    invoice = stripe_client.v1.invoices.retrieve(renewal.id)
    assert invoice.attempt_count == 4 and invoice.next_payment_attempt is None
    assert len(events_of(stripe_client, "invoice.payment_failed")) == 4
    assert events_of(stripe_client, "customer.subscription.deleted")[0].data.object.id == (
        subscription.id
    )


def test_a_retry_that_succeeds_restores_the_subscription(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    price = make_price(stripe_client, 1000)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    good = stripe_client.v1.customers.retrieve(customer.id).invoice_settings.default_payment_method
    failing = stripe_client.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", params={"customer": customer.id}
    )
    stripe_client.v1.subscriptions.update(
        subscription.id, params={"default_payment_method": failing.id}
    )
    advance(sandbox_url, sandbox_account, 32 * DAY)
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).status == "past_due"
    stripe_client.v1.subscriptions.update(subscription.id, params={"default_payment_method": good})
    advance(sandbox_url, sandbox_account, 3 * DAY)
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).status == "active"
    assert [i.status for i in _invoices(stripe_client, subscription.id)] == ["paid", "paid"]


def test_cancel_at_period_end_takes_effect_at_the_end(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    price = make_price(stripe_client, 1000)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    stripe_client.v1.subscriptions.update(subscription.id, params={"cancel_at_period_end": True})
    end = subscription["items"].data[0].current_period_end
    advance(sandbox_url, sandbox_account, end - clock(sandbox_url, sandbox_account) - 60)
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).status == "active"
    advance(sandbox_url, sandbox_account, 120)
    ended = stripe_client.v1.subscriptions.retrieve(subscription.id)
    assert ended.status == "canceled" and ended.ended_at == end
    assert len(_invoices(stripe_client, subscription.id)) == 1
    deleted = events_of(stripe_client, "customer.subscription.deleted")
    assert [e.data.object.id for e in deleted] == [subscription.id]


def test_cancel_at_a_chosen_time(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    price = make_price(stripe_client, 1000)
    customer = make_customer(stripe_client)
    now = clock(sandbox_url, sandbox_account)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}], "cancel_at": now + 5 * DAY}
    )
    assert subscription.cancel_at == now + 5 * DAY
    assert subscription.cancel_at_period_end is False
    advance(sandbox_url, sandbox_account, 6 * DAY)
    ended = stripe_client.v1.subscriptions.retrieve(subscription.id)
    assert ended.status == "canceled" and ended.ended_at == now + 5 * DAY


def test_an_unpaid_first_invoice_expires(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    price = make_price(stripe_client, 1000)
    customer = make_customer(stripe_client, payment_method=None)
    subscription = stripe_client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id}],
            "payment_behavior": "default_incomplete",
        }
    )
    advance(sandbox_url, sandbox_account, 22 * 3600)
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).status == "incomplete"
    advance(sandbox_url, sandbox_account, 2 * 3600)
    expired = stripe_client.v1.subscriptions.retrieve(
        subscription.id, params={"expand": ["latest_invoice"]}
    )
    assert expired.status == "incomplete_expired"
    assert expired.latest_invoice.status == "void"
    assert len(_invoices(stripe_client, subscription.id)) == 1


def test_paused_collection_keeps_renewals_as_drafts(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    price = make_price(stripe_client, 1000)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    stripe_client.v1.subscriptions.update(
        subscription.id, params={"pause_collection": {"behavior": "keep_as_draft"}}
    )
    advance(sandbox_url, sandbox_account, 32 * DAY)
    invoices = _invoices(stripe_client, subscription.id)
    assert [i.status for i in invoices] == ["paid", "draft"]
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).status == "active"
    stripe_client.v1.subscriptions.update(subscription.id, params={"pause_collection": ""})
    advance(sandbox_url, sandbox_account, 31 * DAY)
    assert [i.status for i in _invoices(stripe_client, subscription.id)] == [
        "paid",
        "draft",
        "paid",
    ]


def test_clock_events_carry_the_time_they_happened(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    price = make_price(stripe_client, 1000, "week")
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    start = subscription["items"].data[0].current_period_start
    advance(sandbox_url, sandbox_account, 3 * 7 * DAY + 60)
    invoices = _invoices(stripe_client, subscription.id)
    assert [i.created for i in invoices] == [
        start,
        start + 7 * DAY,
        start + 14 * DAY,
        start + 21 * DAY,
    ]
    paid = events_of(stripe_client, "invoice.paid")
    assert [e.created for e in paid] == [i.created for i in invoices]


def test_a_billing_cycle_anchor_prorates_the_first_period(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    price = make_price(stripe_client, 3000)
    customer = make_customer(stripe_client)
    now = clock(sandbox_url, sandbox_account)
    anchor = now + 10 * DAY
    subscription = stripe_client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id}],
            "billing_cycle_anchor": anchor,
            "expand": ["latest_invoice"],
        }
    )
    assert subscription.billing_cycle_anchor == anchor
    assert subscription["items"].data[0].current_period_end == anchor
    first = subscription.latest_invoice.total
    assert 0 < first < 3000
    advance(sandbox_url, sandbox_account, 10 * DAY + 60)
    invoices = _invoices(stripe_client, subscription.id)
    assert [i.total for i in invoices] == [first, 3000]
    assert invoices[1].lines.data[0].period.start == anchor


def test_an_overdue_sent_invoice_makes_the_subscription_past_due(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    price = make_price(stripe_client, 3000)
    customer = make_customer(stripe_client, payment_method=None)
    subscription = stripe_client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id}],
            "collection_method": "send_invoice",
            "days_until_due": 7,
        }
    )
    advance(sandbox_url, sandbox_account, 6 * DAY)
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).status == "active"
    advance(sandbox_url, sandbox_account, 2 * DAY)
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).status == "past_due"
    assert "invoice.overdue" in event_types(stripe_client)
    stripe_client.v1.invoices.pay(subscription.latest_invoice, params={"paid_out_of_band": True})
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).status == "active"


def test_an_anchor_after_the_trial_bills_a_stub_when_the_trial_ends(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    price = make_price(stripe_client, 3000)
    customer = make_customer(stripe_client)
    now = clock(sandbox_url, sandbox_account)
    trial_end = now + 7 * DAY
    anchor = trial_end + 10 * DAY
    subscription = stripe_client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id}],
            "trial_end": trial_end,
            "billing_cycle_anchor": anchor,
        }
    )
    assert subscription.status == "trialing"
    assert subscription.billing_cycle_anchor == anchor
    preview = stripe_client.v1.invoices.create_preview(params={"subscription": subscription.id})
    advance(sandbox_url, sandbox_account, 7 * DAY + 60)
    stub = _invoices(stripe_client, subscription.id)[-1]
    assert 0 < stub.total < 3000 and stub.total == preview.total
    assert stub.lines.data[0].period.end == anchor
    advance(sandbox_url, sandbox_account, 10 * DAY)
    assert [i.total for i in _invoices(stripe_client, subscription.id)] == [0, stub.total, 3000]


def test_a_trial_collects_the_card_through_the_pending_setup_intent(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    price = make_price(stripe_client, 1900)
    customer = make_customer(stripe_client, payment_method=None)
    subscription = stripe_client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id}],
            "trial_period_days": 7,
            "payment_behavior": "default_incomplete",
            "payment_settings": {"save_default_payment_method": "on_subscription"},
            "expand": ["pending_setup_intent"],
        }
    )
    assert subscription.status == "trialing"
    setup = subscription.pending_setup_intent
    assert setup.status == "requires_payment_method" and setup.client_secret
    stripe_client.v1.setup_intents.confirm(setup.id, params={"payment_method": "pm_card_visa"})
    advance(sandbox_url, sandbox_account, 7 * DAY + 60)
    current = stripe_client.v1.subscriptions.retrieve(
        subscription.id, params={"expand": ["latest_invoice"]}
    )
    assert current.status == "active"
    assert current.pending_setup_intent is None
    assert current.default_payment_method is not None
    assert current.latest_invoice.status == "paid" and current.latest_invoice.total == 1900
