"""Card PaymentMethods: ``/v1/payment_methods`` and ``/v1/customers/{id}/payment_methods``.

The card number behind a PaymentMethod lives only in the account's private data; what a card
does when used (succeeds, declines, asks for 3D Secure, fails later) follows Stripe's test cards.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from ..errors import CardError, InvalidRequest, missing
from ..listing import paginate
from ..params import apply_metadata, mapping, string
from ..routing import Request, route
from ..state import Account, SandboxState

SUCCEEDS = "succeeds"
DECLINES = "declines"
REQUIRES_ACTION = "requires_action"
FAILS_LATER = "fails_later"


@dataclass(frozen=True)
class Decline:
    code: str
    decline_code: str
    message: str


GENERIC_DECLINE = Decline("card_declined", "generic_decline", "Your card was declined.")

# Stripe's test cards that do something other than succeed.
_DECLINES = {
    "4000000000000002": GENERIC_DECLINE,
    "4000000000009995": Decline(
        "card_declined", "insufficient_funds", "Your card has insufficient funds."
    ),
    "4000000000009987": Decline("card_declined", "lost_card", "Your card was declined."),
    "4000000000000069": Decline("expired_card", "expired_card", "Your card has expired."),
    "4000000000000127": Decline(
        "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."
    ),
}
_REQUIRES_ACTION = {"4000002500003155", "4000002760003184", "4000000000003220"}
_FAILS_LATER = {"4000000000000341"}
_DEBIT = {"4000056655665556", "5200828282828210"}

# Stripe's test PaymentMethod ids: each use makes a fresh PaymentMethod with this card.
TEST_PAYMENT_METHODS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_visa_debit": "4000056655665556",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_visa_chargeDeclined": "4000000000000002",
    "pm_card_visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_authenticationRequired": "4000002500003155",
    "pm_card_chargeCustomerFail": "4000000000000341",
}

_ADDRESS_KEYS = ("city", "country", "line1", "line2", "postal_code", "state")
_BILLING_KEYS = ("address", "email", "name", "phone", "tax_id")


# -- cards -------------------------------------------------------------------------------------
def _brand(number: str) -> str:
    two, four = int(number[:2]), int(number[:4])
    if number.startswith("4"):
        return "visa"
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "mastercard"
    if two in (34, 37):
        return "amex"
    if number.startswith(("6011", "65")) or 644 <= int(number[:3]) <= 649:
        return "discover"
    if two == 35:
        return "jcb"
    if two in (30, 36, 38, 39):
        return "diners"
    if two == 62:
        return "unionpay"
    return "unknown"


def _luhn_ok(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _card_error(message: str, code: str, param: str) -> CardError:
    return CardError(message, code=code, param=param)


def _check_number(raw: Any) -> str:
    if raw is None or raw == "":
        raise missing("card[number]")
    number = raw.replace(" ", "").replace("-", "") if isinstance(raw, str) else ""
    if not number.isdigit() or not 12 <= len(number) <= 19:
        raise _card_error(
            "The card number is not a valid credit card number.", "invalid_number", "card[number]"
        )
    brand = _brand(number)
    lengths = {"amex": (15,), "visa": (13, 16, 19), "mastercard": (16,), "discover": (16, 19)}
    if not _luhn_ok(number) or len(number) not in lengths.get(brand, range(14, 20)):
        raise _card_error("Your card number is incorrect.", "incorrect_number", "card[number]")
    return number


def _check_expiry(account: Account, raw_month: Any, raw_year: Any) -> tuple[int, int]:
    if raw_month is None or raw_month == "":
        raise missing("card[exp_month]")
    if raw_year is None or raw_year == "":
        raise missing("card[exp_year]")
    month_text, year_text = str(raw_month).strip(), str(raw_year).strip()
    if not month_text.isdigit() or not 1 <= int(month_text) <= 12:
        raise _card_error(
            "Your card's expiration month is invalid.", "invalid_expiry_month", "card[exp_month]"
        )
    if not year_text.isdigit() or len(year_text) not in (2, 4):
        raise _card_error(
            "Your card's expiration year is invalid.", "invalid_expiry_year", "card[exp_year]"
        )
    month, year = int(month_text), int(year_text)
    if year < 100:
        year += 2000
    today = time.gmtime(account.now())
    if year < today.tm_year or year > today.tm_year + 50:
        raise _card_error(
            "Your card's expiration year is invalid.", "invalid_expiry_year", "card[exp_year]"
        )
    if year == today.tm_year and month < today.tm_mon:
        raise _card_error(
            "Your card's expiration month is invalid.", "invalid_expiry_month", "card[exp_month]"
        )
    return month, year


def _check_cvc(raw: Any, brand: str) -> str | None:
    if raw is None or raw == "":
        return None
    cvc = raw.strip() if isinstance(raw, str) else ""
    wanted = (4,) if brand == "amex" else (3,)
    if not cvc.isdigit() or len(cvc) not in wanted:
        raise _card_error("Your card's security code is invalid.", "invalid_cvc", "card[cvc]")
    return cvc


def _fingerprint(account: Account, number: str) -> str:
    digest = hashlib.sha256(f"{account.name}:{number}".encode()).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[byte % len(alphabet)] for byte in digest[:16])


def _billing_details(value: dict[str, Any] | None, current: dict[str, Any]) -> dict[str, Any]:
    """``current`` with the given ``billing_details`` fields replaced."""
    address: dict[str, Any] = dict(current.get("address") or dict.fromkeys(_ADDRESS_KEYS))
    details: dict[str, Any] = {
        "address": address,
        "email": current.get("email"),
        "name": current.get("name"),
        "phone": current.get("phone"),
        "tax_id": current.get("tax_id"),
    }
    for key, item in (value or {}).items():
        if key not in _BILLING_KEYS:
            raise InvalidRequest(
                f"Received unknown parameter: billing_details[{key}]",
                param=f"billing_details[{key}]",
            )
        if key == "address":
            if item == "":
                address.update(dict.fromkeys(_ADDRESS_KEYS))
                continue
            if not isinstance(item, dict):
                raise InvalidRequest(
                    "Invalid object: billing_details[address]", param="billing_details[address]"
                )
            for part, text in item.items():
                if part not in _ADDRESS_KEYS:
                    raise InvalidRequest(
                        f"Received unknown parameter: billing_details[address][{part}]",
                        param=f"billing_details[address][{part}]",
                    )
                address[part] = text or None
        else:
            details[key] = item or None
    email = details["email"]
    if email and "@" not in email:
        raise InvalidRequest(
            f"Invalid email address: {email}",
            code="email_invalid",
            param="billing_details[email]",
        )
    return details


def _new_card_pm(
    account: Account,
    number: str,
    exp_month: int,
    exp_year: int,
    cvc: str | None,
    billing_details: dict[str, Any] | None = None,
    metadata: dict[str, str] | None = None,
    allow_redisplay: str = "unspecified",
) -> dict[str, Any]:
    brand = _brand(number)
    pm: dict[str, Any] = {
        "id": account.new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": allow_redisplay,
        "billing_details": _billing_details(billing_details, {}),
        "card": {
            "brand": brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "unchecked" if cvc else None,
            },
            "country": "US",
            "display_brand": brand.replace("amex", "american_express"),
            "exp_month": exp_month,
            "exp_year": exp_year,
            "fingerprint": _fingerprint(account, number),
            "funding": "debit" if number in _DEBIT else "credit",
            "generated_from": None,
            "last4": number[-4:],
            "networks": {"available": [brand], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
            "regulated_status": "unregulated",
        },
        "created": account.now(),
        "customer": None,
        "customer_account": None,
        "livemode": False,
        "metadata": metadata or {},
        "type": "card",
    }
    account.add(pm)
    account.secret(pm["id"])["number"] = number
    return pm


def _test_pm(account: Account, test_id: str) -> dict[str, Any]:
    """A fresh PaymentMethod for one of Stripe's ``pm_card_*`` ids, expiring next year."""
    today = time.gmtime(account.now())
    return _new_card_pm(account, TEST_PAYMENT_METHODS[test_id], today.tm_mon, today.tm_year + 1, "")


def create_from_card(
    account: Account,
    card: dict[str, Any] | None,
    billing_details: dict[str, Any] | None = None,
    metadata: dict[str, str] | None = None,
    allow_redisplay: str = "unspecified",
) -> dict[str, Any]:
    """Validate ``card`` params like Stripe and store a new card PaymentMethod."""
    if not card:
        raise missing("card")
    unknown = set(card) - {"number", "exp_month", "exp_year", "cvc"}
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidRequest(f"Received unknown parameter: card[{name}]", param=f"card[{name}]")
    number = _check_number(card.get("number"))
    exp_month, exp_year = _check_expiry(account, card.get("exp_month"), card.get("exp_year"))
    cvc = _check_cvc(card.get("cvc"), _brand(number))
    return _new_card_pm(
        account, number, exp_month, exp_year, cvc, billing_details, metadata, allow_redisplay
    )


def from_data(account: Account, data: dict[str, Any] | None, param: str) -> dict[str, Any]:
    """A new PaymentMethod from ``payment_method_data`` on an intent."""
    if not data:
        raise missing(param)
    kind = data.get("type")
    if kind is None:
        raise missing(f"{param}[type]")
    if kind != "card":
        raise InvalidRequest(
            f"The payment method type {kind!r} is not available in the sandbox; use 'card'.",
            param=f"{param}[type]",
        )
    card = data.get("card")
    return create_from_card(
        account,
        card if isinstance(card, dict) else None,
        data.get("billing_details") if isinstance(data.get("billing_details"), dict) else None,
        data.get("metadata") if isinstance(data.get("metadata"), dict) else None,
        data.get("allow_redisplay") or "unspecified",
    )


def resolve(account: Account, pm_id: str, param: str = "payment_method") -> dict[str, Any]:
    """The PaymentMethod ``pm_id``; a test id like ``pm_card_visa`` yields a fresh copy."""
    if pm_id in TEST_PAYMENT_METHODS:
        return _test_pm(account, pm_id)
    return account.get("payment_method", pm_id, param)


def card_behaviour(account: Account, pm_id: str) -> str:
    """What charging this card does: succeeds, declines, requires_action or fails_later."""
    number = TEST_PAYMENT_METHODS.get(pm_id) or account.private.get(pm_id, {}).get("number", "")
    if number in _DECLINES:
        return DECLINES
    if number in _REQUIRES_ACTION:
        return REQUIRES_ACTION
    if number in _FAILS_LATER:
        return FAILS_LATER
    return SUCCEEDS


def decline_for(account: Account, pm_id: str) -> Decline:
    """How a charge on this card is declined (for declining and failing-later cards)."""
    number = TEST_PAYMENT_METHODS.get(pm_id) or account.private.get(pm_id, {}).get("number", "")
    return _DECLINES.get(number, GENERIC_DECLINE)


def is_expired(account: Account, pm: dict[str, Any]) -> bool:
    card = pm.get("card") or {}
    today = time.gmtime(account.now())
    return (card.get("exp_year", 0), card.get("exp_month", 0)) < (today.tm_year, today.tm_mon)


# -- attaching -----------------------------------------------------------------------------
def attach_to(
    state: SandboxState, account: Account, pm: dict[str, Any], customer: dict[str, Any]
) -> dict[str, Any]:
    """Attach ``pm`` to ``customer`` after the card check Stripe runs on attach."""
    if pm.get("customer") == customer["id"]:
        return pm
    if pm.get("customer"):
        raise InvalidRequest(
            "The payment method you provided has already been attached to a customer.",
            code="payment_method_unexpected_state",
            param="payment_method",
        )
    if card_behaviour(account, pm["id"]) == DECLINES:
        decline = decline_for(account, pm["id"])
        raise CardError(decline.message, code=decline.code, decline_code=decline.decline_code)
    pm["customer"] = customer["id"]
    if pm["card"]["checks"]["cvc_check"] == "unchecked":
        pm["card"]["checks"]["cvc_check"] = "pass"
    state.emit(account, "payment_method.attached", pm)
    return pm


def attach(req: Request, pm_id: str, customer: dict[str, Any]) -> dict[str, Any]:
    """Attach the PaymentMethod ``pm_id`` (or a fresh copy of a test id) to ``customer``."""
    pm = resolve(req.acct, pm_id)
    return attach_to(req.state, req.acct, pm, customer)


def detach_from_customer(state: SandboxState, account: Account, pm: dict[str, Any]) -> None:
    customer_id = pm["customer"]
    pm["customer"] = None
    customer = account.find(customer_id) if customer_id else None
    if customer is not None and customer["object"] == "customer":
        settings = customer["invoice_settings"]
        if settings.get("default_payment_method") == pm["id"]:
            previous = {"invoice_settings": dict(settings)}
            settings["default_payment_method"] = None
            state.emit(account, "customer.updated", customer, previous)
    state.emit(account, "payment_method.detached", pm, {"customer": customer_id})


# -- routes --------------------------------------------------------------------------------
@route("POST", "/v1/payment_methods", auth="publishable")
def create_payment_method(req: Request) -> dict[str, Any]:
    p = req.params
    kind = string(p, "type", required=True)
    if kind != "card":
        raise InvalidRequest(
            f"The payment method type {kind!r} is not available in the sandbox; use 'card'.",
            param="type",
        )
    allow_redisplay = string(p, "allow_redisplay") or "unspecified"
    if allow_redisplay not in ("always", "limited", "unspecified"):
        raise InvalidRequest(
            "Invalid allow_redisplay: must be one of always, limited, or unspecified",
            param="allow_redisplay",
        )
    return create_from_card(
        req.acct,
        mapping(p, "card"),
        mapping(p, "billing_details"),
        apply_metadata({}, p),
        allow_redisplay,
    )


@route("GET", "/v1/payment_methods/{id}")
def retrieve_payment_method(req: Request) -> dict[str, Any]:
    return resolve(req.acct, req.path_params["id"], "payment_method")


@route("POST", "/v1/payment_methods/{id}")
def update_payment_method(req: Request) -> dict[str, Any]:
    account = req.acct
    pm = account.get("payment_method", req.path_params["id"], "payment_method")
    if pm["customer"] is None:
        raise InvalidRequest(
            "You must save this PaymentMethod to a customer before you can update it.",
            code="payment_method_unexpected_state",
        )
    p = req.params
    previous: dict[str, Any] = {}
    if "billing_details" in p:
        details = _billing_details(mapping(p, "billing_details"), pm["billing_details"])
        if details != pm["billing_details"]:
            previous["billing_details"] = pm["billing_details"]
            pm["billing_details"] = details
    card = mapping(p, "card")
    if card:
        unknown = set(card) - {"exp_month", "exp_year", "networks"}
        if unknown:
            name = sorted(unknown)[0]
            raise InvalidRequest(f"Received unknown parameter: card[{name}]", param=f"card[{name}]")
        month, year = _check_expiry(
            account,
            card.get("exp_month", pm["card"]["exp_month"]),
            card.get("exp_year", pm["card"]["exp_year"]),
        )
        if (month, year) != (pm["card"]["exp_month"], pm["card"]["exp_year"]):
            previous["card"] = {
                "exp_month": pm["card"]["exp_month"],
                "exp_year": pm["card"]["exp_year"],
            }
            pm["card"]["exp_month"], pm["card"]["exp_year"] = month, year
    if "allow_redisplay" in p:
        value = string(p, "allow_redisplay")
        if value not in ("always", "limited", "unspecified"):
            raise InvalidRequest(
                "Invalid allow_redisplay: must be one of always, limited, or unspecified",
                param="allow_redisplay",
            )
        if value != pm["allow_redisplay"]:
            previous["allow_redisplay"] = pm["allow_redisplay"]
            pm["allow_redisplay"] = value
    metadata = apply_metadata(pm["metadata"], p)
    if metadata != pm["metadata"]:
        previous["metadata"] = pm["metadata"]
        pm["metadata"] = metadata
    if previous:
        req.emit("payment_method.updated", pm, previous)
    return pm


@route("POST", "/v1/payment_methods/{id}/attach")
def attach_payment_method(req: Request) -> dict[str, Any]:
    customer_id = string(req.params, "customer", required=True)
    assert customer_id is not None
    customer = req.acct.get("customer", customer_id, "customer")
    return attach(req, req.path_params["id"], customer)


@route("POST", "/v1/payment_methods/{id}/detach")
def detach_payment_method(req: Request) -> dict[str, Any]:
    pm = req.acct.get("payment_method", req.path_params["id"], "payment_method")
    if pm["customer"] is None:
        raise InvalidRequest(
            "The payment method you provided is not attached to a customer so detachment is "
            "impossible.",
            code="payment_method_unexpected_state",
        )
    detach_from_customer(req.state, req.acct, pm)
    return pm


def _type_filter(req: Request) -> str | None:
    kind = string(req.params, "type")
    return kind or None


@route("GET", "/v1/payment_methods")
def list_payment_methods(req: Request) -> dict[str, Any]:
    customer_id = string(req.params, "customer")
    if customer_id:
        req.acct.get("customer", customer_id, "customer")
    kind = _type_filter(req)

    def wanted(pm: dict[str, Any]) -> bool:
        return (customer_id is None or pm["customer"] == customer_id) and (
            kind is None or pm["type"] == kind
        )

    return paginate(
        req.acct.newest_first("payment_method"), req.params, "/v1/payment_methods", wanted
    )


@route("GET", "/v1/customers/{id}/payment_methods")
def list_customer_payment_methods(req: Request) -> dict[str, Any]:
    customer = req.acct.get("customer", req.path_params["id"], "customer")
    kind = _type_filter(req)
    redisplay = string(req.params, "allow_redisplay")

    def wanted(pm: dict[str, Any]) -> bool:
        return (
            pm["customer"] == customer["id"]
            and (kind is None or pm["type"] == kind)
            and (redisplay is None or pm["allow_redisplay"] == redisplay)
        )

    url = f"/v1/customers/{customer['id']}/payment_methods"
    return paginate(req.acct.newest_first("payment_method"), req.params, url, wanted)


@route("GET", "/v1/customers/{id}/payment_methods/{pm}")
def retrieve_customer_payment_method(req: Request) -> dict[str, Any]:
    customer = req.acct.get("customer", req.path_params["id"], "customer")
    pm = req.acct.get("payment_method", req.path_params["pm"], "payment_method")
    if pm["customer"] != customer["id"]:
        raise InvalidRequest(
            f"No such PaymentMethod: '{pm['id']}'", code="resource_missing", status=404
        )
    return pm
