"""List objects (``has_more``, ``starting_after``, ``limit``) and ``expand[]``."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from .errors import InvalidRequest
from .params import integer, listing, string
from .state import Account


def paginate(
    items: Iterable[dict[str, Any]],
    params: dict[str, Any],
    url: str,
    where: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """A Stripe list object from ``items`` (already newest first)."""
    limit = integer(params, "limit") or 10
    if not 1 <= limit <= 100:
        raise InvalidRequest(
            "This value must be greater than or equal to 1 and at most 100.", param="limit"
        )
    starting_after = string(params, "starting_after")
    ending_before = string(params, "ending_before")
    created = params.get("created")
    selected = [item for item in items if (where is None or where(item))]
    if isinstance(created, dict):
        selected = [item for item in selected if _created_ok(item, created)]
    elif isinstance(created, str) and created:
        wanted = integer(params, "created")
        selected = [item for item in selected if item.get("created") == wanted]
    if starting_after:
        index = _index(selected, starting_after, "starting_after")
        page = selected[index + 1 : index + 1 + limit]
        has_more = len(selected) > index + 1 + limit
    elif ending_before:
        index = _index(selected, ending_before, "ending_before")
        page = selected[max(0, index - limit) : index]
        has_more = index - limit > 0
    else:
        page = selected[:limit]
        has_more = len(selected) > limit
    return {"object": "list", "data": page, "has_more": has_more, "url": url}


def _index(items: list[dict[str, Any]], object_id: str, param: str) -> int:
    for index, item in enumerate(items):
        if item.get("id") == object_id:
            return index
    raise InvalidRequest(f"No such object: '{object_id}'", code="resource_missing", param=param)


def _created_ok(item: dict[str, Any], bounds: dict[str, Any]) -> bool:
    created = item.get("created", 0)
    checks = {
        "gt": lambda b: created > b,
        "gte": lambda b: created >= b,
        "lt": lambda b: created < b,
        "lte": lambda b: created <= b,
    }
    for op, bound in bounds.items():
        if op in checks and not checks[op](int(bound)):
            return False
    return True


def expand(account: Account, body: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Replace ids named by ``expand[]`` paths with the objects they point to."""
    paths = [p for p in listing(params, "expand") if isinstance(p, str)]
    if not paths:
        return body
    body = copy.deepcopy(body)
    for path in paths:
        if path.count(".") > 3:
            raise InvalidRequest(
                "You cannot expand more than 4 levels of a property.", param="expand"
            )
        _expand_path(account, body, path.split("."), path)
    return body


def _expand_path(account: Account, node: Any, parts: list[str], full: str) -> None:
    if isinstance(node, list):
        for element in node:
            _expand_path(account, element, parts, full)
        return
    if not isinstance(node, dict) or not parts:
        return
    key, rest = parts[0], parts[1:]
    if key not in node:
        raise InvalidRequest(
            f"This property cannot be expanded ({full}).", param="expand", status=400
        )
    value = node[key]
    if isinstance(value, str):
        found = account.find(value)
        if found is None:
            return
        value = node[key] = copy.deepcopy(found)
    elif isinstance(value, list) and any(isinstance(element, str) for element in value):
        # A list of ids (``discounts``) expands element by element.
        value = node[key] = [_expanded_id(account, element) for element in value]
    if rest:
        _expand_path(account, value, rest, full)


def _expanded_id(account: Account, element: Any) -> Any:
    found = account.find(element) if isinstance(element, str) else None
    return copy.deepcopy(found) if found is not None else element
