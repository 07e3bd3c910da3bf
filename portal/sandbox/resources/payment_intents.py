"""PaymentIntents: ``/v1/payment_intents``, plus ``charge()`` for invoices.

Confirming runs the card's test behaviour at once: success, a decline (402 and
``last_payment_error``), or ``requires_action`` for 3D Secure cards on-session, which the
Stripe.js stand-in completes through ``_sandbox_authenticate``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ..errors import CardError, InvalidRequest, missing
from ..listing import paginate
from ..params import apply_metadata, boolean, integer, listing, mapping, string
from ..routing import Request, route
from ..state import Account, SandboxState, random_token
from . import payment_methods
from .payment_methods import DECLINES, FAILS_LATER, REQUIRES_ACTION, Decline

# Called with each PaymentIntent that succeeds after it was created (a client's confirm, a
# completed 3D Secure challenge), never for the immediate outcome ``charge()`` returns.
on_payment_intent_succeeded: list[Callable[[SandboxState, Account, dict[str, Any]], None]] = []

AUTHENTICATION_REQUIRED = Decline(
    "authentication_required",
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
)
AUTHENTICATION_FAILED_MESSAGE = (
    "We are unable to authenticate your payment method. Please choose a different payment "
    "method and try again."
)
_CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)
_CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
_CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
# Stripe's minimum charge amounts, in the currency's smallest unit.
_MINIMUM_AMOUNTS = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "chf": 50, "jpy": 50}


# -- shared with setup intents ---------------------------------------------------------------
def doc_url(code: str) -> str:
    return f"https://docs.stripe.com/error-codes/{code.replace('_', '-')}"


def card_error_details(decline: Decline, pm: dict[str, Any] | None) -> dict[str, Any]:
    """The ``last_payment_error`` / ``last_setup_error`` for a declined card."""
    return {
        "code": decline.code,
        "decline_code": decline.decline_code,
        "doc_url": doc_url(decline.code),
        "message": decline.message,
        "payment_method": copy.deepcopy(pm),
        "type": "card_error",
    }


def authentication_failure(code: str, pm: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "code": code,
        "doc_url": doc_url(code),
        "message": AUTHENTICATION_FAILED_MESSAGE,
        "payment_method": copy.deepcopy(pm),
        "type": "invalid_request_error",
    }


def raise_for(error: dict[str, Any], intent_key: str, intent: dict[str, Any]) -> None:
    """Answer a failed confirmation the way Stripe does: 402 with the intent in the error."""
    extra = {intent_key: copy.deepcopy(intent)}
    if error.get("payment_method") is not None:
        extra["payment_method"] = error["payment_method"]
    if error.get("charge"):
        extra["charge"] = error["charge"]
    raise CardError(
        error["message"],
        code=error["code"],
        decline_code=error.get("decline_code"),
        extra=extra,
    )


def check_client_secret(req: Request, intent: dict[str, Any], kind: str) -> None:
    """A publishable key reaches an intent only with its ``client_secret``."""
    given = string(req.params, "client_secret")
    if req.key_kind != "publishable":
        return
    if not given:
        raise InvalidRequest(
            f"The client_secret parameter is required when using a publishable key to access "
            f"this {kind}.",
            code="parameter_missing",
            param="client_secret",
        )
    if given != intent["client_secret"]:
        raise InvalidRequest(
            f"The client_secret provided does not match the client_secret associated with the "
            f"{kind}.",
            code="parameter_invalid_string",
            param="client_secret",
        )


def payment_method_from_params(req: Request, customer_id: str | None) -> dict[str, Any] | None:
    """The PaymentMethod named by ``payment_method`` or built from ``payment_method_data``."""
    p = req.params
    account = req.acct
    pm_id = string(p, "payment_method")
    if pm_id:
        pm = payment_methods.resolve(account, pm_id, "payment_method")
    elif "payment_method_data" in p:
        pm = payment_methods.from_data(
            account, mapping(p, "payment_method_data"), "payment_method_data"
        )
    else:
        return None
    if pm["customer"] is not None and pm["customer"] != customer_id:
        raise InvalidRequest(
            f"The provided PaymentMethod {pm['id']} is attached to another Customer. Use it with "
            "that Customer, or detach it first.",
            code="payment_method_unexpected_state",
            param="payment_method",
        )
    return pm


def check_types(p: dict[str, Any]) -> tuple[list[str], dict[str, Any] | None]:
    """``payment_method_types`` and ``automatic_payment_methods`` as Stripe fills them."""
    types = listing(p, "payment_method_types")
    automatic = mapping(p, "automatic_payment_methods")
    if types and automatic is not None and boolean(automatic, "enabled"):
        raise InvalidRequest(
            "You may only specify one of these parameters: automatic_payment_methods, "
            "payment_method_types.",
            param="automatic_payment_methods",
        )
    for kind in types:
        if kind != "card":
            raise InvalidRequest(
                f"The payment method type {kind!r} is not available in the sandbox; use 'card'.",
                param="payment_method_types",
            )
    if types:
        return types, None
    result: dict[str, Any] = {"enabled": True}
    if automatic is not None:
        enabled = boolean(automatic, "enabled")
        if enabled is None:
            raise missing("automatic_payment_methods[enabled]")
        result = {"enabled": enabled}
        allow = string(automatic, "allow_redirects")
        if allow is not None:
            if allow not in ("always", "never"):
                raise InvalidRequest(
                    "Invalid automatic_payment_methods[allow_redirects]: must be one of always "
                    "or never",
                    param="automatic_payment_methods[allow_redirects]",
                )
            result["allow_redirects"] = allow
    return ["card"], result


def mark_authenticated(account: Account, pm_id: str) -> None:
    """A card that passed 3D Secure counts as set up for later off-session charges."""
    account.secret(pm_id)["authenticated"] = True


def is_authenticated(account: Account, pm_id: str) -> bool:
    return bool(account.private.get(pm_id, {}).get("authenticated"))


# -- the PaymentIntent lifecycle -------------------------------------------------------------
def new_intent(
    account: Account,
    *,
    amount: int,
    currency: str,
    customer_id: str | None,
    description: str | None,
    metadata: dict[str, str],
    payment_method_types: list[str],
    automatic: dict[str, Any] | None,
) -> dict[str, Any]:
    intent_id = account.new_id("pi")
    intent: dict[str, Any] = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": automatic,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{intent_id}_secret_{random_token(25)}",
        "confirmation_method": "automatic",
        "created": account.now(),
        "currency": currency,
        "customer": customer_id,
        "customer_account": None,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "managed_payments": {"enabled": False},
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": (
            {"id": "pmc_" + account.name[:24], "parent": None} if automatic else None
        ),
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": payment_method_types,
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }
    return account.add(intent)


def _fail(
    state: SandboxState, account: Account, intent: dict[str, Any], error: dict[str, Any]
) -> dict[str, Any]:
    intent["status"] = "requires_payment_method"
    intent["payment_method"] = None
    intent["next_action"] = None
    intent["last_payment_error"] = error
    state.emit(account, "payment_intent.payment_failed", intent)
    return error


def _succeed(
    state: SandboxState, account: Account, intent: dict[str, Any], *, run_hooks: bool
) -> None:
    pm = account.get("payment_method", intent["payment_method"])
    customer = account.find(intent["customer"]) if intent["customer"] else None
    if intent["setup_future_usage"] and customer is not None and pm["customer"] is None:
        payment_methods.attach_to(state, account, pm, customer)
    intent["status"] = "succeeded"
    intent["amount_received"] = intent["amount"]
    intent["latest_charge"] = account.new_id("ch")
    intent["next_action"] = None
    intent["last_payment_error"] = None
    state.emit(account, "payment_intent.succeeded", intent)
    if run_hooks:
        for hook in list(on_payment_intent_succeeded):
            hook(state, account, intent)


def attempt(
    state: SandboxState,
    account: Account,
    intent: dict[str, Any],
    *,
    off_session: bool,
    run_hooks: bool,
) -> dict[str, Any] | None:
    """Try to pay ``intent`` with its payment method; returns the error when it failed."""
    pm = account.get("payment_method", intent["payment_method"])
    behaviour = payment_methods.card_behaviour(account, pm["id"])
    if behaviour == REQUIRES_ACTION and not (off_session and is_authenticated(account, pm["id"])):
        if off_session:
            error = card_error_details(AUTHENTICATION_REQUIRED, pm)
            error["charge"] = intent["latest_charge"] = account.new_id("ch")
            return _fail(state, account, intent, error)
        intent["status"] = "requires_action"
        intent["next_action"] = {
            "type": "use_stripe_sdk",
            "use_stripe_sdk": {
                "type": "three_d_secure_redirect",
                "stripe_js": f"/v1/payment_intents/{intent['id']}/_sandbox_authenticate",
                "source": pm["id"],
            },
        }
        state.emit(account, "payment_intent.requires_action", intent)
        return None
    if behaviour in (DECLINES, FAILS_LATER) or payment_methods.is_expired(account, pm):
        decline = payment_methods.decline_for(account, pm["id"])
        if behaviour not in (DECLINES, FAILS_LATER):
            decline = Decline("expired_card", "expired_card", "Your card has expired.")
        error = card_error_details(decline, pm)
        error["charge"] = intent["latest_charge"] = account.new_id("ch")
        return _fail(state, account, intent, error)
    _succeed(state, account, intent, run_hooks=run_hooks)
    return None


def charge(
    state: SandboxState,
    account: Account,
    *,
    customer_id: str,
    amount: int,
    currency: str,
    payment_method_id: str | None,
    off_session: bool,
    description: str | None = None,
    metadata: dict[str, Any] | None = None,
    setup_future_usage: str | None = None,
) -> dict[str, Any]:
    """Create and confirm a PaymentIntent for ``customer_id``; returns it whatever happened.

    Its status is "succeeded", "requires_payment_method" (declined, failed 3D Secure off-session
    or no payment method; ``last_payment_error`` says why) or "requires_action" (a 3D Secure card
    on-session: the customer completes it with the ``client_secret``, then the
    ``on_payment_intent_succeeded`` hooks run). The hooks do not run for this immediate result.
    """
    intent = new_intent(
        account,
        amount=amount,
        currency=currency.lower(),
        customer_id=customer_id,
        description=description,
        metadata={str(k): str(v) for k, v in (metadata or {}).items()},
        payment_method_types=["card"],
        automatic=None,
    )
    intent["setup_future_usage"] = setup_future_usage
    state.emit(account, "payment_intent.created", intent)
    if payment_method_id is None:
        customer = account.get("customer", customer_id, "customer")
        _fail(
            state,
            account,
            intent,
            {
                "code": "payment_intent_unexpected_state",
                "doc_url": doc_url("payment_intent_unexpected_state"),
                "message": f"You cannot confirm this PaymentIntent because it's missing a payment "
                f"method. To confirm the PaymentIntent with {customer['id']}, specify a payment "
                "method attached to this customer along with the customer ID.",
                "payment_method": None,
                "type": "invalid_request_error",
            },
        )
        return intent
    pm = payment_methods.resolve(account, payment_method_id)
    intent["payment_method"] = pm["id"]
    attempt(state, account, intent, off_session=off_session, run_hooks=False)
    return intent


def _off_session(p: dict[str, Any]) -> bool:
    if p.get("off_session") in ("one_off", "recurring"):
        return True
    return bool(boolean(p, "off_session", False))


def _confirm(req: Request, intent: dict[str, Any], *, read_payment_method: bool = True) -> None:
    """Confirm ``intent`` with the request's parameters; raises 402 when the card fails."""
    account = req.acct
    p = req.params
    if intent["status"] == "succeeded":
        raise InvalidRequest(
            "You cannot confirm this PaymentIntent because it has already succeeded after being "
            "previously confirmed.",
            code="payment_intent_unexpected_state",
            extra={"payment_intent": copy.deepcopy(intent)},
        )
    if intent["status"] not in _CONFIRMABLE:
        raise InvalidRequest(
            f"You cannot confirm this PaymentIntent because it has a status of "
            f"{intent['status']}. Only a PaymentIntent with one of the following statuses may be "
            f"confirmed: {', '.join(_CONFIRMABLE)}.",
            code="payment_intent_unexpected_state",
            extra={"payment_intent": copy.deepcopy(intent)},
        )
    pm = payment_method_from_params(req, intent["customer"]) if read_payment_method else None
    if pm is not None:
        intent["payment_method"] = pm["id"]
    if intent["payment_method"] is None:
        raise InvalidRequest(
            "You cannot confirm this PaymentIntent because it's missing a payment method. You "
            "can either update the PaymentIntent with a payment method and then confirm it "
            "again, or confirm it again directly with a payment method.",
            code="payment_intent_unexpected_state",
            extra={"payment_intent": copy.deepcopy(intent)},
        )
    if "setup_future_usage" in p:
        intent["setup_future_usage"] = _future_usage(p)
    if "receipt_email" in p:
        intent["receipt_email"] = string(p, "receipt_email") or None
    off_session = _off_session(p)
    if off_session and req.key_kind == "publishable":
        raise InvalidRequest(
            "off_session cannot be used with a publishable key.", param="off_session"
        )
    if off_session and not intent["customer"]:
        raise InvalidRequest(
            "A customer is required to confirm a PaymentIntent with off_session=true.",
            param="customer",
        )
    error = attempt(req.state, account, intent, off_session=off_session, run_hooks=True)
    if error is not None:
        raise_for(error, "payment_intent", intent)


def _future_usage(p: dict[str, Any]) -> str | None:
    value = string(p, "setup_future_usage")
    if value in (None, ""):
        return None
    if value not in ("on_session", "off_session"):
        raise InvalidRequest(
            "Invalid setup_future_usage: must be one of on_session or off_session",
            param="setup_future_usage",
        )
    return value


def _amount(p: dict[str, Any], currency: str, *, required: bool) -> int | None:
    amount = integer(p, "amount", required=required)
    if amount is None:
        return None
    if amount < _MINIMUM_AMOUNTS.get(currency, 1):
        minimum = _MINIMUM_AMOUNTS.get(currency, 1)
        raise InvalidRequest(
            f"Amount must be at least {minimum} in the smallest unit of {currency}.",
            code="amount_too_small",
            param="amount",
        )
    if amount > 99_999_999:
        raise InvalidRequest(
            "Amount must be no more than 99999999.", code="amount_too_large", param="amount"
        )
    return amount


def _currency(p: dict[str, Any], *, required: bool) -> str | None:
    currency = string(p, "currency", required=required)
    if currency is None:
        return None
    currency = currency.lower()
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidRequest(f"Invalid currency: {currency}.", param="currency")
    return currency


def _customer_id(req: Request) -> str | None:
    customer_id = string(req.params, "customer")
    if customer_id:
        req.acct.get("customer", customer_id, "customer")
    return customer_id or None


# -- routes --------------------------------------------------------------------------------
@route("POST", "/v1/payment_intents")
def create_payment_intent(req: Request) -> dict[str, Any]:
    p = req.params
    account = req.acct
    currency = _currency(p, required=True)
    assert currency is not None
    amount = _amount(p, currency, required=True)
    assert amount is not None
    customer_id = _customer_id(req)
    types, automatic = check_types(p)
    confirm = boolean(p, "confirm", False)
    if "off_session" in p and not confirm:
        raise InvalidRequest(
            "You may only specify `off_session` when `confirm` is true.", param="off_session"
        )
    pm = payment_method_from_params(req, customer_id)
    intent = new_intent(
        account,
        amount=amount,
        currency=currency,
        customer_id=customer_id,
        description=string(p, "description") or None,
        metadata=apply_metadata({}, p),
        payment_method_types=types,
        automatic=automatic,
    )
    intent["setup_future_usage"] = _future_usage(p)
    intent["receipt_email"] = string(p, "receipt_email") or None
    intent["statement_descriptor"] = string(p, "statement_descriptor") or None
    intent["statement_descriptor_suffix"] = string(p, "statement_descriptor_suffix") or None
    if "shipping" in p:
        intent["shipping"] = mapping(p, "shipping") or None
    if pm is not None:
        intent["payment_method"] = pm["id"]
        intent["status"] = "requires_confirmation"
    req.emit("payment_intent.created", intent)
    if confirm:
        # The payment method was read above; reading it again would copy a test id twice.
        _confirm(req, intent, read_payment_method=False)
    return intent


@route("GET", "/v1/payment_intents/{id}", auth="publishable")
def retrieve_payment_intent(req: Request) -> dict[str, Any]:
    intent = req.acct.get("payment_intent", req.path_params["id"], "intent")
    check_client_secret(req, intent, "PaymentIntent")
    return intent


@route("POST", "/v1/payment_intents/{id}")
def update_payment_intent(req: Request) -> dict[str, Any]:
    p = req.params
    intent = req.acct.get("payment_intent", req.path_params["id"], "intent")
    changes_payment = {"amount", "currency", "payment_method", "payment_method_types"} & set(p)
    if intent["status"] in ("succeeded", "canceled") and changes_payment:
        raise InvalidRequest(
            f"This PaymentIntent's {sorted(changes_payment)[0]} could not be updated because it "
            f"has a status of {intent['status']}. You may only update the "
            f"{sorted(changes_payment)[0]} of a PaymentIntent with one of the following "
            "statuses: requires_payment_method, requires_confirmation, requires_action.",
            code="payment_intent_unexpected_state",
        )
    currency = _currency(p, required=False) or intent["currency"]
    if "currency" in p:
        intent["currency"] = currency
    amount = _amount(p, currency, required=False)
    if amount is not None:
        intent["amount"] = amount
    if "customer" in p:
        intent["customer"] = _customer_id(req)
    if "description" in p:
        intent["description"] = string(p, "description") or None
    if "receipt_email" in p:
        intent["receipt_email"] = string(p, "receipt_email") or None
    if "setup_future_usage" in p:
        intent["setup_future_usage"] = _future_usage(p)
    if "payment_method_types" in p:
        intent["payment_method_types"], intent["automatic_payment_methods"] = check_types(p)
    if "payment_method" in p:
        pm = payment_method_from_params(req, intent["customer"])
        intent["payment_method"] = pm["id"] if pm else None
        intent["next_action"] = None
        intent["status"] = "requires_confirmation" if pm else "requires_payment_method"
    intent["metadata"] = apply_metadata(intent["metadata"], p)
    return intent


@route("POST", "/v1/payment_intents/{id}/confirm", auth="publishable")
def confirm_payment_intent(req: Request) -> dict[str, Any]:
    intent = req.acct.get("payment_intent", req.path_params["id"], "intent")
    check_client_secret(req, intent, "PaymentIntent")
    _confirm(req, intent)
    return intent


@route("POST", "/v1/payment_intents/{id}/cancel")
def cancel_payment_intent(req: Request) -> dict[str, Any]:
    intent = req.acct.get("payment_intent", req.path_params["id"], "intent")
    if intent["status"] not in _CANCELABLE:
        raise InvalidRequest(
            f"You cannot cancel this PaymentIntent because it has a status of "
            f"{intent['status']}. Only a PaymentIntent with one of the following statuses may be "
            f"canceled: {', '.join(_CANCELABLE)}.",
            code="payment_intent_unexpected_state",
        )
    reason = string(req.params, "cancellation_reason")
    if reason is not None and reason not in _CANCELLATION_REASONS:
        raise InvalidRequest(
            "Invalid cancellation_reason: must be one of " + ", ".join(_CANCELLATION_REASONS),
            param="cancellation_reason",
        )
    intent["status"] = "canceled"
    intent["canceled_at"] = req.acct.now()
    intent["cancellation_reason"] = reason
    intent["next_action"] = None
    req.emit("payment_intent.canceled", intent)
    return intent


@route("POST", "/v1/payment_intents/{id}/_sandbox_authenticate", auth="publishable")
def authenticate_payment_intent(req: Request) -> dict[str, Any]:
    """Finish the sandbox's 3D Secure challenge: ``outcome`` is "complete" or "fail"."""
    account = req.acct
    intent = account.get("payment_intent", req.path_params["id"], "intent")
    check_client_secret(req, intent, "PaymentIntent")
    outcome = string(req.params, "outcome", required=True)
    if outcome not in ("complete", "fail"):
        raise InvalidRequest("outcome must be one of complete or fail.", param="outcome")
    if intent["status"] != "requires_action":
        raise InvalidRequest(
            f"This PaymentIntent has a status of {intent['status']}; only a PaymentIntent that "
            "requires action can be authenticated.",
            code="payment_intent_unexpected_state",
        )
    pm = account.get("payment_method", intent["payment_method"])
    if outcome == "fail":
        _fail(
            req.state,
            account,
            intent,
            authentication_failure("payment_intent_authentication_failure", pm),
        )
        return intent
    mark_authenticated(account, pm["id"])
    _succeed(req.state, account, intent, run_hooks=True)
    return intent


@route("GET", "/v1/payment_intents")
def list_payment_intents(req: Request) -> dict[str, Any]:
    customer_id = string(req.params, "customer")

    def wanted(intent: dict[str, Any]) -> bool:
        return customer_id is None or intent["customer"] == customer_id

    return paginate(
        req.acct.newest_first("payment_intent"), req.params, "/v1/payment_intents", wanted
    )
