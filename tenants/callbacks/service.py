"""Reading and re-sending a tenant's callback deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.callbacks.models import DELIVERED, FAILED, PENDING, CallbackAttempt, CallbackDelivery
from portal.db import utcnow
from portal.errors import NotFound, ValidationFailed

from ..models import Tenant
from .schemas import AttemptView, DeliveryList, DeliveryView

MAX_LIST = 200


def view(delivery: CallbackDelivery, attempts: Sequence[CallbackAttempt]) -> DeliveryView:
    return DeliveryView(
        id=delivery.event_id,
        event=delivery.event,
        customer=delivery.customer_key or None,
        status=delivery.status,
        attempts=[
            AttemptView(a.at, a.status_code, a.latency_ms, a.response_body, a.error)
            for a in attempts
        ],
        next_attempt_at=delivery.next_attempt_at if delivery.status == PENDING else None,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
        last_error=delivery.last_error,
        payload=delivery.payload,
    )


class CallbackService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(
        self, tenant: Tenant, status: str | None, limit: int, before: str | None
    ) -> DeliveryList:
        if not 1 <= limit <= MAX_LIST:
            raise ValidationFailed(f"limit must be between 1 and {MAX_LIST}.", param="limit")
        query = select(CallbackDelivery).where(CallbackDelivery.tenant_id == tenant.id)
        if status:
            query = query.where(CallbackDelivery.status == status)
        if before:
            anchor = await self._get(tenant, before)
            query = query.where(CallbackDelivery.id < anchor.id)
        rows = list(
            await self.session.scalars(query.order_by(CallbackDelivery.id.desc()).limit(limit + 1))
        )
        page = rows[:limit]
        attempts: dict[int, list[CallbackAttempt]] = {row.id: [] for row in page}
        if page:
            found = await self.session.scalars(
                select(CallbackAttempt)
                .where(CallbackAttempt.delivery_id.in_(attempts))
                .order_by(CallbackAttempt.id)
            )
            for attempt in found:
                attempts[attempt.delivery_id].append(attempt)
        return DeliveryList([view(row, attempts[row.id]) for row in page], len(rows) > limit)

    async def _get(self, tenant: Tenant, event_id: str) -> CallbackDelivery:
        delivery = await self.session.scalar(
            select(CallbackDelivery).where(
                CallbackDelivery.tenant_id == tenant.id, CallbackDelivery.event_id == event_id
            )
        )
        if delivery is None:
            raise NotFound(f"No callback delivery {event_id}", code="callback_not_found")
        return delivery

    async def retry(self, tenant: Tenant, event_id: str) -> DeliveryView:
        """Send a delivery again now, with the same id (receivers can tell it is a repeat)."""
        delivery = await self._get(tenant, event_id)
        delivery.status = PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = utcnow()
        delivery.claimed_until = None
        await self.session.commit()
        attempts = await self.session.scalars(
            select(CallbackAttempt)
            .where(CallbackAttempt.delivery_id == delivery.id)
            .order_by(CallbackAttempt.id)
        )
        return view(delivery, list(attempts))

    async def replay(self, tenant: Tenant, since: datetime, status: str) -> int:
        """Queue again every delivery with ``status`` made since ``since``."""
        if status not in (FAILED, DELIVERED):
            raise ValidationFailed("status must be failed or delivered.", param="status")
        result = await self.session.execute(
            update(CallbackDelivery)
            .where(
                CallbackDelivery.tenant_id == tenant.id,
                CallbackDelivery.status == status,
                CallbackDelivery.created_at >= since,
            )
            .values(status=PENDING, attempts=0, next_attempt_at=utcnow(), claimed_until=None)
        )
        await self.session.commit()
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
