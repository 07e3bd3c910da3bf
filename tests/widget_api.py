"""The widget API as the iframe scripts call it, and the Stripe set-ups its tests share."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import stripe

from tests.integration.sandbox.billing_support import advance

ORIGIN = "https://app.acme.test"
MONTH = 32 * 86400
PORTAL_API = "/w/api/portal"


def page_config(html: str) -> dict[str, Any]:
    """The configuration a widget page hands its script."""
    found = re.search(r'<script type="application/json" id="billport-config">(.*?)</script>', html)
    assert found, html
    return dict(json.loads(found.group(1)))


class Widget:
    """One widget page's session, calling the widget API as its script does.

    ``base`` is put before every path; an answer carrying a new session (the customer that a
    checkout created) replaces the old one, as the script does.
    """

    def __init__(self, api: httpx.Client, config: dict[str, Any], base: str = "") -> None:
        self.api = api
        self.config = config
        self.header = config["sessionHeader"]
        self.session = config["session"]
        self.base = base

    @property
    def headers(self) -> dict[str, str]:
        return {self.header: self.session}

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        answer = self.api.request(method, f"{self.base}{path}", json=body, headers=self.headers)
        if answer.status_code == 200 and "session" in answer.json():
            self.session = answer.json()["session"]
        return answer


def open_widget(
    api: httpx.Client, tenant: dict[str, Any], widget: str, *, base: str = "", **params: str
) -> Widget:
    """Load a widget page framed by the tenant's site and take its session."""
    page = api.get(
        f"/w/{widget}", params={"key": tenant["publishable_key"], "origin": ORIGIN, **params}
    )
    assert page.status_code == 200, page.text
    return Widget(api, page_config(page.text), base)


def action() -> str:
    """A fresh action id, as the script makes one per click."""
    return uuid.uuid4().hex


def make_plans(client: stripe.StripeClient, *plans: tuple[str, str, int]) -> list[str]:
    """Products of the ``notes`` service, one monthly price each: (name, tier, cents) → ids."""
    prices = []
    for name, tier, amount in plans:
        product = client.v1.products.create(
            params={"name": name, "metadata": {"service": "notes", "tier": tier}}
        )
        price = client.v1.prices.create(
            params={
                "product": product.id,
                "currency": "usd",
                "unit_amount": amount,
                "recurring": {"interval": "month"},
            }
        )
        prices.append(str(price.id))
    return prices


@dataclass
class Subscriber:
    customer: str
    subscription: str
    card: str


def new_subscriber(client: stripe.StripeClient, price: str, name: str = "Ada") -> Subscriber:
    """A customer paying ``price`` with a Visa card, set up in Stripe directly."""
    customer = client.v1.customers.create(
        params={"email": f"{name.lower()}-{action()[:6]}@example.com", "name": name}
    )
    card = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": card.id}}
    )
    sub = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price}]}
    )
    assert sub.status == "active"
    return Subscriber(str(customer.id), str(sub.id), str(card.id))


def attach(client: stripe.StripeClient, customer: str, test_card: str) -> str:
    return str(client.v1.payment_methods.attach(test_card, params={"customer": customer}).id)


def fail_next_renewal(
    client: stripe.StripeClient, who: Subscriber, sandbox_url: str, account: str
) -> str:
    """Make the renewal fail (card charged later declines); answers the open invoice id."""
    failing = attach(client, who.customer, "pm_card_chargeCustomerFail")
    client.v1.customers.update(
        who.customer, params={"invoice_settings": {"default_payment_method": failing}}
    )
    client.v1.subscriptions.update(who.subscription, params={"default_payment_method": failing})
    advance(sandbox_url, account, MONTH)
    return open_renewal(client, who.subscription)


def open_renewal(client: stripe.StripeClient, subscription: str) -> str:
    """The one open invoice of a subscription left past due by a declined renewal."""
    assert client.v1.subscriptions.retrieve(subscription).status == "past_due"
    open_invoices = client.v1.invoices.list(
        params={"subscription": subscription, "status": "open"}
    ).data
    assert len(open_invoices) == 1
    return str(open_invoices[0].id)
