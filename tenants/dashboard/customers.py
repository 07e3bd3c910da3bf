"""Looking a customer up for support: what the customer portal shows them, read only.

Everything is read from the tenant's own Stripe account with the tenant's key, so a customer
of another account is simply not found. Nothing here changes anything in Stripe.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from decimal import Decimal
from typing import Any

import stripe
from babel.numbers import format_currency, get_currency_precision
from sqlalchemy.ext.asyncio import AsyncSession

from portal.errors import NotFound, ValidationFailed
from portal.stripe_gateway import map_stripe_error, stripe_call

from ..callbacks.schemas import DeliveryView
from ..callbacks.service import CallbackService
from ..models import Tenant

MAX_QUERY = 512
MATCHES = 20
RECENT_INVOICES = 10
RECENT_DELIVERIES = 10
_CUSTOMER_ID = re.compile(r"cus_[A-Za-z0-9]{1,250}")
# Statuses the customer portal lists (others are incomplete checkouts the customer never saw).
PORTAL_STATUSES = {"active", "trialing", "past_due", "unpaid", "paused", "canceled"}


@dataclasses.dataclass(frozen=True)
class CustomerMatch:
    id: str
    email: str | None
    name: str | None
    created: int | None


@dataclasses.dataclass(frozen=True)
class SubscriptionSummary:
    id: str
    status: str
    plan: str
    price: str
    price_id: str | None
    quantity: int
    current_period_end: int | None
    cancel_at_period_end: bool
    cancel_at: int | None
    trial_end: int | None
    ended_at: int | None


@dataclasses.dataclass(frozen=True)
class CardSummary:
    id: str
    brand: str
    last4: str | None
    exp_month: int | None
    exp_year: int | None


@dataclasses.dataclass(frozen=True)
class InvoiceSummary:
    id: str
    number: str | None
    amount: str
    status: str | None
    created: int | None
    hosted_invoice_url: str | None
    invoice_pdf: str | None


@dataclasses.dataclass(frozen=True)
class CustomerProfile:
    id: str
    email: str | None
    name: str | None
    created: int | None
    livemode: bool
    subscriptions: list[SubscriptionSummary]
    default_card: CardSummary | None
    other_cards: int
    invoices: list[InvoiceSummary]
    deliveries: list[DeliveryView]
    # The customer in Stripe's own dashboard; None when the tenant talks to another API.
    stripe_url: str | None


def plain(obj: Any) -> dict[str, Any]:
    """A Stripe object as plain JSON (decimals as strings)."""
    data = obj.to_dict() if hasattr(obj, "to_dict") else obj
    return dict(json.loads(json.dumps(data, default=str)))


def money(minor: int | str | None, currency: str | None) -> str:
    """Stripe's minor units as ``$12.00`` / ``¥1,200``; a dash when there is no amount."""
    if minor is None or not currency:
        return "—"
    code = currency.upper()
    try:
        amount = Decimal(str(minor)) / (Decimal(10) ** get_currency_precision(code))
        return str(format_currency(amount, code, locale="en"))
    except (ArithmeticError, ValueError):
        return f"{minor} {code}"


def _price_label(price: dict[str, Any]) -> str:
    recurring = price.get("recurring") or {}
    interval = recurring.get("interval")
    count = int(recurring.get("interval_count") or 1)
    every = ""
    if interval:
        every = f" / {interval}" if count == 1 else f" every {count} {interval}s"
    if price.get("billing_scheme") == "tiered":
        return "Tiered" + every
    amount = price.get("unit_amount")
    if amount is None and price.get("unit_amount_decimal") is not None:
        amount = price["unit_amount_decimal"]
    shown = money(amount, price.get("currency"))
    if recurring.get("usage_type") == "metered":
        return f"{shown} per unit, metered{every}"
    return shown + every


def _main_item(subscription: dict[str, Any]) -> dict[str, Any] | None:
    """The item the plan is named after: the first licensed one, else the first."""
    items = (subscription.get("items") or {}).get("data") or []
    for item in items:
        recurring = (item.get("price") or {}).get("recurring") or {}
        if recurring.get("usage_type") != "metered":
            return dict(item)
    return dict(items[0]) if items else None


def _card(pm: dict[str, Any]) -> CardSummary:
    card = pm.get("card") or {}
    return CardSummary(
        id=pm["id"],
        brand=str(card.get("brand") or pm.get("type") or "card"),
        last4=card.get("last4"),
        exp_month=card.get("exp_month"),
        exp_year=card.get("exp_year"),
    )


def _link(url: Any) -> str | None:
    """A web address the page may link to; anything else (``javascript:``…) is dropped."""
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        return url
    return None


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None


class CustomerSupport:
    """Read-only customer lookups in one tenant's Stripe account."""

    def __init__(self, session: AsyncSession, client: stripe.StripeClient, tenant: Tenant) -> None:
        self.session = session
        self.client = client
        self.tenant = tenant

    async def search(self, query: str) -> list[CustomerMatch]:
        """Customers with this email (as typed, and lowercased), or the one with this id."""
        query = query.strip()
        if len(query) > MAX_QUERY:
            raise ValidationFailed("That search is too long.", param="q")
        if query.startswith("cus_"):
            try:
                return [self._match(await self._customer(query))]
            except NotFound:
                return []
        if "@" not in query:
            raise ValidationFailed(
                "Search by an email address, or by a Stripe customer id (cus_…).", param="q"
            )
        found: dict[str, CustomerMatch] = {}
        for email in dict.fromkeys([query, query.lower()]):
            page = await stripe_call(
                self.client.v1.customers.list_async(params={"email": email, "limit": MATCHES})
            )
            for customer in page.data:
                found.setdefault(customer.id, self._match(plain(customer)))
        return sorted(found.values(), key=lambda match: match.created or 0, reverse=True)

    async def profile(self, customer_id: str) -> CustomerProfile:
        """The customer as the portal shows them, and the callbacks sent about them."""
        customer = await self._customer(customer_id)
        subscriptions, cards, invoices = await asyncio.gather(
            self._subscriptions(customer_id),
            self._cards(customer_id),
            self._invoices(customer_id),
        )
        default_id = _id((customer.get("invoice_settings") or {}).get("default_payment_method"))
        if default_id is None:
            # Without a customer default, the portal shows the card a subscription pays with.
            default_id = next((card for _, card in subscriptions if card), None)
        default = next((card for card in cards if card.id == default_id), None)
        deliveries = await CallbackService(self.session).list(
            self.tenant, None, RECENT_DELIVERIES, None, customer=customer_id
        )
        return CustomerProfile(
            id=customer["id"],
            email=customer.get("email"),
            name=customer.get("name"),
            created=customer.get("created"),
            livemode=bool(customer.get("livemode")),
            subscriptions=[summary for summary, _ in subscriptions],
            default_card=default,
            other_cards=len(cards) - (1 if default else 0),
            invoices=invoices,
            deliveries=deliveries.data,
            stripe_url=self._stripe_url(customer_id),
        )

    # -- Stripe reads ------------------------------------------------------------------------
    async def _customer(self, customer_id: str) -> dict[str, Any]:
        missing = NotFound(
            f"There is no customer {customer_id[:60]} in this tenant's Stripe account.",
            code="customer_not_found",
        )
        if not _CUSTOMER_ID.fullmatch(customer_id):
            raise missing
        try:
            customer = plain(await self.client.v1.customers.retrieve_async(customer_id))
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise missing from None
            raise map_stripe_error(exc) from exc
        except stripe.StripeError as exc:
            raise map_stripe_error(exc) from exc
        if customer.get("deleted"):
            raise NotFound(
                f"The customer {customer_id} was deleted in Stripe.", code="customer_deleted"
            )
        return customer

    async def _subscriptions(
        self, customer_id: str
    ) -> list[tuple[SubscriptionSummary, str | None]]:
        """The portal's subscriptions, each with the card it pays with (if it names one)."""
        page = await stripe_call(
            self.client.v1.subscriptions.list_async(
                params={"customer": customer_id, "status": "all", "limit": 20}
            )
        )
        subscriptions = [plain(s) for s in page.data if s.status in PORTAL_STATUSES]
        items = {s["id"]: _main_item(s) for s in subscriptions}
        product_ids = {
            _id((item.get("price") or {}).get("product")) for item in items.values() if item
        }
        names = await self._product_names({p for p in product_ids if p})
        summaries = []
        for sub in subscriptions:
            item = items[sub["id"]] or {}
            price = item.get("price") or {}
            product = _id(price.get("product"))
            summary = SubscriptionSummary(
                id=sub["id"],
                status=sub["status"],
                plan=price.get("nickname") or names.get(product or "", product or "Plan"),
                price=_price_label(price) if price else "—",
                price_id=price.get("id"),
                quantity=int(item.get("quantity") or 1),
                current_period_end=item.get("current_period_end") or sub.get("current_period_end"),
                cancel_at_period_end=bool(sub.get("cancel_at_period_end")),
                cancel_at=sub.get("cancel_at"),
                trial_end=sub.get("trial_end") if sub["status"] == "trialing" else None,
                ended_at=sub.get("ended_at"),
            )
            summaries.append((summary, _id(sub.get("default_payment_method"))))
        return summaries

    async def _product_names(self, product_ids: set[str]) -> dict[str, str]:
        async def name(product_id: str) -> tuple[str, str]:
            try:
                product = await self.client.v1.products.retrieve_async(product_id)
            except stripe.InvalidRequestError:
                return product_id, product_id
            except stripe.StripeError as exc:
                raise map_stripe_error(exc) from exc
            return product_id, str(product.name or product_id)

        return dict(await asyncio.gather(*(name(p) for p in sorted(product_ids))))

    async def _cards(self, customer_id: str) -> list[CardSummary]:
        page = await stripe_call(
            self.client.v1.customers.payment_methods.list_async(
                customer_id, params={"type": "card", "limit": 100}
            )
        )
        return [_card(plain(pm)) for pm in page.data]

    async def _invoices(self, customer_id: str) -> list[InvoiceSummary]:
        page = await stripe_call(
            self.client.v1.invoices.list_async(
                params={"customer": customer_id, "limit": RECENT_INVOICES}
            )
        )
        invoices = [plain(invoice) for invoice in page.data]
        # Drafts are not final and the portal does not show them.
        shown = [invoice for invoice in invoices if invoice.get("status") != "draft"]
        shown.sort(key=lambda invoice: invoice.get("created") or 0, reverse=True)
        return [
            InvoiceSummary(
                id=invoice["id"],
                number=invoice.get("number"),
                amount=money(invoice.get("total"), invoice.get("currency")),
                status=invoice.get("status"),
                created=invoice.get("created"),
                hosted_invoice_url=_link(invoice.get("hosted_invoice_url")),
                invoice_pdf=_link(invoice.get("invoice_pdf")),
            )
            for invoice in shown
        ]

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _match(customer: dict[str, Any]) -> CustomerMatch:
        return CustomerMatch(
            id=customer["id"],
            email=customer.get("email"),
            name=customer.get("name"),
            created=customer.get("created"),
        )

    def _stripe_url(self, customer_id: str) -> str | None:
        if self.tenant.stripe_api_base:
            return None
        mode = "" if self.tenant.livemode else "test/"
        return f"https://dashboard.stripe.com/{mode}customers/{customer_id}"
