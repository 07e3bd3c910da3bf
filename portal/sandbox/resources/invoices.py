"""Invoices and invoice items: ``/v1/invoices``, ``/v1/invoiceitems``, ``/v1/invoice_payments``,
the invoice preview, and the hosted invoice page and PDF."""

from __future__ import annotations

import copy
import html
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..errors import CardError, InvalidRequest, NotFound, missing
from ..listing import paginate
from ..params import apply_metadata, boolean, integer, mapping, string
from ..routing import Request, Response, route
from ..state import Account
from . import billing, prices, subscriptions
from .billing import Billing

_DRAFT_FIELDS = (
    "auto_advance",
    "collection_method",
    "days_until_due",
    "default_payment_method",
    "discounts",
    "due_date",
)
_STATUSES = ("draft", "open", "paid", "uncollectible", "void")
# Parameters Stripe accepts (some have no effect in the sandbox); others are refused by name.
_PREVIEW_KEYS = {
    "automatic_tax", "currency", "customer", "customer_account", "customer_details",
    "discounts", "expand", "invoice_items", "issuer", "on_behalf_of", "preview_mode",
    "subscription", "subscription_details",
}  # fmt: skip
_PREVIEW_SUBSCRIPTION_KEYS = {
    "billing_cycle_anchor", "billing_mode", "cancel_at", "cancel_at_period_end", "cancel_now",
    "default_tax_rates", "items", "proration_behavior", "proration_date", "resume_at",
    "start_date", "trial_end",
}  # fmt: skip
_CREATE_KEYS = {
    "account_tax_ids", "application_fee_amount", "auto_advance", "automatic_tax",
    "automatically_finalizes_at", "collection_method", "currency", "custom_fields", "customer",
    "customer_account", "days_until_due", "default_payment_method", "default_source",
    "default_tax_rates", "description", "discounts", "due_date", "effective_at", "expand",
    "footer", "issuer", "metadata", "number", "on_behalf_of", "payment_settings",
    "pending_invoice_items_behavior", "rendering", "shipping_cost", "shipping_details",
    "statement_descriptor", "subscription", "transfer_data",
}  # fmt: skip


def _get(req: Request) -> dict[str, Any]:
    return req.acct.get("invoice", req.path_params["id"])


def _flag(p: dict[str, Any], name: str, default: bool = False) -> bool:
    value = boolean(p, name, default)
    return bool(value)


# -- preview -----------------------------------------------------------------------------------
def _upcoming_none(customer_id: str) -> InvalidRequest:
    return InvalidRequest(
        f"No upcoming invoices for customer: {customer_id}",
        code="invoice_upcoming_none",
        status=404,
    )


def _apply_balance_preview(account: Account, invoice: dict[str, Any]) -> None:
    """What the customer's balance would do to the amount due, without touching it."""
    customer = account.find(invoice["customer"]) or {}
    balance = customer.get("balance") or 0
    invoice["starting_balance"] = balance
    applied = invoice["total"] + balance
    invoice["amount_due"] = max(0, applied)
    invoice["amount_remaining"] = invoice["amount_due"]
    invoice["ending_balance"] = min(0, applied) if applied < 0 else 0


@route("POST", "/v1/invoices/create_preview")
def create_preview(req: Request) -> dict[str, Any]:
    """The invoice a change would produce, computed like the change itself; nothing is stored."""
    account = req.acct
    p = req.params
    billing.remember_base_url(req)
    prices.reject_unknown(p, _PREVIEW_KEYS)
    customer_id = string(p, "customer")
    subscription_id = string(p, "subscription")
    details = mapping(p, "subscription_details") or {}
    prices.reject_unknown(details, _PREVIEW_SUBSCRIPTION_KEYS, "subscription_details")
    if subscription_id:
        subscription = account.get("subscription", subscription_id, "subscription")
        if customer_id and customer_id != subscription["customer"]:
            raise InvalidRequest(
                "The subscription does not belong to this customer.", param="subscription"
            )
        invoice = _preview_change(req, subscription, details, p)
    elif customer_id:
        account.get("customer", customer_id, "customer")
        if details.get("items") not in (None, ""):
            invoice = _preview_new_subscription(req, customer_id, details, p)
        else:
            invoice = _preview_one_off(req, customer_id, p)
    else:
        raise missing("customer")
    return billing.present(account, invoice, p)


def _preview_change(
    req: Request, subscription: dict[str, Any], details: dict[str, Any], p: dict[str, Any]
) -> dict[str, Any]:
    account = req.acct
    if subscription["status"] in billing.ENDED:
        raise _upcoming_none(subscription["customer"])
    cancel_now = details.get("cancel_now")
    if cancel_now not in (None, "") and subscriptions.to_bool(
        cancel_now, "subscription_details[cancel_now]"
    ):
        return _preview_cancel_now(req, subscription, details)
    staged = subscriptions.stage_update(
        req, subscription, details, prefix="subscription_details", preview=True
    )
    copy_ = staged.subscription
    discounts: list[dict[str, Any]] = []
    try:
        if "discounts" in p:
            discounts = subscriptions.resolve_discounts(req, p["discounts"], copy_["customer"])
            copy_["discounts"] = [d["id"] for d in discounts]
        cancel_params: dict[str, Any] = {
            key: details[key] for key in ("cancel_at", "cancel_at_period_end") if key in details
        }
        if cancel_params:
            subscriptions.cancellation_updates(copy_, cancel_params, account.now())
        if staged.bill:
            invoice, _, _ = billing.build_subscription_invoice(
                account,
                copy_,
                billing_reason="subscription_update",
                lines=staged.lines,
                period=staged.period,
                customer_level=False,
                preview=True,
                extra_items=staged.prorations,
            )
        else:
            invoice = _upcoming(req, subscription, copy_, staged.prorations)
    finally:
        subscriptions.forget_discounts(req, discounts, set(subscription["discounts"]))
    _apply_balance_preview(account, invoice)
    return invoice


def _preview_cancel_now(
    req: Request, subscription: dict[str, Any], details: dict[str, Any]
) -> dict[str, Any]:
    """The final invoice of canceling now: usage so far, and credit for unused time unless
    ``proration_behavior`` is none."""
    account = req.acct
    now = account.now()
    start, end = billing.period_of(subscription)
    behavior = details.get("proration_behavior") or "create_prorations"
    at = now
    if details.get("proration_date") not in (None, ""):
        at = min(max(subscriptions.to_int(details["proration_date"], "proration_date"), start), end)
    credits: list[tuple[dict[str, Any], dict[str, Any]]] = []
    if behavior != "none" and subscription["status"] in ("active", "past_due", "unpaid"):
        for item in subscription["items"]["data"]:
            if billing.is_metered(item["price"]):
                continue
            full = billing.amount_for(account, item["price"], item["quantity"])
            credit = billing.prorate(full, start, end, at)
            if credit:
                credits.append(
                    billing.proration_item(
                        account, subscription, item, -credit, (at, end), unused=True
                    )
                )
    lines = [
        line
        for line in billing.recurring_lines(
            account, subscription, period=(start, now), usage_period=(start, now)
        )
        if billing.is_metered(billing.line_price(account, line))
    ]
    invoice, _, _ = billing.build_subscription_invoice(
        account,
        subscription,
        billing_reason="subscription_cycle",
        lines=lines,
        period=(start, now),
        customer_level=False,
        preview=True,
        extra_items=credits,
    )
    _apply_balance_preview(account, invoice)
    return invoice


def _upcoming(
    req: Request,
    subscription: dict[str, Any],
    changed: dict[str, Any],
    prorations: list[tuple[dict[str, Any], dict[str, Any]]],
) -> dict[str, Any]:
    """The next renewal invoice of ``changed`` (the subscription with the previewed changes)."""
    account = req.acct
    start, end = billing.period_of(changed)
    cancel_at = changed.get("cancel_at")
    if changed["status"] == "paused" or (cancel_at and cancel_at <= end):
        raise _upcoming_none(changed["customer"])
    interval, count = billing.recurring_of(changed)
    stub = None
    if changed["status"] == "trialing" and changed["trial_end"] == end:
        anchor = changed["billing_cycle_anchor"]
        following = (end, billing.boundary(end, interval, count, 1))
        if anchor > end:
            following = (end, anchor)
            stub = (billing.boundary(anchor, interval, count, -1), anchor)
        usage_period = None
    else:
        cycle = account.private.get(subscription["id"], {}).get("cycle", 0)
        if changed["billing_cycle_anchor"] != subscription["billing_cycle_anchor"]:
            cycle = -1
        anchor = changed["billing_cycle_anchor"]
        following = (
            billing.boundary(anchor, interval, count, cycle + 1),
            billing.boundary(anchor, interval, count, cycle + 2),
        )
        usage_period = (start, end)
    lines = billing.recurring_lines(
        account, changed, period=following, usage_period=usage_period, stub=stub
    )
    invoice, _, _ = billing.build_subscription_invoice(
        account,
        changed,
        billing_reason="upcoming",
        lines=lines,
        period=(start, end),
        preview=True,
        extra_items=prorations,
        at=end,
    )
    if invoice["collection_method"] == "charge_automatically":
        invoice["next_payment_attempt"] = end
    return invoice


def _preview_new_subscription(
    req: Request, customer_id: str, details: dict[str, Any], p: dict[str, Any]
) -> dict[str, Any]:
    account = req.acct
    params = {key: value for key, value in details.items() if key != "proration_date"}
    params["customer"] = customer_id
    for key in ("discounts", "collection_method", "days_until_due", "default_payment_method"):
        if key in p:
            params[key] = p[key]
    draft = subscriptions.draft_subscription(
        req, params, prefix="subscription_details", preview=True
    )
    try:
        now = draft.subscription["created"]
        invoice, _, _ = billing.build_subscription_invoice(
            account,
            draft.subscription,
            billing_reason="subscription_create",
            lines=draft.lines,
            period=(now, now),
            preview=True,
            extra_items=draft.add_items,
        )
    finally:
        subscriptions.forget_discounts(req, draft.discounts, set())
    invoice["parent"]["subscription_details"]["subscription"] = None
    for line in invoice["lines"]["data"]:
        line["subscription"] = None
        details_ = line["parent"].get("subscription_item_details")
        if details_:
            details_["subscription"] = None
    _apply_balance_preview(account, invoice)
    return invoice


def _preview_one_off(req: Request, customer_id: str, p: dict[str, Any]) -> dict[str, Any]:
    account = req.acct
    customer = account.get("customer", customer_id, "customer")
    extra: list[tuple[dict[str, Any], dict[str, Any]]]
    extra = [(item, {}) for item in _preview_items(req, customer_id, p.get("invoice_items"))]
    swept = billing.pending_for(account, customer_id, None, customer_level=True)
    if not swept and not extra:
        raise _upcoming_none(customer_id)
    currency = (swept or [item for item, _ in extra])[0]["currency"]
    invoice = billing.new_invoice(
        account, customer, currency=currency, billing_reason="manual", preview=True
    )
    lines = [billing.line_from_invoice_item(i, account.private.get(i["id"], {})) for i in swept]
    lines += [billing.line_from_invoice_item(i, private) for i, private in extra]
    billing.place_lines(invoice, lines, preview=True)
    discounts: list[dict[str, Any]] = []
    try:
        if "discounts" in p:
            discounts = subscriptions.resolve_discounts(req, p["discounts"], customer_id)
        billing.recompute(account, invoice, [d["id"] for d in discounts])
    finally:
        subscriptions.forget_discounts(req, discounts, set())
    _apply_balance_preview(account, invoice)
    return invoice


def _preview_items(req: Request, customer_id: str, raw: Any) -> list[dict[str, Any]]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise InvalidRequest("Invalid array: invoice_items", param="invoice_items")
    found = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise InvalidRequest(f"Invalid object: invoice_items[{index}]")
        found.append(_build_item(req, customer_id, entry, f"invoice_items[{index}]"))
    return found


# -- invoices ----------------------------------------------------------------------------------
@route("POST", "/v1/invoices")
def create_invoice(req: Request) -> dict[str, Any]:
    account = req.acct
    p = req.params
    b = Billing.for_request(req)
    prices.reject_unknown(p, _CREATE_KEYS)
    customer_id = string(p, "customer", required=True) or ""
    customer = account.get("customer", customer_id, "customer")
    collection = string(p, "collection_method") or "charge_automatically"
    if collection not in ("charge_automatically", "send_invoice"):
        raise InvalidRequest(
            "Invalid collection_method: must be one of charge_automatically, send_invoice",
            param="collection_method",
        )
    days = integer(p, "days_until_due")
    due_date = integer(p, "due_date")
    if collection == "send_invoice" and days is None and due_date is None:
        raise missing("days_until_due")
    if collection != "send_invoice" and (days is not None or due_date is not None):
        raise InvalidRequest(
            "Invoices with collection_method=charge_automatically cannot have a due date.",
            param="days_until_due" if days is not None else "due_date",
        )
    behavior = string(p, "pending_invoice_items_behavior") or "exclude"
    if behavior not in ("exclude", "include"):
        raise InvalidRequest(
            "Invalid pending_invoice_items_behavior: must be one of exclude, include",
            param="pending_invoice_items_behavior",
        )
    subscription_id = string(p, "subscription")
    subscription = None
    if subscription_id:
        subscription = account.get("subscription", subscription_id, "subscription")
    swept: list[dict[str, Any]] = []
    if behavior == "include":
        swept = billing.pending_for(
            account, customer_id, subscription_id, customer_level=subscription is None
        )
    currency = string(p, "currency") or (
        swept[0]["currency"] if swept else customer.get("currency") or "usd"
    )
    pm_id = subscriptions.checked_payment_method(
        req, p.get("default_payment_method"), customer_id, "default_payment_method"
    )
    auto_advance = _flag(p, "auto_advance", False)
    invoice = billing.new_invoice(
        account,
        customer,
        currency=currency.lower(),
        billing_reason="manual",
        collection_method=collection,
        subscription=subscription,
        days_until_due=days,
        description=string(p, "description") or None,
        metadata=apply_metadata({}, p),
        default_payment_method=pm_id,
        auto_advance=auto_advance,
    )
    if due_date is not None:
        invoice["due_date"] = due_date
    invoice["footer"] = string(p, "footer") or None
    if auto_advance:
        invoice["automatically_finalizes_at"] = invoice["created"] + billing.AUTO_ADVANCE_DELAY
    lines = [billing.line_from_invoice_item(i, account.private.get(i["id"], {})) for i in swept]
    billing.place_lines(invoice, lines, preview=False)
    discounts = subscriptions.resolve_discounts(req, p.get("discounts"), customer_id)
    discount_ids = [d["id"] for d in discounts]
    billing.recompute(account, invoice, discount_ids)
    billing.store_invoice(b, invoice, swept, discount_ids, None)
    if subscription is not None:
        account.secret(invoice["id"])["subscription"] = subscription["id"]
        billing.subscription_invoices(account, subscription["id"])[invoice["id"]] = None
    for discount in discounts:
        discount["invoice"] = invoice["id"]
    if auto_advance:
        billing.retrying_invoices(account)[invoice["id"]] = None
    return billing.present(account, invoice, p)


@route("GET", "/v1/invoices/{id}")
def retrieve_invoice(req: Request) -> dict[str, Any]:
    object_id = req.path_params["id"]
    if req.acct.deleted.get(object_id) == "invoice":
        return {"id": object_id, "object": "invoice", "deleted": True}
    return billing.present(req.acct, _get(req), req.params)


@route("POST", "/v1/invoices/{id}")
def update_invoice(req: Request) -> dict[str, Any]:
    account = req.acct
    p = req.params
    invoice = _get(req)
    draft = invoice["status"] == "draft"
    for key in _DRAFT_FIELDS:
        if key in p and not draft:
            raise InvalidRequest(
                f"You can only update {key} on a draft invoice; this invoice is "
                f"{invoice['status']}.",
                code="invoice_not_editable",
                param=key,
            )
    previous: dict[str, Any] = {}

    def set_field(key: str, value: Any) -> None:
        if invoice.get(key) != value:
            previous[key] = invoice.get(key)
            invoice[key] = value

    if "description" in p:
        set_field("description", string(p, "description") or None)
    if "footer" in p:
        set_field("footer", string(p, "footer") or None)
    if "metadata" in p:
        set_field("metadata", apply_metadata(invoice["metadata"], p))
    if "auto_advance" in p:
        set_field("auto_advance", _flag(p, "auto_advance"))
        if draft:
            invoice["automatically_finalizes_at"] = (
                account.now() + billing.AUTO_ADVANCE_DELAY if invoice["auto_advance"] else None
            )
            if invoice["auto_advance"]:
                billing.retrying_invoices(account)[invoice["id"]] = None
    if "collection_method" in p:
        method = string(p, "collection_method")
        if method not in ("charge_automatically", "send_invoice"):
            raise InvalidRequest(
                "Invalid collection_method: must be one of charge_automatically, send_invoice",
                param="collection_method",
            )
        set_field("collection_method", method)
    if "days_until_due" in p:
        account.secret(invoice["id"])["days_until_due"] = integer(p, "days_until_due")
    if "due_date" in p:
        set_field("due_date", integer(p, "due_date"))
    if "default_payment_method" in p:
        set_field(
            "default_payment_method",
            subscriptions.checked_payment_method(
                req, p["default_payment_method"], invoice["customer"], "default_payment_method"
            ),
        )
    if "discounts" in p:
        discounts = subscriptions.resolve_discounts(req, p["discounts"], invoice["customer"])
        ids = [d["id"] for d in discounts]
        account.secret(invoice["id"])["discount_ids"] = ids
        before = invoice["discounts"]
        billing.recompute(account, invoice, ids)
        if invoice["discounts"] != before:
            previous["discounts"] = before
    if previous:
        req.emit("invoice.updated", invoice, previous)
    return billing.present(account, invoice, p)


@route("DELETE", "/v1/invoices/{id}")
def delete_invoice(req: Request) -> dict[str, Any]:
    account = req.acct
    invoice = _get(req)
    if invoice["status"] != "draft":
        raise InvalidRequest("You can only delete draft invoices.", code="invoice_not_editable")
    if (
        billing.subscription_of(account, invoice) is not None
        and invoice["billing_reason"] != "manual"
    ):
        raise InvalidRequest(
            "Invoices that belong to a subscription cannot be deleted; void them instead.",
            code="invoice_not_editable",
        )
    pending = billing.pending_items(account, invoice["customer"])
    for line in invoice["lines"]["data"]:
        item_id = _line_item_id(line)
        invoice_item = account.find(item_id) if item_id else None
        if invoice_item is not None:
            invoice_item["invoice"] = None
            pending[invoice_item["id"]] = None
    billing.customer_invoices(account, invoice["customer"]).pop(invoice["id"], None)
    billing.retrying_invoices(account).pop(invoice["id"], None)
    account.remove(invoice["id"])
    req.emit("invoice.deleted", invoice)
    return {"id": invoice["id"], "object": "invoice", "deleted": True}


def _line_item_id(line: dict[str, Any]) -> str | None:
    parent = line.get("parent") or {}
    for key in ("invoice_item_details", "subscription_item_details"):
        details = parent.get(key) or {}
        if details.get("invoice_item"):
            return str(details["invoice_item"])
    return None


@route("GET", "/v1/invoices")
def list_invoices(req: Request) -> dict[str, Any]:
    account = req.acct
    p = req.params
    customer_id = string(p, "customer")
    subscription_id = string(p, "subscription")
    status = string(p, "status")
    if status is not None and status not in _STATUSES:
        raise InvalidRequest(
            f"Invalid status: must be one of {', '.join(_STATUSES)}", param="status"
        )
    collection = string(p, "collection_method")

    def wanted(invoice: dict[str, Any]) -> bool:
        if customer_id and invoice["customer"] != customer_id:
            return False
        if status and invoice["status"] != status:
            return False
        if collection and invoice["collection_method"] != collection:
            return False
        if subscription_id:
            owner = account.private.get(invoice["id"], {}).get("subscription")
            return bool(owner == subscription_id)
        return True

    source: Iterator[dict[str, Any]]
    if subscription_id:
        source = billing.iter_invoices(
            account, billing.subscription_invoices(account, subscription_id)
        )
    elif customer_id:
        source = billing.iter_invoices(account, billing.customer_invoices(account, customer_id))
    else:
        source = account.newest_first("invoice")
    page = paginate(source, p, "/v1/invoices", wanted)
    return billing.present(account, page, p)


@route("GET", "/v1/invoices/{id}/lines")
def list_invoice_lines(req: Request) -> dict[str, Any]:
    invoice = _get(req)
    return paginate(invoice["lines"]["data"], req.params, f"/v1/invoices/{invoice['id']}/lines")


@route("POST", "/v1/invoices/{id}/finalize")
def finalize_invoice(req: Request) -> dict[str, Any]:
    account = req.acct
    invoice = _get(req)
    b = Billing.for_request(req)
    if "auto_advance" in req.params:
        invoice["auto_advance"] = _flag(req.params, "auto_advance")
    billing.finalize(b, invoice)
    if (
        invoice["status"] == "open"
        and invoice["auto_advance"]
        and invoice["collection_method"] == "charge_automatically"
    ):
        invoice["next_payment_attempt"] = account.now() + billing.AUTO_ADVANCE_DELAY
        billing.retrying_invoices(account)[invoice["id"]] = None
    b.flush()
    return billing.present(account, invoice, req.params)


@route("POST", "/v1/invoices/{id}/pay")
def pay_invoice(req: Request) -> dict[str, Any]:
    account = req.acct
    p = req.params
    invoice = _get(req)
    b = Billing.for_request(req)
    if invoice["status"] == "paid":
        raise InvalidRequest("Invoice is already paid", code="invoice_already_paid")
    if invoice["status"] in ("void",):
        raise InvalidRequest(
            "This invoice has been voided and cannot be paid.", code="invoice_not_open"
        )
    if invoice["status"] == "draft":
        billing.finalize(b, invoice)
    subscription = billing.subscription_of(account, invoice)
    if subscription is not None:
        b.watch(subscription)
    if _flag(p, "paid_out_of_band"):
        if invoice["status"] != "paid":
            billing.mark_paid(b, invoice, out_of_band=True)
        b.flush()
        return billing.present(account, invoice, p)
    if invoice["status"] == "paid":
        b.flush()
        return billing.present(account, invoice, p)
    pm_id = string(p, "payment_method")
    if pm_id:
        pm = account.find(pm_id)
        if pm is None and pm_id not in billing.payment_methods.TEST_PAYMENT_METHODS:
            raise NotFound("PaymentMethod", pm_id, "payment_method")
    outcome = billing.collect(
        b, invoice, off_session=_flag(p, "off_session", True), payment_method=pm_id
    )
    if outcome == "failed" and subscription is not None and subscription["status"] == "active":
        subscription["status"] = "past_due"
    b.flush()
    if outcome == "paid":
        return billing.present(account, invoice, p)
    intent = billing.invoice_intent(account, invoice)
    if outcome == "requires_action":
        raise CardError(
            "This payment requires additional user action before it can be completed "
            "successfully. Payment can be completed using the PaymentIntent associated with "
            "the invoice.",
            code="invoice_payment_intent_requires_action",
            extra={"payment_intent": copy.deepcopy(intent)} if intent else None,
        )
    error = (intent or {}).get("last_payment_error") or {}
    if error.get("type") == "card_error":
        raise CardError(
            error.get("message") or "Your card was declined.",
            code=error.get("code"),
            decline_code=error.get("decline_code"),
            extra={"payment_intent": copy.deepcopy(intent)} if intent else None,
        )
    raise billing.no_payment_method_error(invoice["customer"])


@route("POST", "/v1/invoices/{id}/void")
def void_invoice(req: Request) -> dict[str, Any]:
    invoice = _get(req)
    b = Billing.for_request(req)
    billing.void(b, invoice)
    return billing.present(req.acct, invoice, req.params)


@route("POST", "/v1/invoices/{id}/mark_uncollectible")
def mark_invoice_uncollectible(req: Request) -> dict[str, Any]:
    invoice = _get(req)
    b = Billing.for_request(req)
    billing.mark_uncollectible(b, invoice)
    return billing.present(req.acct, invoice, req.params)


@route("POST", "/v1/invoices/{id}/send")
def send_invoice(req: Request) -> dict[str, Any]:
    invoice = _get(req)
    if invoice["collection_method"] != "send_invoice":
        raise InvalidRequest(
            "You can only manually send an invoice if its collection method is 'send_invoice'.",
            code="invoice_not_editable",
        )
    if invoice["status"] == "draft":
        billing.finalize(Billing.for_request(req), invoice)
    req.emit("invoice.sent", invoice)
    return billing.present(req.acct, invoice, req.params)


# -- invoice payments -------------------------------------------------------------------------
@route("GET", "/v1/invoice_payments/{id}")
def retrieve_invoice_payment(req: Request) -> dict[str, Any]:
    return req.acct.get("invoice_payment", req.path_params["id"])


@route("GET", "/v1/invoice_payments")
def list_invoice_payments(req: Request) -> dict[str, Any]:
    account = req.acct
    invoice_id = string(req.params, "invoice")
    if invoice_id:
        invoice = account.get("invoice", invoice_id, "invoice")
        data = billing.includable(account, invoice, "payments")["data"]
        return paginate(data, req.params, "/v1/invoice_payments")
    return paginate(account.newest_first("invoice_payment"), req.params, "/v1/invoice_payments")


# -- invoice items ----------------------------------------------------------------------------
def _build_item(
    req: Request, customer_id: str, p: dict[str, Any], prefix: str = ""
) -> dict[str, Any]:
    """An invoice item from create parameters (not stored)."""
    account = req.acct

    def name(key: str) -> str:
        return f"{prefix}[{key}]" if prefix else key

    price_id = p.get("price") or (p.get("pricing") or {}).get("price")
    quantity = 1
    if p.get("quantity") not in (None, ""):
        quantity = subscriptions.to_int(p["quantity"], name("quantity"))
    price = None
    unit_decimal = None
    if price_id:
        price = account.get("price", price_id, name("price"))
        amount = prices.amount_for_quantity(account, price, quantity)
        currency = price["currency"]
    elif p.get("price_data"):
        data = p["price_data"]
        if not isinstance(data, dict):
            raise InvalidRequest(f"Invalid object: {name('price_data')}", param=name("price_data"))
        product_id = data.get("product") or ""
        account.get("product", product_id, f"{name('price_data')}[product]")
        fields = {key: value for key, value in data.items() if key != "product"}
        price, private = prices.build_price(account, fields, product_id, prefix=name("price_data"))
        price["active"] = False
        prices.add_price(req.state, account, price, private)
        amount = prices.amount_for_quantity(account, price, quantity)
        currency = price["currency"]
    else:
        currency = string(p, "currency") or ""
        if not currency:
            raise missing(name("currency"))
        if p.get("unit_amount_decimal") not in (None, ""):
            unit_decimal = str(p["unit_amount_decimal"])
            amount = int((Decimal(unit_decimal) * quantity).to_integral_value())
        elif p.get("amount") not in (None, ""):
            amount = subscriptions.to_int(p["amount"], name("amount"), minimum=None)
        else:
            raise missing(name("amount"))
    now = account.now()
    period = p.get("period") or {}
    start = int(period.get("start") or now) if isinstance(period, dict) else now
    end = int(period.get("end") or start) if isinstance(period, dict) else now
    subscription_id = p.get("subscription") or None
    if subscription_id:
        subscription = account.get("subscription", subscription_id, name("subscription"))
        if subscription["customer"] != customer_id:
            raise InvalidRequest(
                "The subscription does not belong to this customer.", param=name("subscription")
            )
    description = p.get("description") or (
        billing.product_name(account, price) if price is not None else None
    )
    discountable = True
    if p.get("discountable") not in (None, ""):
        discountable = subscriptions.to_bool(p["discountable"], name("discountable"))
    return billing.new_invoice_item(
        account,
        customer_id=customer_id,
        amount=amount,
        currency=currency.lower(),
        description=description,
        period=(start, end),
        price=price,
        quantity=quantity,
        subscription_id=subscription_id,
        unit_amount_decimal=unit_decimal,
        metadata=apply_metadata({}, {"metadata": p["metadata"]}) if "metadata" in p else {},
        discountable=discountable,
    )


def _draft_for(req: Request, invoice_id: str, customer_id: str) -> dict[str, Any]:
    invoice = req.acct.get("invoice", invoice_id, "invoice")
    if invoice["status"] != "draft":
        raise InvalidRequest(
            "You can only add invoice items to draft invoices.", code="invoice_not_editable",
            param="invoice",
        )  # fmt: skip
    if invoice["customer"] != customer_id:
        raise InvalidRequest("The invoice belongs to another customer.", param="invoice")
    return invoice


def _reprice(account: Account, invoice: dict[str, Any]) -> None:
    ids = account.private.get(invoice["id"], {}).get("discount_ids", [])
    billing.recompute(account, invoice, ids)


@route("POST", "/v1/invoiceitems")
def create_invoice_item(req: Request) -> dict[str, Any]:
    account = req.acct
    p = req.params
    b = Billing.for_request(req)
    customer_id = string(p, "customer", required=True) or ""
    account.get("customer", customer_id, "customer")
    invoice = None
    if p.get("invoice"):
        invoice = _draft_for(req, str(p["invoice"]), customer_id)
    invoice_item = _build_item(req, customer_id, p)
    if invoice is not None:
        if invoice_item["currency"] != invoice["currency"]:
            raise InvalidRequest(
                "The currency of the invoice item must match the invoice's currency.",
                param="currency",
            )
        invoice_item["invoice"] = invoice["id"]
    billing.store_invoice_item(b, invoice_item)
    if invoice is not None:
        billing.place_lines(
            invoice, [billing.line_from_invoice_item(invoice_item, {})], preview=False
        )
        _reprice(account, invoice)
    return invoice_item


@route("GET", "/v1/invoiceitems/{id}")
def retrieve_invoice_item(req: Request) -> dict[str, Any]:
    object_id = req.path_params["id"]
    if req.acct.deleted.get(object_id) == "invoiceitem":
        return {"id": object_id, "object": "invoiceitem", "deleted": True}
    return req.acct.get("invoiceitem", object_id)


def _editable(req: Request, invoice_item: dict[str, Any]) -> dict[str, Any] | None:
    """The draft invoice the item is on (None when pending); refuses finalized ones."""
    if invoice_item["invoice"] is None:
        return None
    invoice = req.acct.find(invoice_item["invoice"])
    if invoice is None or invoice["status"] != "draft":
        raise InvalidRequest(
            "Invoice items on a finalized invoice cannot be changed.",
            code="invoice_not_editable",
        )
    return invoice


@route("POST", "/v1/invoiceitems/{id}")
def update_invoice_item(req: Request) -> dict[str, Any]:
    account = req.acct
    p = req.params
    invoice_item = account.get("invoiceitem", req.path_params["id"])
    invoice = _editable(req, invoice_item)
    previous: dict[str, Any] = {}
    if "description" in p:
        previous["description"] = invoice_item["description"]
        invoice_item["description"] = string(p, "description") or None
    if "metadata" in p:
        previous["metadata"] = invoice_item["metadata"]
        invoice_item["metadata"] = apply_metadata(invoice_item["metadata"], p)
    if "discountable" in p:
        previous["discountable"] = invoice_item["discountable"]
        invoice_item["discountable"] = _flag(p, "discountable", True)
    if "quantity" in p or "amount" in p or "unit_amount_decimal" in p:
        previous.update(amount=invoice_item["amount"], quantity=invoice_item["quantity"])
        quantity = subscriptions.to_int(p.get("quantity", invoice_item["quantity"]), "quantity")
        price_id = ((invoice_item.get("pricing") or {}).get("price_details") or {}).get("price")
        price = account.find(price_id) if price_id else None
        if price is not None:
            amount = prices.amount_for_quantity(account, price, quantity)
        elif p.get("unit_amount_decimal") not in (None, ""):
            amount = int((Decimal(str(p["unit_amount_decimal"])) * quantity).to_integral_value())
        elif "amount" in p:
            amount = subscriptions.to_int(p["amount"], "amount", minimum=None)
        else:
            unit = Decimal((invoice_item.get("pricing") or {}).get("unit_amount_decimal") or 0)
            amount = int((unit * quantity).to_integral_value())
        invoice_item["quantity"] = quantity
        invoice_item["quantity_decimal"] = str(quantity)
        invoice_item["amount"] = invoice_item["net_amount"] = amount
    if invoice is not None:
        fresh = billing.line_from_invoice_item(invoice_item, {})
        for index, line in enumerate(invoice["lines"]["data"]):
            if _line_item_id(line) == invoice_item["id"]:
                fresh.update(id=line["id"], invoice=invoice["id"])
                invoice["lines"]["data"][index] = fresh
        _reprice(account, invoice)
    if previous:
        req.emit("invoiceitem.updated", invoice_item, previous)
    return invoice_item


@route("DELETE", "/v1/invoiceitems/{id}")
def delete_invoice_item(req: Request) -> dict[str, Any]:
    account = req.acct
    invoice_item = account.get("invoiceitem", req.path_params["id"])
    invoice = _editable(req, invoice_item)
    if invoice is not None:
        invoice["lines"]["data"] = [
            line for line in invoice["lines"]["data"] if _line_item_id(line) != invoice_item["id"]
        ]
        _reprice(account, invoice)
    billing.pending_items(account, invoice_item["customer"]).pop(invoice_item["id"], None)
    account.remove(invoice_item["id"])
    req.emit("invoiceitem.deleted", invoice_item)
    return {"id": invoice_item["id"], "object": "invoiceitem", "deleted": True}


@route("GET", "/v1/invoiceitems")
def list_invoice_items(req: Request) -> dict[str, Any]:
    account = req.acct
    p = req.params
    customer_id = string(p, "customer")
    invoice_id = string(p, "invoice")
    pending = boolean(p, "pending")

    def wanted(invoice_item: dict[str, Any]) -> bool:
        if customer_id and invoice_item["customer"] != customer_id:
            return False
        if invoice_id and invoice_item["invoice"] != invoice_id:
            return False
        if pending is not None and (invoice_item["invoice"] is None) != pending:
            return False
        return True

    source: Iterator[dict[str, Any]]
    if customer_id and pending:
        ids = billing.pending_items(account, customer_id)
        source = (account.objects[i] for i in reversed(list(ids)) if i in account.objects)
    else:
        source = account.newest_first("invoiceitem")
    return paginate(source, p, "/v1/invoiceitems", wanted)


# -- hosted invoice page and PDF ----------------------------------------------------------------
def _find_anywhere(req: Request, invoice_id: str) -> tuple[Account, dict[str, Any]]:
    """Invoice ids are unique across accounts, and the hosted pages carry no key."""
    for account in req.state.accounts.values():
        found = account.find(invoice_id)
        if found is not None and found["object"] == "invoice" and found["status"] != "draft":
            return account, found
    raise NotFound("invoice", invoice_id)


def _date(timestamp: int | None) -> str:
    if not timestamp:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%B %-d, %Y")


@route("GET", "/_sandbox/invoices/{id}", auth="none")
def hosted_invoice_page(req: Request) -> Response:
    _, invoice = _find_anywhere(req, req.path_params["id"])
    e = html.escape
    currency = invoice["currency"]
    rows = "".join(
        "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td></tr>".format(
            e(line["description"] or ""),
            e(str(line["quantity"])),
            e(billing.money(line["amount"], currency)),
        )
        for line in invoice["lines"]["data"]
    )
    discount = sum(d["amount"] for d in invoice["total_discount_amounts"])

    def row(label: str, amount: int, css: str = "") -> str:
        shown = e(billing.money(amount, currency))
        return f"<tr{css}><td colspan=2>{e(label)}</td><td class=n>{shown}</td></tr>"

    totals = row("Subtotal", invoice["subtotal"])
    if discount:
        totals += row("Discount", -discount)
    totals += row("Total", invoice["total"], ' class="total"')
    totals += row("Amount paid", invoice["amount_paid"], ' class="total"')
    status = invoice["status"]
    if status == "open":
        due = _date(invoice["due_date"]) or "on receipt"
        state_line = (
            f"Amount due {e(billing.money(invoice['amount_remaining'], currency))}, due {e(due)}"
        )
    elif status == "paid":
        state_line = f"Paid {e(_date(invoice['status_transitions']['paid_at']))}"
    else:
        state_line = f"This invoice is {e(status)}."
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Invoice {e(invoice["number"] or invoice["id"])}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; color: #1a1f36;
  padding: 0 1rem; }}
h1 {{ font-size: 1.4rem; margin-bottom: .25rem; }}
.status {{ display: inline-block; padding: .1rem .5rem; border-radius: .3rem; background: #eef;
  font-size: .85rem; text-transform: uppercase; }}
table {{ width: 100%; border-collapse: collapse; margin-top: 1.5rem; }}
td, th {{ padding: .5rem 0; border-bottom: 1px solid #e3e8ee; text-align: left; }}
.n {{ text-align: right; }}
.total td {{ font-weight: 600; border-bottom: none; }}
</style></head>
<body>
<h1>Invoice {e(invoice["number"] or "")}</h1>
<p><span class="status">{e(status)}</span></p>
<p>{state_line}</p>
<p>Billed to {e(invoice["customer_email"] or invoice["customer_name"] or invoice["customer"])}<br>
Issued {e(_date(invoice["status_transitions"]["finalized_at"] or invoice["created"]))}</p>
<table>
<thead><tr><th>Description</th><th class=n>Qty</th><th class=n>Amount</th></tr></thead>
<tbody>{rows}
{totals}
</tbody></table>
</body></html>
"""
    return Response(status=200, body=page.encode(), content_type="text/html; charset=utf-8")


def _pdf_text(text: str) -> str:
    cleaned = (
        text.replace("€", "EUR ").replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    )
    return cleaned.encode("latin-1", "replace").decode("latin-1")


def invoice_pdf(invoice: dict[str, Any]) -> bytes:
    """A one-page PDF with the invoice's number, date, lines and total."""
    currency = invoice["currency"]
    issued = invoice["status_transitions"]["finalized_at"] or invoice["created"]
    texts = [
        f"Invoice {invoice['number'] or invoice['id']}",
        f"Date: {datetime.fromtimestamp(issued, UTC):%Y-%m-%d}",
        f"Status: {invoice['status']}",
        f"Billed to: {invoice['customer_email'] or invoice['customer']}",
        "",
    ]
    for line in invoice["lines"]["data"]:
        texts.append(f"{line['description'] or ''}   {billing.money(line['amount'], currency)}")
    texts += ["", f"Total: {billing.money(invoice['total'], currency)}"]
    texts.append(f"Amount due: {billing.money(invoice['amount_due'], currency)}")
    body = "BT /F1 12 Tf 16 TL 56 780 Td\n"
    body += "".join(f"({_pdf_text(text)}) Tj T*\n" for text in texts) + "ET"
    stream = body.encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out


@route("GET", "/_sandbox/invoices/{id}/pdf", auth="none")
def hosted_invoice_pdf(req: Request) -> Response:
    _, invoice = _find_anywhere(req, req.path_params["id"])
    filename = f"Invoice-{invoice['number'] or invoice['id']}.pdf"
    return Response(
        status=200,
        body=invoice_pdf(invoice),
        content_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )
