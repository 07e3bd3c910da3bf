from __future__ import annotations

import httpx
import pytest
import stripe

from tests.integration.sandbox.billing_support import (
    advance,
    event_types,
    events_of,
    make_customer,
    make_price,
)


def _one_time_price(client: stripe.StripeClient, amount: int) -> stripe.Price:
    product = client.v1.products.create(params={"name": "Setup fee"})
    return client.v1.prices.create(
        params={"product": product.id, "currency": "usd", "unit_amount": amount}
    )


def test_one_off_invoice_from_pending_items(stripe_client: stripe.StripeClient) -> None:
    customer = make_customer(stripe_client)
    fee = _one_time_price(stripe_client, 4900)
    first = stripe_client.v1.invoice_items.create(
        params={"customer": customer.id, "pricing": {"price": fee.id}, "quantity": 2}
    )
    second = stripe_client.v1.invoice_items.create(
        params={
            "customer": customer.id,
            "amount": 1500,
            "currency": "usd",
            "description": "Onboarding call",
        }
    )
    assert first.amount == 9800 and first.invoice is None
    pending = stripe_client.v1.invoice_items.list(params={"customer": customer.id, "pending": True})
    assert {i.id for i in pending.data} == {first.id, second.id}

    excluded = stripe_client.v1.invoices.create(params={"customer": customer.id})
    assert excluded.total == 0 and excluded.lines.data == []
    stripe_client.v1.invoices.delete(excluded.id)
    assert stripe_client.v1.invoices.retrieve(excluded.id).deleted is True

    draft = stripe_client.v1.invoices.create(
        params={"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    assert draft.status == "draft" and draft.number is None
    assert draft.total == 11300
    assert {line.parent.invoice_item_details.invoice_item for line in draft.lines.data} == {
        first.id,
        second.id,
    }
    assert stripe_client.v1.invoice_items.retrieve(first.id).invoice == draft.id

    extra = stripe_client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": draft.id, "amount": 200, "currency": "usd"}
    )
    assert stripe_client.v1.invoices.retrieve(draft.id).total == 11500
    stripe_client.v1.invoice_items.delete(extra.id)
    assert stripe_client.v1.invoices.retrieve(draft.id).total == 11300

    opened = stripe_client.v1.invoices.finalize_invoice(draft.id)
    assert opened.status == "open"
    assert opened.number == f"{customer.invoice_prefix}-0001"
    assert opened.hosted_invoice_url.endswith(f"/_sandbox/invoices/{draft.id}")
    paid = stripe_client.v1.invoices.pay(draft.id)
    assert paid.status == "paid" and paid.amount_paid == 11300
    lines = stripe_client.v1.invoices.line_items.list(draft.id, params={"limit": 1})
    assert len(lines.data) == 1 and lines.has_more is True
    types = event_types(stripe_client)
    for expected in ("invoice.created", "invoice.finalized", "invoice.paid", "invoiceitem.created"):
        assert expected in types


def test_paying_with_a_declined_card(stripe_client: stripe.StripeClient) -> None:
    customer = make_customer(stripe_client, "pm_card_chargeCustomerFail")
    stripe_client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 1000, "currency": "usd"}
    )
    invoice = stripe_client.v1.invoices.create(
        params={"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    stripe_client.v1.invoices.finalize_invoice(invoice.id)
    with pytest.raises(stripe.CardError) as caught:
        stripe_client.v1.invoices.pay(invoice.id)
    assert caught.value.http_status == 402
    failed = stripe_client.v1.invoices.retrieve(invoice.id)
    assert failed.status == "open" and failed.attempt_count == 1
    assert [e.data.object.id for e in events_of(stripe_client, "invoice.payment_failed")] == [
        invoice.id
    ]
    visa = stripe_client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    assert stripe_client.v1.invoices.pay(invoice.id, params={"payment_method": visa.id}).status == (
        "paid"
    )


def test_void_uncollectible_and_out_of_band(stripe_client: stripe.StripeClient) -> None:
    customer = make_customer(stripe_client)

    def open_invoice(amount: int) -> stripe.Invoice:
        stripe_client.v1.invoice_items.create(
            params={"customer": customer.id, "amount": amount, "currency": "usd"}
        )
        invoice = stripe_client.v1.invoices.create(
            params={
                "customer": customer.id,
                "pending_invoice_items_behavior": "include",
                "collection_method": "send_invoice",
                "days_until_due": 30,
            }
        )
        return stripe_client.v1.invoices.finalize_invoice(invoice.id)

    voided = stripe_client.v1.invoices.void_invoice(open_invoice(100).id)
    assert voided.status == "void"
    lost = stripe_client.v1.invoices.mark_uncollectible(open_invoice(200).id)
    assert lost.status == "uncollectible"
    sent = open_invoice(300)
    assert sent.due_date == sent.status_transitions.finalized_at + 30 * 86400
    settled = stripe_client.v1.invoices.pay(sent.id, params={"paid_out_of_band": True})
    assert settled.status == "paid"
    assert stripe_client.v1.payment_intents.list(params={"customer": customer.id}).data == []
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.invoices.delete(sent.id)
    statuses = {
        i.status for i in stripe_client.v1.invoices.list(params={"customer": customer.id}).data
    }
    assert statuses == {"void", "uncollectible", "paid"}
    assert [i.id for i in stripe_client.v1.invoices.list(params={"status": "void"}).data] == [
        voided.id
    ]
    assert "invoice.voided" in event_types(stripe_client)


def test_auto_advance_finalizes_and_charges_an_hour_later(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    customer = make_customer(stripe_client)
    stripe_client.v1.invoice_items.create(
        params={"customer": customer.id, "amount": 700, "currency": "usd"}
    )
    invoice = stripe_client.v1.invoices.create(
        params={
            "customer": customer.id,
            "pending_invoice_items_behavior": "include",
            "auto_advance": True,
        }
    )
    assert invoice.automatically_finalizes_at == invoice.created + 3600
    advance(sandbox_url, sandbox_account, 3700)
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "paid"


def test_the_preview_of_a_new_subscription_matches_its_first_invoice(
    stripe_client: stripe.StripeClient,
) -> None:
    price = make_price(stripe_client, 1200)
    customer = make_customer(stripe_client)
    coupon = stripe_client.v1.coupons.create(params={"percent_off": 10, "duration": "forever"})
    preview = stripe_client.v1.invoices.create_preview(
        params={
            "customer": customer.id,
            "subscription_details": {"items": [{"price": price.id, "quantity": 2}]},
            "discounts": [{"coupon": coupon.id}],
        }
    )
    assert preview.total == 2400 - 240
    assert preview.billing_reason == "subscription_create"
    assert stripe_client.v1.subscriptions.list(params={"customer": customer.id}).data == []
    subscription = stripe_client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id, "quantity": 2}],
            "discounts": [{"coupon": coupon.id}],
            "expand": ["latest_invoice"],
        }
    )
    assert subscription.latest_invoice.total == preview.total
    assert stripe_client.v1.coupons.retrieve(coupon.id).times_redeemed == 1


def test_send_invoice_subscription(stripe_client: stripe.StripeClient) -> None:
    price = make_price(stripe_client, 5000)
    customer = make_customer(stripe_client, payment_method=None)
    subscription = stripe_client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id}],
            "collection_method": "send_invoice",
            "days_until_due": 14,
            "expand": ["latest_invoice"],
        }
    )
    assert subscription.status == "active"
    invoice = subscription.latest_invoice
    assert invoice.status == "open" and invoice.collection_method == "send_invoice"
    assert invoice.due_date == invoice.created + 14 * 86400
    sent = stripe_client.v1.invoices.send_invoice(invoice.id)
    assert sent.status == "open"


def test_hosted_invoice_page_and_pdf(stripe_client: stripe.StripeClient) -> None:
    price = make_price(stripe_client, 2000, name="Team <Plan>")
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id}],
            "expand": ["latest_invoice"],
        }
    )
    invoice = subscription.latest_invoice
    page = httpx.get(invoice.hosted_invoice_url)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert invoice.number in page.text
    assert "$20.00" in page.text
    assert "Team &lt;Plan&gt;" in page.text and "<Plan>" not in page.text
    pdf = httpx.get(invoice.invoice_pdf)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-1.4")
    assert pdf.content.rstrip().endswith(b"%%EOF")
    assert invoice.number.encode() in pdf.content
    assert b"Total: $20.00" in pdf.content
    assert httpx.get(invoice.hosted_invoice_url + "x").status_code == 404


def test_invoice_list_filters(stripe_client: stripe.StripeClient) -> None:
    price = make_price(stripe_client, 1000)
    ada = make_customer(stripe_client)
    bob = make_customer(stripe_client)
    first = stripe_client.v1.subscriptions.create(
        params={"customer": ada.id, "items": [{"price": price.id}]}
    )
    second = stripe_client.v1.subscriptions.create(
        params={"customer": bob.id, "items": [{"price": price.id}]}
    )

    def ids(**params: object) -> list[str]:
        return [i.id for i in stripe_client.v1.invoices.list(params=params).data]

    assert ids(customer=ada.id) == [first.latest_invoice]
    assert ids(subscription=second.id) == [second.latest_invoice]
    assert ids(status="paid") == [second.latest_invoice, first.latest_invoice]
    assert ids(status="open") == []
    payments = stripe_client.v1.invoice_payments.list(params={"invoice": first.latest_invoice})
    assert payments.data[0].status == "paid"
