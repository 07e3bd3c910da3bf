"""Coupons (``/v1/coupons``), promotion codes (``/v1/promotion_codes``) and discounts.

Billing code applies them through ``resolve_discount`` (a Stripe ``discount`` for a coupon or
promotion code), ``discounted_amount`` and ``redeem``.
"""

from __future__ import annotations

import calendar
import re
import secrets
import string as _string
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..errors import InvalidRequest, missing
from ..listing import paginate
from ..params import apply_metadata, boolean, listing, string
from ..routing import Request, route
from ..state import Account
from .prices import (
    MAX_AMOUNT,
    ensure_new_id,
    expand_paths,
    metadata_for_create,
    reject_unknown,
    to_bool,
    to_choice,
    to_currency,
    to_dict,
    to_int,
    to_text,
)

_CODE_ALPHABET = _string.ascii_uppercase + _string.digits
_CODE = re.compile(r"^[A-Za-z0-9]{1,500}$")
_CODE_INDEX = "index:promotion_code.code"
FIVE_YEARS = 5 * 366 * 86400
_COUPON_CREATE_KEYS = {
    "amount_off",
    "applies_to",
    "currency",
    "currency_options",
    "duration",
    "duration_in_months",
    "expand",
    "id",
    "max_redemptions",
    "metadata",
    "name",
    "percent_off",
    "redeem_by",
}
_COUPON_UPDATE_KEYS = {"currency_options", "expand", "metadata", "name"}
_PROMO_CREATE_KEYS = {
    "active",
    "code",
    "customer",
    "customer_account",
    "expand",
    "expires_at",
    "max_redemptions",
    "metadata",
    "promotion",
    "restrictions",
}
_PROMO_UPDATE_KEYS = {"active", "expand", "metadata", "restrictions"}


def _random_code(length: int = 8) -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(length))


# -- coupons --------------------------------------------------------------------------------
def refresh_coupon(account: Account, coupon: dict[str, Any]) -> dict[str, Any]:
    """Bring ``valid`` up to the account's clock (it lapses at ``redeem_by``)."""
    expired = coupon["redeem_by"] is not None and account.now() >= coupon["redeem_by"]
    exhausted = (
        coupon["max_redemptions"] is not None
        and coupon["times_redeemed"] >= coupon["max_redemptions"]
    )
    coupon["valid"] = not (expired or exhausted)
    return coupon


def coupon_applies_to(account: Account, coupon_id: str) -> list[str] | None:
    """The product ids a coupon is limited to, or None when it applies to everything."""
    applies = account.private.get(coupon_id, {}).get("applies_to")
    return list(applies["products"]) if applies else None


def _coupon_currency_options(raw: Any, param: str, currency: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for code, entry in to_dict(raw, param).items():
        where = f"{param}[{code}]"
        option_currency = to_currency(code, where)
        if option_currency == currency:
            raise InvalidRequest(
                "You are specifying a currency option that matches the top-level currency for "
                "this coupon. Please remove this currency option.",
                param=where,
            )
        value = to_dict(entry, where)
        reject_unknown(value, {"amount_off"}, where)
        if value.get("amount_off") in (None, ""):
            raise missing(f"{where}[amount_off]")
        options[option_currency] = {
            "amount_off": to_int(
                value["amount_off"], f"{where}[amount_off]", minimum=1, maximum=MAX_AMOUNT
            )
        }
    return options


def _percent(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidRequest(f"Invalid decimal: {value}", param="percent_off") from None
    if not 0 < number <= 100:
        raise InvalidRequest(
            "Invalid percent_off: must be greater than 0 and less than or equal to 100.",
            param="percent_off",
        )
    return round(number, 2)


def _shown_coupon(account: Account, coupon: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """The coupon with ``applies_to``/``currency_options``, which Stripe shows only on expand."""
    wanted = [key for key in ("applies_to", "currency_options") if key in paths]
    if not wanted:
        return coupon
    shown = dict(coupon)
    hidden = account.private.get(coupon["id"], {})
    if "applies_to" in wanted:
        shown["applies_to"] = hidden.get("applies_to")
    if "currency_options" in wanted:
        options = dict(hidden.get("currency_options", {}))
        if coupon["amount_off"] is not None and coupon["currency"]:
            options[coupon["currency"]] = {"amount_off": coupon["amount_off"]}
        shown["currency_options"] = options
    return shown


@route("POST", "/v1/coupons")
def create_coupon(req: Request) -> dict[str, Any]:
    account = req.acct
    p = req.params
    reject_unknown(p, _COUPON_CREATE_KEYS)
    has_percent = p.get("percent_off") not in (None, "")
    has_amount = p.get("amount_off") not in (None, "")
    if has_percent and has_amount:
        raise InvalidRequest(
            "You may only specify one of these parameters: amount_off, percent_off.",
            param="amount_off",
        )
    if not has_percent and not has_amount:
        raise InvalidRequest(
            "You must specify either `percent_off` or `amount_off`.",
            code="parameter_missing",
            param="percent_off",
        )
    percent_off = _percent(p["percent_off"]) if has_percent else None
    amount_off = (
        to_int(p["amount_off"], "amount_off", minimum=1, maximum=MAX_AMOUNT) if has_amount else None
    )
    currency = None
    if p.get("currency") not in (None, ""):
        currency = to_currency(p["currency"], "currency")
    if amount_off is not None and currency is None:
        raise missing("currency")
    duration = to_choice(p.get("duration") or "once", "duration", ("forever", "once", "repeating"))
    months = None
    if duration == "repeating":
        if p.get("duration_in_months") in (None, ""):
            raise missing("duration_in_months")
        months = to_int(p["duration_in_months"], "duration_in_months", minimum=1, maximum=36)
    elif p.get("duration_in_months") not in (None, ""):
        raise InvalidRequest(
            "`duration_in_months` may only be set when `duration` is `repeating`.",
            param="duration_in_months",
        )
    max_redemptions = None
    if p.get("max_redemptions") not in (None, ""):
        max_redemptions = to_int(p["max_redemptions"], "max_redemptions", minimum=1)
    now = account.now()
    redeem_by = None
    if p.get("redeem_by") not in (None, ""):
        redeem_by = to_int(p["redeem_by"], "redeem_by", minimum=1)
        if redeem_by <= now:
            raise InvalidRequest("Invalid redeem_by: must be in the future.", param="redeem_by")
        if redeem_by > now + FIVE_YEARS:
            raise InvalidRequest(
                "Invalid redeem_by: cannot be more than 5 years in the future.",
                param="redeem_by",
            )
    hidden: dict[str, Any] = {}
    if p.get("applies_to") not in (None, ""):
        applies = to_dict(p["applies_to"], "applies_to")
        reject_unknown(applies, {"products"}, "applies_to")
        products = listing(applies, "products")
        for index, product_id in enumerate(products):
            account.get("product", product_id, f"applies_to[products][{index}]")
        hidden["applies_to"] = {"products": list(products)}
    if p.get("currency_options") not in (None, ""):
        if amount_off is None:
            raise InvalidRequest(
                "`currency_options` is only supported for coupons with `amount_off`.",
                param="currency_options",
            )
        hidden["currency_options"] = _coupon_currency_options(
            p["currency_options"], "currency_options", currency
        )
    name = to_text(p["name"], "name", max_length=40) if p.get("name") is not None else None
    coupon_id = (
        ensure_new_id(account, p["id"], "Coupon", "id")
        if p.get("id") not in (None, "")
        else _random_code()
    )
    coupon = {
        "id": coupon_id,
        "object": "coupon",
        "amount_off": amount_off,
        "created": now,
        "currency": currency,
        "duration": duration,
        "duration_in_months": months,
        "livemode": False,
        "max_redemptions": max_redemptions,
        "metadata": metadata_for_create(p),
        "name": name,
        "percent_off": percent_off,
        "redeem_by": redeem_by,
        "times_redeemed": 0,
        "valid": True,
    }
    account.deleted.pop(coupon_id, None)
    account.add(coupon)
    if hidden:
        account.secret(coupon_id).update(hidden)
    req.emit("coupon.created", coupon)
    return _shown_coupon(account, coupon, expand_paths(p))


@route("GET", "/v1/coupons/{id}")
def retrieve_coupon(req: Request) -> dict[str, Any]:
    coupon = refresh_coupon(req.acct, req.acct.get("coupon", req.path_params["id"]))
    return _shown_coupon(req.acct, coupon, expand_paths(req.params))


@route("POST", "/v1/coupons/{id}")
def update_coupon(req: Request) -> dict[str, Any]:
    account = req.acct
    coupon = refresh_coupon(account, account.get("coupon", req.path_params["id"]))
    p = req.params
    reject_unknown(p, _COUPON_UPDATE_KEYS)
    previous: dict[str, Any] = {}
    if "name" in p:
        name = to_text(p["name"], "name", max_length=40, unset=True)
        if name != coupon["name"]:
            previous["name"] = coupon["name"]
            coupon["name"] = name
    metadata = apply_metadata(coupon["metadata"], p)
    if metadata != coupon["metadata"]:
        previous["metadata"] = coupon["metadata"]
        coupon["metadata"] = metadata
    if p.get("currency_options") not in (None, ""):
        if coupon["amount_off"] is None:
            raise InvalidRequest(
                "`currency_options` is only supported for coupons with `amount_off`.",
                param="currency_options",
            )
        hidden = account.secret(coupon["id"])
        options = dict(hidden.get("currency_options", {}))
        options.update(
            _coupon_currency_options(p["currency_options"], "currency_options", coupon["currency"])
        )
        if options != hidden.get("currency_options"):
            previous["currency_options"] = hidden.get("currency_options", {})
            hidden["currency_options"] = options
    if previous:
        req.emit("coupon.updated", coupon, previous)
    return _shown_coupon(account, coupon, expand_paths(p))


@route("DELETE", "/v1/coupons/{id}")
def delete_coupon(req: Request) -> dict[str, Any]:
    account = req.acct
    coupon = account.get("coupon", req.path_params["id"])
    # Existing discounts keep working; its promotion codes can no longer be redeemed.
    for promo in account.newest_first("promotion_code"):
        if promo["promotion"]["coupon"] == coupon["id"] and promo["active"]:
            _deactivate(account, promo)
    account.remove(coupon["id"])
    coupon["valid"] = False
    req.emit("coupon.deleted", coupon)
    return {"id": coupon["id"], "object": "coupon", "deleted": True}


@route("GET", "/v1/coupons")
def list_coupons(req: Request) -> dict[str, Any]:
    account = req.acct
    page = paginate(account.newest_first("coupon"), req.params, "/v1/coupons")
    paths = [path[5:] for path in expand_paths(req.params) if path.startswith("data.")]
    page["data"] = [
        _shown_coupon(account, refresh_coupon(account, coupon), paths) for coupon in page["data"]
    ]
    return page


# -- promotion codes ------------------------------------------------------------------------
def _code_index(account: Account) -> dict[str, str]:
    """Active codes (case-folded, per customer) -> promotion code id."""
    return account.secret(_CODE_INDEX)


def _code_key(code: str, customer: str | None) -> str:
    return f"{code.lower()}|{customer or ''}"


def _deactivate(account: Account, promo: dict[str, Any]) -> None:
    promo["active"] = False
    index = _code_index(account)
    key = _code_key(promo["code"], promo["customer"])
    if index.get(key) == promo["id"]:
        del index[key]


def refresh_promotion_code(account: Account, promo: dict[str, Any]) -> dict[str, Any]:
    """Deactivate a code that expired, ran out, or whose coupon is no longer valid."""
    if not promo["active"]:
        return promo
    coupon_id = promo["promotion"]["coupon"]
    coupon = account.find(coupon_id)
    lapsed = (
        (promo["expires_at"] is not None and account.now() >= promo["expires_at"])
        or (
            promo["max_redemptions"] is not None
            and promo["times_redeemed"] >= promo["max_redemptions"]
        )
        or coupon is None
        or not refresh_coupon(account, coupon)["valid"]
    )
    if lapsed:
        _deactivate(account, promo)
    return promo


def _claim_code(account: Account, promo: dict[str, Any]) -> None:
    """Make ``promo`` the active holder of its code, refusing a clash with another active one."""
    index = _code_index(account)
    key = _code_key(promo["code"], promo["customer"])
    holder_id = index.get(key)
    if holder_id is not None and holder_id != promo["id"]:
        holder = account.find(holder_id)
        if holder is not None and refresh_promotion_code(account, holder)["active"]:
            raise InvalidRequest(
                f"An active promotion code with `code: {promo['code']}` already exists.",
                code="resource_already_exists",
                param="code",
            )
    index[key] = promo["id"]


def _restrictions(raw: Any, param: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    value = to_dict(raw, param)
    reject_unknown(
        value,
        {"currency_options", "first_time_transaction", "minimum_amount", "minimum_amount_currency"},
        param,
    )
    restrictions: dict[str, Any] = {
        "first_time_transaction": False,
        "minimum_amount": None,
        "minimum_amount_currency": None,
    }
    if value.get("first_time_transaction") not in (None, ""):
        restrictions["first_time_transaction"] = to_bool(
            value["first_time_transaction"], f"{param}[first_time_transaction]"
        )
    if value.get("minimum_amount") not in (None, ""):
        restrictions["minimum_amount"] = to_int(
            value["minimum_amount"], f"{param}[minimum_amount]", minimum=1, maximum=MAX_AMOUNT
        )
        if value.get("minimum_amount_currency") in (None, ""):
            raise missing(f"{param}[minimum_amount_currency]")
        restrictions["minimum_amount_currency"] = to_currency(
            value["minimum_amount_currency"], f"{param}[minimum_amount_currency]"
        )
    options = None
    if value.get("currency_options") not in (None, ""):
        options = _minimum_options(value["currency_options"], f"{param}[currency_options]")
    return restrictions, options


def _minimum_options(raw: Any, param: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for code, entry in to_dict(raw, param).items():
        where = f"{param}[{code}]"
        value = to_dict(entry, where)
        reject_unknown(value, {"minimum_amount"}, where)
        minimum = None
        if value.get("minimum_amount") not in (None, ""):
            minimum = to_int(value["minimum_amount"], f"{where}[minimum_amount]", minimum=1)
        options[to_currency(code, where)] = {"minimum_amount": minimum}
    return options


@route("POST", "/v1/promotion_codes")
def create_promotion_code(req: Request) -> dict[str, Any]:
    account = req.acct
    p = req.params
    reject_unknown(p, _PROMO_CREATE_KEYS)
    if p.get("promotion") in (None, ""):
        raise missing("promotion")
    promotion = to_dict(p["promotion"], "promotion")
    reject_unknown(promotion, {"coupon", "type"}, "promotion")
    if promotion.get("type") in (None, ""):
        raise missing("promotion[type]")
    to_choice(promotion["type"], "promotion[type]", ("coupon",))
    if promotion.get("coupon") in (None, ""):
        raise missing("promotion[coupon]")
    coupon = refresh_coupon(
        account, account.get("coupon", promotion["coupon"], "promotion[coupon]")
    )
    if not coupon["valid"]:
        raise InvalidRequest(
            f"The coupon `{coupon['id']}` is no longer valid, so no promotion code can be "
            "created for it.",
            code="coupon_expired",
            param="promotion[coupon]",
        )
    code = _random_code() if p.get("code") in (None, "") else str(p["code"])
    if not _CODE.match(code):
        raise InvalidRequest(
            "Invalid code: may only contain letters (a-z, A-Z) and digits (0-9), at most 500 "
            "characters.",
            param="code",
        )
    customer = None
    if p.get("customer") not in (None, ""):
        customer = account.get("customer", p["customer"], "customer")["id"]
    now = account.now()
    expires_at = None
    if p.get("expires_at") not in (None, ""):
        expires_at = to_int(p["expires_at"], "expires_at", minimum=1)
        if expires_at <= now:
            raise InvalidRequest("Invalid expires_at: must be in the future.", param="expires_at")
        if coupon["redeem_by"] is not None and expires_at > coupon["redeem_by"]:
            raise InvalidRequest(
                "The promotion code's `expires_at` may not be after the coupon's `redeem_by`.",
                param="expires_at",
            )
    max_redemptions = None
    if p.get("max_redemptions") not in (None, ""):
        max_redemptions = to_int(p["max_redemptions"], "max_redemptions", minimum=1)
        if coupon["max_redemptions"] is not None and max_redemptions > coupon["max_redemptions"]:
            raise InvalidRequest(
                "The promotion code's `max_redemptions` may not exceed the coupon's "
                "`max_redemptions`.",
                param="max_redemptions",
            )
    restrictions, minimum_options = _restrictions(p.get("restrictions") or {}, "restrictions")
    active = True
    if p.get("active") not in (None, ""):
        active = to_bool(p["active"], "active")
    promo_id = account.new_id("promo")
    promo: dict[str, Any] = {
        "id": promo_id,
        "object": "promotion_code",
        "active": active,
        "code": code,
        "created": now,
        "customer": customer,
        "customer_account": None,
        "expires_at": expires_at,
        "livemode": False,
        "max_redemptions": max_redemptions,
        "metadata": metadata_for_create(p),
        "promotion": {"coupon": coupon["id"], "type": "coupon"},
        "restrictions": restrictions,
        "times_redeemed": 0,
    }
    if active:
        _claim_code(account, promo)
    account.add(promo)
    if minimum_options:
        account.secret(promo_id)["currency_options"] = minimum_options
    req.emit("promotion_code.created", promo)
    return promo


@route("GET", "/v1/promotion_codes/{id}")
def retrieve_promotion_code(req: Request) -> dict[str, Any]:
    promo = req.acct.get("promotion_code", req.path_params["id"])
    return refresh_promotion_code(req.acct, promo)


@route("POST", "/v1/promotion_codes/{id}")
def update_promotion_code(req: Request) -> dict[str, Any]:
    account = req.acct
    promo = refresh_promotion_code(account, account.get("promotion_code", req.path_params["id"]))
    p = req.params
    reject_unknown(p, _PROMO_UPDATE_KEYS)
    previous: dict[str, Any] = {}
    if p.get("active") not in (None, ""):
        active = to_bool(p["active"], "active")
        if active and not promo["active"]:
            promo["active"] = True
            if not refresh_promotion_code(account, promo)["active"]:
                raise InvalidRequest(
                    "This promotion code cannot be reactivated: it expired, reached its "
                    "maximum redemptions, or its coupon is no longer valid.",
                    param="active",
                )
            try:
                _claim_code(account, promo)
            except InvalidRequest:
                promo["active"] = False
                raise
            previous["active"] = False
        elif not active and promo["active"]:
            _deactivate(account, promo)
            previous["active"] = True
    if p.get("restrictions") not in (None, ""):
        restrictions = to_dict(p["restrictions"], "restrictions")
        reject_unknown(restrictions, {"currency_options"}, "restrictions")
        if restrictions.get("currency_options") not in (None, ""):
            account.secret(promo["id"])["currency_options"] = _minimum_options(
                restrictions["currency_options"], "restrictions[currency_options]"
            )
    metadata = apply_metadata(promo["metadata"], p)
    if metadata != promo["metadata"]:
        previous["metadata"] = promo["metadata"]
        promo["metadata"] = metadata
    if previous:
        req.emit("promotion_code.updated", promo, previous)
    return promo


@route("GET", "/v1/promotion_codes")
def list_promotion_codes(req: Request) -> dict[str, Any]:
    account = req.acct
    p = req.params
    active = boolean(p, "active")
    code = string(p, "code")
    coupon = string(p, "coupon")
    customer = string(p, "customer")

    def wanted(promo: dict[str, Any]) -> bool:
        refresh_promotion_code(account, promo)
        return (
            (active is None or promo["active"] == active)
            and (code is None or promo["code"].lower() == code.lower())
            and (coupon is None or promo["promotion"]["coupon"] == coupon)
            and (customer is None or promo["customer"] == customer)
        )

    return paginate(account.newest_first("promotion_code"), p, "/v1/promotion_codes", wanted)


# -- discounts, for billing -----------------------------------------------------------------
def _add_months(timestamp: int, months: int) -> int:
    start = datetime.fromtimestamp(timestamp, UTC)
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def _has_paid_before(account: Account, customer_id: str) -> bool:
    for invoice in account.newest_first("invoice"):
        if invoice.get("customer") == customer_id and invoice.get("status") == "paid":
            if invoice.get("amount_paid", 0) > 0:
                return True
    return any(
        intent.get("customer") == customer_id and intent.get("status") == "succeeded"
        for intent in account.newest_first("payment_intent")
    )


def resolve_discount(
    account: Account,
    *,
    coupon: str | None,
    promotion_code: str | None,
    customer_id: str,
    param: str,
    amount: int | None = None,
    currency: str | None = None,
) -> dict[str, Any]:
    """A new ``discount`` for a coupon or promotion code, stored so ``expand[]`` finds it.

    Raises InvalidRequest naming ``param`` when it cannot be redeemed by this customer (with
    ``amount``/``currency`` given, a promotion code's minimum amount is enforced too). The
    caller fills ``subscription``/``invoice`` and calls ``redeem`` once the discount is used.
    """
    if coupon and promotion_code:
        raise InvalidRequest(
            "You may only specify one of these parameters: coupon, promotion_code.", param=param
        )
    if not coupon and not promotion_code:
        raise missing(param)
    promo = None
    if promotion_code:
        promo = refresh_promotion_code(
            account, account.get("promotion_code", promotion_code, param)
        )
        if not promo["active"]:
            raise InvalidRequest(
                f"This promotion code is not active: `{promo['code']}`.", param=param
            )
        if promo["customer"] is not None and promo["customer"] != customer_id:
            raise InvalidRequest(
                "This promotion code cannot be redeemed because the associated customer "
                "does not match.",
                param=param,
            )
        restrictions = promo["restrictions"]
        if restrictions["first_time_transaction"] and _has_paid_before(account, customer_id):
            raise InvalidRequest(
                "This promotion code cannot be redeemed because it is only for first-time "
                "customers.",
                param=param,
            )
        minimum = restrictions["minimum_amount"]
        minimum_currency = restrictions["minimum_amount_currency"]
        if amount is not None and currency is not None:
            if currency != minimum_currency:
                option = account.private.get(promo["id"], {}).get("currency_options", {})
                minimum = (option.get(currency) or {}).get("minimum_amount")
                minimum_currency = currency
            if minimum is not None and amount < minimum:
                raise InvalidRequest(
                    "This promotion code cannot be redeemed because the amount is below its "
                    f"minimum of {minimum} {minimum_currency}.",
                    param=param,
                )
        coupon = promo["promotion"]["coupon"]
    assert coupon is not None
    found = refresh_coupon(account, account.get("coupon", coupon, param))
    if not found["valid"]:
        raise InvalidRequest(
            f"The coupon `{found['id']}` is no longer valid: it expired or reached its "
            "maximum number of redemptions.",
            code="coupon_expired",
            param=param,
        )
    start = account.now()
    end = None
    if found["duration"] == "repeating" and found["duration_in_months"]:
        end = _add_months(start, found["duration_in_months"])
    discount = {
        "id": account.new_id("di"),
        "object": "discount",
        "checkout_session": None,
        "customer": customer_id,
        "customer_account": None,
        "end": end,
        "invoice": None,
        "invoice_item": None,
        "promotion_code": promo["id"] if promo else None,
        "source": {"coupon": found["id"], "type": "coupon"},
        "start": start,
        "subscription": None,
        "subscription_item": None,
    }
    return account.add(discount)


def redeem(account: Account, coupon_id: str, promotion_code_id: str | None = None) -> None:
    """Count one redemption of a coupon (and promotion code), refusing one past the limit."""
    coupon = refresh_coupon(account, account.get("coupon", coupon_id, "coupon"))
    if not coupon["valid"]:
        raise InvalidRequest(
            f"The coupon `{coupon_id}` has reached its maximum number of redemptions.",
            code="coupon_expired",
            param="coupon",
        )
    promo = None
    if promotion_code_id:
        promo = refresh_promotion_code(
            account, account.get("promotion_code", promotion_code_id, "promotion_code")
        )
        if not promo["active"]:
            raise InvalidRequest(
                f"This promotion code is not active: `{promo['code']}`.", param="promotion_code"
            )
        promo["times_redeemed"] += 1
        refresh_promotion_code(account, promo)
    coupon["times_redeemed"] += 1
    refresh_coupon(account, coupon)


def discounted_amount(coupon: dict[str, Any], amount: int) -> int:
    """``amount`` after the coupon's ``percent_off`` or ``amount_off`` (never below zero)."""
    if coupon.get("percent_off") is not None:
        off = (Decimal(amount) * Decimal(str(coupon["percent_off"])) / 100).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
        return max(0, amount - int(off))
    return max(0, amount - int(coupon.get("amount_off") or 0))
