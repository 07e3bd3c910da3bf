"""Subscription schedules: ``/v1/subscription_schedules``.

A schedule manages one subscription through phases, each a set of prices and quantities for a
span of time. When the clock passes the end of a phase, the next phase's items replace the
subscription's through ``subscriptions.update``: a change inside a period prorates as the phase
asks, a change at a period end has nothing left to prorate. The change runs inside the billing
engine's clock (``billing.DUE_SOURCES``), ordered before a trial end or renewal due at the same
moment, so the renewal invoice at a phase boundary bills the new phase's prices.

After the last phase the schedule releases the subscription (``end_behavior=release``), or the
subscription's ``cancel_at``, which the schedule keeps at its end (``end_behavior=cancel``),
ends the subscription and the schedule completes. Whatever else ends the subscription cancels
the schedule. A schedule made from ``customer`` and ``phases`` creates its subscription when it
starts: at once, or when the clock reaches a future ``start_date``.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from ..errors import InvalidRequest, NotFound, StripeError, missing
from ..listing import paginate
from ..params import apply_metadata, boolean, string
from ..routing import Request, route
from ..state import SHARED_CLOCK_HOOKS, Account, SandboxState
from . import billing, prices, subscriptions
from .billing import Billing

OPEN = ("not_started", "active")
END_BEHAVIORS = ("release", "cancel")
PRORATION_BEHAVIORS = ("always_invoice", "create_prorations", "none")
PHASE_ANCHORS = ("automatic", "phase_start")
INTERVALS = ("day", "week", "month", "year")
# A phase change among things due at the same moment: after a scheduled cancellation (same
# order, and "cancel" sorts first), before a trial end (3) and a renewal (4).
PHASE_ORDER = 2
PHASE_DUE = "subscription_schedule_phase"
# Schedules waiting for their start_date (account-level private data).
_NOT_STARTED = "subscription_schedules:not_started"

CREATE_KEYS = {
    "customer", "end_behavior", "expand", "from_subscription", "metadata", "phases", "start_date",
}  # fmt: skip
UPDATE_KEYS = {"end_behavior", "expand", "metadata", "phases", "proration_behavior"}
PHASE_KEYS = {
    "billing_cycle_anchor", "duration", "end_date", "items", "iterations", "metadata",
    "proration_behavior", "start_date",
}  # fmt: skip
PHASE_ITEM_KEYS = {"metadata", "plan", "price", "quantity"}
# Parameters Stripe knows that the sandbox does not implement: refused by name.
UNSUPPORTED_KEYS = {"billing_mode", "customer_account", "default_settings", "pause_schedules"}
UNSUPPORTED_PHASE_KEYS = {
    "add_invoice_items", "application_fee_percent", "automatic_tax", "billing_thresholds",
    "collection_method", "currency", "default_payment_method", "default_tax_rates",
    "description", "discounts", "invoice_settings", "on_behalf_of", "transfer_data", "trial",
    "trial_end",
}  # fmt: skip
UNSUPPORTED_ITEM_KEYS = {"billing_thresholds", "discounts", "price_data", "tax_rates"}
_MAX_PERIODS = 5000


# -- parameters ---------------------------------------------------------------------------------
def _check_keys(
    value: dict[str, Any], supported: set[str], unsupported: set[str], prefix: str = ""
) -> None:
    for key in value:
        if key in unsupported:
            name = prices.nested(prefix, key)
            raise InvalidRequest(
                f"The sandbox does not support the parameter {name} of subscription schedules.",
                param=name,
            )
    prices.reject_unknown(value, supported, prefix)


def _choice(value: Any, param: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidRequest(f"Invalid {param}: must be one of {', '.join(choices)}", param=param)
    return str(value)


def _moment(value: Any, param: str, now: int) -> int:
    """A timestamp parameter that may also be ``now``."""
    return now if value == "now" else subscriptions.to_int(value, param)


def _bool(params: dict[str, Any], name: str, default: bool) -> bool:
    value = boolean(params, name, default)
    return default if value is None else value


# -- the object ---------------------------------------------------------------------------------
def _new_schedule(account: Account, customer_id: str, now: int) -> dict[str, Any]:
    schedule_id = account.new_id("sub_sched")
    return {
        "id": schedule_id,
        "object": "subscription_schedule",
        "application": None,
        "billing_mode": {"flexible": None, "type": "classic"},
        "canceled_at": None,
        "completed_at": None,
        "created": now,
        "current_phase": None,
        "customer": customer_id,
        "customer_account": None,
        "default_settings": {
            "application_fee_percent": None,
            "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
            "billing_cycle_anchor": "automatic",
            "billing_thresholds": None,
            "collection_method": "charge_automatically",
            "default_payment_method": None,
            "description": None,
            "invoice_settings": {
                "account_tax_ids": None,
                "custom_fields": None,
                "days_until_due": None,
                "description": None,
                "footer": None,
                "issuer": {"type": "self"},
            },
            "on_behalf_of": None,
            "transfer_data": None,
        },
        "end_behavior": "release",
        "livemode": False,
        "metadata": {},
        "phases": [],
        "released_at": None,
        "released_subscription": None,
        "status": "not_started",
        "subscription": None,
        "test_clock": None,
    }


def _phase_item(
    price: dict[str, Any], quantity: int | None, metadata: dict[str, str]
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "billing_thresholds": None,
        "discounts": [],
        "metadata": dict(metadata),
        "plan": billing.plan_of(price),
        "price": price["id"],
        "quantity": quantity if quantity is not None else 1,
        "tax_rates": [],
    }
    if billing.is_metered(price):
        del entry["quantity"]
    return entry


def _new_phase(
    items: list[dict[str, Any]],
    start: int,
    end: int,
    *,
    proration_behavior: str = "create_prorations",
    anchor: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A phase from subscription-item-like dicts (``price`` objects, quantities, metadata)."""
    return {
        "add_invoice_items": [],
        "application_fee_percent": None,
        "billing_cycle_anchor": anchor,
        "billing_thresholds": None,
        "collection_method": None,
        "currency": items[0]["price"]["currency"],
        "default_payment_method": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "end_date": end,
        "invoice_settings": None,
        "items": [
            _phase_item(item["price"], item.get("quantity"), item.get("metadata") or {})
            for item in items
        ],
        "metadata": dict(metadata or {}),
        "on_behalf_of": None,
        "proration_behavior": proration_behavior,
        "start_date": start,
        "transfer_data": None,
        "trial_end": None,
    }


def _get(req: Request, schedule_id: str) -> dict[str, Any]:
    found = req.acct.find(schedule_id)
    if found is None or found["object"] != "subscription_schedule":
        raise NotFound("subscription schedule", schedule_id)
    return found


def _phase_index(account: Account, schedule: dict[str, Any]) -> int:
    index: int = account.private.get(schedule["id"], {}).get("phase", 0)
    return index


def _set_phase(account: Account, schedule: dict[str, Any], index: int) -> None:
    account.secret(schedule["id"])["phase"] = index
    phase = schedule["phases"][index]
    schedule["current_phase"] = {"end_date": phase["end_date"], "start_date": phase["start_date"]}


def _managing(account: Account, subscription: dict[str, Any]) -> dict[str, Any] | None:
    """The active schedule managing ``subscription``, if any."""
    schedule_id = subscription.get("schedule")
    schedule = account.find(schedule_id) if isinstance(schedule_id, str) else None
    if schedule is None or schedule["status"] != "active":
        return None
    return schedule


def _not_started(account: Account) -> dict[str, None]:
    found: dict[str, None] = account.private.setdefault(_NOT_STARTED, {})
    return found


# -- phases from parameters -----------------------------------------------------------------------
def _periods_from(anchor: int, moment: int, interval: str, count: int) -> int | None:
    """``k`` with ``boundary(anchor, k) == moment``, or None when ``moment`` is no boundary."""
    for k in range(_MAX_PERIODS):
        at = billing.boundary(anchor, interval, count, k)
        if at == moment:
            return k
        if at > moment:
            return None
    return None


def _after_periods(start: int, anchor: int | None, recurring: dict[str, Any], n: int) -> int:
    """The end of ``n`` billing periods from ``start``, on the subscription's cycle when
    ``start`` is one of its boundaries (so month ends clamp as its renewals do)."""
    interval, count = recurring["interval"], recurring["interval_count"]
    if anchor is not None and anchor <= start:
        k = _periods_from(anchor, start, interval, count)
        if k is not None:
            return billing.boundary(anchor, interval, count, k + n)
    return billing.boundary(start, interval, count, n)


def _phase_end(
    raw: dict[str, Any], param: str, start: int, anchor: int | None, price: dict[str, Any], now: int
) -> int:
    keys = ("end_date", "iterations", "duration")
    given = [key for key in keys if raw.get(key) not in (None, "")]
    if len(given) > 1:
        raise InvalidRequest(
            f"You may only specify one of these parameters: {', '.join(given)}.",
            param=f"{param}[{given[1]}]",
        )
    if raw.get("end_date") not in (None, ""):
        end = _moment(raw["end_date"], f"{param}[end_date]", now)
    elif raw.get("duration") not in (None, ""):
        duration = raw["duration"]
        if not isinstance(duration, dict):
            raise InvalidRequest(f"Invalid object: {param}[duration]", param=f"{param}[duration]")
        interval = _choice(duration.get("interval"), f"{param}[duration][interval]", INTERVALS)
        count = 1
        if duration.get("interval_count") not in (None, ""):
            count = subscriptions.to_int(
                duration["interval_count"], f"{param}[duration][interval_count]", minimum=1
            )
        end = billing.boundary(start, interval, count, 1)
    else:
        iterations = 1
        if raw.get("iterations") not in (None, ""):
            iterations = subscriptions.to_int(raw["iterations"], f"{param}[iterations]", minimum=1)
        end = _after_periods(start, anchor, price["recurring"], iterations)
    if end <= start:
        raise InvalidRequest(
            "The end_date of a phase must be after its start_date.", param=f"{param}[end_date]"
        )
    if end <= now:
        raise InvalidRequest(
            "Invalid timestamp: the end_date of a phase must be in the future.",
            param=f"{param}[end_date]",
        )
    return end


def _phases(
    req: Request,
    raw: Any,
    start: int,
    *,
    anchor: int | None,
    fixed_start: bool,
    now: int,
) -> list[dict[str, Any]]:
    """Phases from ``phases[]``, one after the other from ``start``.

    With ``fixed_start`` the first phase must start at ``start`` (the current phase of an active
    schedule keeps its start); otherwise its ``start_date`` may move it.
    """
    if raw in (None, ""):
        raise missing("phases")
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest(
            "Invalid array: phases", code="parameter_invalid_array", param="phases"
        )
    cursor = start
    phases = []
    for index, entry in enumerate(raw):
        param = f"phases[{index}]"
        if not isinstance(entry, dict):
            raise InvalidRequest(f"Invalid object: {param}", param=param)
        _check_keys(entry, PHASE_KEYS, UNSUPPORTED_PHASE_KEYS, param)
        if entry.get("start_date") not in (None, ""):
            given = _moment(entry["start_date"], f"{param}[start_date]", now)
            if index == 0 and fixed_start and given != cursor:
                raise InvalidRequest(
                    "You can not modify the start date of the current phase.",
                    param=f"{param}[start_date]",
                )
            if index == 0 and not fixed_start:
                if given < now:
                    raise InvalidRequest(
                        "The sandbox does not backdate subscription schedules: the start_date "
                        "must be `now` or in the future.",
                        param=f"{param}[start_date]",
                    )
                cursor = given
            elif given != cursor:
                raise InvalidRequest(
                    f"The start_date of phase {index} must equal the end_date of the phase "
                    "before it: phases can have no gaps.",
                    param=f"{param}[start_date]",
                )
        raw_items = entry.get("items")
        if raw_items in (None, "", []):
            raise missing(f"{param}[items]")
        if isinstance(raw_items, list):
            for position, raw_item in enumerate(raw_items):
                if isinstance(raw_item, dict):
                    _check_keys(
                        raw_item,
                        PHASE_ITEM_KEYS,
                        UNSUPPORTED_ITEM_KEYS,
                        f"{param}[items][{position}]",
                    )
        items = subscriptions.resolve_items(req, [], raw_items, "", now, prefix=f"{param}[items]")
        end = _phase_end(entry, param, cursor, anchor, items[0]["price"], now)
        behavior = _choice(
            entry.get("proration_behavior") or "create_prorations",
            f"{param}[proration_behavior]",
            PRORATION_BEHAVIORS,
        )
        cycle_anchor = None
        if entry.get("billing_cycle_anchor") not in (None, ""):
            cycle_anchor = _choice(
                entry["billing_cycle_anchor"], f"{param}[billing_cycle_anchor]", PHASE_ANCHORS
            )
        phases.append(
            _new_phase(
                items,
                cursor,
                end,
                proration_behavior=behavior,
                anchor=cycle_anchor,
                metadata=apply_metadata({}, entry),
            )
        )
        cursor = end
    return phases


# -- the subscription under a schedule ------------------------------------------------------------
def _inner(
    state: SandboxState, account: Account, path: str, params: dict[str, Any], extra: Any = None
) -> Request:
    """A request the schedule makes on its own behalf (events carry ``extra``'s request id)."""
    return Request(
        method="POST",
        path=path,
        params=params,
        path_params={},
        state=state,
        account=account,
        key_kind="secret",
        headers={},
        extra=dict(extra or {}),
    )


def _items_of(phase: dict[str, Any]) -> list[dict[str, Any]]:
    items = []
    for entry in phase["items"]:
        item: dict[str, Any] = {"price": entry["price"]}
        if "quantity" in entry:
            item["quantity"] = entry["quantity"]
        if entry["metadata"]:
            item["metadata"] = entry["metadata"]
        items.append(item)
    return items


def _differs(subscription: dict[str, Any], phase: dict[str, Any]) -> bool:
    current = {(i["price"]["id"], i.get("quantity")) for i in subscription["items"]["data"]}
    wanted = {(entry["price"], entry.get("quantity")) for entry in phase["items"]}
    return current != wanted


def _item_changes(subscription: dict[str, Any], phase: dict[str, Any]) -> list[dict[str, Any]]:
    """``items[]`` of a subscription update that leaves exactly the phase's items."""
    current = {item["price"]["id"]: item for item in subscription["items"]["data"]}
    wanted = {entry["price"] for entry in phase["items"]}
    changes: list[dict[str, Any]] = [
        {"id": item["id"], "deleted": "true"}
        for price_id, item in current.items()
        if price_id not in wanted
    ]
    for entry in _items_of(phase):
        kept = current.get(entry["price"])
        if kept is not None:
            entry = {key: value for key, value in entry.items() if key != "price"}
            entry["id"] = kept["id"]
        changes.append(entry)
    return changes


def _apply_phase(
    state: SandboxState,
    account: Account,
    subscription: dict[str, Any],
    phase: dict[str, Any],
    proration_behavior: str,
    *,
    entering: bool,
    extra: Any = None,
) -> None:
    """Give the subscription the phase's items and metadata; a phase being entered may also
    start a new billing cycle."""
    changes: dict[str, Any] = {}
    if _differs(subscription, phase):
        changes["items"] = _item_changes(subscription, phase)
    if phase["metadata"]:
        changes["metadata"] = phase["metadata"]
    if entering and phase["billing_cycle_anchor"] == "phase_start":
        changes["billing_cycle_anchor"] = "now"
    if not changes:
        return
    params = {"proration_behavior": proration_behavior, "off_session": "true", **changes}
    request = _inner(state, account, f"/v1/subscriptions/{subscription['id']}", params, extra)
    subscriptions.update(request, subscription, params, by_schedule=True)


def _sync_cancel_at(
    account: Account, schedule: dict[str, Any], subscription: dict[str, Any]
) -> None:
    """With ``end_behavior=cancel`` the subscription is set to end with the last phase; the
    schedule takes back a cancellation it set once it no longer asks for one."""
    private = account.secret(schedule["id"])
    if schedule["status"] == "active" and schedule["end_behavior"] == "cancel":
        end = schedule["phases"][-1]["end_date"]
        subscription["cancel_at"] = end
        subscription["cancel_at_period_end"] = end == billing.period_of(subscription)[1]
        private["cancel_at"] = end
    elif private.pop("cancel_at", None) is not None:
        subscription["cancel_at"] = None
        subscription["cancel_at_period_end"] = False


def _attach(b: Billing, schedule: dict[str, Any], subscription: dict[str, Any], index: int) -> None:
    schedule["status"] = "active"
    schedule["subscription"] = subscription["id"]
    _set_phase(b.account, schedule, index)
    b.watch(subscription)
    subscription["schedule"] = schedule["id"]
    _sync_cancel_at(b.account, schedule, subscription)


def _create_subscription(
    state: SandboxState,
    account: Account,
    customer_id: str,
    phase: dict[str, Any],
    extra: Any = None,
) -> dict[str, Any]:
    """The subscription a schedule made from phases starts with, in its first phase."""
    params: dict[str, Any] = {
        "customer": customer_id,
        "items": _items_of(phase),
        "off_session": "true",
    }
    if phase["metadata"]:
        params["metadata"] = phase["metadata"]
    request = _inner(state, account, "/v1/subscriptions", params, extra)
    created = subscriptions.create_subscription(request)
    assert isinstance(created, dict)
    return account.get("subscription", created["id"])


def _release(
    b: Billing,
    schedule: dict[str, Any],
    subscription: dict[str, Any] | None,
    *,
    preserve_cancel_date: bool = False,
) -> None:
    account = b.account
    _not_started(account).pop(schedule["id"], None)
    schedule["status"] = "released"
    schedule["released_at"] = account.now()
    schedule["current_phase"] = None
    if subscription is not None:
        b.watch(subscription)
        if preserve_cancel_date:
            account.secret(schedule["id"]).pop("cancel_at", None)
        _sync_cancel_at(account, schedule, subscription)
        subscription["schedule"] = None
        schedule["released_subscription"] = subscription["id"]
        schedule["subscription"] = None
    b.emit("subscription_schedule.released", schedule)


# -- the clock ----------------------------------------------------------------------------------
def _due(account: Account, subscription: dict[str, Any]) -> tuple[int, int, str] | None:
    """The end of the current phase, unless the subscription's ``cancel_at`` ends it then."""
    schedule = _managing(account, subscription)
    if schedule is None:
        return None
    index = _phase_index(account, schedule)
    if index + 1 >= len(schedule["phases"]) and schedule["end_behavior"] == "cancel":
        return None
    return schedule["phases"][index]["end_date"], PHASE_ORDER, PHASE_DUE


def _phase_over(b: Billing, subscription: dict[str, Any], at: int) -> None:
    """The current phase ended at ``at``: enter the next one, or release the subscription."""
    account = b.account
    schedule = _managing(account, subscription)
    if schedule is None:
        return
    index = _phase_index(account, schedule) + 1
    if index >= len(schedule["phases"]):
        _release(b, schedule, subscription)
        return
    previous = copy.deepcopy(schedule["current_phase"])
    phase = schedule["phases"][index]
    # A price archived since the phase was set: the phase starts without changing items.
    with contextlib.suppress(StripeError):
        _apply_phase(
            b.state, account, subscription, phase, phase["proration_behavior"], entering=True
        )
    # The update announced its own change of the subscription.
    b.settle(subscription)
    _set_phase(account, schedule, index)
    b.emit("subscription_schedule.updated", schedule, {"current_phase": previous})


def _subscription_ended(b: Billing, subscription: dict[str, Any]) -> None:
    """The managed subscription was canceled: at the schedule's end that completes it."""
    schedule = _managing(b.account, subscription)
    if schedule is None:
        return
    ended = subscription.get("ended_at") or b.account.now()
    schedule["current_phase"] = None
    if schedule["end_behavior"] == "cancel" and ended >= schedule["phases"][-1]["end_date"]:
        schedule["status"] = "completed"
        schedule["completed_at"] = ended
        b.emit("subscription_schedule.completed", schedule)
    else:
        schedule["status"] = "canceled"
        schedule["canceled_at"] = ended
        b.emit("subscription_schedule.canceled", schedule)


def _start_due(state: SandboxState, account: Account, now: int) -> None:
    """Start the schedules whose start_date came, then let billing catch their subscriptions up."""
    waiting = _not_started(account)
    due = []
    for schedule_id in list(waiting):
        schedule = account.find(schedule_id)
        if schedule is None or schedule["status"] != "not_started":
            waiting.pop(schedule_id, None)
            continue
        start = schedule["phases"][0]["start_date"]
        if start <= now:
            due.append((start, schedule_id))
    if not due:
        return
    for start, schedule_id in sorted(due):
        waiting.pop(schedule_id, None)
        schedule = account.get("subscription_schedule", schedule_id)
        account.frozen_at = start
        try:
            b = Billing(state, account)
            try:
                subscription = _create_subscription(
                    state, account, schedule["customer"], schedule["phases"][0]
                )
            except StripeError:
                schedule["status"] = "canceled"
                schedule["canceled_at"] = start
                b.emit("subscription_schedule.canceled", schedule)
            else:
                _attach(b, schedule, subscription, 0)
                b.emit("subscription_schedule.updated", schedule, {"status": "not_started"})
            b.flush()
        finally:
            account.frozen_at = None
    billing.run_due(state, account, now)


billing.DUE_SOURCES.append(_due)
billing.DUE_PERFORMERS[PHASE_DUE] = _phase_over
billing.on_subscription_canceled.append(_subscription_ended)
SHARED_CLOCK_HOOKS.append(_start_due)


# -- routes -------------------------------------------------------------------------------------
@route("POST", "/v1/subscription_schedules")
def create_subscription_schedule(req: Request) -> dict[str, Any]:
    p = req.params
    _check_keys(p, CREATE_KEYS, UNSUPPORTED_KEYS)
    if p.get("from_subscription") not in (None, ""):
        return _from_subscription(req)
    return _from_phases(req)


def _from_subscription(req: Request) -> dict[str, Any]:
    """The schedule takes over a subscription as it is: one phase, its current period."""
    account = req.acct
    p = req.params
    others = sorted(key for key in p if key not in ("from_subscription", "expand"))
    if others:
        raise InvalidRequest(
            f"You cannot set `{others[0]}` if `from_subscription` is set.", param=others[0]
        )
    subscription_id = string(p, "from_subscription") or ""
    subscription = account.get("subscription", subscription_id, "from_subscription")
    if subscription.get("schedule"):
        raise InvalidRequest(
            "You cannot migrate a subscription that is already attached to a schedule: "
            f"`{subscription_id}`.",
            param="from_subscription",
        )
    status = subscription["status"]
    if status in billing.ENDED or status == "incomplete":
        raise InvalidRequest(
            f"You cannot create a subscription schedule from a subscription with status "
            f"`{status}`.",
            param="from_subscription",
        )
    now = account.now()
    start, end = billing.period_of(subscription)
    cancel_at = subscription.get("cancel_at")
    schedule = _new_schedule(account, subscription["customer"], now)
    settings = schedule["default_settings"]
    settings["collection_method"] = subscription["collection_method"]
    settings["default_payment_method"] = subscription["default_payment_method"]
    settings["description"] = subscription["description"]
    settings["invoice_settings"]["days_until_due"] = subscription["days_until_due"]
    phase = _new_phase(subscription["items"]["data"], start, cancel_at or end)
    if status == "trialing":
        phase["trial_end"] = subscription["trial_end"]
    schedule["phases"] = [phase]
    schedule["end_behavior"] = "cancel" if cancel_at else "release"
    b = Billing.for_request(req)
    account.add(schedule)
    _attach(b, schedule, subscription, 0)
    b.emit("subscription_schedule.created", schedule)
    b.flush()
    return schedule


def _from_phases(req: Request) -> dict[str, Any]:
    account = req.acct
    p = req.params
    customer_id = string(p, "customer")
    if not customer_id:
        raise missing("customer")
    account.get("customer", customer_id, "customer")
    now = account.now()
    start = now
    given = p.get("start_date") not in (None, "")
    if given:
        start = _moment(p["start_date"], "start_date", now)
        if start < now:
            raise InvalidRequest(
                "The sandbox does not backdate subscription schedules: start_date must be "
                "`now` or in the future.",
                param="start_date",
            )
    end_behavior = _choice(p.get("end_behavior") or "release", "end_behavior", END_BEHAVIORS)
    phases = _phases(req, p.get("phases"), start, anchor=None, fixed_start=given, now=now)
    start = phases[0]["start_date"]
    schedule = _new_schedule(account, customer_id, now)
    schedule["phases"] = phases
    schedule["end_behavior"] = end_behavior
    schedule["metadata"] = apply_metadata({}, p)
    b = Billing.for_request(req)
    if start <= now:
        subscription = _create_subscription(req.state, account, customer_id, phases[0], req.extra)
        account.add(schedule)
        _attach(b, schedule, subscription, 0)
    else:
        account.add(schedule)
        _not_started(account)[schedule["id"]] = None
    b.emit("subscription_schedule.created", schedule)
    b.flush()
    return schedule


@route("GET", "/v1/subscription_schedules/{id}")
def retrieve_subscription_schedule(req: Request) -> dict[str, Any]:
    return _get(req, req.path_params["id"])


@route("GET", "/v1/subscription_schedules")
def list_subscription_schedules(req: Request) -> dict[str, Any]:
    p = req.params
    customer_id = string(p, "customer")
    scheduled = boolean(p, "scheduled")

    def wanted(schedule: dict[str, Any]) -> bool:
        if customer_id and schedule["customer"] != customer_id:
            return False
        return scheduled is None or (schedule["status"] == "not_started") == scheduled

    return paginate(
        req.acct.newest_first("subscription_schedule"), p, "/v1/subscription_schedules", wanted
    )


def _refuse_closed(schedule: dict[str, Any], action: str) -> None:
    if schedule["status"] not in OPEN:
        raise InvalidRequest(
            f"You cannot {action} a subscription schedule that is currently in the "
            f"`{schedule['status']}` status. It must be in one of the following statuses: "
            "`not_started`, `active`."
        )


@route("POST", "/v1/subscription_schedules/{id}")
def update_subscription_schedule(req: Request) -> dict[str, Any]:
    account = req.acct
    p = req.params
    schedule = _get(req, req.path_params["id"])
    _check_keys(p, UPDATE_KEYS, UNSUPPORTED_KEYS)
    _refuse_closed(schedule, "update")
    now = account.now()
    end_behavior = schedule["end_behavior"]
    if "end_behavior" in p:
        end_behavior = _choice(p["end_behavior"], "end_behavior", END_BEHAVIORS)
    proration_behavior = _choice(
        p.get("proration_behavior") or "create_prorations",
        "proration_behavior",
        PRORATION_BEHAVIORS,
    )
    metadata = apply_metadata(schedule["metadata"], p)
    active = schedule["status"] == "active"
    subscription = account.find(schedule["subscription"] or "") if active else None
    index = _phase_index(account, schedule) if active else 0
    phases = schedule["phases"]
    if "phases" in p:
        if active:
            current = schedule["phases"][index]
            anchor = subscription["billing_cycle_anchor"] if subscription else None
            fresh = _phases(
                req, p["phases"], current["start_date"], anchor=anchor, fixed_start=True, now=now
            )
            phases = schedule["phases"][:index] + fresh
        else:
            start = schedule["phases"][0]["start_date"]
            phases = _phases(req, p["phases"], start, anchor=None, fixed_start=False, now=now)
    new_subscription = None
    if not active and phases[0]["start_date"] <= now:
        new_subscription = _create_subscription(
            req.state, account, schedule["customer"], phases[0], req.extra
        )
    # Validated: apply.
    before = copy.deepcopy(schedule)
    b = Billing.for_request(req)
    schedule["end_behavior"] = end_behavior
    schedule["metadata"] = metadata
    schedule["phases"] = phases
    if active and subscription is not None:
        _set_phase(account, schedule, index)
        if "phases" in p:
            _apply_phase(
                req.state,
                account,
                subscription,
                phases[index],
                proration_behavior,
                entering=False,
                extra=req.extra,
            )
        b.watch(subscription)
        _sync_cancel_at(account, schedule, subscription)
    elif new_subscription is not None:
        _not_started(account).pop(schedule["id"], None)
        _attach(b, schedule, new_subscription, 0)
    previous = {key: value for key, value in before.items() if schedule.get(key) != value}
    if previous:
        b.emit("subscription_schedule.updated", schedule, previous)
    b.flush()
    return schedule


@route("POST", "/v1/subscription_schedules/{id}/release")
def release_subscription_schedule(req: Request) -> dict[str, Any]:
    account = req.acct
    p = req.params
    schedule = _get(req, req.path_params["id"])
    _check_keys(p, {"expand", "preserve_cancel_date"}, set())
    _refuse_closed(schedule, "release")
    preserve = _bool(p, "preserve_cancel_date", False)
    b = Billing.for_request(req)
    subscription = account.find(schedule["subscription"] or "")
    _release(b, schedule, subscription, preserve_cancel_date=preserve)
    b.flush()
    return schedule


@route("POST", "/v1/subscription_schedules/{id}/cancel")
def cancel_subscription_schedule(req: Request) -> dict[str, Any]:
    """Cancel the schedule and, when it is active, its subscription at once."""
    account = req.acct
    p = req.params
    schedule = _get(req, req.path_params["id"])
    _check_keys(p, {"expand", "invoice_now", "prorate"}, set())
    _refuse_closed(schedule, "cancel")
    invoice_now = _bool(p, "invoice_now", True)
    prorate = _bool(p, "prorate", True)
    b = Billing.for_request(req)
    subscription = account.find(schedule["subscription"] or "")
    if (
        schedule["status"] == "active"
        and subscription is not None
        and subscription["status"] not in billing.ENDED
    ):
        # Canceling the subscription cancels the schedule (``_subscription_ended``).
        billing.cancel(
            b,
            subscription,
            reason="cancellation_requested",
            invoice_now=invoice_now,
            prorate_unused=prorate,
        )
    if schedule["status"] in OPEN:
        _not_started(account).pop(schedule["id"], None)
        schedule["status"] = "canceled"
        schedule["canceled_at"] = account.now()
        schedule["current_phase"] = None
        b.emit("subscription_schedule.canceled", schedule)
    b.flush()
    return schedule
