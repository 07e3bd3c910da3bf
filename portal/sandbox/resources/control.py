"""Control routes for tests, the demo and benchmarks: clock, faults, request log, reset."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequest
from ..routing import Request, route
from ..state import Fault


def _account_name(params: dict[str, Any]) -> str:
    name = params.get("account")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("Missing required param: account.", param="account")
    return name


@route("POST", "/_sandbox/clock/advance", auth="none")
def advance_clock(req: Request) -> dict[str, Any]:
    account = req.state.account(_account_name(req.params))
    seconds = req.params.get("seconds")
    if isinstance(seconds, str) and seconds.lstrip("-").isdigit():
        seconds = int(seconds)
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
        raise InvalidRequest("seconds must be a non-negative integer.", param="seconds")
    return {"now": req.state.advance_clock(account, seconds)}


@route("GET", "/_sandbox/clock", auth="none")
def read_clock(req: Request) -> dict[str, Any]:
    return {"now": req.state.account(_account_name(req.params)).now()}


@route("POST", "/_sandbox/faults", auth="none")
def add_fault(req: Request) -> dict[str, Any]:
    p = req.params
    path = p.get("path", "/v1/")
    status = p.get("status")
    rate = p.get("rate", 1.0)
    latency = p.get("latency_ms", 0) or 0
    times = p.get("times")
    method = p.get("method")
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidRequest("path must start with '/'.", param="path")
    if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
        raise InvalidRequest("status must be an HTTP error status or null.", param="status")
    if not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise InvalidRequest("rate must be between 0 and 1.", param="rate")
    if not isinstance(latency, int) or latency < 0:
        raise InvalidRequest("latency_ms must be a non-negative integer.", param="latency_ms")
    if times is not None and (not isinstance(times, int) or times < 0):
        raise InvalidRequest("times must be a non-negative integer or null.", param="times")
    if method is not None and not isinstance(method, str):
        raise InvalidRequest("method must be a string.", param="method")
    fault = Fault(method, path, status, float(rate), latency, times)
    req.state.faults.append(fault)
    return {"faults": [vars(f) for f in req.state.faults]}


@route("GET", "/_sandbox/faults", auth="none")
def list_faults(req: Request) -> dict[str, Any]:
    return {"faults": [vars(f) for f in req.state.faults]}


@route("DELETE", "/_sandbox/faults", auth="none")
def clear_faults(req: Request) -> dict[str, Any]:
    req.state.faults.clear()
    return {"faults": []}


@route("GET", "/_sandbox/requests", auth="none")
def request_log(req: Request) -> dict[str, Any]:
    name = req.params.get("account")
    entries = [
        {k: v for k, v in entry.items() if k != "account"}
        for entry in req.state.requests
        if not name or entry["account"] == name
    ]
    return {"requests": entries}


@route("DELETE", "/_sandbox/requests", auth="none")
def clear_request_log(req: Request) -> dict[str, Any]:
    req.state.requests.clear()
    return {"requests": []}


@route("POST", "/_sandbox/reset", auth="none")
def reset(req: Request) -> dict[str, Any]:
    req.state.reset()
    return {"reset": True}
