from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

Status = Literal["pending", "delivered", "failed"]


class AttemptView(msgspec.Struct):
    at: datetime
    status_code: int | None
    latency_ms: int
    response_body: str | None
    error: str | None


class DeliveryView(msgspec.Struct):
    id: str
    event: str
    customer: str | None
    status: str
    attempts: list[AttemptView]
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    payload: dict[str, Any]


class DeliveryList(msgspec.Struct):
    data: list[DeliveryView]
    has_more: bool


class ReplayBody(msgspec.Struct, forbid_unknown_fields=True):
    since: datetime
    status: Literal["failed", "delivered"] = "failed"


class ReplayResult(msgspec.Struct):
    replayed: int
