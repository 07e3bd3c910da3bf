"""Billing meters: ``/v1/billing/meters``, meter events and their summaries.

Events are kept per (meter, customer), sorted by timestamp, so a summary or an invoice reads
only the events of one customer and bisects to its time range.
"""

from __future__ import annotations

import bisect
import hashlib
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import InvalidRequest, missing
from ..listing import paginate
from ..params import integer, mapping, string
from ..routing import Request, route
from ..state import Account

FORMULAS = ("sum", "count", "last")
GROUPING_WINDOWS = {"hour": 3600, "day": 86400}
# Stripe keeps identifiers unique for "at least 24 hours".
IDENTIFIER_TTL = 24 * 3600
PAST_LIMIT = 35 * 86400
FUTURE_LIMIT = 5 * 60
_BY_EVENT_NAME = "billing:meter_by_event_name"


def _events(account: Account, meter_id: str) -> dict[str, list[list[Any]]]:
    """The meter's events by customer id: ``[timestamp, value]`` pairs in timestamp order."""
    events: dict[str, list[list[Any]]] = account.secret(meter_id).setdefault("events", {})
    return events


def _number(value: Any) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise InvalidRequest(f"Invalid value: {value}") from None
    if not number.is_finite():
        raise InvalidRequest(f"Invalid value: {value}")
    return number


def aggregate(
    account: Account, meter: dict[str, Any], customer_id: str, start: int, end: int
) -> Decimal:
    """The meter's value for a customer over ``[start, end)``, per its aggregation formula."""
    events = _events(account, meter["id"]).get(customer_id, [])
    low = bisect.bisect_left(events, start, key=lambda event: event[0])
    high = bisect.bisect_left(events, end, key=lambda event: event[0])
    window = events[low:high]
    formula = meter["default_aggregation"]["formula"]
    if formula == "count":
        return Decimal(len(window))
    if formula == "last":
        return _number(window[-1][1]) if window else Decimal(0)
    return sum((_number(event[1]) for event in window), Decimal(0))


def plain(value: Decimal) -> int | float:
    """A JSON number for a decimal: an integer when it is whole."""
    return int(value) if value == value.to_integral_value() else float(value)


def _meter_by_event_name(account: Account) -> dict[str, str]:
    index: dict[str, str] = account.secret(_BY_EVENT_NAME)
    return index


@route("POST", "/v1/billing/meters")
def create_meter(req: Request) -> dict[str, Any]:
    p = req.params
    account = req.acct
    display_name = string(p, "display_name", required=True)
    event_name = string(p, "event_name", required=True)
    aggregation = mapping(p, "default_aggregation")
    if aggregation is None:
        raise missing("default_aggregation")
    formula = aggregation.get("formula")
    if formula is None:
        raise missing("default_aggregation[formula]")
    if formula not in FORMULAS:
        raise InvalidRequest(
            f"Invalid default_aggregation[formula]: must be one of {', '.join(FORMULAS)}",
            param="default_aggregation[formula]",
        )
    if not display_name or len(display_name) > 250:
        raise InvalidRequest("Invalid display_name.", param="display_name")
    if not event_name or len(event_name) > 100:
        raise InvalidRequest("Invalid event_name.", param="event_name")
    if event_name in _meter_by_event_name(account):
        raise InvalidRequest(
            f"A meter with event_name `{event_name}` already exists. Event names must be "
            "unique across meters.",
            param="event_name",
        )
    customer_mapping = mapping(p, "customer_mapping") or {}
    payload_key = customer_mapping.get("event_payload_key", "stripe_customer_id")
    mapping_type = customer_mapping.get("type", "by_id")
    if customer_mapping and "event_payload_key" not in customer_mapping:
        raise missing("customer_mapping[event_payload_key]")
    if mapping_type != "by_id":
        raise InvalidRequest(
            "Invalid customer_mapping[type]: must be by_id", param="customer_mapping[type]"
        )
    value_settings = mapping(p, "value_settings") or {}
    value_key = value_settings.get("event_payload_key", "value")
    for key, param in (
        (payload_key, "customer_mapping[event_payload_key]"),
        (value_key, "value_settings[event_payload_key]"),
    ):
        if not isinstance(key, str) or not key:
            raise InvalidRequest(f"Invalid {param}.", param=param)
    window = string(p, "event_time_window")
    if window is not None and window not in GROUPING_WINDOWS:
        raise InvalidRequest(
            "Invalid event_time_window: must be one of day, hour", param="event_time_window"
        )
    now = account.now()
    meter: dict[str, Any] = {
        "id": account.new_id("mtr_test", 32),
        "object": "billing.meter",
        "created": now,
        "customer_mapping": {"event_payload_key": payload_key, "type": mapping_type},
        "default_aggregation": {"formula": formula},
        "display_name": display_name,
        "event_name": event_name,
        "event_time_window": window,
        "livemode": False,
        "status": "active",
        "status_transitions": {"deactivated_at": None},
        "updated": now,
        "value_settings": {"event_payload_key": value_key},
    }
    account.add(meter)
    _meter_by_event_name(account)[event_name] = meter["id"]
    return meter


@route("GET", "/v1/billing/meters/{id}")
def retrieve_meter(req: Request) -> dict[str, Any]:
    return req.acct.get("billing.meter", req.path_params["id"])


@route("POST", "/v1/billing/meters/{id}")
def update_meter(req: Request) -> dict[str, Any]:
    meter = req.acct.get("billing.meter", req.path_params["id"])
    unknown = sorted(set(req.params) - {"display_name", "expand"})
    if unknown:
        raise InvalidRequest(f"Received unknown parameter: {unknown[0]}", param=unknown[0])
    display_name = string(req.params, "display_name")
    if display_name is not None:
        if not display_name or len(display_name) > 250:
            raise InvalidRequest("Invalid display_name.", param="display_name")
        meter["display_name"] = display_name
        meter["updated"] = req.acct.now()
    return meter


@route("GET", "/v1/billing/meters")
def list_meters(req: Request) -> dict[str, Any]:
    status = string(req.params, "status")
    if status is not None and status not in ("active", "inactive"):
        raise InvalidRequest("Invalid status: must be one of active, inactive", param="status")

    def wanted(meter: dict[str, Any]) -> bool:
        return status is None or meter["status"] == status

    return paginate(
        req.acct.newest_first("billing.meter"), req.params, "/v1/billing/meters", wanted
    )


def _set_status(req: Request, status: str) -> dict[str, Any]:
    meter = req.acct.get("billing.meter", req.path_params["id"])
    if meter["status"] == status:
        verb = "deactivated" if status == "inactive" else "active"
        raise InvalidRequest(f"This meter is already {verb}.")
    now = req.acct.now()
    meter["status"] = status
    meter["status_transitions"]["deactivated_at"] = now if status == "inactive" else None
    meter["updated"] = now
    return meter


@route("POST", "/v1/billing/meters/{id}/deactivate")
def deactivate_meter(req: Request) -> dict[str, Any]:
    return _set_status(req, "inactive")


@route("POST", "/v1/billing/meters/{id}/reactivate")
def reactivate_meter(req: Request) -> dict[str, Any]:
    return _set_status(req, "active")


@route("POST", "/v1/billing/meter_events")
def create_meter_event(req: Request) -> dict[str, Any]:
    p = req.params
    account = req.acct
    event_name = string(p, "event_name", required=True) or ""
    payload = mapping(p, "payload")
    if payload is None:
        raise missing("payload")
    now = account.now()
    timestamp = integer(p, "timestamp")
    if timestamp is None:
        timestamp = now
    elif timestamp < now - PAST_LIMIT or timestamp > now + FUTURE_LIMIT:
        raise InvalidRequest(
            "Timestamp must be within the past 35 calendar days or up to 5 minutes in the future.",
            param="timestamp",
        )
    identifier = string(p, "identifier") or account.new_id("mevt", 20)
    if len(identifier) > 100:
        raise InvalidRequest(
            "Invalid identifier: must be at most 100 characters.", param="identifier"
        )
    event = {
        "object": "billing.meter_event",
        "created": now,
        "event_name": event_name,
        "identifier": identifier,
        "livemode": False,
        "payload": payload,
        "timestamp": timestamp,
    }
    meter_id = _meter_by_event_name(account).get(event_name)
    meter = account.find(meter_id) if meter_id else None
    # Without an active meter Stripe accepts the event and reports the problem asynchronously;
    # such an event never counts.
    if meter is None or meter["status"] != "active":
        return event
    customer_key = meter["customer_mapping"]["event_payload_key"]
    value_key = meter["value_settings"]["event_payload_key"]
    customer_id = payload.get(customer_key)
    if not isinstance(customer_id, str) or not customer_id:
        raise missing(f"payload[{customer_key}]")
    raw_value = payload.get(value_key)
    if raw_value is None:
        if meter["default_aggregation"]["formula"] != "count":
            raise missing(f"payload[{value_key}]")
        raw_value = "1"
    try:
        _number(raw_value)
    except InvalidRequest:
        raise InvalidRequest(
            f"Invalid payload[{value_key}]: must be a number.", param=f"payload[{value_key}]"
        ) from None
    seen: dict[str, int] = account.secret(meter["id"]).setdefault("identifiers", {})
    # Identifiers are unique over a rolling window: a repeated one is answered but not counted.
    if seen.get(identifier, -IDENTIFIER_TTL) > now - IDENTIFIER_TTL:
        return event
    if len(seen) > 10_000:
        for old in [key for key, at in seen.items() if at <= now - IDENTIFIER_TTL]:
            del seen[old]
    seen[identifier] = now
    events = _events(account, meter["id"]).setdefault(customer_id, [])
    bisect.insort_right(events, [timestamp, str(raw_value)], key=lambda item: item[0])
    return event


@route("GET", "/v1/billing/meters/{id}/event_summaries")
def list_event_summaries(req: Request) -> dict[str, Any]:
    p = req.params
    account = req.acct
    meter = account.get("billing.meter", req.path_params["id"])
    customer_id = string(p, "customer", required=True) or ""
    account.get("customer", customer_id, "customer")
    start = integer(p, "start_time", required=True)
    end = integer(p, "end_time", required=True)
    assert start is not None and end is not None
    for value, param in ((start, "start_time"), (end, "end_time")):
        if value % 60:
            raise InvalidRequest(f"{param} must be aligned with minute boundaries.", param=param)
    if end <= start:
        raise InvalidRequest("end_time must be after start_time.", param="end_time")
    window = string(p, "value_grouping_window")
    if window is not None and window not in GROUPING_WINDOWS:
        raise InvalidRequest(
            "Invalid value_grouping_window: must be one of day, hour",
            param="value_grouping_window",
        )
    bounds: list[tuple[int, int]] = []
    if window is None:
        bounds.append((start, end))
    else:
        size = GROUPING_WINDOWS[window]
        if start % size or end % size:
            raise InvalidRequest(
                f"start_time and end_time must be aligned with {window} boundaries when "
                f"value_grouping_window is {window}.",
                param="start_time",
            )
        if (end - start) // size > 10_000:
            raise InvalidRequest("The time range is too long for this grouping window.")
        bounds = [(at, at + size) for at in range(start, end, size)]
    summaries = [
        {
            "id": _summary_id(meter["id"], customer_id, low, high),
            "object": "billing.meter_event_summary",
            "aggregated_value": plain(aggregate(account, meter, customer_id, low, high)),
            "end_time": high,
            "livemode": False,
            "meter": meter["id"],
            "start_time": low,
        }
        for low, high in reversed(bounds)
    ]
    return paginate(summaries, p, f"/v1/billing/meters/{meter['id']}/event_summaries")


def _summary_id(meter_id: str, customer_id: str, start: int, end: int) -> str:
    digest = hashlib.sha256(f"{meter_id}|{customer_id}|{start}|{end}".encode()).hexdigest()
    return "mtrusg_test_" + digest[:40]
