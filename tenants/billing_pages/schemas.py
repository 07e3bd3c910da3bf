from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

Widget = Literal["plan-picker", "checkout", "signup", "customer-portal", "invoices"]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
BillflowId = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class BillingPageCreate(msgspec.Struct, forbid_unknown_fields=True):
    widget: Widget
    name: Name
    options: dict[str, Any] = {}
    billflow_id: BillflowId | None = None


class BillingPageUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    options: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    billflow_id: BillflowId | msgspec.UnsetType | None = msgspec.UNSET


class BillingPageView(msgspec.Struct):
    id: str
    widget: str
    name: str
    options: dict[str, Any]
    billflow_id: str | None
    created_at: datetime
    updated_at: datetime


class BillingPageDeleted(msgspec.Struct):
    id: str
    deleted: bool


class EmbedTarget(msgspec.Struct):
    """What a snippet needs to mount a billing page: public information only."""

    id: str
    widget: str
    key: str
