from __future__ import annotations

import httpx
import pytest
import stripe

from tests.integration.sandbox.billing_support import (
    DAY,
    event_types,
    events_of,
    make_customer,
    make_price,
)


def test_subscribing_with_a_card_charges_the_first_invoice(
    stripe_client: stripe.StripeClient,
) -> None:
    price = make_price(stripe_client, 2000)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id, "quantity": 3}],
            "expand": ["latest_invoice.payments", "items.data.price.product"],
        }
    )
    assert subscription.status == "active"
    item = subscription["items"].data[0]
    assert item.quantity == 3
    assert item.price.product.id == price.product
    assert item.current_period_end > item.current_period_start
    invoice = subscription.latest_invoice
    assert invoice.status == "paid"
    assert invoice.billing_reason == "subscription_create"
    assert invoice.total == invoice.amount_paid == 6000
    assert invoice.number == f"{customer.invoice_prefix}-0001"
    assert invoice.parent.subscription_details.subscription == subscription.id
    line = invoice.lines.data[0]
    assert line.amount == 6000 and line.quantity == 3
    assert line.pricing.price_details.price == price.id
    assert line.parent.subscription_item_details.subscription_item == item.id
    assert line.period.start == item.current_period_start
    assert line.period.end == item.current_period_end
    payment = invoice.payments.data[0]
    assert payment.status == "paid" and payment.amount_paid == 6000
    intent = stripe_client.v1.payment_intents.retrieve(payment.payment.payment_intent)
    assert intent.status == "succeeded" and intent.amount == 6000

    types = event_types(stripe_client)
    for expected in (
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "payment_intent.succeeded",
    ):
        assert expected in types
    assert types.index("invoice.created") < types.index("invoice.finalized")
    assert types.index("invoice.finalized") < types.index("invoice.paid")
    created = events_of(stripe_client, "customer.subscription.created")[0]
    assert created.data.object.status == "active"


def test_a_trial_needs_no_card_and_charges_nothing(stripe_client: stripe.StripeClient) -> None:
    price = make_price(stripe_client, 1500)
    customer = make_customer(stripe_client, payment_method=None)
    subscription = stripe_client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id}],
            "trial_period_days": 14,
            "expand": ["latest_invoice"],
        }
    )
    assert subscription.status == "trialing"
    assert subscription.trial_end - subscription.trial_start == 14 * DAY
    assert subscription["items"].data[0].current_period_end == subscription.trial_end
    assert subscription.billing_cycle_anchor == subscription.trial_end
    invoice = subscription.latest_invoice
    assert invoice.status == "paid" and invoice.total == 0 and invoice.amount_paid == 0
    assert invoice.lines.data[0].description.startswith("Trial period for")
    assert stripe_client.v1.payment_intents.list(params={"customer": customer.id}).data == []


def test_trial_from_plan_uses_the_price_trial(stripe_client: stripe.StripeClient) -> None:
    price = make_price(stripe_client, 1500, trial_period_days=7)
    customer = make_customer(stripe_client)
    plain = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    assert plain.status == "active"
    from_plan = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}], "trial_from_plan": True}
    )
    assert from_plan.status == "trialing"
    assert from_plan.trial_end - from_plan.trial_start == 7 * DAY


def test_default_incomplete_waits_for_the_payment_intent(
    stripe_client: stripe.StripeClient,
) -> None:
    price = make_price(stripe_client, 900)
    customer = make_customer(stripe_client, payment_method=None)
    subscription = stripe_client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id}],
            "payment_behavior": "default_incomplete",
            "payment_settings": {"save_default_payment_method": "on_subscription"},
            "expand": ["latest_invoice.confirmation_secret", "latest_invoice.payments"],
        }
    )
    assert subscription.status == "incomplete"
    invoice = subscription.latest_invoice
    assert invoice.status == "open" and invoice.amount_due == 900
    secret = invoice.confirmation_secret.client_secret
    intent_id = invoice.payments.data[0].payment.payment_intent
    assert secret.startswith(intent_id + "_secret_")

    intent = stripe_client.v1.payment_intents.confirm(
        intent_id, params={"payment_method": "pm_card_visa"}
    )
    assert intent.status == "succeeded"
    subscription = stripe_client.v1.subscriptions.retrieve(
        subscription.id, params={"expand": ["latest_invoice"]}
    )
    assert subscription.status == "active"
    assert subscription.latest_invoice.status == "paid"
    assert subscription.default_payment_method == intent.payment_method
    updated = events_of(stripe_client, "customer.subscription.updated")[-1]
    assert updated.data.object.status == "active"
    assert updated.data.previous_attributes.status == "incomplete"


def test_a_card_needing_authentication_leaves_the_subscription_incomplete(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    price = make_price(stripe_client, 1200)
    customer = make_customer(stripe_client, "pm_card_authenticationRequired")
    subscription = stripe_client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id}],
            "expand": ["latest_invoice.payments"],
        }
    )
    assert subscription.status == "incomplete"
    intent = stripe_client.v1.payment_intents.retrieve(
        subscription.latest_invoice.payments.data[0].payment.payment_intent
    )
    assert intent.status == "requires_action"

    # The browser completes 3D Secure through the Stripe.js stand-in.
    answer = httpx.post(
        f"{sandbox_url}/v1/payment_intents/{intent.id}/_sandbox_authenticate",
        headers={"Authorization": f"Bearer pk_test_{sandbox_account}"},
        data={"client_secret": intent.client_secret, "outcome": "complete"},
    )
    assert answer.status_code == 200
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).status == "active"


def test_a_failed_first_charge(stripe_client: stripe.StripeClient) -> None:
    price = make_price(stripe_client, 1200)
    customer = make_customer(stripe_client, "pm_card_chargeCustomerFail")
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    assert subscription.status == "incomplete"
    invoice = stripe_client.v1.invoices.retrieve(subscription.latest_invoice)
    assert invoice.status == "open" and invoice.attempt_count == 1
    assert "invoice.payment_failed" in event_types(stripe_client)

    with pytest.raises(stripe.CardError) as caught:
        stripe_client.v1.subscriptions.create(
            params={
                "customer": customer.id,
                "items": [{"price": price.id}],
                "payment_behavior": "error_if_incomplete",
            }
        )
    assert caught.value.http_status == 402
    assert caught.value.code == "card_declined"
    mine = stripe_client.v1.subscriptions.list(params={"customer": customer.id, "status": "all"})
    assert [s.id for s in mine.data] == [subscription.id]


def test_no_payment_method_is_refused_without_a_trial(stripe_client: stripe.StripeClient) -> None:
    price = make_price(stripe_client)
    customer = make_customer(stripe_client, payment_method=None)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.subscriptions.create(
            params={"customer": customer.id, "items": [{"price": price.id}]}
        )
    assert "no attached payment source" in str(caught.value.user_message)


def test_bad_parameters_name_the_parameter(stripe_client: stripe.StripeClient) -> None:
    price = make_price(stripe_client)
    customer = make_customer(stripe_client)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.subscriptions.create(
            params={"customer": customer.id, "items": [{"price": "price_missing"}]}
        )
    assert caught.value.param == "items[0][price]"
    assert caught.value.http_status == 404
    yearly = make_price(stripe_client, 10000, "year")
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.subscriptions.create(
            params={"customer": customer.id, "items": [{"price": price.id}, {"price": yearly.id}]}
        )
    assert "interval" in str(caught.value.user_message)
    other = make_customer(stripe_client)
    foreign_pm = stripe_client.v1.customers.retrieve(other.id).invoice_settings
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.subscriptions.create(
            params={
                "customer": customer.id,
                "items": [{"price": price.id}],
                "default_payment_method": foreign_pm.default_payment_method,
            }
        )
    assert caught.value.param == "default_payment_method"


def test_discounts_on_the_first_invoice(stripe_client: stripe.StripeClient) -> None:
    price = make_price(stripe_client, 2000)
    customer = make_customer(stripe_client)
    percent = stripe_client.v1.coupons.create(params={"percent_off": 25, "duration": "forever"})
    amount = stripe_client.v1.coupons.create(
        params={"amount_off": 500, "currency": "usd", "duration": "once"}
    )
    promo = stripe_client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": amount.id}, "code": "FIVEOFF"}
    )

    def first_invoice(discounts: list[dict[str, str]], quantity: int = 2) -> stripe.Invoice:
        subscription = stripe_client.v1.subscriptions.create(
            params={
                "customer": customer.id,
                "items": [{"price": price.id, "quantity": quantity}],
                "discounts": discounts,
                "expand": ["latest_invoice"],
            }
        )
        return subscription.latest_invoice

    by_percent = first_invoice([{"coupon": percent.id}])
    assert by_percent.subtotal == 4000
    assert by_percent.total == by_percent.amount_paid == 4000 - 1000
    assert by_percent.total_discount_amounts[0].amount == 1000
    assert by_percent.lines.data[0].discount_amounts[0].amount == 1000

    by_amount = first_invoice([{"coupon": amount.id}])
    assert by_amount.total == 4000 - 500

    by_code = first_invoice([{"promotion_code": promo.id}], quantity=1)
    assert by_code.total == 2000 - 500
    assert stripe_client.v1.promotion_codes.retrieve(promo.id).times_redeemed == 1
    assert stripe_client.v1.coupons.retrieve(amount.id).times_redeemed == 2


def test_a_once_coupon_is_used_up_by_the_first_invoice(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    from tests.integration.sandbox.billing_support import advance

    price = make_price(stripe_client, 2000)
    customer = make_customer(stripe_client)
    once = stripe_client.v1.coupons.create(params={"percent_off": 50, "duration": "once"})
    subscription = stripe_client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id}],
            "discounts": [{"coupon": once.id}],
        }
    )
    assert subscription.discounts == []
    advance(sandbox_url, sandbox_account, 32 * DAY)
    invoices = stripe_client.v1.invoices.list(params={"subscription": subscription.id}).data
    assert [i.total for i in invoices] == [2000, 1000]


def test_upgrade_preview_equals_the_proration_invoice(stripe_client: stripe.StripeClient) -> None:
    basic = make_price(stripe_client, 1000, name="Basic")
    pro = make_price(stripe_client, 3000, name="Pro")
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": basic.id}]}
    )
    item = subscription["items"].data[0]
    start, end = item.current_period_start, item.current_period_end
    proration_date = start + (end - start) // 3
    change = {"items": [{"id": item.id, "price": pro.id}], "proration_date": proration_date}

    preview = stripe_client.v1.invoices.create_preview(
        params={
            "customer": customer.id,
            "subscription": subscription.id,
            "subscription_details": {**change, "proration_behavior": "always_invoice"},
        }
    )
    assert preview.id.startswith("upcoming_")
    remaining = (end - proration_date) / (end - start)
    expected = round(3000 * remaining) - round(1000 * remaining)
    assert preview.total == expected
    assert [line.amount < 0 for line in preview.lines.data] == [True, False]
    assert all(line.parent.subscription_item_details.proration for line in preview.lines.data)
    # Nothing was stored by the preview.
    assert stripe_client.v1.invoices.list(params={"customer": customer.id}).data[0].id == (
        subscription.latest_invoice
    )

    updated = stripe_client.v1.subscriptions.update(
        subscription.id,
        params={**change, "proration_behavior": "always_invoice", "expand": ["latest_invoice"]},
    )
    invoice = updated.latest_invoice
    assert invoice.billing_reason == "subscription_update"
    assert invoice.status == "paid"
    assert invoice.total == preview.total == invoice.amount_paid
    assert [line.amount for line in invoice.lines.data] == [
        line.amount for line in preview.lines.data
    ]
    assert [line.description for line in invoice.lines.data] == [
        line.description for line in preview.lines.data
    ]
    assert updated["items"].data[0].id == item.id
    assert updated["items"].data[0].price.id == pro.id
    event = events_of(stripe_client, "customer.subscription.updated")[-1]
    assert event.data.previous_attributes["items"].data[0].price.id == basic.id


def test_quantity_change_prorates_into_the_next_invoice(
    stripe_client: stripe.StripeClient,
) -> None:
    price = make_price(stripe_client, 1000)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id, "quantity": 1}]}
    )
    item = subscription["items"].data[0]
    start, end = item.current_period_start, item.current_period_end
    halfway = start + (end - start) // 2
    change = {"items": [{"id": item.id, "quantity": 3}], "proration_date": halfway}
    preview = stripe_client.v1.invoices.create_preview(
        params={"subscription": subscription.id, "subscription_details": change}
    )
    updated = stripe_client.v1.subscriptions.update(subscription.id, params=change)
    assert updated["items"].data[0].quantity == 3
    assert updated.latest_invoice == subscription.latest_invoice
    pending = stripe_client.v1.invoice_items.list(
        params={"customer": customer.id, "pending": True}
    ).data
    prorations = sorted(i.amount for i in pending)
    credit, charge = (
        round(-1000 * (end - halfway) / (end - start)),
        round(3000 * (end - halfway) / (end - start)),
    )
    assert prorations == [credit, charge]
    assert all(i.proration for i in pending)
    # The next invoice: both prorations and the next month at the new quantity.
    assert preview.billing_reason == "upcoming"
    assert preview.total == credit + charge + 3000
    assert preview.period_end == end


def test_cancel_at_period_end_and_undo(stripe_client: stripe.StripeClient) -> None:
    price = make_price(stripe_client)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    end = subscription["items"].data[0].current_period_end
    pending = stripe_client.v1.subscriptions.update(
        subscription.id,
        params={
            "cancel_at_period_end": True,
            "cancellation_details": {"feedback": "too_expensive", "comment": "later"},
        },
    )
    assert pending.status == "active"
    assert pending.cancel_at_period_end is True and pending.cancel_at == end
    assert pending.cancellation_details.feedback == "too_expensive"
    assert pending.cancellation_details.reason == "cancellation_requested"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.invoices.create_preview(params={"subscription": subscription.id})
    assert caught.value.code == "invoice_upcoming_none"

    undone = stripe_client.v1.subscriptions.update(
        subscription.id, params={"cancel_at_period_end": False}
    )
    assert undone.cancel_at_period_end is False and undone.cancel_at is None
    assert undone.canceled_at is None
    event = events_of(stripe_client, "customer.subscription.updated")[-1]
    assert event.data.previous_attributes.cancel_at_period_end is True


def test_cancel_now(stripe_client: stripe.StripeClient) -> None:
    price = make_price(stripe_client)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    canceled = stripe_client.v1.subscriptions.cancel(
        subscription.id, params={"cancellation_details": {"comment": "bye"}}
    )
    assert canceled.status == "canceled"
    assert canceled.ended_at is not None and canceled.canceled_at is not None
    assert canceled.cancellation_details.comment == "bye"
    deleted = events_of(stripe_client, "customer.subscription.deleted")
    assert [e.data.object.id for e in deleted] == [subscription.id]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.subscriptions.update(
            subscription.id, params={"cancel_at_period_end": True}
        )
    assert "canceled subscription" in str(caught.value.user_message)
    kept = stripe_client.v1.subscriptions.update(
        subscription.id, params={"metadata": {"why": "price"}}
    )
    assert kept.metadata.to_dict() == {"why": "price"}


def test_cancel_now_with_prorated_credit(stripe_client: stripe.StripeClient) -> None:
    price = make_price(stripe_client, 3000)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    stripe_client.v1.subscriptions.cancel(
        subscription.id, params={"prorate": True, "invoice_now": True}
    )
    invoice = stripe_client.v1.invoices.list(params={"subscription": subscription.id}).data[0]
    assert invoice.total < 0 and invoice.amount_due == 0
    assert stripe_client.v1.customers.retrieve(customer.id).balance == invoice.total


def test_deleting_the_customer_cancels_its_subscriptions(
    stripe_client: stripe.StripeClient,
) -> None:
    price = make_price(stripe_client)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    stripe_client.v1.customers.delete(customer.id)
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).status == "canceled"


def test_listing_filters(stripe_client: stripe.StripeClient) -> None:
    basic = make_price(stripe_client, 1000)
    pro = make_price(stripe_client, 2000)
    ada = make_customer(stripe_client)
    bob = make_customer(stripe_client)
    one = stripe_client.v1.subscriptions.create(
        params={"customer": ada.id, "items": [{"price": basic.id}]}
    )
    two = stripe_client.v1.subscriptions.create(
        params={"customer": ada.id, "items": [{"price": pro.id}]}
    )
    three = stripe_client.v1.subscriptions.create(
        params={"customer": bob.id, "items": [{"price": basic.id}]}
    )
    stripe_client.v1.subscriptions.cancel(two.id)

    def ids(**params: object) -> list[str]:
        return [s.id for s in stripe_client.v1.subscriptions.list(params=params).data]

    assert ids() == [three.id, one.id]
    assert ids(customer=ada.id) == [one.id]
    assert ids(customer=ada.id, status="all") == [two.id, one.id]
    assert ids(status="canceled") == [two.id]
    assert ids(price=basic.id) == [three.id, one.id]


def test_subscription_items(stripe_client: stripe.StripeClient) -> None:
    seats = make_price(stripe_client, 1000)
    addon = make_price(stripe_client, 500)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": seats.id, "quantity": 2}]}
    )
    added = stripe_client.v1.subscription_items.create(
        params={"subscription": subscription.id, "price": addon.id, "proration_behavior": "none"}
    )
    assert added.subscription == subscription.id and added.quantity == 1
    listed = stripe_client.v1.subscription_items.list(params={"subscription": subscription.id})
    assert {i.id for i in listed.data} == {added.id, subscription["items"].data[0].id}
    changed = stripe_client.v1.subscription_items.update(
        added.id, params={"quantity": 4, "proration_behavior": "none"}
    )
    assert changed.quantity == 4
    assert stripe_client.v1.subscription_items.retrieve(added.id).quantity == 4
    deleted = stripe_client.v1.subscription_items.delete(
        added.id, params={"proration_behavior": "none"}
    )
    assert deleted.deleted is True
    remaining = stripe_client.v1.subscriptions.retrieve(subscription.id)
    assert [i.price.id for i in remaining["items"].data] == [seats.id]
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.subscription_items.retrieve(added.id)


def test_interval_change_bills_a_new_period_at_once(stripe_client: stripe.StripeClient) -> None:
    monthly = make_price(stripe_client, 1000)
    yearly = make_price(stripe_client, 10000, "year")
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": monthly.id}]}
    )
    item = subscription["items"].data[0]
    updated = stripe_client.v1.subscriptions.update(
        subscription.id,
        params={"items": [{"id": item.id, "price": yearly.id}], "expand": ["latest_invoice"]},
    )
    new_item = updated["items"].data[0]
    assert new_item.current_period_end - new_item.current_period_start >= 365 * DAY
    invoice = updated.latest_invoice
    assert invoice.status == "paid"
    # A credit for the unused month, then the whole year.
    amounts = sorted(line.amount for line in invoice.lines.data)
    assert amounts[-1] == 10000 and amounts[0] < 0


def test_ending_a_trial_now_charges_at_once(stripe_client: stripe.StripeClient) -> None:
    price = make_price(stripe_client, 1800)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}], "trial_period_days": 14}
    )
    ended = stripe_client.v1.subscriptions.update(
        subscription.id, params={"trial_end": "now", "expand": ["latest_invoice"]}
    )
    assert ended.status == "active"
    assert ended.trial_end == ended.billing_cycle_anchor
    assert ended.latest_invoice.total == 1800 and ended.latest_invoice.status == "paid"
    assert "customer.subscription.trial_will_end" in event_types(stripe_client)


def test_extending_a_trial_moves_the_billing_date(stripe_client: stripe.StripeClient) -> None:
    price = make_price(stripe_client, 1800)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}], "trial_period_days": 7}
    )
    later = subscription.trial_end + 7 * DAY
    extended = stripe_client.v1.subscriptions.update(subscription.id, params={"trial_end": later})
    assert extended.status == "trialing" and extended.trial_end == later
    assert extended["items"].data[0].current_period_end == later
    assert extended.latest_invoice == subscription.latest_invoice


def test_pending_if_incomplete_holds_the_change_until_paid(
    stripe_client: stripe.StripeClient,
) -> None:
    basic = make_price(stripe_client, 1000)
    pro = make_price(stripe_client, 5000)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": basic.id}]}
    )
    failing = stripe_client.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", params={"customer": customer.id}
    )
    stripe_client.v1.subscriptions.update(
        subscription.id, params={"default_payment_method": failing.id}
    )
    item = subscription["items"].data[0]
    held = stripe_client.v1.subscriptions.update(
        subscription.id,
        params={
            "items": [{"id": item.id, "price": pro.id}],
            "proration_behavior": "always_invoice",
            "payment_behavior": "pending_if_incomplete",
        },
    )
    assert held.status == "active"
    assert held["items"].data[0].price.id == basic.id
    assert held.pending_update.subscription_items[0].price.id == pro.id
    visa = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    stripe_client.v1.invoices.pay(held.latest_invoice, params={"payment_method": visa.id})
    applied = stripe_client.v1.subscriptions.retrieve(subscription.id)
    assert applied.pending_update is None
    assert applied["items"].data[0].price.id == pro.id


def test_error_if_incomplete_leaves_an_update_undone(stripe_client: stripe.StripeClient) -> None:
    basic = make_price(stripe_client, 1000)
    pro = make_price(stripe_client, 5000)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": basic.id}]}
    )
    declined = stripe_client.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", params={"customer": customer.id}
    )
    stripe_client.v1.subscriptions.update(
        subscription.id, params={"default_payment_method": declined.id}
    )
    item = subscription["items"].data[0]
    with pytest.raises(stripe.CardError):
        stripe_client.v1.subscriptions.update(
            subscription.id,
            params={
                "items": [{"id": item.id, "price": pro.id}],
                "proration_behavior": "always_invoice",
                "payment_behavior": "error_if_incomplete",
            },
        )
    unchanged = stripe_client.v1.subscriptions.retrieve(subscription.id)
    assert unchanged["items"].data[0].price.id == basic.id
    assert unchanged.latest_invoice == subscription.latest_invoice


def test_a_failed_upgrade_charge_makes_the_subscription_past_due(
    stripe_client: stripe.StripeClient,
) -> None:
    basic = make_price(stripe_client, 1000)
    pro = make_price(stripe_client, 5000)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": basic.id}]}
    )
    declined = stripe_client.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", params={"customer": customer.id}
    )
    item = subscription["items"].data[0]
    updated = stripe_client.v1.subscriptions.update(
        subscription.id,
        params={
            "default_payment_method": declined.id,
            "items": [{"id": item.id, "price": pro.id}],
            "proration_behavior": "always_invoice",
        },
    )
    assert updated.status == "past_due"
    assert updated["items"].data[0].price.id == pro.id


def test_a_coupon_added_later_discounts_the_next_invoice(
    stripe_client: stripe.StripeClient,
) -> None:
    price = make_price(stripe_client, 2000)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    coupon = stripe_client.v1.coupons.create(
        params={"percent_off": 50, "duration": "repeating", "duration_in_months": 3}
    )
    updated = stripe_client.v1.subscriptions.update(
        subscription.id, params={"discounts": [{"coupon": coupon.id}], "expand": ["discounts"]}
    )
    assert updated.discounts[0].source.coupon == coupon.id
    assert updated.discounts[0].end is not None
    upcoming = stripe_client.v1.invoices.create_preview(params={"subscription": subscription.id})
    assert upcoming.subtotal == 2000 and upcoming.total == 1000
    removed = stripe_client.v1.subscriptions.update(subscription.id, params={"discounts": ""})
    assert removed.discounts == []


def test_inline_price_data(stripe_client: stripe.StripeClient) -> None:
    product = stripe_client.v1.products.create(params={"name": "Custom"})
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "product": product.id,
                        "unit_amount": 4200,
                        "recurring": {"interval": "month"},
                    }
                }
            ],
            "expand": ["latest_invoice"],
        }
    )
    assert subscription["items"].data[0].price.unit_amount == 4200
    assert subscription.latest_invoice.total == 4200


def test_preview_of_canceling_now_credits_the_unused_time(
    stripe_client: stripe.StripeClient,
) -> None:
    price = make_price(stripe_client, 3000)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    item = subscription["items"].data[0]
    start, end = item.current_period_start, item.current_period_end
    halfway = start + (end - start) // 2
    preview = stripe_client.v1.invoices.create_preview(
        params={
            "subscription": subscription.id,
            "subscription_details": {"cancel_now": True, "proration_date": halfway},
        }
    )
    assert preview.total == -round(3000 * (end - halfway) / (end - start))
    assert preview.amount_due == 0
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).status == "active"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.invoices.create_preview(
            params={"subscription": subscription.id, "subscription_details": {"bogus": 1}}
        )
    assert caught.value.param == "subscription_details[bogus]"
