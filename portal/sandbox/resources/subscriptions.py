"""Subscriptions: ``/v1/subscriptions``.

Creating and updating go through two steps shared with ``POST /v1/invoices/create_preview``:
``draft_subscription`` / ``stage_update`` work out the change on a copy without storing
anything, and the routes then commit it, so a preview always equals what the change invoices.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidRequest, StripeError, missing
from ..listing import paginate
from ..params import apply_metadata, boolean, mapping, string
from ..routing import Request, route
from . import billing, coupons, prices, setup_intents
from .billing import Billing

MAX_ITEMS = 20
MAX_TRIAL_DAYS = 730
PAYMENT_BEHAVIORS = (
    "allow_incomplete",
    "default_incomplete",
    "error_if_incomplete",
    "pending_if_incomplete",
)
PRORATION_BEHAVIORS = ("always_invoice", "create_prorations", "none")
MISSING_PM_BEHAVIORS = ("cancel", "create_invoice", "pause")
FEEDBACK = (
    "customer_service",
    "low_quality",
    "missing_features",
    "other",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
)
STATUSES = (
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
)
# Parameters Stripe accepts; anything else is refused by name, as Stripe does. Some are
# accepted and have no effect in the sandbox (taxes, Connect).
CREATE_KEYS = {
    "add_invoice_items", "application_fee_percent", "automatic_tax", "backdate_start_date",
    "billing_cycle_anchor", "billing_cycle_anchor_config", "billing_mode", "billing_thresholds",
    "cancel_at", "cancel_at_period_end", "collection_method", "currency", "customer",
    "customer_account", "days_until_due", "default_payment_method", "default_source",
    "default_tax_rates", "description", "discounts", "expand", "invoice_settings", "items",
    "metadata", "off_session", "on_behalf_of", "payment_behavior", "payment_settings",
    "pending_invoice_item_interval", "proration_behavior", "transfer_data", "trial_end",
    "trial_from_plan", "trial_period_days", "trial_settings",
}  # fmt: skip
UPDATE_KEYS = {
    "add_invoice_items", "application_fee_percent", "automatic_tax", "billing_cycle_anchor",
    "billing_thresholds", "cancel_at", "cancel_at_period_end", "cancellation_details",
    "collection_method", "days_until_due", "default_payment_method", "default_source",
    "default_tax_rates", "description", "discounts", "expand", "invoice_settings", "items",
    "metadata", "off_session", "on_behalf_of", "pause_collection", "payment_behavior",
    "payment_settings", "pending_invoice_item_interval", "proration_behavior", "proration_date",
    "transfer_data", "trial_end", "trial_from_plan", "trial_settings",
}  # fmt: skip
ITEM_KEYS = {
    "billing_thresholds", "clear_usage", "deleted", "discounts", "id", "metadata", "plan",
    "price", "price_data", "quantity", "tax_rates",
}  # fmt: skip
_PRICE_DATA_KEYS = {
    "currency",
    "product",
    "recurring",
    "tax_behavior",
    "unit_amount",
    "unit_amount_decimal",
}


# -- parameter reading --------------------------------------------------------------------------
def _name(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


def to_int(value: Any, param: str, *, minimum: int | None = 0) -> int:
    if isinstance(value, bool) or value is None or value == "":
        raise InvalidRequest(
            f"Invalid integer: {value}", code="parameter_invalid_integer", param=param
        )
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidRequest(
            f"Invalid integer: {value}", code="parameter_invalid_integer", param=param
        ) from None
    if minimum is not None and number < minimum:
        raise InvalidRequest(f"This value must be greater than or equal to {minimum}.", param=param)
    return number


def to_bool(value: Any, param: str) -> bool:
    result = boolean({"v": value}, "v")
    if result is None:
        raise InvalidRequest(
            f"Invalid boolean: {value}", code="parameter_invalid_boolean", param=param
        )
    return result


def _choice(value: Any, param: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidRequest(f"Invalid {param}: must be one of {', '.join(choices)}", param=param)
    return str(value)


def _future(value: Any, param: str, now: int) -> int:
    moment = to_int(value, param)
    if moment <= now:
        raise InvalidRequest(
            "Invalid timestamp: must be an integer Unix timestamp in the future.", param=param
        )
    return moment


# -- items ------------------------------------------------------------------------------------
def _price_of(
    req: Request, raw: dict[str, Any], param: str, *, store: bool = True
) -> dict[str, Any]:
    account = req.acct
    price_id = raw.get("price") or raw.get("plan")
    if price_id and raw.get("price_data"):
        raise InvalidRequest(
            "You may only specify one of these parameters: price, price_data.", param=param
        )
    if price_id:
        if not isinstance(price_id, str):
            raise InvalidRequest(f"Invalid string: {param}[price]", param=f"{param}[price]")
        price = account.get("price", price_id, f"{param}[price]")
        if not price["active"]:
            raise InvalidRequest(
                "The price specified is inactive. This field only accepts active prices.",
                param=f"{param}[price]",
            )
    elif raw.get("price_data"):
        price = _inline_price(req, raw["price_data"], f"{param}[price_data]", store=store)
    else:
        raise missing(f"{param}[price]")
    if price["type"] != "recurring":
        raise InvalidRequest(
            "The price specified is set to `type=one_time` but this field only accepts prices "
            "with `type=recurring`.",
            param=f"{param}[price]",
        )
    return price


def _inline_price(req: Request, data: Any, param: str, *, store: bool) -> dict[str, Any]:
    account = req.acct
    if not isinstance(data, dict):
        raise InvalidRequest(f"Invalid object: {param}", param=param)
    prices.reject_unknown(data, _PRICE_DATA_KEYS, param)
    product_id = data.get("product")
    if not product_id:
        raise missing(f"{param}[product]")
    account.get("product", product_id, f"{param}[product]")
    if not data.get("recurring"):
        raise missing(f"{param}[recurring]")
    fields = {key: value for key, value in data.items() if key != "product"}
    price, private = prices.build_price(account, fields, product_id, prefix=param)
    # Stripe keeps prices made from price_data out of the catalog.
    price["active"] = False
    if store:
        prices.add_price(req.state, account, price, private)
    else:
        account.secret(price["id"]).update(private)
    return price


def new_item(
    req: Request,
    subscription_id: str,
    price: dict[str, Any],
    quantity: int | None,
    metadata: dict[str, str],
    now: int,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": req.acct.new_id("si", 14),
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": now,
        "current_period_end": now,
        "current_period_start": now,
        "discounts": [],
        "metadata": metadata,
        "plan": billing.plan_of(price),
        "price": copy.deepcopy(price),
        "quantity": quantity,
        "subscription": subscription_id,
        "tax_rates": [],
    }
    if billing.is_metered(price):
        del item["quantity"]
    return item


def _set_price(item: dict[str, Any], price: dict[str, Any], quantity: int | None) -> None:
    item["price"] = copy.deepcopy(price)
    item["plan"] = billing.plan_of(price)
    if billing.is_metered(price):
        item.pop("quantity", None)
    else:
        item["quantity"] = quantity if quantity is not None else item.get("quantity") or 1


def resolve_items(
    req: Request,
    existing: list[dict[str, Any]],
    raw_items: Any,
    subscription_id: str,
    now: int,
    *,
    prefix: str = "items",
    store_prices: bool = True,
) -> list[dict[str, Any]]:
    """The subscription's items after ``items[]``: changed copies, new ones, deleted ones gone."""
    if not isinstance(raw_items, list):
        raise InvalidRequest(
            f"Invalid array: {prefix}", code="parameter_invalid_array", param=prefix
        )
    result = [copy.deepcopy(item) for item in existing]
    by_id = {item["id"]: item for item in result}
    removed: set[str] = set()
    for index, raw in enumerate(raw_items):
        param = f"{prefix}[{index}]"
        if not isinstance(raw, dict):
            raise InvalidRequest(f"Invalid object: {param}", param=param)
        prices.reject_unknown(raw, ITEM_KEYS, param)
        quantity = None
        if raw.get("quantity") not in (None, ""):
            quantity = to_int(raw["quantity"], f"{param}[quantity]")
        item_id = raw.get("id")
        if item_id:
            item = by_id.get(item_id)
            if item is None:
                raise InvalidRequest(
                    f"No such subscription item: '{item_id}'",
                    code="resource_missing",
                    param=f"{param}[id]",
                )
            if raw.get("deleted") not in (None, "") and to_bool(
                raw["deleted"], f"{param}[deleted]"
            ):
                removed.add(item_id)
                continue
            if raw.get("price") or raw.get("plan") or raw.get("price_data"):
                price = _price_of(req, raw, param, store=store_prices)
                if price["id"] != item["price"]["id"]:
                    _set_price(item, price, quantity)
            if quantity is not None:
                if billing.is_metered(item["price"]):
                    raise _metered_quantity(param)
                item["quantity"] = quantity
        else:
            price = _price_of(req, raw, param, store=store_prices)
            if billing.is_metered(price) and quantity is not None:
                raise _metered_quantity(param)
            item = new_item(
                req,
                subscription_id,
                price,
                1 if quantity is None else quantity,
                {},
                now,
            )
            result.append(item)
            by_id[item["id"]] = item
        if "metadata" in raw:
            item["metadata"] = apply_metadata(item["metadata"], {"metadata": raw["metadata"]})
    items = [item for item in result if item["id"] not in removed]
    _check_items(items, prefix)
    return items


def _metered_quantity(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Quantity should not be specified where usage_type is `metered`. Remove quantity from "
        f"`{param}`.",
        param=f"{param}[quantity]",
    )


def _check_items(items: list[dict[str, Any]], prefix: str) -> None:
    if not items:
        raise InvalidRequest("A subscription must have at least one active plan.", param=prefix)
    if len(items) > MAX_ITEMS:
        raise InvalidRequest(f"A subscription can have at most {MAX_ITEMS} items.", param=prefix)
    seen: set[str] = set()
    first = items[0]["price"]
    for item in items:
        price = item["price"]
        if price["id"] in seen:
            raise InvalidRequest(
                f"Cannot add multiple subscription items with the same price: {price['id']}",
                param=prefix,
            )
        seen.add(price["id"])
        if price["currency"] != first["currency"]:
            raise InvalidRequest(
                "Currency and interval fields must match across all plans on this "
                "subscription. Found mismatch in currency field.",
                param=prefix,
            )
        ours, theirs = price["recurring"], first["recurring"]
        if (ours["interval"], ours["interval_count"]) != (
            theirs["interval"],
            theirs["interval_count"],
        ):
            raise InvalidRequest(
                "Currency and interval fields must match across all plans on this "
                "subscription. Found mismatch in interval field.",
                param=prefix,
            )


# -- discounts ----------------------------------------------------------------------------------
def resolve_discounts(
    req: Request,
    raw: Any,
    customer_id: str,
    param: str = "discounts",
    *,
    amount: int | None = None,
    currency: str | None = None,
) -> list[dict[str, Any]]:
    """Discount objects for ``discounts[]`` entries (coupon, promotion_code or discount)."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise InvalidRequest(f"Invalid array: {param}", code="parameter_invalid_array", param=param)
    found = []
    for index, entry in enumerate(raw):
        where = f"{param}[{index}]"
        if not isinstance(entry, dict):
            raise InvalidRequest(f"Invalid object: {where}", param=where)
        if entry.get("discount"):
            discount = req.acct.get("discount", entry["discount"], f"{where}[discount]")
            found.append(discount)
            continue
        found.append(
            coupons.resolve_discount(
                req.acct,
                coupon=entry.get("coupon") or None,
                promotion_code=entry.get("promotion_code") or None,
                customer_id=customer_id,
                param=where,
                amount=amount,
                currency=currency,
            )
        )
    if len(found) > 20:
        raise InvalidRequest("You can apply at most 20 discounts.", param=param)
    return found


def forget_discounts(req: Request, discounts: list[dict[str, Any]], keep: set[str]) -> None:
    """Drop discount objects made only to try them out (previews, failed requests)."""
    for discount in discounts:
        if discount["id"] in keep:
            continue
        req.acct.objects.pop(discount["id"], None)
        req.acct.order.get("discount", {}).pop(discount["id"], None)


def _redeem(req: Request, discounts: list[dict[str, Any]], subscription_id: str) -> None:
    for discount in discounts:
        if discount.get("subscription") == subscription_id:
            continue
        discount["subscription"] = subscription_id
        coupon_id = discount["source"]["coupon"]
        coupons.redeem(req.acct, coupon_id, discount.get("promotion_code"))


# -- creating ----------------------------------------------------------------------------------
def _payment_settings(raw: dict[str, Any] | None, param: str) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "payment_method_options": None,
        "payment_method_types": None,
        "save_default_payment_method": "off",
    }
    if raw:
        save = raw.get("save_default_payment_method")
        if save not in (None, ""):
            settings["save_default_payment_method"] = _choice(
                save, f"{param}[save_default_payment_method]", ("off", "on_subscription")
            )
        types = raw.get("payment_method_types")
        if types not in (None, ""):
            settings["payment_method_types"] = types if isinstance(types, list) else [types]
    return settings


def checked_payment_method(req: Request, pm_id: Any, customer_id: str, param: str) -> str | None:
    if pm_id in (None, ""):
        return None
    pm = req.acct.find(pm_id) if isinstance(pm_id, str) else None
    if pm is None or pm["object"] != "payment_method" or pm.get("customer") != customer_id:
        raise InvalidRequest(
            f"The customer does not have a payment method with the ID {pm_id}. The payment "
            "method must be attached to the customer.",
            code="resource_missing",
            param=param,
        )
    return str(pm["id"])


@dataclass
class Draft:
    """A subscription worked out from create parameters, and its first invoice's lines."""

    subscription: dict[str, Any]
    lines: list[dict[str, Any]]
    period: tuple[int, int]
    cycle: int
    discounts: list[dict[str, Any]]
    payment_behavior: str
    off_session: bool
    add_items: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)


def draft_subscription(
    req: Request, p: dict[str, Any], *, prefix: str = "", preview: bool = False
) -> Draft:
    """Validate create parameters and build the subscription (nothing stored but discounts)."""
    account = req.acct
    now = account.now()
    customer_id = p.get("customer")
    if not customer_id:
        raise missing("customer")
    customer = account.get("customer", customer_id, "customer")
    if "items" not in p or p["items"] in (None, ""):
        raise missing(_name(prefix, "items"))
    subscription_id = account.new_id("sub")
    items = resolve_items(
        req, [], p["items"], subscription_id, now, prefix=_name(prefix, "items"),
        store_prices=not preview,
    )  # fmt: skip
    first_price = items[0]["price"]
    currency = first_price["currency"]
    payment_behavior = _choice(
        p.get("payment_behavior") or "allow_incomplete",
        "payment_behavior",
        PAYMENT_BEHAVIORS[:3],
    )
    collection = _choice(
        p.get("collection_method") or "charge_automatically",
        "collection_method",
        ("charge_automatically", "send_invoice"),
    )
    days_until_due = None
    if p.get("days_until_due") not in (None, ""):
        if collection != "send_invoice":
            raise InvalidRequest(
                "days_until_due can only be set when collection_method is send_invoice.",
                param="days_until_due",
            )
        days_until_due = to_int(p["days_until_due"], "days_until_due")
    elif collection == "send_invoice":
        raise missing("days_until_due")
    default_pm = checked_payment_method(
        req, p.get("default_payment_method"), customer["id"], "default_payment_method"
    )
    trial_end = _trial_end(p, items, now, prefix)
    anchor = None
    if p.get("billing_cycle_anchor") not in (None, ""):
        anchor = _future(p["billing_cycle_anchor"], "billing_cycle_anchor", now)
        recurring = items[0]["price"]["recurring"]
        base = trial_end or now
        if anchor < base:
            raise InvalidRequest(
                "billing_cycle_anchor cannot be earlier than the end of the trial.",
                param="billing_cycle_anchor",
            )
        if anchor > billing.boundary(base, recurring["interval"], recurring["interval_count"], 1):
            raise InvalidRequest(
                "billing_cycle_anchor cannot be later than next natural billing date for plan.",
                param="billing_cycle_anchor",
            )
    proration = _choice(
        p.get("proration_behavior") or "create_prorations",
        "proration_behavior",
        ("always_invoice", "create_prorations", "none"),
    )
    cancel_at = None
    cancel_at_period_end = False
    if p.get("cancel_at") not in (None, ""):
        cancel_at = _future(p["cancel_at"], "cancel_at", now)
    if p.get("cancel_at_period_end") not in (None, ""):
        cancel_at_period_end = to_bool(p["cancel_at_period_end"], "cancel_at_period_end")
    if cancel_at is not None and cancel_at_period_end:
        raise InvalidRequest(
            "You may only specify one of these parameters: cancel_at, cancel_at_period_end.",
            param="cancel_at",
        )
    settings = mapping(p, "trial_settings") or {}
    end_behavior = settings.get("end_behavior") or {}
    missing_pm = "create_invoice"
    if isinstance(end_behavior, dict) and end_behavior.get("missing_payment_method"):
        missing_pm = _choice(
            end_behavior["missing_payment_method"],
            "trial_settings[end_behavior][missing_payment_method]",
            MISSING_PM_BEHAVIORS,
        )
    subscription: dict[str, Any] = {
        "id": subscription_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": now,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic"},
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": cancel_at,
        "cancel_at_period_end": False,
        "canceled_at": now if cancel_at is not None else None,
        "cancellation_details": {
            "comment": None,
            "feedback": None,
            "reason": "cancellation_requested" if cancel_at is not None else None,
        },
        "collection_method": collection,
        "created": now,
        "currency": currency,
        "customer": customer["id"],
        "customer_account": None,
        "days_until_due": days_until_due,
        "default_payment_method": default_pm,
        "default_source": None,
        "default_tax_rates": [],
        "description": string(p, "description") or None,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": None,
            "footer": None,
            "issuer": {"type": "self"},
        },
        "items": {
            "object": "list",
            "data": items,
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={subscription_id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "managed_payments": None,
        "metadata": apply_metadata({}, p),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": _payment_settings(mapping(p, "payment_settings"), "payment_settings"),
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": now,
        "status": "incomplete",
        "test_clock": None,
        "transfer_data": None,
        "trial_end": trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": missing_pm}},
        "trial_start": now if trial_end is not None else None,
    }
    interval, count = billing.recurring_of(subscription)
    stub = None
    if trial_end is not None:
        cycle = -1
        # A later anchor takes effect when the trial ends (see ``billing.end_trial``).
        subscription["billing_cycle_anchor"] = anchor or trial_end
        period = (now, trial_end)
    elif anchor is not None:
        cycle = -1
        subscription["billing_cycle_anchor"] = anchor
        period = (now, anchor)
        stub = (billing.boundary(anchor, interval, count, -1), anchor)
    else:
        cycle = 0
        period = (now, billing.boundary(now, interval, count, 1))
    billing.set_period(subscription, *period)
    if cancel_at_period_end:
        subscription["cancel_at_period_end"] = True
        subscription["cancel_at"] = period[1]
        subscription["canceled_at"] = now
        subscription["cancellation_details"]["reason"] = "cancellation_requested"
    lines = billing.recurring_lines(
        account,
        subscription,
        period=period,
        usage_period=None,
        trial=trial_end is not None,
        stub=stub,
        stub_free=proration == "none",
    )
    add_items = _add_invoice_items(req, p, subscription, preview=preview)
    subtotal = sum(line["amount"] for line in lines) + sum(i["amount"] for i, _ in add_items)
    discounts = resolve_discounts(
        req, p.get("discounts"), customer["id"], amount=subtotal, currency=currency
    )
    subscription["discounts"] = [d["id"] for d in discounts]
    off_session = bool(
        p.get("off_session") not in (None, "") and to_bool(p["off_session"], "off_session")
    )
    return Draft(
        subscription, lines, period, cycle, discounts, payment_behavior, off_session, add_items
    )


def _add_invoice_items(
    req: Request, p: dict[str, Any], subscription: dict[str, Any], *, preview: bool
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """One-time charges for the first invoice (``add_invoice_items[]``)."""
    raw = p.get("add_invoice_items")
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise InvalidRequest("Invalid array: add_invoice_items", param="add_invoice_items")
    account = req.acct
    found: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for index, entry in enumerate(raw):
        param = f"add_invoice_items[{index}]"
        if not isinstance(entry, dict):
            raise InvalidRequest(f"Invalid object: {param}", param=param)
        price_id = entry.get("price") or (entry.get("pricing") or {}).get("price")
        if not price_id:
            raise missing(f"{param}[price]")
        price = account.get("price", price_id, f"{param}[price]")
        if price["type"] != "one_time":
            raise InvalidRequest(
                "The price specified is set to `type=recurring` but this field only accepts "
                "prices with `type=one_time`.",
                param=f"{param}[price]",
            )
        quantity = 1
        if entry.get("quantity") not in (None, ""):
            quantity = to_int(entry["quantity"], f"{param}[quantity]")
        now = account.now()
        invoice_item = billing.new_invoice_item(
            account,
            customer_id=subscription["customer"],
            amount=prices.amount_for_quantity(account, price, quantity),
            currency=price["currency"],
            description=billing.product_name(account, price),
            period=(now, now),
            price=price,
            quantity=quantity,
            subscription_id=subscription["id"],
        )
        found.append((invoice_item, {}))
    return found


def _trial_end(p: dict[str, Any], items: list[dict[str, Any]], now: int, prefix: str) -> int | None:
    """When the trial asked for ends, or None without a trial."""
    raw_end = p.get("trial_end")
    raw_days = p.get("trial_period_days")
    from_plan = False
    if p.get("trial_from_plan") not in (None, ""):
        from_plan = to_bool(p["trial_from_plan"], "trial_from_plan")
    if raw_end not in (None, "") and raw_days not in (None, ""):
        raise InvalidRequest(
            "You may only specify one of these parameters: trial_end, trial_period_days.",
            param="trial_end",
        )
    if from_plan and raw_end not in (None, ""):
        raise InvalidRequest(
            "You cannot set trial_end together with trial_from_plan.", param="trial_from_plan"
        )
    if raw_end not in (None, ""):
        if raw_end == "now":
            return None
        end = _future(raw_end, "trial_end", now)
        if end > now + MAX_TRIAL_DAYS * billing.DAY:
            raise InvalidRequest(
                "Invalid timestamp: can be no more than 730 days in the future.",
                param="trial_end",
            )
        return end
    days = None
    if raw_days not in (None, ""):
        days = to_int(raw_days, "trial_period_days")
        if days > MAX_TRIAL_DAYS:
            raise InvalidRequest(
                "Invalid trial_period_days: must be at most 730.", param="trial_period_days"
            )
    elif from_plan:
        days = max(
            (item["price"]["recurring"].get("trial_period_days") or 0 for item in items),
            default=0,
        )
    return now + days * billing.DAY if days else None


def _precheck_payment(
    req: Request,
    amount_due: int,
    subscription: dict[str, Any],
    payment_behavior: str,
    off_session: bool,
) -> None:
    """Refuse up front what Stripe refuses: no way to pay, or a card that will not pay now."""
    if amount_due <= 0 or subscription["collection_method"] != "charge_automatically":
        return
    if payment_behavior == "default_incomplete":
        return
    pm_id = subscription.get("default_payment_method") or billing.customer_payment_method(
        req.acct, subscription["customer"]
    )
    if pm_id is None:
        raise billing.no_payment_method_error(subscription["customer"])
    if payment_behavior == "error_if_incomplete":
        error = billing.card_error_for(req.acct, pm_id, off_session)
        if error is not None:
            raise error


def _expected_due(account: Any, invoice: dict[str, Any]) -> int:
    customer = account.find(invoice["customer"])
    balance = (customer or {}).get("balance") or 0
    return max(0, invoice["total"] + balance)


@route("POST", "/v1/subscriptions")
def create_subscription(req: Request) -> dict[str, Any]:
    account = req.acct
    b = Billing.for_request(req)
    p = req.params
    prices.reject_unknown(p, CREATE_KEYS)
    draft = draft_subscription(req, p)
    subscription = draft.subscription
    try:
        invoice, swept, discount_ids = billing.build_subscription_invoice(
            account,
            subscription,
            billing_reason="subscription_create",
            lines=draft.lines,
            period=(subscription["created"], subscription["created"]),
            extra_items=draft.add_items,
        )
        _precheck_payment(
            req, _expected_due(account, invoice), subscription, draft.payment_behavior,
            draft.off_session,
        )  # fmt: skip
    except Exception:
        forget_discounts(req, draft.discounts, set())
        raise
    # Commit: from here on nothing is refused.
    for item in subscription["items"]["data"]:
        if not account.find(item["price"]["id"]):
            prices.add_price(req.state, account, item["price"], {})
    account.add(subscription)
    private = account.secret(subscription["id"])
    private["cycle"] = draft.cycle
    for item in subscription["items"]["data"]:
        account.secret(item["id"])["subscription"] = subscription["id"]
    billing.customer_subscriptions(account, subscription["customer"])[subscription["id"]] = None
    billing.live_subscriptions(account)[subscription["id"]] = None
    _redeem(req, draft.discounts, subscription["id"])
    for invoice_item, item_private in draft.add_items:
        invoice_item["invoice"] = invoice["id"]
        account.add(invoice_item)
        account.secret(invoice_item["id"]).update(item_private)
        b.emit("invoiceitem.created", invoice_item)
    billing.store_invoice(b, invoice, swept, discount_ids, subscription)
    billing.consume_once_discounts(account, subscription, invoice)
    trialing = subscription["trial_end"] is not None
    billing.finalize(b, invoice)
    if invoice["status"] == "paid":
        subscription["status"] = "trialing" if trialing else "active"
        if (
            draft.payment_behavior == "default_incomplete"
            and subscription["collection_method"] == "charge_automatically"
        ):
            subscription["pending_setup_intent"] = _setup_intent(req, subscription)
    elif subscription["collection_method"] == "send_invoice":
        subscription["status"] = "trialing" if trialing else "active"
    elif draft.payment_behavior == "default_incomplete":
        billing.open_intent(b, invoice)
        subscription["status"] = "incomplete"
    else:
        outcome = billing.collect(b, invoice, off_session=draft.off_session, schedule_retry=False)
        if outcome == "paid":
            subscription["status"] = "trialing" if trialing else "active"
        else:
            subscription["status"] = "incomplete"
    b.emit("customer.subscription.created", subscription)
    return billing.present(account, subscription, p)


def _setup_intent(req: Request, subscription: dict[str, Any]) -> str | None:
    """With nothing to pay now, Stripe sets up the card for later off-session charges; the
    SetupIntent is left on the subscription only when the customer still has to act on it."""
    account = req.acct
    params: dict[str, Any] = {"customer": subscription["customer"], "usage": "off_session"}
    pm_id = subscription["default_payment_method"] or billing.customer_payment_method(
        account, subscription["customer"]
    )
    if pm_id:
        params.update(payment_method=pm_id, confirm="true")
    inner = Request(
        method="POST",
        path="/v1/setup_intents",
        params=params,
        path_params={},
        state=req.state,
        account=account,
        key_kind="secret",
        headers={},
        base_url=req.base_url,
        extra=dict(req.extra),
    )
    try:
        intent = setup_intents.create_setup_intent(inner)
    except StripeError as error:
        found = (error.extra or {}).get("setup_intent") or {}
        return found.get("id")
    if not isinstance(intent, dict) or intent["status"] == "succeeded":
        return None
    return str(intent["id"])


# -- reading ------------------------------------------------------------------------------------
def _refresh(account: Any, subscription: dict[str, Any]) -> dict[str, Any]:
    """Items show their price as it is now (a renamed nickname, new metadata)."""
    billing.adopt_setup_intent(account, subscription)
    for item in subscription["items"]["data"]:
        price = account.find(item["price"]["id"])
        if price is not None and price != item["price"]:
            item["price"] = copy.deepcopy(price)
            item["plan"] = billing.plan_of(price)
    return subscription


@route("GET", "/v1/subscriptions/{id}")
def retrieve_subscription(req: Request) -> dict[str, Any]:
    subscription = req.acct.get("subscription", req.path_params["id"])
    return billing.present(req.acct, _refresh(req.acct, subscription), req.params)


@route("GET", "/v1/subscriptions")
def list_subscriptions(req: Request) -> dict[str, Any]:
    account = req.acct
    p = req.params
    customer_id = string(p, "customer")
    price_id = string(p, "price") or string(p, "plan")
    status = string(p, "status")
    if status is not None:
        _choice(status, "status", STATUSES)
    collection = string(p, "collection_method")

    def wanted(subscription: dict[str, Any]) -> bool:
        if customer_id and subscription["customer"] != customer_id:
            return False
        if collection and subscription["collection_method"] != collection:
            return False
        if price_id and not any(
            item["price"]["id"] == price_id for item in subscription["items"]["data"]
        ):
            return False
        current = subscription["status"]
        if status is None:
            return current != "canceled"
        if status == "all":
            return True
        if status == "ended":
            return current in billing.ENDED
        return bool(current == status)

    source: Iterator[dict[str, Any]]
    if customer_id:
        ids = billing.customer_subscriptions(account, customer_id)
        source = (account.objects[i] for i in reversed(list(ids)) if i in account.objects)
    else:
        source = account.newest_first("subscription")
    page = paginate(source, p, "/v1/subscriptions", wanted)
    page["data"] = [billing.present(account, _refresh(account, s), {}) for s in page["data"]]
    return billing.present(account, page, p)


# -- updating ------------------------------------------------------------------------------------
@dataclass
class Staged:
    """An update worked out on a copy of the subscription."""

    subscription: dict[str, Any]
    prorations: list[tuple[dict[str, Any], dict[str, Any]]]
    bill: bool
    lines: list[dict[str, Any]]
    period: tuple[int, int]
    cycle: int | None
    trial_ended: bool = False


def _proration_date(p: dict[str, Any], param: str, start: int, end: int, now: int) -> int:
    if p.get("proration_date") in (None, ""):
        return now
    at = to_int(p["proration_date"], param)
    return min(max(at, start), end)


def stage_update(
    req: Request,
    subscription: dict[str, Any],
    p: dict[str, Any],
    *,
    prefix: str = "",
    preview: bool = False,
) -> Staged:
    """Apply item, trial and cycle changes to a copy, with the prorations they cause."""
    account = req.acct
    now = account.now()
    staged = copy.deepcopy(subscription)
    old_items = subscription["items"]["data"]
    start, end = billing.period_of(subscription)
    behavior = _choice(
        p.get("proration_behavior") or "create_prorations",
        _name(prefix, "proration_behavior"),
        PRORATION_BEHAVIORS,
    )
    at = _proration_date(p, _name(prefix, "proration_date"), start, end, now)
    was_trialing = subscription["status"] == "trialing"
    if p.get("items") not in (None, ""):
        staged["items"]["data"] = resolve_items(
            req, old_items, p["items"], subscription["id"], now,
            prefix=_name(prefix, "items"), store_prices=not preview,
        )  # fmt: skip
    new_items = staged["items"]["data"]
    reset = billing.recurring_of(staged) != billing.recurring_of(subscription)
    anchor = p.get("billing_cycle_anchor")
    if anchor not in (None, ""):
        reset = reset or _choice(anchor, "billing_cycle_anchor", ("now", "unchanged")) == "now"
    trial_ended = False
    new_trial = None
    raw_trial = p.get("trial_end")
    if raw_trial not in (None, ""):
        if raw_trial == "now":
            if was_trialing:
                trial_ended = True
                reset = True
        else:
            new_trial = _future(raw_trial, _name(prefix, "trial_end"), now)
    prorations: list[tuple[dict[str, Any], dict[str, Any]]] = []
    prorating = behavior != "none" and not was_trialing and staged["status"] not in ("paused",)
    credits_only = reset or new_trial is not None
    if prorating:
        prorations = _prorations(
            account, subscription, old_items, new_items, (start, end), at, credits_only
        )
    cycle: int | None = None
    lines: list[dict[str, Any]] = []
    period = (at, at)
    interval, count = billing.recurring_of(staged)
    if new_trial is not None:
        staged["status"] = "trialing"
        staged["trial_end"] = new_trial
        if not was_trialing:
            staged["trial_start"] = now
            start = now
        staged["billing_cycle_anchor"] = new_trial
        billing.set_period(staged, start if was_trialing else now, new_trial)
        cycle = -1
        reset = False
    elif reset:
        if trial_ended:
            staged["trial_end"] = now
            staged["status"] = "active"
        staged["billing_cycle_anchor"] = now
        billing.set_period(staged, now, billing.boundary(now, interval, count, 1))
        cycle = 0
        usage_period = None if was_trialing else (start, now)
        lines = billing.recurring_lines(
            account, staged, period=billing.period_of(staged), usage_period=usage_period
        )
        period = (start, now)
    else:
        billing.set_period(staged, start, end)
    for item in new_items:
        item["subscription"] = subscription["id"]
    bill = reset or (behavior == "always_invoice" and bool(prorations))
    return Staged(staged, prorations, bill, lines, period, cycle, trial_ended)


def _prorations(
    account: Any,
    subscription: dict[str, Any],
    old_items: list[dict[str, Any]],
    new_items: list[dict[str, Any]],
    period: tuple[int, int],
    at: int,
    credits_only: bool,
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Credit for the unused time of what changed, charge for the remaining time of what
    replaced it."""
    start, end = period
    if at >= end:
        return []
    found = []
    old_by_id = {item["id"]: item for item in old_items}
    new_by_id = {item["id"]: item for item in new_items}

    def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
        return bool(a["price"]["id"] == b["price"]["id"] and a.get("quantity") == b.get("quantity"))

    order = [item["id"] for item in old_items] + [
        item["id"] for item in new_items if item["id"] not in old_by_id
    ]
    for item_id in order:
        old = old_by_id.get(item_id)
        new = new_by_id.get(item_id)
        if old is not None and new is not None and same(old, new) and not credits_only:
            continue
        if old is not None and not billing.is_metered(old["price"]):
            credit = billing.prorate(
                billing.amount_for(account, old["price"], old["quantity"]), start, end, at
            )
            if credit:
                found.append(
                    billing.proration_item(
                        account, subscription, old, -credit, (at, end), unused=True
                    )
                )
        if credits_only or new is None or billing.is_metered(new["price"]):
            continue
        charge = billing.prorate(
            billing.amount_for(account, new["price"], new["quantity"]), start, end, at
        )
        if charge:
            found.append(
                billing.proration_item(account, subscription, new, charge, (at, end), unused=False)
            )
    return found


def _plain_updates(req: Request, subscription: dict[str, Any], p: dict[str, Any]) -> None:
    """Fields that change without billing consequences."""
    account = req.acct
    now = account.now()
    if "metadata" in p:
        subscription["metadata"] = apply_metadata(subscription["metadata"], p)
    if "description" in p:
        subscription["description"] = string(p, "description") or None
    if "default_payment_method" in p:
        subscription["default_payment_method"] = checked_payment_method(
            req, p["default_payment_method"], subscription["customer"], "default_payment_method"
        )
    if "collection_method" in p:
        subscription["collection_method"] = _choice(
            p["collection_method"], "collection_method", ("charge_automatically", "send_invoice")
        )
    if p.get("days_until_due") not in (None, ""):
        subscription["days_until_due"] = to_int(p["days_until_due"], "days_until_due")
    if (
        subscription["collection_method"] == "send_invoice"
        and subscription["days_until_due"] is None
    ):
        raise missing("days_until_due")
    if subscription["collection_method"] == "charge_automatically":
        subscription["days_until_due"] = None
    if "payment_settings" in p:
        subscription["payment_settings"] = _payment_settings(
            mapping(p, "payment_settings"), "payment_settings"
        )
    if "trial_settings" in p:
        settings = mapping(p, "trial_settings") or {}
        behavior = (settings.get("end_behavior") or {}).get("missing_payment_method")
        if behavior:
            subscription["trial_settings"] = {
                "end_behavior": {
                    "missing_payment_method": _choice(
                        behavior,
                        "trial_settings[end_behavior][missing_payment_method]",
                        MISSING_PM_BEHAVIORS,
                    )
                }
            }
    if "pause_collection" in p:
        raw = p["pause_collection"]
        if raw in (None, ""):
            subscription["pause_collection"] = None
        else:
            if not isinstance(raw, dict):
                raise InvalidRequest("Invalid object: pause_collection", param="pause_collection")
            behavior = _choice(
                raw.get("behavior"),
                "pause_collection[behavior]",
                ("keep_as_draft", "mark_uncollectible", "void"),
            )
            resumes_at = None
            if raw.get("resumes_at") not in (None, ""):
                resumes_at = _future(raw["resumes_at"], "pause_collection[resumes_at]", now)
            subscription["pause_collection"] = {"behavior": behavior, "resumes_at": resumes_at}
    cancellation_updates(subscription, p, now)


def cancellation_updates(subscription: dict[str, Any], p: dict[str, Any], now: int) -> None:
    details = subscription["cancellation_details"]
    raw_details = p.get("cancellation_details")
    if raw_details not in (None, ""):
        if not isinstance(raw_details, dict):
            raise InvalidRequest(
                "Invalid object: cancellation_details", param="cancellation_details"
            )
        if "comment" in raw_details:
            details["comment"] = raw_details["comment"] or None
        if "feedback" in raw_details:
            feedback = raw_details["feedback"] or None
            if feedback is not None:
                _choice(feedback, "cancellation_details[feedback]", FEEDBACK)
            details["feedback"] = feedback
    has_at = p.get("cancel_at") not in (None,)
    has_end = p.get("cancel_at_period_end") not in (None, "")
    if has_at and has_end and p["cancel_at"] != "":
        raise InvalidRequest(
            "You may only specify one of these parameters: cancel_at, cancel_at_period_end.",
            param="cancel_at",
        )
    _, end = billing.period_of(subscription)
    if has_end:
        wanted = to_bool(p["cancel_at_period_end"], "cancel_at_period_end")
        if wanted:
            subscription["cancel_at_period_end"] = True
            subscription["cancel_at"] = end
            subscription["canceled_at"] = now
            details["reason"] = "cancellation_requested"
        elif subscription["cancel_at_period_end"] or subscription["cancel_at"]:
            _undo_cancel(subscription, raw_details)
    if has_at:
        if p["cancel_at"] == "":
            if subscription["cancel_at"]:
                _undo_cancel(subscription, raw_details)
        else:
            when = _future(p["cancel_at"], "cancel_at", now)
            subscription["cancel_at"] = when
            subscription["cancel_at_period_end"] = when == end
            subscription["canceled_at"] = now
            details["reason"] = "cancellation_requested"


def _undo_cancel(subscription: dict[str, Any], raw_details: Any) -> None:
    subscription["cancel_at_period_end"] = False
    subscription["cancel_at"] = None
    subscription["canceled_at"] = None
    given = raw_details if isinstance(raw_details, dict) else {}
    subscription["cancellation_details"] = {
        "comment": given.get("comment") or None,
        "feedback": given.get("feedback") or None,
        "reason": None,
    }


_CANCELED_UPDATABLE = {"cancellation_details", "metadata", "expand"}


def refuse_if_scheduled(subscription: dict[str, Any], p: dict[str, Any]) -> None:
    """A subscription managed by a schedule changes its items and cancellation through it."""
    schedule = subscription.get("schedule")
    if not schedule:
        return
    if "cancel_at" in p or "cancel_at_period_end" in p:
        what = "cancelation behavior"
    elif p.get("items") not in (None, ""):
        what = "items"
    else:
        return
    raise InvalidRequest(
        f"The subscription is managed by the subscription schedule `{schedule}`, and updating "
        f"any {what} directly is not allowed. Please update the schedule instead."
    )


def update(
    req: Request, subscription: dict[str, Any], p: dict[str, Any], *, by_schedule: bool = False
) -> dict[str, Any]:
    """Apply ``p`` (update parameters) to ``subscription``: the route and item routes use it,
    and a subscription schedule entering a phase (``by_schedule``)."""
    account = req.acct
    b = Billing.for_request(req)
    if subscription["status"] in billing.ENDED:
        if set(p) - _CANCELED_UPDATABLE:
            raise InvalidRequest(
                "A canceled subscription can only update its cancellation_details and metadata.",
            )
        b.watch(subscription)
        if "metadata" in p:
            subscription["metadata"] = apply_metadata(subscription["metadata"], p)
        cancellation_updates(
            subscription, {"cancellation_details": p.get("cancellation_details")}, account.now()
        )
        b.flush()
        return subscription
    if not by_schedule:
        refuse_if_scheduled(subscription, p)
    payment_behavior = _choice(
        p.get("payment_behavior") or "allow_incomplete", "payment_behavior", PAYMENT_BEHAVIORS
    )
    off_session = bool(
        p.get("off_session") not in (None, "") and to_bool(p["off_session"], "off_session")
    )
    b.watch(subscription)
    staged = stage_update(req, subscription, p)
    discounts: list[dict[str, Any]] | None = None
    if "discounts" in p:
        discounts = resolve_discounts(req, p["discounts"], subscription["customer"])
        staged.subscription["discounts"] = [d["id"] for d in discounts]
    try:
        _plain_updates(req, staged.subscription, p)
        if staged.bill:
            preview_invoice, _, _ = billing.build_subscription_invoice(
                account,
                staged.subscription,
                billing_reason="subscription_update",
                lines=copy.deepcopy(staged.lines),
                period=staged.period,
                customer_level=False,
                preview=True,
                extra_items=staged.prorations,
            )
            if payment_behavior in ("error_if_incomplete",):
                _precheck_payment(
                    req, _expected_due(account, preview_invoice), staged.subscription,
                    payment_behavior, off_session,
                )  # fmt: skip
    except Exception:
        forget_discounts(req, discounts or [], set(subscription["discounts"]))
        raise
    original = copy.deepcopy(subscription)
    private = account.secret(subscription["id"])
    original_cycle = private.get("cycle", 0)
    subscription.clear()
    subscription.update(staged.subscription)
    if staged.cycle is not None:
        private["cycle"] = staged.cycle
        if staged.subscription["status"] == "trialing":
            private.pop("trial_will_end_sent", None)
    for item in subscription["items"]["data"]:
        account.secret(item["id"])["subscription"] = subscription["id"]
    if discounts:
        _redeem(req, discounts, subscription["id"])
    for invoice_item, item_private in staged.prorations:
        billing.store_invoice_item(b, invoice_item, item_private)
    if staged.trial_ended:
        b.emit("customer.subscription.trial_will_end", subscription)
        private["trial_will_end_sent"] = True
    if staged.bill:
        _bill_update(
            req, b, subscription, staged, payment_behavior, off_session, original, original_cycle
        )
    b.flush()
    return subscription


def _bill_update(
    req: Request,
    b: Billing,
    subscription: dict[str, Any],
    staged: Staged,
    payment_behavior: str,
    off_session: bool,
    original: dict[str, Any],
    original_cycle: int,
) -> None:
    account = req.acct
    invoice, swept, discount_ids = billing.build_subscription_invoice(
        account,
        subscription,
        billing_reason="subscription_update",
        lines=staged.lines,
        period=staged.period,
        customer_level=False,
    )
    billing.store_invoice(b, invoice, swept, discount_ids, subscription)
    billing.consume_once_discounts(account, subscription, invoice)
    pause = subscription.get("pause_collection")
    if pause and pause.get("behavior") == "keep_as_draft":
        invoice["auto_advance"] = False
        return
    billing.finalize(b, invoice)
    if invoice["status"] != "open" or invoice["collection_method"] != "charge_automatically":
        return
    if payment_behavior == "default_incomplete":
        billing.open_intent(b, invoice)
        subscription["status"] = "past_due"
        return
    outcome = billing.collect(b, invoice, off_session=off_session)
    if outcome == "paid":
        return
    if payment_behavior != "pending_if_incomplete":
        subscription["status"] = "past_due"
        return
    private = account.secret(subscription["id"])
    held = {
        "items": copy.deepcopy(subscription["items"]),
        "billing_cycle_anchor": subscription["billing_cycle_anchor"],
        "trial_end": subscription["trial_end"],
        "_cycle": private.get("cycle", 0),
    }
    latest = subscription["latest_invoice"]
    subscription.clear()
    subscription.update(original)
    subscription["latest_invoice"] = latest
    private["cycle"] = original_cycle
    private["pending_update_state"] = held
    private["pending_update_invoice"] = invoice["id"]
    subscription["pending_update"] = {
        "billing_cycle_anchor": held["billing_cycle_anchor"]
        if held["billing_cycle_anchor"] != original["billing_cycle_anchor"]
        else None,
        "expires_at": account.now() + billing.INCOMPLETE_EXPIRY,
        "subscription_items": copy.deepcopy(held["items"]["data"]),
        "trial_end": held["trial_end"] if held["trial_end"] != original["trial_end"] else None,
        "trial_from_plan": None,
    }


@route("POST", "/v1/subscriptions/{id}")
def update_subscription(req: Request) -> dict[str, Any]:
    subscription = req.acct.get("subscription", req.path_params["id"])
    prices.reject_unknown(req.params, UPDATE_KEYS)
    update(req, subscription, req.params)
    return billing.present(req.acct, subscription, req.params)


# -- canceling and resuming -----------------------------------------------------------------
def cancel_now(req: Request, subscription: dict[str, Any]) -> None:
    """Cancel at once without final invoice or prorations (a deleted customer's)."""
    b = Billing.for_request(req)
    billing.cancel(b, subscription, reason="cancellation_requested")
    b.flush()


@route("DELETE", "/v1/subscriptions/{id}")
def cancel_subscription(req: Request) -> dict[str, Any]:
    account = req.acct
    p = req.params
    subscription = account.get("subscription", req.path_params["id"])
    if subscription["status"] in billing.ENDED:
        raise InvalidRequest(
            f"A canceled subscription can't be canceled again: {subscription['id']}",
            code="resource_missing",
        )
    invoice_now = bool(
        p.get("invoice_now") not in (None, "") and to_bool(p["invoice_now"], "invoice_now")
    )
    prorate = bool(p.get("prorate") not in (None, "") and to_bool(p["prorate"], "prorate"))
    details = mapping(p, "cancellation_details") or {}
    feedback = details.get("feedback") or None
    if feedback is not None:
        _choice(feedback, "cancellation_details[feedback]", FEEDBACK)
    b = Billing.for_request(req)
    billing.cancel(
        b,
        subscription,
        reason="cancellation_requested",
        invoice_now=invoice_now,
        prorate_unused=prorate,
        comment=details.get("comment") or None,
        feedback=feedback,
    )
    b.flush()
    return billing.present(account, subscription, p)


@route("POST", "/v1/subscriptions/{id}/resume")
def resume_subscription(req: Request) -> dict[str, Any]:
    account = req.acct
    p = req.params
    subscription = account.get("subscription", req.path_params["id"])
    if subscription["status"] != "paused":
        raise InvalidRequest(
            "Only subscriptions with `status=paused` can be resumed.",
        )
    anchor = _choice(
        p.get("billing_cycle_anchor") or "now", "billing_cycle_anchor", ("now", "unchanged")
    )
    _choice(
        p.get("proration_behavior") or "create_prorations",
        "proration_behavior",
        PRORATION_BEHAVIORS,
    )
    b = Billing.for_request(req)
    b.watch(subscription)
    now = account.now()
    if anchor == "now" or billing.period_of(subscription)[1] <= now:
        billing.start_cycle(account, subscription, now)
    lines = billing.recurring_lines(
        account, subscription, period=billing.period_of(subscription), usage_period=None
    )
    invoice, outcome = billing.bill_now(
        b,
        subscription,
        billing_reason="subscription_update",
        lines=lines,
        period=(now, now),
        off_session=True,
    )
    if outcome == "paid":
        subscription["status"] = "active"
        b.emit("customer.subscription.resumed", subscription)
    else:
        account.secret(subscription["id"])["resume_invoice"] = invoice["id"]
    b.flush()
    return billing.present(account, subscription, p)
