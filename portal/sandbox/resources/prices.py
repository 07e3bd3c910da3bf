"""Prices: ``/v1/prices``.

Stripe leaves ``tiers`` and ``currency_options`` out of a price unless they are expanded, so
they live in the price's private data; billing code reads them through ``price_tiers``,
``price_currency_options`` and ``amount_for_quantity``.
"""

from __future__ import annotations

import copy
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ..errors import InvalidRequest, missing
from ..listing import paginate
from ..params import apply_metadata, boolean, listing, mapping, string
from ..routing import Request, route
from ..state import Account, SandboxState

INTERVALS = ("day", "week", "month", "year")
# Stripe caps a billing period at three years.
MAX_INTERVAL_COUNT = {"day": 1095, "week": 156, "month": 36, "year": 3}
TAX_BEHAVIORS = ("exclusive", "inclusive", "unspecified")
MAX_AMOUNT = 99_999_999
_CURRENCY = re.compile(r"^[a-z]{3}$")
_LOOKUP_INDEX = "index:price.lookup_key"
_CREATE_KEYS = {
    "active",
    "billing_scheme",
    "currency",
    "currency_options",
    "custom_unit_amount",
    "expand",
    "lookup_key",
    "metadata",
    "nickname",
    "product",
    "product_data",
    "recurring",
    "tax_behavior",
    "tiers",
    "tiers_mode",
    "transfer_lookup_key",
    "transform_quantity",
    "unit_amount",
    "unit_amount_decimal",
}
_UPDATE_KEYS = {
    "active",
    "currency_options",
    "expand",
    "lookup_key",
    "metadata",
    "nickname",
    "tax_behavior",
    "transfer_lookup_key",
}
# The subset ``default_price_data`` accepts on product creation.
DEFAULT_PRICE_DATA_KEYS = {
    "currency",
    "currency_options",
    "custom_unit_amount",
    "metadata",
    "recurring",
    "tax_behavior",
    "unit_amount",
    "unit_amount_decimal",
}
_INCLUDABLE = ("tiers", "currency_options")


# -- value coercion shared by the catalog resources ------------------------------------------
def reject_unknown(value: dict[str, Any], allowed: set[str], prefix: str = "") -> None:
    """Stripe refuses parameters it does not know, naming the first one."""
    for key in value:
        if key not in allowed:
            name = f"{prefix}[{key}]" if prefix else key
            raise InvalidRequest(f"Received unknown parameter: {name}", param=name)


def nested(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


def to_int(value: Any, param: str, *, minimum: int | None = 0, maximum: int | None = None) -> int:
    if isinstance(value, bool):
        raise InvalidRequest(
            f"Invalid integer: {value}", code="parameter_invalid_integer", param=param
        )
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        number = int(value)
    else:
        raise InvalidRequest(
            f"Invalid integer: {value}", code="parameter_invalid_integer", param=param
        )
    if minimum is not None and number < minimum:
        adjective = "non-negative" if minimum == 0 else "positive"
        raise InvalidRequest(
            f"Invalid {adjective} integer", code="parameter_invalid_integer", param=param
        )
    if maximum is not None and number > maximum:
        raise InvalidRequest(
            f"This value must be less than or equal to {maximum}.",
            code="parameter_invalid_integer",
            param=param,
        )
    return number


def to_decimal(value: Any, param: str, *, places: int = 12) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidRequest(f"Invalid decimal: {value}", param=param) from None
    if not number.is_finite() or number < 0:
        raise InvalidRequest(f"Invalid decimal: {value}", param=param)
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise InvalidRequest(
            f"Invalid decimal: {value}. The value may have at most {places} decimal places.",
            param=param,
        )
    return number


def decimal_text(number: Decimal) -> str:
    """Stripe's string form of a decimal amount: no exponent, no trailing zeros."""
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def to_bool(value: Any, param: str) -> bool:
    found = boolean({param: value}, param)
    if found is None:
        raise InvalidRequest(f"Invalid boolean: {value}", param=param)
    return found


def to_choice(value: Any, param: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidRequest(f"Invalid {param}: must be one of {', '.join(choices)}", param=param)
    return str(value)


def to_currency(value: Any, param: str) -> str:
    if not isinstance(value, str) or not _CURRENCY.match(value.lower()):
        raise InvalidRequest(
            f"Invalid currency: {value}. Currencies are three-letter ISO codes.", param=param
        )
    return value.lower()


def to_dict(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(
            f"Invalid object: {param}", code="parameter_invalid_object", param=param
        )
    return value


def to_text(value: Any, param: str, *, max_length: int = 5000, unset: bool = False) -> str | None:
    """A string parameter; ``''`` unsets it where Stripe allows it, else is refused."""
    if not isinstance(value, str):
        raise InvalidRequest(
            f"Invalid string: {param}", code="parameter_invalid_string", param=param
        )
    if value == "":
        if unset:
            return None
        raise empty_string(param)
    if len(value) > max_length:
        raise InvalidRequest(
            f"Invalid string: {value[:20]}...; must be at most {max_length} characters",
            code="parameter_invalid_string",
            param=param,
        )
    return value


def empty_string(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"You passed an empty string for '{param}'. We assume empty values are an attempt to "
        f"unset a parameter; however '{param}' cannot be unset. You should remove '{param}' "
        "from your request or supply a non-empty value.",
        code="parameter_invalid_empty",
        param=param,
    )


def ensure_new_id(account: Account, object_id: Any, kind: str, param: str) -> str:
    """A caller-chosen id, refused when an object already has it."""
    chosen = to_text(object_id, param, max_length=200)
    assert chosen is not None
    if account.find(chosen) is not None:
        raise InvalidRequest(f"{kind} already exists.", code="resource_already_exists", param=param)
    return chosen


def metadata_for_create(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    if "metadata" not in params:
        return {}
    try:
        return apply_metadata({}, params)
    except InvalidRequest as error:
        if prefix and error.param:
            error.param = f"{prefix}[{error.param}]"
        raise


# -- amounts and tiers -----------------------------------------------------------------------
def _amount_pair(
    value: dict[str, Any], prefix: str, int_key: str, dec_key: str
) -> tuple[int | None, str | None]:
    """Read ``unit_amount``/``unit_amount_decimal`` (or the flat pair), at most one of them."""
    has_int = value.get(int_key) not in (None, "")
    has_dec = value.get(dec_key) not in (None, "")
    if has_int and has_dec:
        raise InvalidRequest(
            f"You may only specify one of these parameters: {int_key}, {dec_key}.",
            param=nested(prefix, dec_key),
        )
    if has_int:
        amount = to_int(value[int_key], nested(prefix, int_key), maximum=MAX_AMOUNT)
        return amount, str(amount)
    if has_dec:
        number = to_decimal(value[dec_key], nested(prefix, dec_key))
        whole = number == number.to_integral_value()
        return (int(number) if whole else None), decimal_text(number)
    return None, None


def _tiers(raw: Any, param: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise missing(param)
    tiers: list[dict[str, Any]] = []
    previous_bound = 0
    for index, entry in enumerate(raw):
        where = f"{param}[{index}]"
        tier = to_dict(entry, where)
        reject_unknown(
            tier,
            {"up_to", "unit_amount", "unit_amount_decimal", "flat_amount", "flat_amount_decimal"},
            where,
        )
        if tier.get("up_to") in (None, ""):
            raise missing(f"{where}[up_to]")
        up_to: int | None
        if tier["up_to"] == "inf":
            if index != len(raw) - 1:
                raise InvalidRequest(
                    "Only the last tier may have `up_to` set to `inf`.", param=f"{where}[up_to]"
                )
            up_to = None
        else:
            up_to = to_int(tier["up_to"], f"{where}[up_to]", minimum=1)
            if up_to <= previous_bound:
                raise InvalidRequest(
                    "Tiers must be sorted by `up_to` in ascending order, without repeats.",
                    param=f"{where}[up_to]",
                )
            previous_bound = up_to
        unit, unit_decimal = _amount_pair(tier, where, "unit_amount", "unit_amount_decimal")
        flat, flat_decimal = _amount_pair(tier, where, "flat_amount", "flat_amount_decimal")
        if unit_decimal is None and flat_decimal is None:
            raise InvalidRequest("Each tier needs a `unit_amount` or a `flat_amount`.", param=where)
        tiers.append(
            {
                "flat_amount": flat,
                "flat_amount_decimal": flat_decimal,
                "unit_amount": unit,
                "unit_amount_decimal": unit_decimal,
                "up_to": up_to,
            }
        )
    if tiers[-1]["up_to"] is not None:
        raise InvalidRequest(
            "The last tier must have `up_to` set to `inf`.", param=f"{param}[{len(raw) - 1}][up_to]"
        )
    return tiers


def _custom_unit_amount(raw: Any, param: str) -> dict[str, Any] | None:
    value = to_dict(raw, param)
    reject_unknown(value, {"enabled", "maximum", "minimum", "preset"}, param)
    if value.get("enabled") in (None, ""):
        raise missing(f"{param}[enabled]")
    if not to_bool(value["enabled"], f"{param}[enabled]"):
        return None
    found = {
        key: to_int(value[key], f"{param}[{key}]", maximum=MAX_AMOUNT)
        if value.get(key) not in (None, "")
        else None
        for key in ("maximum", "minimum", "preset")
    }
    low, high = found["minimum"], found["maximum"]
    if low is not None and high is not None and low > high:
        raise InvalidRequest(
            "The `minimum` must be less than or equal to the `maximum`.", param=f"{param}[minimum]"
        )
    return found


def _currency_options(
    raw: Any, param: str, currency: str, tiered: bool
) -> dict[str, dict[str, Any]]:
    options: dict[str, dict[str, Any]] = {}
    for code, entry in to_dict(raw, param).items():
        where = f"{param}[{code}]"
        option_currency = to_currency(code, where)
        if option_currency == currency:
            raise InvalidRequest(
                "You are specifying a currency option that matches the top-level currency for "
                "this price. Please remove this currency option and use the top-level params "
                "instead.",
                param=where,
            )
        value = to_dict(entry, where)
        reject_unknown(
            value,
            {"custom_unit_amount", "tax_behavior", "tiers", "unit_amount", "unit_amount_decimal"},
            where,
        )
        unit, unit_decimal = _amount_pair(value, where, "unit_amount", "unit_amount_decimal")
        custom = (
            _custom_unit_amount(value["custom_unit_amount"], f"{where}[custom_unit_amount]")
            if "custom_unit_amount" in value
            else None
        )
        option: dict[str, Any] = {
            "custom_unit_amount": custom,
            "tax_behavior": to_choice(
                value.get("tax_behavior", "unspecified"), f"{where}[tax_behavior]", TAX_BEHAVIORS
            ),
            "unit_amount": unit,
            "unit_amount_decimal": unit_decimal,
        }
        if tiered:
            option["tiers"] = _tiers(value.get("tiers"), f"{where}[tiers]")
        elif "tiers" in value:
            raise InvalidRequest(
                "Tiers may only be set on prices with `billing_scheme=tiered`.",
                param=f"{where}[tiers]",
            )
        elif unit_decimal is None and custom is None:
            raise missing(f"{where}[unit_amount]")
        options[option_currency] = option
    return options


def _recurring(account: Account, raw: Any, param: str) -> dict[str, Any]:
    value = to_dict(raw, param)
    reject_unknown(
        value, {"interval", "interval_count", "meter", "trial_period_days", "usage_type"}, param
    )
    if value.get("interval") in (None, ""):
        raise missing(f"{param}[interval]")
    interval = to_choice(value["interval"], f"{param}[interval]", INTERVALS)
    count = 1
    if value.get("interval_count") not in (None, ""):
        count = to_int(value["interval_count"], f"{param}[interval_count]", minimum=1)
        if count > MAX_INTERVAL_COUNT[interval]:
            raise InvalidRequest(
                "Invalid recurring[interval_count]: the maximum billing period is three years "
                f"({MAX_INTERVAL_COUNT[interval]} {interval}s).",
                param=f"{param}[interval_count]",
            )
    usage_type = to_choice(
        value.get("usage_type", "licensed"), f"{param}[usage_type]", ("licensed", "metered")
    )
    meter = None
    if value.get("meter") not in (None, ""):
        if usage_type != "metered":
            raise InvalidRequest(
                "A meter can only be set on prices with `recurring[usage_type]=metered`.",
                param=f"{param}[meter]",
            )
        meter = account.get("billing.meter", value["meter"], f"{param}[meter]")["id"]
    elif usage_type == "metered":
        raise missing(f"{param}[meter]")
    trial_days = None
    if value.get("trial_period_days") not in (None, ""):
        trial_days = to_int(value["trial_period_days"], f"{param}[trial_period_days]", maximum=730)
    return {
        "interval": interval,
        "interval_count": count,
        "meter": meter,
        "usage_type": usage_type,
        "trial_period_days": trial_days,
    }


def _transform_quantity(raw: Any, param: str) -> dict[str, Any]:
    value = to_dict(raw, param)
    reject_unknown(value, {"divide_by", "round"}, param)
    if value.get("divide_by") in (None, ""):
        raise missing(f"{param}[divide_by]")
    if value.get("round") in (None, ""):
        raise missing(f"{param}[round]")
    return {
        "divide_by": to_int(value["divide_by"], f"{param}[divide_by]", minimum=1),
        "round": to_choice(value["round"], f"{param}[round]", ("down", "up")),
    }


# -- lookup keys -----------------------------------------------------------------------------
def _lookup_index(account: Account) -> dict[str, str]:
    """lookup_key -> price id; an index so uniqueness never scans every price."""
    return account.secret(_LOOKUP_INDEX)


def _check_lookup_key(
    account: Account, key: str, transfer: bool, price_id: str | None = None
) -> None:
    """Fail before anything is stored when the key is taken and not being transferred."""
    holder = _lookup_index(account).get(key)
    if holder is not None and holder != price_id and not transfer:
        raise InvalidRequest(
            f"A price (`{holder}`) already uses that lookup key.", param="lookup_key"
        )


def _claim_lookup_key(account: Account, price_id: str, key: str) -> str | None:
    """Give ``key`` to ``price_id``; returns the id of the price it was taken from."""
    index = _lookup_index(account)
    holder = index.get(key)
    index[key] = price_id
    return holder if holder != price_id else None


def price_by_lookup_key(account: Account, key: str) -> dict[str, Any] | None:
    price_id = _lookup_index(account).get(key)
    return account.find(price_id) if price_id else None


# -- reading a price's hidden parts (for billing) ----------------------------------------
def price_tiers(account: Account, price: dict[str, Any], currency: str | None = None) -> list[Any]:
    """The tiers of a tiered price (in ``currency`` when it is one of its currency options)."""
    hidden = account.private.get(price["id"], {})
    if currency and currency != price["currency"]:
        option = hidden.get("currency_options", {}).get(currency)
        if option is not None:
            return list(option.get("tiers") or [])
    return list(hidden.get("tiers") or [])


def price_currency_options(account: Account, price: dict[str, Any]) -> dict[str, Any]:
    """Every currency of the price, the price's own included, as Stripe shows it when expanded."""
    hidden = account.private.get(price["id"], {})
    tiered = price["billing_scheme"] == "tiered"
    own: dict[str, Any] = {
        "custom_unit_amount": price["custom_unit_amount"],
        "tax_behavior": price["tax_behavior"],
        "unit_amount": price["unit_amount"],
        "unit_amount_decimal": price["unit_amount_decimal"],
    }
    if tiered:
        own["tiers"] = copy.deepcopy(hidden.get("tiers") or [])
    options = {price["currency"]: own}
    options.update(copy.deepcopy(hidden.get("currency_options", {})))
    return options


def _transformed(price: dict[str, Any], quantity: int) -> int:
    transform = price.get("transform_quantity")
    if not transform:
        return quantity
    whole, rest = divmod(quantity, transform["divide_by"])
    return whole + (1 if rest and transform["round"] == "up" else 0)


def _cents(value: str | None) -> Decimal:
    return Decimal(value) if value is not None else Decimal(0)


def amount_for_quantity(
    account: Account, price: dict[str, Any], quantity: int, currency: str | None = None
) -> int:
    """What ``quantity`` units of ``price`` cost for one period, in the currency's minor unit."""
    units = _transformed(price, quantity)
    if price["billing_scheme"] != "tiered":
        unit = price["unit_amount_decimal"]
        if currency and currency != price["currency"]:
            option = account.private.get(price["id"], {}).get("currency_options", {}).get(currency)
            if option is not None:
                unit = option["unit_amount_decimal"]
        total = _cents(unit) * units
    else:
        tiers = price_tiers(account, price, currency)
        total = Decimal(0)
        if price["tiers_mode"] == "volume":
            for tier in tiers:
                if tier["up_to"] is None or units <= tier["up_to"]:
                    total = _cents(tier["unit_amount_decimal"]) * units + _cents(
                        tier["flat_amount_decimal"]
                    )
                    break
        else:
            lower = 0
            for tier in tiers:
                if units <= lower:
                    break
                upper = units if tier["up_to"] is None else min(units, tier["up_to"])
                total += _cents(tier["unit_amount_decimal"]) * (upper - lower)
                total += _cents(tier["flat_amount_decimal"])
                lower = upper
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


# -- creation ---------------------------------------------------------------------------------
def build_price(
    account: Account,
    params: dict[str, Any],
    product_id: str,
    prefix: str = "",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A validated price object and its private data; the caller adds it to the account."""
    p = params
    if p.get("currency") in (None, ""):
        raise missing(nested(prefix, "currency"))
    currency = to_currency(p["currency"], nested(prefix, "currency"))
    scheme = to_choice(
        p.get("billing_scheme", "per_unit"),
        nested(prefix, "billing_scheme"),
        ("per_unit", "tiered"),
    )
    tiered = scheme == "tiered"
    recurring = (
        _recurring(account, p["recurring"], nested(prefix, "recurring"))
        if p.get("recurring") not in (None, "")
        else None
    )
    unit, unit_decimal = _amount_pair(p, prefix, "unit_amount", "unit_amount_decimal")
    custom = (
        _custom_unit_amount(p["custom_unit_amount"], nested(prefix, "custom_unit_amount"))
        if p.get("custom_unit_amount") not in (None, "")
        else None
    )
    private: dict[str, Any] = {}
    tiers_mode = None
    if tiered:
        if unit_decimal is not None:
            raise InvalidRequest(
                "You may not specify `unit_amount` or `unit_amount_decimal` for a price with "
                "`billing_scheme=tiered`; set the amounts on its tiers instead.",
                param=nested(prefix, "unit_amount"),
            )
        if p.get("tiers_mode") in (None, ""):
            raise missing(nested(prefix, "tiers_mode"))
        tiers_mode = to_choice(
            p["tiers_mode"], nested(prefix, "tiers_mode"), ("graduated", "volume")
        )
        private["tiers"] = _tiers(p.get("tiers"), nested(prefix, "tiers"))
        if p.get("transform_quantity") not in (None, ""):
            raise InvalidRequest(
                "You cannot combine `transform_quantity` with `tiers`.",
                param=nested(prefix, "transform_quantity"),
            )
    else:
        for key in ("tiers", "tiers_mode"):
            if p.get(key) not in (None, ""):
                raise InvalidRequest(
                    f"`{key}` may only be set on prices with `billing_scheme=tiered`.",
                    param=nested(prefix, key),
                )
        if unit_decimal is None and custom is None:
            raise missing(nested(prefix, "unit_amount"))
        if custom is not None and recurring is not None:
            raise InvalidRequest(
                "`custom_unit_amount` is only supported for one-time prices.",
                param=nested(prefix, "custom_unit_amount"),
            )
    transform = (
        _transform_quantity(p["transform_quantity"], nested(prefix, "transform_quantity"))
        if p.get("transform_quantity") not in (None, "")
        else None
    )
    if p.get("currency_options") not in (None, ""):
        private["currency_options"] = _currency_options(
            p["currency_options"], nested(prefix, "currency_options"), currency, tiered
        )
    nickname = None
    if p.get("nickname") is not None:
        nickname = to_text(p["nickname"], nested(prefix, "nickname"), unset=True)
    lookup_key = None
    if p.get("lookup_key") is not None:
        lookup_key = to_text(p["lookup_key"], nested(prefix, "lookup_key"), max_length=200)
    active = True
    if p.get("active") not in (None, ""):
        active = to_bool(p["active"], nested(prefix, "active"))
    price = {
        "id": account.new_id("price"),
        "object": "price",
        "active": active,
        "billing_scheme": scheme,
        "created": account.now(),
        "currency": currency,
        "custom_unit_amount": custom,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": metadata_for_create(p, prefix),
        "nickname": nickname,
        "product": product_id,
        "recurring": recurring,
        "tax_behavior": to_choice(
            p.get("tax_behavior", "unspecified"), nested(prefix, "tax_behavior"), TAX_BEHAVIORS
        ),
        "tiers_mode": tiers_mode,
        "transform_quantity": transform,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": unit,
        "unit_amount_decimal": unit_decimal,
    }
    return price, private


def add_price(
    state: SandboxState,
    account: Account,
    price: dict[str, Any],
    private: dict[str, Any],
    transfer_lookup_key: bool = False,
    request: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Store a built price, taking its lookup key, and emit ``price.created``."""
    if price["lookup_key"] is not None:
        _check_lookup_key(account, price["lookup_key"], transfer_lookup_key)
        taken_from = _claim_lookup_key(account, price["id"], price["lookup_key"])
        if taken_from is not None:
            _drop_lookup_key(state, account, taken_from, request)
    account.add(price)
    if private:
        account.secret(price["id"]).update(private)
    product_private = account.secret(price["product"])
    product_private["prices"] = product_private.get("prices", 0) + 1
    state.emit(account, "price.created", price, request=request)
    return price


def _drop_lookup_key(
    state: SandboxState, account: Account, price_id: str, request: dict[str, Any] | None
) -> None:
    other = account.find(price_id)
    if other is None or other.get("lookup_key") is None:
        return
    previous = {"lookup_key": other["lookup_key"]}
    other["lookup_key"] = None
    state.emit(account, "price.updated", other, previous, request)


def request_info(req: Request) -> dict[str, Any]:
    """The ``request`` block of events caused by ``req``."""
    return {"id": req.extra.get("request_id"), "idempotency_key": req.idempotency_key}


def _with_includables(
    account: Account, price: dict[str, Any], paths: list[str], prefix: str = ""
) -> dict[str, Any]:
    """The price with ``tiers``/``currency_options`` added when the request expands them."""
    wanted = [key for key in _INCLUDABLE if prefix + key in paths]
    if not wanted:
        return price
    shown = dict(price)
    if "tiers" in wanted:
        tiers = price_tiers(account, price)
        shown["tiers"] = copy.deepcopy(tiers) if price["billing_scheme"] == "tiered" else None
    if "currency_options" in wanted:
        shown["currency_options"] = price_currency_options(account, price)
    return shown


def expand_paths(params: dict[str, Any]) -> list[str]:
    return [path for path in listing(params, "expand") if isinstance(path, str)]


@route("POST", "/v1/prices")
def create_price(req: Request) -> dict[str, Any]:
    p = req.params
    account = req.acct
    reject_unknown(p, _CREATE_KEYS)
    has_product = p.get("product") not in (None, "")
    has_data = p.get("product_data") not in (None, "")
    if has_product and has_data:
        raise InvalidRequest(
            "You may only specify one of these parameters: product, product_data.",
            param="product_data",
        )
    if not has_product and not has_data:
        raise missing("product")
    transfer = False
    if p.get("transfer_lookup_key") not in (None, ""):
        transfer = to_bool(p["transfer_lookup_key"], "transfer_lookup_key")
    new_product = None
    if has_product:
        product = account.get("product", string(p, "product") or "", "product")
    else:
        from .products import build_product

        data = to_dict(p["product_data"], "product_data")
        product = new_product = build_product(account, data, "product_data", inline=True)
    price, private = build_price(account, p, product["id"])
    if price["lookup_key"] is not None:
        _check_lookup_key(account, price["lookup_key"], transfer)
    if new_product is not None:
        account.add(new_product)
        req.emit("product.created", new_product)
    add_price(req.state, account, price, private, transfer, request_info(req))
    return _with_includables(account, price, expand_paths(p))


@route("GET", "/v1/prices/{id}")
def retrieve_price(req: Request) -> dict[str, Any]:
    price = req.acct.get("price", req.path_params["id"])
    return _with_includables(req.acct, price, expand_paths(req.params))


@route("POST", "/v1/prices/{id}")
def update_price(req: Request) -> dict[str, Any]:
    account = req.acct
    price = account.get("price", req.path_params["id"])
    p = req.params
    reject_unknown(p, _UPDATE_KEYS)
    previous: dict[str, Any] = {}
    changes: dict[str, Any] = {}
    if p.get("active") not in (None, ""):
        active = to_bool(p["active"], "active")
        if not active and price["active"]:
            product = account.find(price["product"])
            if product is not None and product.get("default_price") == price["id"]:
                raise InvalidRequest(
                    "This price cannot be archived because it is the default price of its product.",
                    param="active",
                )
        changes["active"] = active
    if "nickname" in p:
        changes["nickname"] = to_text(p["nickname"], "nickname", unset=True)
    if "tax_behavior" in p:
        behavior = to_choice(p["tax_behavior"], "tax_behavior", TAX_BEHAVIORS)
        if price["tax_behavior"] != "unspecified" and behavior != price["tax_behavior"]:
            raise InvalidRequest(
                "The tax behavior of a price cannot be changed once it is set to `inclusive` "
                "or `exclusive`.",
                param="tax_behavior",
            )
        changes["tax_behavior"] = behavior
    transfer = (
        to_bool(p["transfer_lookup_key"], "transfer_lookup_key")
        if p.get("transfer_lookup_key") not in (None, "")
        else False
    )
    new_key: str | None = price["lookup_key"]
    if "lookup_key" in p:
        new_key = to_text(p["lookup_key"], "lookup_key", max_length=200, unset=True)
        if new_key is not None:
            _check_lookup_key(account, new_key, transfer, price["id"])
    options = None
    if "currency_options" in p:
        if p["currency_options"] == "":
            options = {}
        else:
            options = dict(account.private.get(price["id"], {}).get("currency_options", {}))
            options.update(
                _currency_options(
                    p["currency_options"],
                    "currency_options",
                    price["currency"],
                    price["billing_scheme"] == "tiered",
                )
            )
    metadata = apply_metadata(price["metadata"], p)
    # Every check passed: apply.
    if new_key != price["lookup_key"]:
        index = _lookup_index(account)
        if price["lookup_key"] is not None and index.get(price["lookup_key"]) == price["id"]:
            del index[price["lookup_key"]]
        if new_key is not None:
            taken_from = _claim_lookup_key(account, price["id"], new_key)
            if taken_from is not None:
                _drop_lookup_key(req.state, account, taken_from, request_info(req))
        changes["lookup_key"] = new_key
    if metadata != price["metadata"]:
        changes["metadata"] = metadata
    for key, value in changes.items():
        if price[key] != value:
            previous[key] = price[key]
            price[key] = value
    if options is not None:
        hidden = account.secret(price["id"])
        if hidden.get("currency_options", {}) != options:
            previous["currency_options"] = price_currency_options(account, price)
            hidden["currency_options"] = options
    if previous:
        req.emit("price.updated", price, previous)
    return _with_includables(account, price, expand_paths(p))


@route("GET", "/v1/prices")
def list_prices(req: Request) -> dict[str, Any]:
    p = req.params
    account = req.acct
    active = boolean(p, "active")
    product = string(p, "product")
    kind = string(p, "type")
    if kind is not None:
        to_choice(kind, "type", ("one_time", "recurring"))
    currency = string(p, "currency")
    recurring = mapping(p, "recurring") or {}
    reject_unknown(recurring, {"interval", "meter", "usage_type"}, "recurring")
    keys = listing(p, "lookup_keys")
    if len(keys) > 10:
        raise InvalidRequest("You may specify at most 10 lookup_keys.", param="lookup_keys")

    def wanted(price: dict[str, Any]) -> bool:
        if active is not None and price["active"] != active:
            return False
        if product is not None and price["product"] != product:
            return False
        if kind is not None and price["type"] != kind:
            return False
        if currency is not None and price["currency"] != currency.lower():
            return False
        if recurring:
            plan = price["recurring"]
            if plan is None:
                return False
            if any(plan.get(key) != value for key, value in recurring.items()):
                return False
        return True

    if keys:
        found = [price_by_lookup_key(account, key) for key in keys]
        items = sorted(
            (price for price in found if price is not None),
            key=lambda price: price["created"],
            reverse=True,
        )
    else:
        items = list(account.newest_first("price"))
    page = paginate(items, p, "/v1/prices", wanted)
    paths = expand_paths(p)
    page["data"] = [_with_includables(account, price, paths, "data.") for price in page["data"]]
    return page
