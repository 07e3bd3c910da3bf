"""Customers: ``/v1/customers``."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest
from ..listing import paginate
from ..params import apply_metadata, mapping, string
from ..routing import Request, route
from ..state import random_token

_ADDRESS_KEYS = ("city", "country", "line1", "line2", "postal_code", "state")
_SIMPLE_FIELDS = ("email", "name", "description", "phone")


def _address(value: dict[str, Any] | None, param: str) -> dict[str, Any] | None:
    if value is None:
        return None
    unknown = set(value) - set(_ADDRESS_KEYS)
    if unknown:
        raise InvalidRequest(
            f"Received unknown parameter: {param}[{sorted(unknown)[0]}]", param=param
        )
    return {key: value.get(key) or None for key in _ADDRESS_KEYS}


def _apply(req: Request, customer: dict[str, Any]) -> dict[str, Any]:
    """Apply create/update params to ``customer``; returns the previous values changed."""
    p = req.params
    previous: dict[str, Any] = {}

    def set_field(key: str, value: Any) -> None:
        if customer.get(key) != value:
            previous[key] = customer.get(key)
            customer[key] = value

    for key in _SIMPLE_FIELDS:
        if key in p:
            value = string(p, key)
            set_field(key, value or None)
    email = customer.get("email")
    if email and ("@" not in email or len(email) > 512):
        raise InvalidRequest("Invalid email address: " + email, code="email_invalid", param="email")
    if "address" in p:
        set_field("address", _address(mapping(p, "address"), "address"))
    if "shipping" in p:
        shipping = mapping(p, "shipping") or {}
        set_field(
            "shipping",
            {
                "address": _address(shipping.get("address") or {}, "shipping[address]"),
                "name": shipping.get("name"),
                "phone": shipping.get("phone") or None,
            }
            if shipping
            else None,
        )
    if "preferred_locales" in p:
        locales = p["preferred_locales"]
        set_field("preferred_locales", locales if isinstance(locales, list) else [])
    settings = mapping(p, "invoice_settings")
    if settings is not None and "default_payment_method" in settings:
        pm_id = settings["default_payment_method"] or None
        if pm_id is not None:
            pm = req.acct.get("payment_method", pm_id, "invoice_settings[default_payment_method]")
            if pm.get("customer") != customer["id"]:
                raise InvalidRequest(
                    f"The customer does not have a payment method with the ID {pm_id}. The "
                    "payment method must be attached to the customer.",
                    code="resource_missing",
                    param="invoice_settings[default_payment_method]",
                )
        old = dict(customer["invoice_settings"])
        if old.get("default_payment_method") != pm_id:
            customer["invoice_settings"]["default_payment_method"] = pm_id
            previous["invoice_settings"] = old
    metadata = apply_metadata(customer["metadata"], p)
    if metadata != customer["metadata"]:
        previous["metadata"] = customer["metadata"]
        customer["metadata"] = metadata
    return previous


@route("POST", "/v1/customers")
def create_customer(req: Request) -> dict[str, Any]:
    account = req.acct
    customer: dict[str, Any] = {
        "id": account.new_id("cus", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": account.now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "invoice_prefix": random_token(8).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    # A payment method given at creation is attached first, as Stripe does.
    pm_id = string(req.params, "payment_method")
    account.add(customer)
    try:
        if pm_id:
            from .payment_methods import attach

            attach(req, pm_id, customer)
        _apply(req, customer)
    except Exception:
        account.remove(customer["id"])
        raise
    req.emit("customer.created", customer)
    return customer


@route("GET", "/v1/customers/{id}")
def retrieve_customer(req: Request) -> dict[str, Any]:
    object_id = req.path_params["id"]
    if req.acct.deleted.get(object_id) == "customer":
        return {"id": object_id, "object": "customer", "deleted": True}
    return req.acct.get("customer", object_id)


@route("POST", "/v1/customers/{id}")
def update_customer(req: Request) -> dict[str, Any]:
    customer = req.acct.get("customer", req.path_params["id"])
    previous = _apply(req, customer)
    if previous:
        req.emit("customer.updated", customer, previous)
    return customer


@route("DELETE", "/v1/customers/{id}")
def delete_customer(req: Request) -> dict[str, Any]:
    customer = req.acct.get("customer", req.path_params["id"])
    for subscription in list(req.acct.newest_first("subscription")):
        if subscription["customer"] == customer["id"] and subscription["status"] != "canceled":
            from .subscriptions import cancel_now

            cancel_now(req, subscription)
    req.acct.remove(customer["id"])
    req.emit("customer.deleted", customer)
    return {"id": customer["id"], "object": "customer", "deleted": True}


@route("GET", "/v1/customers")
def list_customers(req: Request) -> dict[str, Any]:
    email = string(req.params, "email")

    def wanted(customer: dict[str, Any]) -> bool:
        return email is None or customer.get("email") == email

    return paginate(req.acct.newest_first("customer"), req.params, "/v1/customers", wanted)
