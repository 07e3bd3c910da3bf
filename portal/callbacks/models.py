"""The callback outbox (``callback_delivery``) and the record of every delivery attempt."""

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

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


class CallbackDelivery(Base):
    __tablename__ = "callback_delivery"
    __table_args__ = (
        Index("ix_callback_delivery_due", "status", "next_attempt_at"),
        Index("ix_callback_delivery_customer", "tenant_id", "customer_key", "status"),
        UniqueConstraint("tenant_id", "dedupe_key", name="uq_callback_delivery_dedupe_key"),
    )

    # Increasing ids give the order events happened in, which deliveries keep per customer.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    # The event id in the body, and the webhook-id header: the same on every retry.
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    tenant_id: Mapped[str] = mapped_column(String(40), ForeignKey("tenant.id", ondelete="CASCADE"))
    # The Stripe customer, or "" for events about no customer.
    customer_key: Mapped[str] = mapped_column(String(255), default="")
    event: Mapped[str] = mapped_column(String(64))
    # Names the action a callback reports, so a repeated action is reported once.
    dedupe_key: Mapped[str | None] = mapped_column(String(300), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A worker holds a claimed delivery until this time; after it, another may take it.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class CallbackAttempt(Base):
    __tablename__ = "callback_attempt"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    delivery_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("callback_delivery.id", ondelete="CASCADE"),
        index=True,
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    response_body: Mapped[str | None] = mapped_column(Text, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
