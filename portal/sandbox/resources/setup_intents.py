"""SetupIntents: ``/v1/setup_intents``; a successful setup attaches the card to the customer."""

from __future__ import annotations

import copy
from typing import Any

from ..errors import InvalidRequest
from ..listing import paginate
from ..params import apply_metadata, boolean, string
from ..routing import Request, route
from ..state import Account, SandboxState, random_token
from . import payment_methods
from .payment_intents import (
    authentication_failure,
    card_error_details,
    check_client_secret,
    check_types,
    mark_authenticated,
    payment_method_from_params,
    raise_for,
)
from .payment_methods import DECLINES, REQUIRES_ACTION, Decline

_CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
_CANCELLATION_REASONS = ("abandoned", "requested_by_customer", "duplicate")


def _fail(
    state: SandboxState, account: Account, intent: dict[str, Any], error: dict[str, Any]
) -> dict[str, Any]:
    intent["status"] = "requires_payment_method"
    intent["payment_method"] = None
    intent["next_action"] = None
    intent["last_setup_error"] = error
    state.emit(account, "setup_intent.setup_failed", intent)
    return error


def _succeed(state: SandboxState, account: Account, intent: dict[str, Any]) -> None:
    pm = account.get("payment_method", intent["payment_method"])
    customer = account.find(intent["customer"]) if intent["customer"] else None
    if customer is not None:
        payment_methods.attach_to(state, account, pm, customer)
    intent["status"] = "succeeded"
    intent["next_action"] = None
    intent["last_setup_error"] = None
    state.emit(account, "setup_intent.succeeded", intent)


def _attempt(
    state: SandboxState, account: Account, intent: dict[str, Any]
) -> dict[str, Any] | None:
    """Set up the intent's card; returns the error when it was declined."""
    pm = account.get("payment_method", intent["payment_method"])
    intent["latest_attempt"] = account.new_id("setatt")
    behaviour = payment_methods.card_behaviour(account, pm["id"])
    if behaviour == REQUIRES_ACTION:
        intent["status"] = "requires_action"
        intent["next_action"] = {
            "type": "use_stripe_sdk",
            "use_stripe_sdk": {
                "type": "three_d_secure_redirect",
                "stripe_js": f"/v1/setup_intents/{intent['id']}/_sandbox_authenticate",
                "source": pm["id"],
            },
        }
        state.emit(account, "setup_intent.requires_action", intent)
        return None
    if behaviour == DECLINES:
        return _fail(
            state,
            account,
            intent,
            card_error_details(payment_methods.decline_for(account, pm["id"]), pm),
        )
    if payment_methods.is_expired(account, pm):
        decline = Decline("expired_card", "expired_card", "Your card has expired.")
        return _fail(state, account, intent, card_error_details(decline, pm))
    _succeed(state, account, intent)
    return None


def _confirm(req: Request, intent: dict[str, Any], *, read_payment_method: bool = True) -> None:
    if intent["status"] == "succeeded":
        raise InvalidRequest(
            "You cannot confirm this SetupIntent because it has already succeeded after being "
            "previously confirmed.",
            code="setup_intent_unexpected_state",
            extra={"setup_intent": copy.deepcopy(intent)},
        )
    if intent["status"] not in _CONFIRMABLE:
        raise InvalidRequest(
            f"You cannot confirm this SetupIntent because it has a status of {intent['status']}. "
            f"Only a SetupIntent with one of the following statuses may be confirmed: "
            f"{', '.join(_CONFIRMABLE)}.",
            code="setup_intent_unexpected_state",
            extra={"setup_intent": copy.deepcopy(intent)},
        )
    pm = payment_method_from_params(req, intent["customer"]) if read_payment_method else None
    if pm is not None:
        intent["payment_method"] = pm["id"]
    if intent["payment_method"] is None:
        raise InvalidRequest(
            "You cannot confirm this SetupIntent because it's missing a payment method. You can "
            "either update the SetupIntent with a payment method and then confirm it again, or "
            "confirm it again directly with a payment method.",
            code="setup_intent_unexpected_state",
            extra={"setup_intent": copy.deepcopy(intent)},
        )
    error = _attempt(req.state, req.acct, intent)
    if error is not None:
        raise_for(error, "setup_intent", intent)


def _usage(p: dict[str, Any]) -> str:
    usage = string(p, "usage") or "off_session"
    if usage not in ("on_session", "off_session"):
        raise InvalidRequest(
            "Invalid usage: must be one of on_session or off_session", param="usage"
        )
    return usage


def _customer_id(req: Request) -> str | None:
    customer_id = string(req.params, "customer")
    if customer_id:
        req.acct.get("customer", customer_id, "customer")
    return customer_id or None


@route("POST", "/v1/setup_intents")
def create_setup_intent(req: Request) -> dict[str, Any]:
    p = req.params
    account = req.acct
    customer_id = _customer_id(req)
    types, automatic = check_types(p)
    usage = _usage(p)
    confirm = boolean(p, "confirm", False)
    pm = payment_method_from_params(req, customer_id)
    intent_id = account.new_id("seti")
    intent: dict[str, Any] = {
        "id": intent_id,
        "object": "setup_intent",
        "application": None,
        "automatic_payment_methods": automatic,
        "cancellation_reason": None,
        "client_secret": f"{intent_id}_secret_{random_token(32)}",
        "created": account.now(),
        "customer": customer_id,
        "description": string(p, "description") or None,
        "excluded_payment_method_types": None,
        "flow_directions": None,
        "last_setup_error": None,
        "latest_attempt": None,
        "livemode": False,
        "mandate": None,
        "metadata": apply_metadata({}, p),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": pm["id"] if pm else None,
        "payment_method_configuration_details": (
            {"id": "pmc_" + account.name[:24], "parent": None} if automatic else None
        ),
        "payment_method_options": {
            "card": {
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": types,
        "single_use_mandate": None,
        "status": "requires_confirmation" if pm else "requires_payment_method",
        "usage": usage,
    }
    account.add(intent)
    req.emit("setup_intent.created", intent)
    if confirm:
        # The payment method was read above; reading it again would copy a test id twice.
        _confirm(req, intent, read_payment_method=False)
    return intent


@route("GET", "/v1/setup_intents/{id}", auth="publishable")
def retrieve_setup_intent(req: Request) -> dict[str, Any]:
    intent = req.acct.get("setup_intent", req.path_params["id"], "intent")
    check_client_secret(req, intent, "SetupIntent")
    return intent


@route("POST", "/v1/setup_intents/{id}")
def update_setup_intent(req: Request) -> dict[str, Any]:
    p = req.params
    intent = req.acct.get("setup_intent", req.path_params["id"], "intent")
    if intent["status"] in ("succeeded", "canceled") and (
        {"payment_method", "customer", "payment_method_types"} & set(p)
    ):
        raise InvalidRequest(
            f"You cannot update this SetupIntent because it has a status of {intent['status']}.",
            code="setup_intent_unexpected_state",
        )
    if "customer" in p:
        intent["customer"] = _customer_id(req)
    if "description" in p:
        intent["description"] = string(p, "description") or None
    if "payment_method_types" in p:
        intent["payment_method_types"], intent["automatic_payment_methods"] = check_types(p)
    if "payment_method" in p:
        pm = payment_method_from_params(req, intent["customer"])
        intent["payment_method"] = pm["id"] if pm else None
        intent["next_action"] = None
        intent["status"] = "requires_confirmation" if pm else "requires_payment_method"
    intent["metadata"] = apply_metadata(intent["metadata"], p)
    return intent


@route("POST", "/v1/setup_intents/{id}/confirm", auth="publishable")
def confirm_setup_intent(req: Request) -> dict[str, Any]:
    intent = req.acct.get("setup_intent", req.path_params["id"], "intent")
    check_client_secret(req, intent, "SetupIntent")
    _confirm(req, intent)
    return intent


@route("POST", "/v1/setup_intents/{id}/cancel")
def cancel_setup_intent(req: Request) -> dict[str, Any]:
    intent = req.acct.get("setup_intent", req.path_params["id"], "intent")
    if intent["status"] not in _CONFIRMABLE:
        raise InvalidRequest(
            f"You cannot cancel this SetupIntent because it has a status of {intent['status']}. "
            f"Only a SetupIntent with one of the following statuses may be canceled: "
            f"{', '.join(_CONFIRMABLE)}.",
            code="setup_intent_unexpected_state",
        )
    reason = string(req.params, "cancellation_reason")
    if reason is not None and reason not in _CANCELLATION_REASONS:
        raise InvalidRequest(
            "Invalid cancellation_reason: must be one of " + ", ".join(_CANCELLATION_REASONS),
            param="cancellation_reason",
        )
    intent["status"] = "canceled"
    intent["cancellation_reason"] = reason
    intent["next_action"] = None
    req.emit("setup_intent.canceled", intent)
    return intent


@route("POST", "/v1/setup_intents/{id}/_sandbox_authenticate", auth="publishable")
def authenticate_setup_intent(req: Request) -> dict[str, Any]:
    """Finish the sandbox's 3D Secure challenge: ``outcome`` is "complete" or "fail"."""
    account = req.acct
    intent = account.get("setup_intent", req.path_params["id"], "intent")
    check_client_secret(req, intent, "SetupIntent")
    outcome = string(req.params, "outcome", required=True)
    if outcome not in ("complete", "fail"):
        raise InvalidRequest("outcome must be one of complete or fail.", param="outcome")
    if intent["status"] != "requires_action":
        raise InvalidRequest(
            f"This SetupIntent has a status of {intent['status']}; only a SetupIntent that "
            "requires action can be authenticated.",
            code="setup_intent_unexpected_state",
        )
    pm = account.get("payment_method", intent["payment_method"])
    if outcome == "fail":
        error = authentication_failure("setup_intent_authentication_failure", pm)
        _fail(req.state, account, intent, error)
        return intent
    mark_authenticated(account, pm["id"])
    _succeed(req.state, account, intent)
    return intent


@route("GET", "/v1/setup_intents")
def list_setup_intents(req: Request) -> dict[str, Any]:
    customer_id = string(req.params, "customer")
    pm_id = string(req.params, "payment_method")

    def wanted(intent: dict[str, Any]) -> bool:
        return (customer_id is None or intent["customer"] == customer_id) and (
            pm_id is None or intent["payment_method"] == pm_id
        )

    return paginate(req.acct.newest_first("setup_intent"), req.params, "/v1/setup_intents", wanted)
