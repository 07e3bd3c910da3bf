"""Stripe events as they arrived (``stripe_event``), one row per (tenant, Stripe event id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow

RECEIVED, PROCESSED, SKIPPED, FAILED = "received", "processed", "skipped", "failed"


class StripeEvent(Base):
    __tablename__ = "stripe_event"
    __table_args__ = (
        # However often Stripe sends an event, it is stored (and so processed) once.
        UniqueConstraint("tenant_id", "stripe_event_id"),
        Index("ix_stripe_event_due", "status", "next_attempt_at"),
        Index("ix_stripe_event_object", "tenant_id", "object_id", "status"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    tenant_id: Mapped[str] = mapped_column(String(40), ForeignKey("tenant.id", ondelete="CASCADE"))
    stripe_event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(100))
    # The id of the event's ``data.object`` (``sub_…``, ``in_…``, ``prod_…``), or "".
    object_id: Mapped[str] = mapped_column(String(255), default="")
    # The event's ``created``: when it happened at Stripe, in Unix seconds.
    created: Mapped[int] = mapped_column(BigInteger)
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    status: Mapped[str] = mapped_column(String(16), default=RECEIVED)
    # Why it failed (the last time), or why it was skipped.
    error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When a worker may take it (again); None once it is done or retries are exhausted.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    # A worker holds a claimed event until this time; after it, another may take it.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
