from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class AuditEntryView(msgspec.Struct):
    id: int
    at: datetime
    actor: str
    action: str
    details: dict[str, Any]


class AuditList(msgspec.Struct):
    data: list[AuditEntryView]
    has_more: bool
