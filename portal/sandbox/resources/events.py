"""Events: ``/v1/events``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..errors import InvalidRequest
from ..listing import paginate
from ..params import boolean, listing, string
from ..routing import Request, route

MAX_TYPES = 20


def _type_matcher(pattern: str) -> Callable[[str], bool]:
    """``customer.*`` style patterns: ``*`` stands for any run of characters."""
    if "*" not in pattern:
        return pattern.__eq__
    regex = re.compile(".*".join(re.escape(part) for part in pattern.split("*")) + r"\Z")
    return lambda event_type: regex.match(event_type) is not None


@route("GET", "/v1/events/{id}")
def retrieve_event(req: Request) -> dict[str, Any]:
    return req.acct.get("event", req.path_params["id"])


@route("GET", "/v1/events")
def list_events(req: Request) -> dict[str, Any]:
    p = req.params
    pattern = string(p, "type")
    types = [t for t in listing(p, "types") if isinstance(t, str)]
    if pattern is not None and types:
        raise InvalidRequest("You may pass either `type` or `types`, but not both.", param="types")
    if len(types) > MAX_TYPES:
        raise InvalidRequest(
            f"You may pass at most {MAX_TYPES} event types in `types`.", param="types"
        )
    delivered = boolean(p, "delivery_success")
    wanted_types = set(types)
    matches = _type_matcher(pattern) if pattern else None

    def wanted(event: dict[str, Any]) -> bool:
        if matches is not None and not matches(event["type"]):
            return False
        if wanted_types and event["type"] not in wanted_types:
            return False
        if delivered is not None and (event["pending_webhooks"] == 0) != delivered:
            return False
        return True

    return paginate(req.acct.newest_first("event"), p, "/v1/events", wanted)
