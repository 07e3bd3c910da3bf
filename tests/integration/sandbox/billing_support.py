"""Shared steps of the billing tests: a catalog, a customer with a card, the sandbox clock."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import stripe

DAY = 86400


def make_price(
    client: stripe.StripeClient,
    amount: int = 2000,
    interval: str = "month",
    *,
    name: str | None = None,
    **recurring: Any,
) -> stripe.Price:
    product = client.v1.products.create(params={"name": name or f"Plan {uuid.uuid4().hex[:6]}"})
    return client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": amount,
            "recurring": {"interval": interval, **recurring},
        }
    )


def make_customer(
    client: stripe.StripeClient, payment_method: str | None = "pm_card_visa"
) -> stripe.Customer:
    """A customer whose default payment method is the given test card (or none)."""
    customer = client.v1.customers.create(params={"email": f"{uuid.uuid4().hex[:8]}@example.com"})
    if payment_method is not None:
        pm = client.v1.payment_methods.attach(payment_method, params={"customer": customer.id})
        customer = client.v1.customers.update(
            customer.id, params={"invoice_settings": {"default_payment_method": pm.id}}
        )
    return customer


def advance(sandbox_url: str, account: str, seconds: int) -> int:
    """Move the account's clock; everything due runs before this returns."""
    answer = httpx.post(
        f"{sandbox_url}/_sandbox/clock/advance", json={"account": account, "seconds": seconds}
    )
    answer.raise_for_status()
    return int(answer.json()["now"])


def clock(sandbox_url: str, account: str) -> int:
    answer = httpx.get(f"{sandbox_url}/_sandbox/clock", params={"account": account})
    return int(answer.json()["now"])


def event_types(client: stripe.StripeClient) -> list[str]:
    """Every event type of the account, oldest first."""
    events = client.v1.events.list(params={"limit": 100}).auto_paging_iter()
    return [event.type for event in events][::-1]


def events_of(client: stripe.StripeClient, event_type: str) -> list[stripe.Event]:
    found = client.v1.events.list(params={"type": event_type, "limit": 100}).auto_paging_iter()
    return list(found)[::-1]
