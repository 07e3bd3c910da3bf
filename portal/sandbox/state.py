"""The sandbox's memory: isolated accounts, their objects and clocks, faults and the request log.

Every route runs synchronously against this state inside one event loop, so each request is
atomic without locks; only webhook delivery and persistence run in the background.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import string
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import NotFound

API_VERSION = "2026-10-28.endive"
_ALPHABET = string.ascii_letters + string.digits

# Human names for ``No such <kind>`` messages, keyed by the object's ``object`` field.
KIND_NAMES = {
    "billing.meter": "billing meter",
    "billing.meter_event": "meter event",
    "payment_method": "PaymentMethod",
    "payment_intent": "payment_intent",
    "setup_intent": "setupintent",
    "subscription_item": "subscription item",
    "webhook_endpoint": "webhook endpoint",
    "promotion_code": "promotion code",
}


def random_token(length: int = 24) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


@dataclass
class IdempotentResult:
    method: str
    path: str
    fingerprint: str
    status: int
    body: bytes
    at: float


@dataclass
class Account:
    """One isolated Stripe account, addressed by ``sk_test_<name>`` / ``pk_test_<name>``."""

    name: str
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Ordered ids per object type; insertion order is creation order (lists are newest first).
    order: dict[str, dict[str, None]] = field(default_factory=dict)
    # Data Stripe keeps but never shows (card numbers behind a PaymentMethod, secrets ...).
    private: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Ids of deleted objects and their type: Stripe still answers ``deleted: true`` for them.
    deleted: dict[str, str] = field(default_factory=dict)
    clock_offset: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    idempotency: dict[str, IdempotentResult] = field(default_factory=dict)
    # Set while a clock hook performs something that fell due earlier: ``now()`` then reads
    # that moment, so what it creates carries the time it would have happened.
    frozen_at: int | None = None

    def now(self) -> int:
        if self.frozen_at is not None:
            return self.frozen_at
        return int(time.time()) + self.clock_offset

    def new_id(self, prefix: str, length: int = 24) -> str:
        return f"{prefix}_{random_token(length)}"

    def next_number(self, counter: str) -> int:
        self.counters[counter] = self.counters.get(counter, 0) + 1
        return self.counters[counter]

    # -- objects -------------------------------------------------------------------------
    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        kind = obj["object"]
        self.objects[obj["id"]] = obj
        self.order.setdefault(kind, {})[obj["id"]] = None
        return obj

    def find(self, object_id: str) -> dict[str, Any] | None:
        return self.objects.get(object_id)

    def get(self, kind: str, object_id: str, param: str = "id") -> dict[str, Any]:
        obj = self.objects.get(object_id) if isinstance(object_id, str) else None
        if obj is None or obj["object"] != kind:
            raise NotFound(KIND_NAMES.get(kind, kind), str(object_id), param)
        return obj

    def remove(self, object_id: str) -> dict[str, Any] | None:
        obj = self.objects.pop(object_id, None)
        if obj is not None:
            self.order.get(obj["object"], {}).pop(object_id, None)
            self.private.pop(object_id, None)
            self.deleted[object_id] = obj["object"]
        return obj

    def newest_first(self, kind: str) -> Iterator[dict[str, Any]]:
        for object_id in reversed(self.order.get(kind, {})):
            yield self.objects[object_id]

    def count(self, kind: str) -> int:
        return len(self.order.get(kind, {}))

    def secret(self, object_id: str) -> dict[str, Any]:
        return self.private.setdefault(object_id, {})

    # -- persistence ---------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "objects": self.objects,
            "order": {kind: list(ids) for kind, ids in self.order.items()},
            "private": self.private,
            "deleted": self.deleted,
            "clock_offset": self.clock_offset,
            "counters": self.counters,
        }

    @classmethod
    def load(cls, data: dict[str, Any]) -> Account:
        return cls(
            name=data["name"],
            objects=data["objects"],
            order={kind: dict.fromkeys(ids) for kind, ids in data["order"].items()},
            private=data.get("private", {}),
            deleted=data.get("deleted", {}),
            clock_offset=data.get("clock_offset", 0),
            counters=data.get("counters", {}),
        )


@dataclass
class Fault:
    method: str | None
    path: str
    status: int | None
    rate: float
    latency_ms: int
    times: int | None

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.method and self.method.upper() != method:
            return False
        return path.startswith(self.path)


@dataclass
class WebhookDelivery:
    account: str
    endpoint_id: str
    event_id: str
    attempts: int = 0
    due: float = 0.0


ClockHook = Callable[[Account, int], None]
# Hooks every state runs on clock advance, registered by resource modules at import; unlike
# ``SandboxState.clock_hooks`` they get the state too, so they can emit events.
SHARED_CLOCK_HOOKS: list[Callable[[SandboxState, Account, int], None]] = []


class SandboxState:
    """Every account, plus what the control routes manage."""

    def __init__(self, state_file: Path | None = None) -> None:
        self.accounts: dict[str, Account] = {}
        self.faults: list[Fault] = []
        self.requests: deque[dict[str, Any]] = deque(maxlen=50_000)
        self.deliveries: list[WebhookDelivery] = []
        self.state_file = state_file
        self.dirty = False
        # Run on clock advance, in order, after the clock moved: they perform what Stripe would
        # have done in the meantime (trial ends, renewals, retries).
        self.clock_hooks: list[ClockHook] = []
        # Called when something was enqueued for webhook delivery.
        self.wake_delivery: Callable[[], None] = lambda: None
        if state_file is not None and state_file.exists():
            self.load(state_file)

    def account(self, name: str) -> Account:
        account = self.accounts.get(name)
        if account is None:
            account = self.accounts[name] = Account(name)
        return account

    def reset(self) -> None:
        self.accounts.clear()
        self.faults.clear()
        self.requests.clear()
        self.deliveries.clear()
        self.dirty = True

    # -- events --------------------------------------------------------------------------
    def emit(
        self,
        account: Account,
        event_type: str,
        obj: dict[str, Any],
        previous_attributes: dict[str, Any] | None = None,
        request: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record an event with a snapshot of ``obj`` and queue it for every listening endpoint."""
        data: dict[str, Any] = {"object": copy.deepcopy(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = copy.deepcopy(previous_attributes)
        endpoints = [
            endpoint
            for endpoint in account.newest_first("webhook_endpoint")
            if endpoint["status"] == "enabled"
            and ("*" in endpoint["enabled_events"] or event_type in endpoint["enabled_events"])
        ]
        event_id = account.new_id("evt")
        event: dict[str, Any] = {
            "id": event_id,
            "object": "event",
            "api_version": API_VERSION,
            "created": account.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": len(endpoints),
            "request": request or {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        account.add(event)
        for endpoint in reversed(endpoints):
            self.deliveries.append(WebhookDelivery(account.name, endpoint["id"], event_id))
        if endpoints:
            self.wake_delivery()
        return event

    def advance_clock(self, account: Account, seconds: int) -> int:
        account.clock_offset += seconds
        now = account.now()
        for hook in self.clock_hooks:
            hook(account, now)
        for shared in SHARED_CLOCK_HOOKS:
            shared(self, account, now)
        self.dirty = True
        return now

    # -- persistence ---------------------------------------------------------------------
    def save(self) -> None:
        if self.state_file is None:
            return
        payload = {"accounts": [account.dump() for account in self.accounts.values()]}
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.state_file.parent, prefix=".sandbox-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(payload, handle, separators=(",", ":"))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.state_file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.dirty = False

    def load(self, state_file: Path) -> None:
        data = json.loads(state_file.read_text())
        for raw in data.get("accounts", []):
            account = Account.load(raw)
            self.accounts[account.name] = account
