"""Subscription items: ``/v1/subscription_items``, each change an update of its subscription."""

from __future__ import annotations

from typing import Any

from ..errors import NotFound, missing
from ..listing import paginate
from ..params import string
from ..routing import Request, route
from . import billing, subscriptions

# Parameters an item route hands on to the subscription update as they are.
_PASSED_ON = ("proration_behavior", "proration_date", "payment_behavior", "off_session")
_ITEM_FIELDS = ("price", "price_data", "plan", "quantity", "metadata")


def _find(req: Request, item_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The item and its subscription."""
    account = req.acct
    owner = billing.item_owner(account, item_id)
    subscription = account.find(owner) if owner else None
    if subscription is not None:
        for item in subscription["items"]["data"]:
            if item["id"] == item_id:
                return item, subscription
    raise NotFound("subscription item", item_id)


def _update_params(req: Request, entry: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {"items": [entry]}
    for key in _PASSED_ON:
        if key in req.params:
            params[key] = req.params[key]
    return params


@route("POST", "/v1/subscription_items")
def create_subscription_item(req: Request) -> dict[str, Any]:
    p = req.params
    subscription_id = string(p, "subscription", required=True) or ""
    subscription = req.acct.get("subscription", subscription_id, "subscription")
    before = {item["id"] for item in subscription["items"]["data"]}
    entry = {key: p[key] for key in _ITEM_FIELDS if key in p}
    subscriptions.update(req, subscription, _update_params(req, entry))
    for item in subscription["items"]["data"]:
        if item["id"] not in before:
            return item
    raise missing("price")


@route("GET", "/v1/subscription_items/{id}")
def retrieve_subscription_item(req: Request) -> dict[str, Any]:
    item, _ = _find(req, req.path_params["id"])
    return item


@route("POST", "/v1/subscription_items/{id}")
def update_subscription_item(req: Request) -> dict[str, Any]:
    item_id = req.path_params["id"]
    _, subscription = _find(req, item_id)
    entry: dict[str, Any] = {"id": item_id}
    entry.update({key: req.params[key] for key in _ITEM_FIELDS if key in req.params})
    subscriptions.update(req, subscription, _update_params(req, entry))
    item, _ = _find(req, item_id)
    return item


@route("DELETE", "/v1/subscription_items/{id}")
def delete_subscription_item(req: Request) -> dict[str, Any]:
    item_id = req.path_params["id"]
    _, subscription = _find(req, item_id)
    subscriptions.update(req, subscription, _update_params(req, {"id": item_id, "deleted": "true"}))
    req.acct.private.pop(item_id, None)
    return {"id": item_id, "object": "subscription_item", "deleted": True}


@route("GET", "/v1/subscription_items")
def list_subscription_items(req: Request) -> dict[str, Any]:
    subscription_id = string(req.params, "subscription", required=True) or ""
    subscription = req.acct.get("subscription", subscription_id, "subscription")
    items = list(subscription["items"]["data"])
    return paginate(items, req.params, f"/v1/subscription_items?subscription={subscription_id}")
