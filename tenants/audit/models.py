"""The audit log: every change of a tenant's settings, who made it and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow

ID = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntry(Base):
    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("tenant.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # "ada@example.com" for a dashboard user, "API key bp_sk_…abcd" for the tenant API.
    actor: Mapped[str] = mapped_column(String(400))
    action: Mapped[str] = mapped_column(String(100))
    # What changed, never a secret: {"field": {"from": …, "to": …}} or a description.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
