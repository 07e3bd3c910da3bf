"""Writing events to the outbox, in the caller's transaction."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.crypto import new_key

from .models import CallbackDelivery


def dedupe_key(event: str, once_per: str) -> str:
    """What makes a completed action unique: queuing it again under this key adds nothing."""
    return f"{event}:{once_per}"


async def queued(session: AsyncSession, tenant_id: str, key: str) -> bool:
    found = await session.scalar(
        select(CallbackDelivery.id).where(
            CallbackDelivery.tenant_id == tenant_id, CallbackDelivery.dedupe_key == key
        )
    )
    return found is not None


def enqueue(
    session: AsyncSession,
    *,
    tenant_id: str,
    event: str,
    response: dict[str, Any],
    customer_id: str | None,
    livemode: bool,
    extras: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> CallbackDelivery:
    """Add an event for the tenant's callback URL; it is sent once the caller commits."""
    event_id = new_key("evt_", 24)
    payload: dict[str, Any] = {
        "id": event_id,
        "event": event,
        "response": response,
        "created": int(time.time()),
        "livemode": livemode,
        "customer": customer_id,
    }
    if extras:
        payload["extras"] = extras
    delivery = CallbackDelivery(
        event_id=event_id,
        tenant_id=tenant_id,
        customer_key=customer_id or "",
        event=event,
        payload=payload,
        livemode=livemode,
        dedupe_key=dedupe_key,
    )
    session.add(delivery)
    return delivery
