"""The billing engine behind subscriptions and invoices.

Billing periods, invoices built from subscriptions, finalization and payment, prorations, and
the clock hook that performs, in time order, whatever fell due while the clock moved: trial
notices and trial ends, renewals, payment retries, scheduled cancellations.

Engine functions mutate objects in place and emit their own events through a ``Billing``
context; the context also remembers how each subscription looked before the operation so
that one ``customer.subscription.updated`` with ``previous_attributes`` goes out per change.
"""

from __future__ import annotations

import calendar
import copy
import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..errors import CardError, InvalidRequest, StripeError
from ..params import listing
from ..routing import Request
from ..state import SHARED_CLOCK_HOOKS, Account, SandboxState, random_token
from . import coupons, meters, payment_intents, payment_methods, prices

DAY = 86400
HOUR = 3600
TRIAL_WILL_END_NOTICE = 3 * DAY
INCOMPLETE_EXPIRY = 23 * HOUR
# Stripe attempts payment of a finalized one-off invoice with auto_advance about an hour later.
AUTO_ADVANCE_DELAY = HOUR
# Delay before each retry of a failed automatic payment; once they are used up the subscription
# is canceled, which is Stripe's default "cancel the subscription" setting.
RETRY_DELAYS = (3 * DAY, 5 * DAY, 7 * DAY)
DEFAULT_BASE_URL = "http://127.0.0.1:12111"
ENDED = ("canceled", "incomplete_expired")
ZERO_DECIMAL = {
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
    "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
}  # fmt: skip
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$"}

# Keys of account-level private data (not object ids).
_SETTINGS = "billing:settings"
_LIVE = "billing:live_subscriptions"
_RETRYING = "billing:retrying_invoices"


# -- indexes -----------------------------------------------------------------------------------
def _index(account: Account, key: str) -> dict[str, None]:
    found: dict[str, None] = account.private.setdefault(key, {})
    return found


def customer_subscriptions(account: Account, customer_id: str) -> dict[str, None]:
    return _index(account, f"billing:subscriptions:{customer_id}")


def customer_invoices(account: Account, customer_id: str) -> dict[str, None]:
    return _index(account, f"billing:invoices:{customer_id}")


def pending_items(account: Account, customer_id: str) -> dict[str, None]:
    """Invoice items of a customer not yet on any invoice."""
    return _index(account, f"billing:pending_items:{customer_id}")


def subscription_invoices(account: Account, subscription_id: str) -> dict[str, None]:
    return _index(account, f"billing:subscription_invoices:{subscription_id}")


def live_subscriptions(account: Account) -> dict[str, None]:
    return _index(account, _LIVE)


def retrying_invoices(account: Account) -> dict[str, None]:
    return _index(account, _RETRYING)


def item_owner(account: Account, item_id: str) -> str | None:
    owner: str | None = account.private.get(item_id, {}).get("subscription")
    return owner


def remember_base_url(req: Request) -> None:
    """Keep the URL clients reach the sandbox at, for invoice links made by clock hooks."""
    if req.base_url:
        req.acct.secret(_SETTINGS)["base_url"] = req.base_url


def base_url(account: Account) -> str:
    url: str = account.private.get(_SETTINGS, {}).get("base_url") or DEFAULT_BASE_URL
    return url


# -- the operation context --------------------------------------------------------------------
@dataclass
class Billing:
    """One billing operation: where events go, and subscriptions as they were before it."""

    state: SandboxState
    account: Account
    request: dict[str, Any] | None = None
    before: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def for_request(cls, req: Request) -> Billing:
        remember_base_url(req)
        info = {"id": req.extra.get("request_id"), "idempotency_key": req.idempotency_key}
        return cls(req.state, req.acct, info)

    def emit(
        self, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> None:
        self.state.emit(self.account, event_type, obj, previous, self.request)

    def watch(self, subscription: dict[str, Any]) -> None:
        self.before.setdefault(subscription["id"], copy.deepcopy(subscription))

    def settle(self, subscription: dict[str, Any]) -> None:
        """Take the subscription as it is now as the new baseline (its change was announced)."""
        self.before[subscription["id"]] = copy.deepcopy(subscription)

    def flush(self) -> None:
        """Emit ``customer.subscription.updated`` for each watched subscription that changed."""
        for subscription_id, before in list(self.before.items()):
            subscription = self.account.find(subscription_id)
            if subscription is None:
                continue
            previous = {
                key: value
                for key, value in before.items()
                if subscription.get(key) != value and key != "items"
            }
            if before.get("items") != subscription.get("items"):
                previous["items"] = before["items"]
            if previous:
                self.emit("customer.subscription.updated", subscription, previous)
            self.before[subscription_id] = copy.deepcopy(subscription)


# Other modules' reasons for a subscription to need attention (a schedule's phase ending):
# each source answers ``(time, order among equals, what)`` or None, and ``DUE_PERFORMERS[what]``
# performs it, in time order with everything else the clock runs.
DUE_SOURCES: list[Callable[[Account, dict[str, Any]], tuple[int, int, str] | None]] = []
DUE_PERFORMERS: dict[str, Callable[[Billing, dict[str, Any], int], None]] = {}
# Called by ``cancel`` once a subscription has ended, whatever ended it.
on_subscription_canceled: list[Callable[[Billing, dict[str, Any]], None]] = []


# -- periods ----------------------------------------------------------------------------------
def boundary(anchor: int, interval: str, count: int, k: int) -> int:
    """The ``k``-th period boundary after ``anchor``; months clamp to shorter months' ends."""
    if interval == "day":
        return anchor + k * count * DAY
    if interval == "week":
        return anchor + k * count * 7 * DAY
    months = k * count * (12 if interval == "year" else 1)
    start = datetime.fromtimestamp(anchor, UTC)
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def recurring_of(subscription: dict[str, Any]) -> tuple[str, int]:
    recurring = subscription["items"]["data"][0]["price"]["recurring"]
    return recurring["interval"], recurring["interval_count"]


def period_of(subscription: dict[str, Any]) -> tuple[int, int]:
    item = subscription["items"]["data"][0]
    return item["current_period_start"], item["current_period_end"]


def set_period(subscription: dict[str, Any], start: int, end: int) -> None:
    for item in subscription["items"]["data"]:
        item["current_period_start"] = start
        item["current_period_end"] = end


def start_cycle(account: Account, subscription: dict[str, Any], anchor: int) -> None:
    """Bill from ``anchor`` on: it becomes the billing cycle anchor and starts a full period."""
    interval, count = recurring_of(subscription)
    subscription["billing_cycle_anchor"] = anchor
    account.secret(subscription["id"])["cycle"] = 0
    set_period(subscription, anchor, boundary(anchor, interval, count, 1))


def start_stub(account: Account, subscription: dict[str, Any], start: int, anchor: int) -> None:
    """A first period that ends at a future anchor (a trial, or a chosen billing anchor)."""
    subscription["billing_cycle_anchor"] = anchor
    account.secret(subscription["id"])["cycle"] = -1
    set_period(subscription, start, anchor)


def advance_cycle(account: Account, subscription: dict[str, Any]) -> tuple[int, int]:
    """Move to the next period; returns it."""
    interval, count = recurring_of(subscription)
    private = account.secret(subscription["id"])
    cycle = private.get("cycle", 0) + 1
    private["cycle"] = cycle
    anchor = subscription["billing_cycle_anchor"]
    start = boundary(anchor, interval, count, cycle)
    end = boundary(anchor, interval, count, cycle + 1)
    set_period(subscription, start, end)
    return start, end


def prorate(amount: int, start: int, end: int, at: int) -> int:
    """The part of ``amount`` for ``[at, end)`` of the period ``[start, end)``, to the second."""
    if end <= start:
        return 0
    remaining = Decimal(min(max(0, end - at), end - start))
    share = Decimal(amount) * remaining / Decimal(end - start)
    return int(share.quantize(Decimal(1), rounding=ROUND_HALF_UP))


# -- money and words ----------------------------------------------------------------------------
def money(amount: int | Decimal, currency: str) -> str:
    value = Decimal(amount) if currency in ZERO_DECIMAL else Decimal(amount) / 100
    sign = "-" if value < 0 else ""
    digits = f"{abs(value):,.0f}" if currency in ZERO_DECIMAL else f"{abs(value):,.2f}"
    symbol = _SYMBOLS.get(currency)
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{digits} {currency.upper()}"


def interval_text(recurring: dict[str, Any]) -> str:
    count = recurring["interval_count"]
    return recurring["interval"] if count == 1 else f"every {count} {recurring['interval']}s"


def day_text(timestamp: int) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return f"{moment.day} {moment:%b %Y}"


def product_name(account: Account, price: dict[str, Any]) -> str:
    product = account.find(price["product"]) if isinstance(price["product"], str) else None
    return str(product["name"]) if product else str(price["product"])


def _unit_text(price: dict[str, Any]) -> str:
    unit = price.get("unit_amount_decimal")
    if price["billing_scheme"] != "per_unit" or unit is None:
        return ""
    return f" (at {money(Decimal(unit), price['currency'])} / {interval_text(price['recurring'])})"


def quantity_prefix(quantity: int) -> str:
    # Stripe writes a multiplication sign between quantity and product.
    return f"{quantity} \u00d7 "


# -- prices -------------------------------------------------------------------------------------
def plan_of(price: dict[str, Any]) -> dict[str, Any]:
    """The legacy ``plan`` view of a recurring price that subscription items still carry."""
    recurring = price["recurring"]
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "interval": recurring["interval"],
        "interval_count": recurring["interval_count"],
        "livemode": False,
        "metadata": copy.deepcopy(price["metadata"]),
        "meter": recurring.get("meter"),
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": price["tiers_mode"],
        "transform_usage": copy.deepcopy(price["transform_quantity"]),
        "trial_period_days": recurring.get("trial_period_days"),
        "usage_type": recurring["usage_type"],
    }


def is_metered(price: dict[str, Any]) -> bool:
    return bool(price.get("recurring") and price["recurring"]["usage_type"] == "metered")


def amount_for(account: Account, price: dict[str, Any], quantity: Decimal | int) -> int:
    """The cost of ``quantity`` units of ``price`` for one full period."""
    quantity = Decimal(quantity)
    if quantity == quantity.to_integral_value():
        return prices.amount_for_quantity(account, price, int(quantity))
    if price["billing_scheme"] == "per_unit" and not price.get("transform_quantity"):
        total = Decimal(price["unit_amount_decimal"] or 0) * quantity
        return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    # Tiers and transforms bill whole units; a fraction of one counts as a unit.
    whole = int(quantity.to_integral_value(rounding="ROUND_CEILING"))
    return prices.amount_for_quantity(account, price, whole)


def usage(
    account: Account, price: dict[str, Any], customer_id: str, start: int, end: int
) -> Decimal:
    """The metered quantity of ``price`` for a customer over ``[start, end)``; never negative."""
    meter = account.find(price["recurring"].get("meter") or "")
    if meter is None:
        return Decimal(0)
    return max(Decimal(0), meters.aggregate(account, meter, customer_id, start, end))


# -- invoice lines --------------------------------------------------------------------------------
def _quantity_fields(quantity: Decimal | int) -> tuple[int, str]:
    quantity = Decimal(quantity)
    whole = int(quantity.to_integral_value(rounding=ROUND_HALF_UP))
    text = str(quantity.normalize()) if quantity != quantity.to_integral_value() else str(whole)
    return whole, text


def make_line(
    *,
    amount: int,
    currency: str,
    description: str,
    period: tuple[int, int],
    price: dict[str, Any] | None,
    quantity: Decimal | int,
    metadata: dict[str, str],
    parent: dict[str, Any],
    subscription_id: str | None,
    discountable: bool = True,
    unit_amount_decimal: str | None = None,
) -> dict[str, Any]:
    """An invoice line without its id and invoice (``place_lines`` sets them)."""
    whole, text = _quantity_fields(quantity)
    pricing = None
    if price is not None:
        pricing = {
            "price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details",
            "unit_amount_decimal": unit_amount_decimal
            if unit_amount_decimal is not None
            else price.get("unit_amount_decimal"),
        }
    return {
        "id": None,
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": description,
        "discount_amounts": [],
        "discountable": discountable,
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": dict(metadata),
        "parent": parent,
        "period": {"end": period[1], "start": period[0]},
        "pretax_credit_amounts": [],
        "pricing": pricing,
        "quantity": whole,
        "quantity_decimal": text,
        "subscription": subscription_id,
        "subtotal": amount,
        "taxes": [],
    }


def item_parent(
    subscription_id: str,
    item_id: str | None,
    *,
    proration: bool = False,
    invoice_item: str | None = None,
    credited: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "invoice_item_details": None,
        "subscription_item_details": {
            "invoice_item": invoice_item,
            "proration": proration,
            "proration_details": {"credited_items": credited},
            "subscription": subscription_id,
            "subscription_item": item_id,
        },
        "type": "subscription_item_details",
    }


def recurring_lines(
    account: Account,
    subscription: dict[str, Any],
    *,
    period: tuple[int, int],
    usage_period: tuple[int, int] | None,
    trial: bool = False,
    stub: tuple[int, int] | None = None,
    stub_free: bool = False,
) -> list[dict[str, Any]]:
    """Lines for each item: licensed ones for ``period`` (billed ahead), metered ones for the
    usage over ``usage_period`` (billed in arrears, zero when there is none yet).

    ``stub`` is the full-length period a shorter first ``period`` is prorated against.
    """
    lines = []
    customer_id = subscription["customer"]
    for item in subscription["items"]["data"]:
        price = item["price"]
        name = product_name(account, price)
        metered = is_metered(price)
        if metered:
            line_period = usage_period or period
            quantity: Decimal | int = (
                usage(account, price, customer_id, *usage_period) if usage_period else 0
            )
            amount = 0 if trial or not usage_period else amount_for(account, price, quantity)
            whole, _ = _quantity_fields(quantity)
            description = f"{quantity_prefix(whole)}{name}{_unit_text(price)}"
            if trial:
                description = f"Trial period for {name}"
        else:
            line_period = period
            quantity = item["quantity"]
            amount = amount_for(account, price, quantity)
            description = f"{quantity_prefix(item['quantity'])}{name}{_unit_text(price)}"
            if trial:
                amount = 0
                description = f"Trial period for {name}"
            elif stub is not None:
                amount = 0 if stub_free else prorate(amount, stub[0], stub[1], period[0])
                description = (
                    f"Remaining time on {quantity_prefix(item['quantity'])}{name} after "
                    f"{day_text(period[0])}"
                )
        lines.append(
            make_line(
                amount=amount,
                currency=price["currency"],
                description=description,
                period=line_period,
                price=price,
                quantity=quantity,
                metadata=subscription["metadata"],
                parent=item_parent(
                    subscription["id"], item["id"], proration=stub is not None and not metered
                ),
                subscription_id=subscription["id"],
            )
        )
    return lines


def line_from_invoice_item(invoice_item: dict[str, Any], private: dict[str, Any]) -> dict[str, Any]:
    parent_info = invoice_item.get("parent") or {}
    details = parent_info.get("subscription_details") or {}
    subscription_id = details.get("subscription")
    pricing = invoice_item.get("pricing") or {}
    price_details = pricing.get("price_details")
    if subscription_id and invoice_item["proration"]:
        parent = item_parent(
            subscription_id,
            details.get("subscription_item"),
            proration=True,
            invoice_item=invoice_item["id"],
            credited=private.get("credited_items"),
        )
    else:
        parent = {
            "invoice_item_details": {
                "invoice_item": invoice_item["id"],
                "proration": invoice_item["proration"],
                "proration_details": {"credited_items": private.get("credited_items")},
                "subscription": subscription_id,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    line = make_line(
        amount=invoice_item["amount"],
        currency=invoice_item["currency"],
        description=invoice_item["description"] or "",
        period=(invoice_item["period"]["start"], invoice_item["period"]["end"]),
        price=None,
        quantity=Decimal(invoice_item.get("quantity_decimal") or invoice_item["quantity"]),
        metadata=invoice_item["metadata"],
        parent=parent,
        subscription_id=subscription_id,
        discountable=invoice_item["discountable"],
    )
    if price_details:
        line["pricing"] = copy.deepcopy(pricing)
    return line


def new_invoice_item(
    account: Account,
    *,
    customer_id: str,
    amount: int,
    currency: str,
    description: str | None,
    period: tuple[int, int],
    price: dict[str, Any] | None,
    quantity: Decimal | int,
    subscription_id: str | None = None,
    subscription_item_id: str | None = None,
    proration: bool = False,
    unit_amount_decimal: str | None = None,
    metadata: dict[str, str] | None = None,
    discountable: bool = True,
) -> dict[str, Any]:
    """An ``invoiceitem`` object (not stored)."""
    whole, text = _quantity_fields(quantity)
    parent = None
    if subscription_id:
        parent = {
            "subscription_details": {
                "subscription": subscription_id,
                "subscription_item": subscription_item_id,
            },
            "type": "subscription_details",
        }
    unit = unit_amount_decimal
    if unit is None and price is not None:
        unit = price.get("unit_amount_decimal")
    if unit is None and whole:
        unit = str((Decimal(amount) / Decimal(whole)).normalize())
    return {
        "id": account.new_id("ii"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": currency,
        "customer": customer_id,
        "customer_account": None,
        "date": account.now(),
        "description": description,
        "discountable": discountable,
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": dict(metadata or {}),
        "net_amount": amount,
        "parent": parent,
        "period": {"end": period[1], "start": period[0]},
        "pricing": {
            "price_details": (
                {"price": price["id"], "product": price["product"]} if price else None
            ),
            "type": "price_details",
            "unit_amount_decimal": unit,
        },
        "proration": proration,
        "quantity": whole,
        "quantity_decimal": text,
        "tax_rates": [],
        "test_clock": None,
    }


def store_invoice_item(
    b: Billing, invoice_item: dict[str, Any], private: dict[str, Any] | None = None
) -> None:
    account = b.account
    account.add(invoice_item)
    if private:
        account.secret(invoice_item["id"]).update(private)
    if invoice_item["invoice"] is None:
        pending_items(account, invoice_item["customer"])[invoice_item["id"]] = None
    b.emit("invoiceitem.created", invoice_item)


def pending_for(
    account: Account, customer_id: str, subscription_id: str | None, *, customer_level: bool
) -> list[dict[str, Any]]:
    """Pending items a new invoice sweeps up: the subscription's, and optionally those that
    belong to no subscription."""
    found = []
    for item_id in pending_items(account, customer_id):
        invoice_item = account.find(item_id)
        if invoice_item is None or invoice_item["invoice"] is not None:
            continue
        parent = invoice_item.get("parent") or {}
        owner = (parent.get("subscription_details") or {}).get("subscription")
        if owner == subscription_id and subscription_id is not None:
            found.append(invoice_item)
        elif customer_level and (owner is None or _ended(account, owner)):
            # Items left by an ended subscription (a prorated cancel) go on the next invoice.
            found.append(invoice_item)
    return found


def _ended(account: Account, subscription_id: str) -> bool:
    subscription = account.find(subscription_id)
    return subscription is None or subscription["status"] in ENDED


# -- invoices -----------------------------------------------------------------------------------
def new_invoice(
    account: Account,
    customer: dict[str, Any],
    *,
    currency: str,
    billing_reason: str,
    collection_method: str = "charge_automatically",
    subscription: dict[str, Any] | None = None,
    period: tuple[int, int] | None = None,
    days_until_due: int | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    default_payment_method: str | None = None,
    auto_advance: bool = True,
    preview: bool = False,
    at: int | None = None,
) -> dict[str, Any]:
    """A draft invoice with no lines (not stored); ``at`` dates a preview of a later one."""
    now = at if at is not None else account.now()
    start, end = period or (now, now)
    invoice_id = f"upcoming_{account.new_id('in')}" if preview else account.new_id("in")
    parent = None
    if subscription is not None:
        parent = {
            "quote_details": None,
            "subscription_details": {
                "metadata": copy.deepcopy(subscription["metadata"]),
                "subscription": subscription["id"],
            },
            "type": "subscription_details",
        }
    invoice: dict[str, Any] = {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": None,
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": auto_advance,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": collection_method,
        "created": now,
        "currency": currency,
        "custom_fields": None,
        "customer": customer["id"],
        "customer_account": None,
        "customer_address": copy.deepcopy(customer.get("address")),
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "customer_phone": customer.get("phone"),
        "customer_shipping": copy.deepcopy(customer.get("shipping")),
        "customer_tax_exempt": customer.get("tax_exempt", "none"),
        "customer_tax_ids": [],
        "default_payment_method": default_payment_method,
        "default_source": None,
        "default_tax_rates": [],
        "description": description,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": False,
        "metadata": dict(metadata or {}),
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": parent,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": end,
        "period_start": start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        # Kept for the fixture's shape; today's API names the subscription under ``parent``.
        "subscription": None,
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": None,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }
    if collection_method == "send_invoice" and days_until_due is not None:
        if preview:
            invoice["due_date"] = now + days_until_due * DAY
        else:
            account.secret(invoice_id)["days_until_due"] = days_until_due
    return invoice


def place_lines(invoice: dict[str, Any], lines: list[dict[str, Any]], *, preview: bool) -> None:
    for line in lines:
        if line["id"] is None:
            line["id"] = f"il_tmp_{_suffix()}" if preview else f"il_{_suffix()}"
        line["invoice"] = invoice["id"]
        invoice["lines"]["data"].append(line)


def _suffix() -> str:
    return random_token(24)


def _coupon_for(account: Account, discount: dict[str, Any]) -> dict[str, Any] | None:
    source = discount.get("source") or {}
    coupon_id = source.get("coupon")
    if isinstance(coupon_id, dict):
        coupon_id = coupon_id.get("id")
    found = account.find(coupon_id) if isinstance(coupon_id, str) else None
    return found if found is not None and found["object"] == "coupon" else None


def _coupon_in(account: Account, coupon: dict[str, Any], currency: str) -> dict[str, Any] | None:
    """The coupon as it applies in ``currency``; None when an amount-off coupon cannot."""
    if coupon.get("amount_off") is None or coupon.get("currency") == currency:
        return coupon
    options = account.private.get(coupon["id"], {}).get("currency_options", {})
    option = options.get(currency)
    if not option:
        return None
    return {**coupon, "amount_off": option["amount_off"], "currency": currency}


def discount_applies(discount: dict[str, Any], at: int) -> bool:
    return discount.get("end") is None or at < discount["end"]


def recompute(account: Account, invoice: dict[str, Any], discount_ids: list[str]) -> None:
    """Totals and discount allocations of a draft invoice from its lines."""
    lines = invoice["lines"]["data"]
    for line in lines:
        line["discount_amounts"] = []
    invoice["discounts"] = []
    invoice["total_discount_amounts"] = []
    subtotal = sum(line["amount"] for line in lines)
    discounted_total = 0
    for discount_id in discount_ids:
        discount = account.find(discount_id)
        if discount is None or not discount_applies(discount, invoice["created"]):
            continue
        coupon = _coupon_for(account, discount)
        if coupon is None:
            continue
        invoice["discounts"].append(discount_id)
        coupon = _coupon_in(account, coupon, invoice["currency"])
        if coupon is None:
            continue
        products = coupons.coupon_applies_to(account, coupon["id"])
        eligible = [
            line
            for line in lines
            if line["discountable"]
            and (
                products is None
                or ((line.get("pricing") or {}).get("price_details") or {}).get("product")
                in products
            )
        ]
        base = sum(
            line["amount"] - sum(d["amount"] for d in line["discount_amounts"]) for line in eligible
        )
        if base <= 0:
            invoice["total_discount_amounts"].append({"amount": 0, "discount": discount_id})
            continue
        off = base - coupons.discounted_amount(coupon, base)
        _allocate(eligible, off, base, discount_id)
        invoice["total_discount_amounts"].append({"amount": off, "discount": discount_id})
        discounted_total += off
    total = subtotal - discounted_total
    invoice["subtotal"] = subtotal
    invoice["subtotal_excluding_tax"] = subtotal
    invoice["total"] = total
    invoice["total_excluding_tax"] = total
    invoice["amount_due"] = max(0, total)
    invoice["amount_remaining"] = max(0, total)


def _allocate(lines: list[dict[str, Any]], off: int, base: int, discount_id: str) -> None:
    """Spread an invoice-level discount over the lines in proportion to what they still cost."""
    remaining = off
    shares = []
    for line in lines:
        left = line["amount"] - sum(d["amount"] for d in line["discount_amounts"])
        share = int((Decimal(off) * Decimal(left) / Decimal(base)).to_integral_value(ROUND_HALF_UP))
        shares.append(share)
        remaining -= share
    if shares:
        largest = max(range(len(lines)), key=lambda i: lines[i]["amount"])
        shares[largest] += remaining
    for line, share in zip(lines, shares, strict=True):
        line["discount_amounts"].append({"amount": share, "discount": discount_id})


def subscription_discount_ids(account: Account, subscription: dict[str, Any]) -> list[str]:
    ids = [d for d in subscription["discounts"] if isinstance(d, str)]
    if not ids:
        customer = account.find(subscription["customer"])
        discount = customer.get("discount") if customer else None
        if isinstance(discount, dict) and discount.get("id"):
            ids = [discount["id"]]
    return ids


def store_invoice(
    b: Billing,
    invoice: dict[str, Any],
    swept: list[dict[str, Any]],
    discount_ids: list[str],
    subscription: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Store a draft invoice, take its pending items off the pending list, emit the event."""
    account = b.account
    account.add(invoice)
    private = account.secret(invoice["id"])
    private["discount_ids"] = list(discount_ids)
    if subscription is not None:
        private["subscription"] = subscription["id"]
        subscription_invoices(account, subscription["id"])[invoice["id"]] = None
        subscription["latest_invoice"] = invoice["id"]
    customer_invoices(account, invoice["customer"])[invoice["id"]] = None
    pending = pending_items(account, invoice["customer"])
    for invoice_item in swept:
        invoice_item["invoice"] = invoice["id"]
        pending.pop(invoice_item["id"], None)
    b.emit("invoice.created", invoice)
    return invoice


def subscription_of(account: Account, invoice: dict[str, Any]) -> dict[str, Any] | None:
    subscription_id = account.private.get(invoice["id"], {}).get("subscription")
    return account.find(subscription_id) if subscription_id else None


def customer_payment_method(account: Account, customer_id: str) -> str | None:
    customer = account.find(customer_id)
    if customer is None:
        return None
    found: str | None = customer["invoice_settings"].get("default_payment_method")
    return found


def payment_method_for(account: Account, invoice: dict[str, Any]) -> str | None:
    """Stripe's order: the invoice's, the subscription's, then the customer's default."""
    if invoice.get("default_payment_method"):
        return str(invoice["default_payment_method"])
    subscription = subscription_of(account, invoice)
    if subscription is not None:
        adopt_setup_intent(account, subscription)
    if subscription is not None and subscription.get("default_payment_method"):
        return str(subscription["default_payment_method"])
    return customer_payment_method(account, invoice["customer"])


def build_subscription_invoice(
    account: Account,
    subscription: dict[str, Any],
    *,
    billing_reason: str,
    lines: list[dict[str, Any]],
    period: tuple[int, int],
    customer_level: bool = True,
    preview: bool = False,
    extra_items: list[tuple[dict[str, Any], dict[str, Any]]] | None = None,
    at: int | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """A draft invoice for a subscription with ``lines`` plus the pending items it sweeps up.

    ``extra_items`` are invoice items (with their private data) not stored yet, as a preview
    needs. Returns the invoice, the stored items it took, and the discounts it applies.
    """
    customer = account.get("customer", subscription["customer"], "customer")
    invoice = new_invoice(
        account,
        customer,
        currency=subscription["currency"],
        billing_reason=billing_reason,
        collection_method=subscription["collection_method"],
        subscription=subscription,
        period=period,
        days_until_due=subscription["days_until_due"],
        description=subscription.get("description"),
        preview=preview,
        at=at,
    )
    swept = pending_for(account, customer["id"], subscription["id"], customer_level=customer_level)
    item_lines = [
        line_from_invoice_item(item, account.private.get(item["id"], {})) for item in swept
    ]
    for invoice_item, private in extra_items or []:
        item_lines.append(line_from_invoice_item(invoice_item, private))
    place_lines(invoice, lines + item_lines, preview=preview)
    discount_ids = subscription_discount_ids(account, subscription)
    recompute(account, invoice, discount_ids)
    return invoice, swept, discount_ids


def _hosted_links(account: Account, invoice: dict[str, Any]) -> None:
    base = base_url(account)
    invoice["hosted_invoice_url"] = f"{base}/_sandbox/invoices/{invoice['id']}"
    invoice["invoice_pdf"] = f"{base}/_sandbox/invoices/{invoice['id']}/pdf"


def finalize(b: Billing, invoice: dict[str, Any]) -> None:
    """Number the invoice, apply the customer's balance, open it (a zero one is paid at once)."""
    account = b.account
    if invoice["status"] != "draft":
        raise InvalidRequest(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
            code="invoice_unexpected_state",
        )
    now = account.now()
    customer = account.find(invoice["customer"])
    if customer is not None:
        sequence = customer.get("next_invoice_sequence") or 1
        customer["next_invoice_sequence"] = sequence + 1
        invoice["number"] = f"{customer['invoice_prefix']}-{sequence:04d}"
        if customer.get("currency") is None:
            customer["currency"] = invoice["currency"]
        _apply_balance(b, invoice, customer)
    else:
        invoice["number"] = f"{invoice['id'][-8:].upper()}-0001"
    private = account.secret(invoice["id"])
    invoice["status"] = "open"
    invoice["status_transitions"]["finalized_at"] = now
    invoice["effective_at"] = now
    invoice["automatically_finalizes_at"] = None
    invoice["amount_remaining"] = invoice["amount_due"]
    if invoice["collection_method"] == "send_invoice" and invoice["due_date"] is None:
        days = private.get("days_until_due")
        invoice["due_date"] = now + int(days or 0) * DAY
    _hosted_links(account, invoice)
    b.emit("invoice.finalized", invoice)
    if invoice["amount_due"] == 0:
        mark_paid(b, invoice)


def _apply_balance(b: Billing, invoice: dict[str, Any], customer: dict[str, Any]) -> None:
    """A credit balance (negative) pays part of the invoice; a negative total adds credit."""
    balance = customer.get("balance") or 0
    invoice["starting_balance"] = balance
    applied = invoice["total"] + balance
    if applied < 0:
        invoice["amount_due"] = 0
        invoice["ending_balance"] = applied
    else:
        invoice["amount_due"] = applied
        invoice["ending_balance"] = 0
    if invoice["ending_balance"] != balance:
        customer["balance"] = invoice["ending_balance"]
        b.emit("customer.updated", customer, {"balance": balance})


def _record_payment(
    account: Account, invoice: dict[str, Any], intent: dict[str, Any]
) -> dict[str, Any]:
    """The ``invoice_payment`` linking the invoice to a PaymentIntent (one per intent)."""
    private = account.secret(invoice["id"])
    payments: list[str] = private.setdefault("payments", [])
    for payment_id in payments:
        payment = account.find(payment_id)
        if payment is not None and payment["payment"].get("payment_intent") == intent["id"]:
            return payment
    for payment_id in payments:
        payment = account.find(payment_id)
        if payment is not None:
            payment["is_default"] = False
            if payment["status"] == "open":
                payment["status"] = "canceled"
                payment["status_transitions"]["canceled_at"] = account.now()
    payment = {
        "id": account.new_id("inpay"),
        "object": "invoice_payment",
        "amount_paid": None,
        "amount_requested": invoice["amount_remaining"],
        "created": account.now(),
        "currency": invoice["currency"],
        "invoice": invoice["id"],
        "is_default": True,
        "livemode": False,
        "payment": {"payment_intent": intent["id"], "type": "payment_intent"},
        "status": "open",
        "status_transitions": {"canceled_at": None, "paid_at": None},
    }
    account.add(payment)
    payments.append(payment["id"])
    private["payment_intent"] = intent["id"]
    account.secret(intent["id"])["invoice"] = invoice["id"]
    return payment


def invoice_intent(account: Account, invoice: dict[str, Any]) -> dict[str, Any] | None:
    intent_id = account.private.get(invoice["id"], {}).get("payment_intent")
    return account.find(intent_id) if intent_id else None


def _intent_description(invoice: dict[str, Any]) -> str:
    reason = invoice["billing_reason"]
    if reason == "subscription_create":
        return "Subscription creation"
    if reason.startswith("subscription"):
        return "Subscription update"
    return "Payment for Invoice"


def open_intent(b: Billing, invoice: dict[str, Any]) -> dict[str, Any]:
    """A PaymentIntent for the invoice that the customer confirms (``default_incomplete``)."""
    account = b.account
    existing = invoice_intent(account, invoice)
    if existing is not None and existing["status"] != "canceled":
        return existing
    intent = payment_intents.new_intent(
        account,
        amount=invoice["amount_remaining"],
        currency=invoice["currency"],
        customer_id=invoice["customer"],
        description=_intent_description(invoice),
        metadata={},
        payment_method_types=["card"],
        automatic=None,
    )
    b.emit("payment_intent.created", intent)
    _record_payment(account, invoice, intent)
    return intent


def collect(
    b: Billing,
    invoice: dict[str, Any],
    *,
    off_session: bool,
    payment_method: str | None = None,
    schedule_retry: bool = True,
) -> str:
    """Try to pay an open invoice: "paid", "failed" or "requires_action"."""
    account = b.account
    if invoice["status"] != "open":
        return "paid" if invoice["status"] == "paid" else "failed"
    if invoice["amount_remaining"] <= 0:
        mark_paid(b, invoice)
        return "paid"
    pm_id = payment_method or payment_method_for(account, invoice)
    intent = invoice_intent(account, invoice)
    previous = _attempt_fields(invoice)
    if intent is not None and intent["status"] in (
        "requires_payment_method",
        "requires_confirmation",
        "requires_action",
    ):
        # Stripe retries an invoice with its own PaymentIntent.
        intent["amount"] = invoice["amount_remaining"]
        if pm_id is not None:
            intent["payment_method"] = payment_methods.resolve(account, pm_id)["id"]
            payment_intents.attempt(
                b.state, account, intent, off_session=off_session, run_hooks=False
            )
    else:
        intent = payment_intents.charge(
            b.state,
            account,
            customer_id=invoice["customer"],
            amount=invoice["amount_remaining"],
            currency=invoice["currency"],
            payment_method_id=pm_id,
            off_session=off_session,
            description=_intent_description(invoice),
        )
    _record_payment(account, invoice, intent)
    invoice["attempted"] = True
    invoice["attempt_count"] += 1
    if intent["status"] == "succeeded":
        mark_paid(b, invoice, intent)
        return "paid"
    if intent["status"] == "requires_action":
        invoice["next_payment_attempt"] = None
        b.emit("invoice.payment_action_required", invoice)
        b.emit("invoice.updated", invoice, previous)
        return "requires_action"
    payment_failed(b, invoice, previous, schedule_retry=schedule_retry)
    return "failed"


def _attempt_fields(invoice: dict[str, Any]) -> dict[str, Any]:
    return {
        key: invoice[key]
        for key in ("attempt_count", "attempted", "next_payment_attempt", "status")
    }


def payment_failed(
    b: Billing, invoice: dict[str, Any], previous: dict[str, Any], *, schedule_retry: bool
) -> None:
    account = b.account
    retry_at = None
    automatic = invoice["collection_method"] == "charge_automatically" and invoice["auto_advance"]
    if schedule_retry and automatic and invoice["attempt_count"] <= len(RETRY_DELAYS):
        retry_at = account.now() + RETRY_DELAYS[invoice["attempt_count"] - 1]
    invoice["next_payment_attempt"] = retry_at
    if retry_at is None:
        retrying_invoices(account).pop(invoice["id"], None)
    else:
        retrying_invoices(account)[invoice["id"]] = None
    b.emit("invoice.payment_failed", invoice)
    changed = {k: v for k, v in previous.items() if invoice[k] != v}
    b.emit("invoice.updated", invoice, changed)


def mark_paid(
    b: Billing,
    invoice: dict[str, Any],
    intent: dict[str, Any] | None = None,
    *,
    out_of_band: bool = False,
) -> None:
    """The invoice is paid: by ``intent``, out of band, or because nothing was due."""
    account = b.account
    now = account.now()
    invoice["status"] = "paid"
    invoice["amount_paid"] = invoice["amount_due"]
    invoice["amount_remaining"] = 0
    invoice["status_transitions"]["paid_at"] = now
    invoice["next_payment_attempt"] = None
    invoice["auto_advance"] = False
    invoice["attempted"] = True
    retrying_invoices(account).pop(invoice["id"], None)
    payment = None
    if intent is not None:
        payment = _record_payment(account, invoice, intent)
        payment["status"] = "paid"
        payment["amount_paid"] = invoice["amount_paid"]
        payment["status_transitions"]["paid_at"] = now
    b.emit("invoice.paid", invoice)
    if not out_of_band:
        b.emit("invoice.payment_succeeded", invoice)
    if payment is not None:
        b.emit("invoice_payment.paid", payment)
    subscription = subscription_of(account, invoice)
    if subscription is not None:
        after_invoice_paid(b, subscription, invoice, intent)


def after_invoice_paid(
    b: Billing,
    subscription: dict[str, Any],
    invoice: dict[str, Any],
    intent: dict[str, Any] | None,
) -> None:
    """A paid invoice can bring its subscription to life or back to good standing."""
    account = b.account
    b.watch(subscription)
    private = account.secret(subscription["id"])
    if intent is not None and intent.get("payment_method"):
        settings = subscription["payment_settings"]
        if (
            settings.get("save_default_payment_method") == "on_subscription"
            and subscription["default_payment_method"] is None
        ):
            subscription["default_payment_method"] = intent["payment_method"]
    status = subscription["status"]
    if status == "incomplete" and invoice["billing_reason"] == "subscription_create":
        subscription["status"] = "trialing" if _in_trial(account, subscription) else "active"
    elif status in ("past_due", "unpaid") and not _has_unpaid(account, subscription):
        subscription["status"] = "active"
    elif status == "paused" and private.get("resume_invoice") == invoice["id"]:
        subscription["status"] = "active"
        private.pop("resume_invoice", None)
        b.emit("customer.subscription.resumed", subscription)
    if private.get("pending_update_invoice") == invoice["id"]:
        apply_pending_update(b, subscription)


def _in_trial(account: Account, subscription: dict[str, Any]) -> bool:
    trial_end = subscription.get("trial_end")
    return bool(trial_end and trial_end > account.now())


def _has_unpaid(account: Account, subscription: dict[str, Any]) -> bool:
    for invoice_id in subscription_invoices(account, subscription["id"]):
        invoice = account.find(invoice_id)
        if (
            invoice is not None
            and invoice["status"] == "open"
            and invoice["collection_method"] == "charge_automatically"
            and invoice["attempt_count"] > 0
        ):
            return True
    return False


def apply_pending_update(b: Billing, subscription: dict[str, Any]) -> None:
    """Apply the changes held back by ``payment_behavior=pending_if_incomplete``."""
    account = b.account
    private = account.secret(subscription["id"])
    pending = private.pop("pending_update_state", None)
    private.pop("pending_update_invoice", None)
    subscription["pending_update"] = None
    if not pending:
        return
    private["cycle"] = pending.pop("_cycle", private.get("cycle", 0))
    for key, value in pending.items():
        subscription[key] = value
    for item in subscription["items"]["data"]:
        account.secret(item["id"])["subscription"] = subscription["id"]
    b.emit("customer.subscription.pending_update_applied", subscription)


def void(b: Billing, invoice: dict[str, Any]) -> None:
    account = b.account
    if invoice["status"] not in ("open", "uncollectible"):
        raise InvalidRequest(
            f"You can only pass in open or uncollectible invoices. This invoice is "
            f"{invoice['status']}.",
            code="invoice_not_open",
        )
    previous = {"status": invoice["status"]}
    invoice["status"] = "void"
    invoice["status_transitions"]["voided_at"] = account.now()
    invoice["next_payment_attempt"] = None
    invoice["auto_advance"] = False
    invoice["amount_remaining"] = 0
    retrying_invoices(account).pop(invoice["id"], None)
    intent = invoice_intent(account, invoice)
    if intent is not None and intent["status"] not in ("succeeded", "canceled"):
        intent["status"] = "canceled"
        intent["canceled_at"] = account.now()
        intent["cancellation_reason"] = "void_invoice"
        intent["next_action"] = None
        b.emit("payment_intent.canceled", intent)
    for payment_id in account.private.get(invoice["id"], {}).get("payments", []):
        payment = account.find(payment_id)
        if payment is not None and payment["status"] == "open":
            payment["status"] = "canceled"
            payment["status_transitions"]["canceled_at"] = account.now()
    b.emit("invoice.voided", invoice)
    b.emit("invoice.updated", invoice, previous)


def mark_uncollectible(b: Billing, invoice: dict[str, Any]) -> None:
    if invoice["status"] != "open":
        raise InvalidRequest(
            f"You can only mark open invoices as uncollectible. This invoice is "
            f"{invoice['status']}.",
            code="invoice_not_open",
        )
    previous = {"status": "open"}
    invoice["status"] = "uncollectible"
    invoice["status_transitions"]["marked_uncollectible_at"] = b.account.now()
    invoice["next_payment_attempt"] = None
    invoice["auto_advance"] = False
    retrying_invoices(b.account).pop(invoice["id"], None)
    b.emit("invoice.marked_uncollectible", invoice)
    b.emit("invoice.updated", invoice, previous)


# -- subscriptions: shared steps ------------------------------------------------------------------
def adopt_setup_intent(account: Account, subscription: dict[str, Any]) -> None:
    """Once the customer completed the subscription's SetupIntent, its card pays renewals."""
    intent_id = subscription.get("pending_setup_intent")
    intent = account.find(intent_id) if intent_id else None
    if intent is None or intent["status"] != "succeeded":
        return
    subscription["pending_setup_intent"] = None
    settings = subscription["payment_settings"]
    if (
        settings.get("save_default_payment_method") == "on_subscription"
        and subscription["default_payment_method"] is None
    ):
        subscription["default_payment_method"] = intent["payment_method"]


def has_payment_method(account: Account, subscription: dict[str, Any]) -> bool:
    adopt_setup_intent(account, subscription)
    return bool(
        subscription.get("default_payment_method")
        or customer_payment_method(account, subscription["customer"])
    )


def bill_now(
    b: Billing,
    subscription: dict[str, Any],
    *,
    billing_reason: str,
    lines: list[dict[str, Any]],
    period: tuple[int, int],
    off_session: bool,
) -> tuple[dict[str, Any], str]:
    """Invoice, finalize and (unless collection is paused) charge; returns the invoice and the
    payment outcome ("paid", "failed", "requires_action", "open" or "draft")."""
    account = b.account
    invoice, swept, discount_ids = build_subscription_invoice(
        account, subscription, billing_reason=billing_reason, lines=lines, period=period
    )
    store_invoice(b, invoice, swept, discount_ids, subscription)
    consume_once_discounts(account, subscription, invoice)
    pause = subscription.get("pause_collection")
    if pause and pause.get("behavior") == "keep_as_draft":
        invoice["auto_advance"] = False
        return invoice, "draft"
    finalize(b, invoice)
    if pause and invoice["status"] == "open":
        if pause.get("behavior") == "void":
            void(b, invoice)
        else:
            mark_uncollectible(b, invoice)
        return invoice, invoice["status"]
    if invoice["status"] == "paid":
        return invoice, "paid"
    if invoice["collection_method"] != "charge_automatically":
        return invoice, "open"
    return invoice, collect(b, invoice, off_session=off_session)


def consume_once_discounts(
    account: Account, subscription: dict[str, Any], invoice: dict[str, Any]
) -> None:
    """A ``once`` coupon is used up by the first invoice with something to discount."""
    if invoice["subtotal"] <= 0:
        return
    kept = []
    for discount_id in subscription["discounts"]:
        discount = account.find(discount_id) if isinstance(discount_id, str) else None
        coupon = _coupon_for(account, discount) if discount else None
        if (
            coupon is not None
            and coupon["duration"] == "once"
            and discount_id in invoice["discounts"]
        ):
            continue
        kept.append(discount_id)
    subscription["discounts"] = kept


def cancel(
    b: Billing,
    subscription: dict[str, Any],
    *,
    reason: str | None,
    at: int | None = None,
    invoice_now: bool = False,
    prorate_unused: bool = False,
    comment: str | None = None,
    feedback: str | None = None,
) -> None:
    """End the subscription now (or at ``at``, its scheduled time) and say so."""
    account = b.account
    now = at if at is not None else account.now()
    b.watch(subscription)
    start, end = period_of(subscription)
    active = subscription["status"] in ("active", "past_due", "unpaid")
    if prorate_unused and active and now < end:
        for item in subscription["items"]["data"]:
            if is_metered(item["price"]):
                continue
            credit = -prorate(amount_for(account, item["price"], item["quantity"]), start, end, now)
            if credit:
                _store_proration(b, subscription, item, credit, (now, end), unused=True)
    if invoice_now and subscription["status"] not in ("incomplete",):
        lines = [
            line
            for line in recurring_lines(
                account, subscription, period=(start, now), usage_period=(start, now)
            )
            if line["parent"]["subscription_item_details"] and is_metered(line_price(account, line))
        ]
        swept = pending_for(
            account, subscription["customer"], subscription["id"], customer_level=False
        )
        if lines or swept:
            bill_now(
                b,
                subscription,
                billing_reason="subscription_cycle",
                lines=lines,
                period=(start, now),
                off_session=True,
            )
    if subscription["status"] == "incomplete":
        first = account.find(subscription["latest_invoice"] or "")
        if first is not None and first["status"] == "open":
            void(b, first)
    for invoice_id in subscription_invoices(account, subscription["id"]):
        invoice = account.find(invoice_id)
        if invoice is not None and invoice["status"] == "open" and invoice["next_payment_attempt"]:
            invoice["next_payment_attempt"] = None
            invoice["auto_advance"] = False
            retrying_invoices(account).pop(invoice_id, None)
    subscription["status"] = "canceled"
    subscription["canceled_at"] = subscription.get("canceled_at") or account.now()
    subscription["ended_at"] = now
    details = subscription["cancellation_details"]
    details["reason"] = reason
    if comment is not None:
        details["comment"] = comment
    if feedback is not None:
        details["feedback"] = feedback
    subscription["pending_update"] = None
    live_subscriptions(account).pop(subscription["id"], None)
    b.emit("customer.subscription.deleted", subscription)
    b.settle(subscription)
    for hook in on_subscription_canceled:
        hook(b, subscription)


def line_price(account: Account, line: dict[str, Any]) -> dict[str, Any]:
    details = (line.get("pricing") or {}).get("price_details") or {}
    found = account.find(details.get("price") or "")
    return found or {"recurring": None}


def _store_proration(
    b: Billing,
    subscription: dict[str, Any],
    item: dict[str, Any],
    amount: int,
    period: tuple[int, int],
    *,
    unused: bool,
) -> dict[str, Any]:
    invoice_item, private = proration_item(
        b.account, subscription, item, amount, period, unused=unused
    )
    store_invoice_item(b, invoice_item, private)
    return invoice_item


def proration_item(
    account: Account,
    subscription: dict[str, Any],
    item: dict[str, Any],
    amount: int,
    period: tuple[int, int],
    *,
    unused: bool,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A proration invoice item (not stored) and its private data."""
    price = item["price"]
    name = product_name(account, price)
    what = "Unused time" if unused else "Remaining time"
    quantity = item.get("quantity") or 1
    description = f"{what} on {quantity_prefix(quantity)}{name} after {day_text(period[0])}"
    invoice_item = new_invoice_item(
        account,
        customer_id=subscription["customer"],
        amount=amount,
        currency=price["currency"],
        description=description,
        period=period,
        price=price,
        quantity=quantity,
        subscription_id=subscription["id"],
        subscription_item_id=item["id"],
        proration=True,
        metadata=subscription["metadata"],
    )
    private: dict[str, Any] = {}
    if unused:
        private["credited_items"] = _credited(account, subscription, item)
    return invoice_item, private


def _credited(
    account: Account, subscription: dict[str, Any], item: dict[str, Any]
) -> dict[str, Any] | None:
    """The invoice line a credit for unused time refers back to."""
    for invoice_id in reversed(subscription_invoices(account, subscription["id"])):
        invoice = account.find(invoice_id)
        if invoice is None:
            continue
        for line in invoice["lines"]["data"]:
            details = line["parent"].get("subscription_item_details") or {}
            if details.get("subscription_item") == item["id"] and not details.get("proration"):
                return {"invoice": invoice_id, "invoice_line_items": [line["id"]]}
    return None


# -- the clock ----------------------------------------------------------------------------------
def _next_due(account: Account, subscription: dict[str, Any]) -> tuple[int, int, str] | None:
    """When the subscription next needs attention: (time, order among equals, what)."""
    status = subscription["status"]
    if status in ENDED:
        return None
    if status == "incomplete":
        return subscription["created"] + INCOMPLETE_EXPIRY, 5, "expire_incomplete"
    private = account.private.get(subscription["id"], {})
    _, end = period_of(subscription)
    due: list[tuple[int, int, str]] = []
    if (
        status == "trialing"
        and subscription["trial_end"]
        and not private.get("trial_will_end_sent")
    ):
        notice = max(subscription["trial_end"] - TRIAL_WILL_END_NOTICE, subscription["created"])
        due.append((notice, 0, "trial_will_end"))
    pause = subscription.get("pause_collection")
    if pause and pause.get("resumes_at"):
        due.append((pause["resumes_at"], 1, "resume_collection"))
    cancel_at = subscription.get("cancel_at")
    if cancel_at and cancel_at <= end:
        due.append((cancel_at, 2, "cancel"))
    pending = subscription.get("pending_update")
    if pending and pending.get("expires_at"):
        due.append((pending["expires_at"], 6, "expire_pending_update"))
    if status == "trialing" and subscription["trial_end"] == end:
        due.append((end, 3, "trial_end"))
    elif status != "paused":
        due.append((end, 4, "renew"))
    if status == "active" and subscription["collection_method"] == "send_invoice":
        latest = account.find(subscription["latest_invoice"] or "")
        if latest is not None and latest["status"] == "open" and latest["due_date"]:
            due.append((latest["due_date"], 8, "overdue"))
    for source in DUE_SOURCES:
        found = source(account, subscription)
        if found is not None:
            due.append(found)
    return min(due) if due else None


def run_due(state: SandboxState, account: Account, now: int) -> None:
    """Perform everything due up to ``now``, oldest first."""
    queue: list[tuple[int, int, int, str, str]] = []
    counter = 0

    def push_subscription(subscription_id: str) -> None:
        nonlocal counter
        subscription = account.find(subscription_id)
        if subscription is None:
            return
        due = _next_due(account, subscription)
        if due is not None and due[0] <= now:
            counter += 1
            heapq.heappush(queue, (due[0], due[1], counter, "subscription", subscription_id))

    def push_invoice(invoice_id: str) -> None:
        nonlocal counter
        invoice = account.find(invoice_id)
        at = _invoice_due(invoice) if invoice else None
        if at is not None and at <= now:
            counter += 1
            heapq.heappush(queue, (at, 7, counter, "invoice", invoice_id))

    for subscription_id in list(live_subscriptions(account)):
        push_subscription(subscription_id)
    for invoice_id in list(retrying_invoices(account)):
        push_invoice(invoice_id)
    queued_invoices = {entry[4] for entry in queue if entry[3] == "invoice"}
    try:
        steps = 0
        while queue and steps < 100_000:
            steps += 1
            at, order, _, kind, object_id = heapq.heappop(queue)
            account.frozen_at = at
            b = Billing(state, account)
            if kind == "invoice":
                queued_invoices.discard(object_id)
                invoice = account.find(object_id)
                if invoice is not None and _invoice_due(invoice) == at:
                    _retry(b, invoice)
            else:
                subscription = account.find(object_id)
                due = _next_due(account, subscription) if subscription else None
                if subscription is None or due is None:
                    continue
                if (due[0], due[1]) != (at, order):
                    push_subscription(object_id)
                    continue
                _perform(b, subscription, due[2], at)
                push_subscription(object_id)
            b.flush()
            for invoice_id in list(retrying_invoices(account)):
                if invoice_id not in queued_invoices:
                    before = len(queue)
                    push_invoice(invoice_id)
                    if len(queue) > before:
                        queued_invoices.add(invoice_id)
    finally:
        account.frozen_at = None


def _perform(b: Billing, subscription: dict[str, Any], what: str, at: int) -> None:
    account = b.account
    b.watch(subscription)
    if what == "trial_will_end":
        account.secret(subscription["id"])["trial_will_end_sent"] = True
        b.emit("customer.subscription.trial_will_end", subscription)
    elif what == "resume_collection":
        subscription["pause_collection"] = None
    elif what == "cancel":
        _scheduled_cancel(b, subscription, at)
    elif what == "trial_end":
        end_trial(b, subscription, at)
    elif what == "renew":
        renew(b, subscription)
    elif what == "expire_incomplete":
        _expire_incomplete(b, subscription)
    elif what == "expire_pending_update":
        _expire_pending_update(b, subscription)
    elif what == "overdue":
        # An unpaid sent invoice past its due date puts the subscription past due.
        latest = account.get("invoice", subscription["latest_invoice"])
        b.emit("invoice.overdue", latest)
        subscription["status"] = "past_due"
    elif what in DUE_PERFORMERS:
        DUE_PERFORMERS[what](b, subscription, at)


def _scheduled_cancel(b: Billing, subscription: dict[str, Any], at: int) -> None:
    account = b.account
    start, _ = period_of(subscription)
    metered = [i for i in subscription["items"]["data"] if is_metered(i["price"])]
    # Usage up to the end is still billed.
    if metered and subscription["status"] in ("active", "past_due", "unpaid"):
        lines = [
            line
            for line in recurring_lines(
                account, subscription, period=(start, at), usage_period=(start, at)
            )
            if is_metered(line_price(account, line))
        ]
        if any(line["amount"] for line in lines):
            bill_now(
                b,
                subscription,
                billing_reason="subscription_cycle",
                lines=lines,
                period=(start, at),
                off_session=True,
            )
    cancel(b, subscription, reason="cancellation_requested", at=at)


def end_trial(
    b: Billing, subscription: dict[str, Any], at: int, *, off_session: bool = True
) -> None:
    """The trial is over: bill the first paid period (or cancel/pause without a card)."""
    account = b.account
    behavior = subscription["trial_settings"]["end_behavior"]["missing_payment_method"]
    if subscription["collection_method"] == "charge_automatically" and not has_payment_method(
        account, subscription
    ):
        if behavior == "cancel":
            cancel(b, subscription, reason="cancellation_requested", at=at)
            return
        if behavior == "pause":
            subscription["status"] = "paused"
            b.emit("customer.subscription.paused", subscription)
            return
    subscription["status"] = "active"
    anchor = subscription["billing_cycle_anchor"]
    if anchor > at:
        # The subscription was created with an anchor after the trial: a prorated stub first.
        interval, count = recurring_of(subscription)
        start_stub(account, subscription, at, anchor)
        lines = recurring_lines(
            account,
            subscription,
            period=(at, anchor),
            usage_period=None,
            stub=(boundary(anchor, interval, count, -1), anchor),
        )
    else:
        start_cycle(account, subscription, at)
        lines = recurring_lines(
            account, subscription, period=period_of(subscription), usage_period=None
        )
    _, outcome = bill_now(
        b,
        subscription,
        billing_reason="subscription_cycle",
        lines=lines,
        period=(subscription.get("trial_start") or at, at),
        off_session=off_session,
    )
    if outcome in ("failed", "requires_action"):
        subscription["status"] = "past_due"


def renew(b: Billing, subscription: dict[str, Any]) -> None:
    """Period end: move to the next period and bill it (and the usage of the last one)."""
    account = b.account
    old = period_of(subscription)
    new = advance_cycle(account, subscription)
    lines = recurring_lines(account, subscription, period=new, usage_period=old)
    _, outcome = bill_now(
        b,
        subscription,
        billing_reason="subscription_cycle",
        lines=lines,
        period=old,
        off_session=True,
    )
    if outcome in ("failed", "requires_action") and subscription["status"] in (
        "active",
        "trialing",
    ):
        subscription["status"] = "past_due"


def _expire_incomplete(b: Billing, subscription: dict[str, Any]) -> None:
    account = b.account
    first = account.find(subscription["latest_invoice"] or "")
    if first is not None and first["status"] == "open":
        void(b, first)
    subscription["status"] = "incomplete_expired"
    subscription["ended_at"] = account.now()
    live_subscriptions(account).pop(subscription["id"], None)


def _expire_pending_update(b: Billing, subscription: dict[str, Any]) -> None:
    account = b.account
    private = account.secret(subscription["id"])
    invoice = account.find(private.pop("pending_update_invoice", None) or "")
    private.pop("pending_update_state", None)
    subscription["pending_update"] = None
    if invoice is not None and invoice["status"] == "open":
        void(b, invoice)
    b.emit("customer.subscription.pending_update_expired", subscription)


def _invoice_due(invoice: dict[str, Any]) -> int | None:
    if invoice["status"] == "draft" and invoice["auto_advance"]:
        due: int | None = invoice.get("automatically_finalizes_at")
        return due
    if invoice["status"] == "open":
        due = invoice.get("next_payment_attempt")
        return due
    return None


def _retry(b: Billing, invoice: dict[str, Any]) -> None:
    """A scheduled automatic payment attempt; the last failed one ends the subscription."""
    account = b.account
    if invoice["status"] == "draft":
        retrying_invoices(account).pop(invoice["id"], None)
        finalize(b, invoice)
        if invoice["status"] != "open" or invoice["collection_method"] != "charge_automatically":
            return
    subscription = subscription_of(account, invoice)
    if subscription is not None:
        b.watch(subscription)
    outcome = collect(b, invoice, off_session=True)
    if outcome == "paid" or subscription is None:
        return
    if invoice["next_payment_attempt"] is None and subscription["status"] in ("past_due", "unpaid"):
        cancel(b, subscription, reason="payment_failed")
    elif subscription["status"] == "active":
        subscription["status"] = "past_due"


def _clock_hook(state: SandboxState, account: Account, now: int) -> None:
    run_due(state, account, now)


def _on_intent_succeeded(state: SandboxState, account: Account, intent: dict[str, Any]) -> None:
    """A customer finished paying an invoice's PaymentIntent (3D Secure, a confirm)."""
    invoice_id = account.private.get(intent["id"], {}).get("invoice")
    invoice = account.find(invoice_id) if invoice_id else None
    if invoice is None or invoice["status"] not in ("open", "uncollectible"):
        return
    b = Billing(state, account)
    previous = _attempt_fields(invoice)
    invoice["attempted"] = True
    invoice["attempt_count"] = max(invoice["attempt_count"], 1)
    mark_paid(b, invoice, intent)
    b.emit("invoice.updated", invoice, {k: v for k, v in previous.items() if invoice[k] != v})
    b.flush()


SHARED_CLOCK_HOOKS.append(_clock_hook)
payment_intents.on_payment_intent_succeeded.append(_on_intent_succeeded)


# -- expand[] of fields Stripe only includes on request ---------------------------------------
_INCLUDABLE = ("confirmation_secret", "payments")


def present(account: Account, body: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``body`` with the invoice fields that ``expand[]`` asks for filled in (on a copy)."""
    paths = [p.split(".") for p in listing(params, "expand") if isinstance(p, str)]
    paths = [p for p in paths if any(part in _INCLUDABLE for part in p)]
    if not paths:
        return body
    body = copy.deepcopy(body)
    for parts in paths:
        _include(account, body, parts)
    return body


def _include(account: Account, node: Any, parts: list[str]) -> None:
    if isinstance(node, list):
        for element in node:
            _include(account, element, parts)
        return
    if not isinstance(node, dict) or not parts:
        return
    key, rest = parts[0], parts[1:]
    if key in _INCLUDABLE and node.get("object") == "invoice":
        node[key] = includable(account, node, key)
    if key not in node:
        return
    child = node[key]
    if isinstance(child, str) and rest:
        found = account.find(child)
        if found is None:
            return
        child = node[key] = copy.deepcopy(found)
    _include(account, child, rest)


def includable(account: Account, invoice: dict[str, Any], key: str) -> Any:
    if key == "confirmation_secret":
        intent = invoice_intent(account, invoice)
        if intent is None or invoice["status"] == "draft":
            return None
        return {"client_secret": intent["client_secret"], "type": "payment_intent"}
    payments = [
        copy.deepcopy(found)
        for payment_id in reversed(account.private.get(invoice["id"], {}).get("payments", []))
        if (found := account.find(payment_id)) is not None
    ]
    return {
        "object": "list",
        "data": payments,
        "has_more": False,
        "url": f"/v1/invoices/{invoice['id']}/payments",
    }


def iter_invoices(
    account: Account, ids: Iterator[str] | dict[str, None]
) -> Iterator[dict[str, Any]]:
    for invoice_id in reversed(list(ids)):
        invoice = account.find(invoice_id)
        if invoice is not None:
            yield invoice


def card_error_for(account: Account, pm_id: str, off_session: bool) -> StripeError | None:
    """The error ``error_if_incomplete`` answers with when this card would not pay now."""
    behaviour = payment_methods.card_behaviour(account, pm_id)
    if behaviour in (payment_methods.DECLINES, payment_methods.FAILS_LATER):
        decline = payment_methods.decline_for(account, pm_id)
        return CardError(decline.message, code=decline.code, decline_code=decline.decline_code)
    if behaviour == payment_methods.REQUIRES_ACTION and not (
        off_session and payment_intents.is_authenticated(account, pm_id)
    ):
        if off_session:
            return CardError(
                "Your card was declined. This transaction requires authentication.",
                code="authentication_required",
                decline_code="authentication_required",
            )
        return CardError(
            "Payment for this subscription requires additional user action before it can be "
            "completed successfully. Payment can be completed using the PaymentIntent "
            "associated with `subscription.latest_invoice`. Additional information is "
            "available here: https://docs.stripe.com/billing/subscriptions/overview#requires-action",
            code="subscription_payment_intent_requires_action",
        )
    return None


def no_payment_method_error(customer_id: str) -> InvalidRequest:
    return InvalidRequest(
        "This customer has no attached payment source or default payment method. Please "
        "consider adding a default payment method. For more information, visit "
        "https://docs.stripe.com/billing/subscriptions/payment-methods-setting"
        "#payment-method-priority.",
        code="resource_missing",
    )
