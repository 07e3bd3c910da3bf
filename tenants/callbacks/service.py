"""Reading, re-sending and testing a tenant's callback deliveries."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.callbacks.models import DELIVERED, FAILED, PENDING, CallbackAttempt, CallbackDelivery
from portal.callbacks.outbox import enqueue
from portal.callbacks.signing import headers
from portal.db import utcnow
from portal.errors import Conflict, NotFound, ValidationFailed
from portal.stripe_intake.models import StripeEvent

from ..models import Tenant
from .schemas import AttemptView, DeliveryList, DeliveryView

MAX_LIST = 200
STATUSES = (PENDING, DELIVERED, FAILED)
TEST_EVENT = "test"
TEST_MESSAGE = (
    "This is a test event sent from the Billport dashboard. "
    "If your endpoint verified its signature, callbacks reach you."
)
# Event names are lowercase words joined by underscores (docs/events.md).
_EVENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_CUSTOMER_ID = re.compile(r"[A-Za-z0-9_]{1,255}")


def view(delivery: CallbackDelivery, attempts: Sequence[CallbackAttempt]) -> DeliveryView:
    return DeliveryView(
        id=delivery.event_id,
        event=delivery.event,
        # The body's customer, which is what the tenant receives; ``customer_key`` may also
        # be a lane of its own (test events).
        customer=delivery.payload.get("customer") or None,
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


def sent_headers(delivery: DeliveryView) -> dict[str, str]:
    """The headers each attempt carries; the time and signature are made per attempt."""
    body = json.dumps(delivery.payload, separators=(",", ":"))
    sent = headers([], delivery.id, 0, body)
    sent["webhook-timestamp"] = "the Unix time of the attempt"
    sent["webhook-signature"] = "v1,<base64 HMAC-SHA256> (one per active callback secret)"
    return sent


@dataclasses.dataclass(frozen=True)
class DeliveryFilters:
    """What a list of deliveries is narrowed to; every field optional."""

    status: str | None = None
    event: str | None = None
    customer: str | None = None

    @classmethod
    def of(
        cls, status: str | None = None, event: str | None = None, customer: str | None = None
    ) -> DeliveryFilters:
        """Checked filters from user input; empty values mean "any"."""
        status = (status or "").strip() or None
        event = (event or "").strip() or None
        customer = (customer or "").strip() or None
        if status is not None and status not in STATUSES:
            raise ValidationFailed("status must be pending, delivered or failed.", param="status")
        if event is not None and not _EVENT_NAME.fullmatch(event):
            raise ValidationFailed(
                "event must be an event name such as change_plan.", param="event"
            )
        if customer is not None and not _CUSTOMER_ID.fullmatch(customer):
            raise ValidationFailed(
                "customer must be a Stripe customer id such as cus_123.", param="customer"
            )
        return cls(status, event, customer)


@dataclasses.dataclass(frozen=True)
class StripeIntakeSummary:
    """How Stripe events reach the tenant: configured or not, counts by status, the last."""

    configured: bool
    counts: dict[str, int]
    last_received_at: datetime | None


class CallbackService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(
        self,
        tenant: Tenant,
        status: str | None,
        limit: int,
        before: str | None,
        *,
        event: str | None = None,
        customer: str | None = None,
    ) -> DeliveryList:
        """Deliveries newest first; ``before`` (an event id) pages back."""
        if not 1 <= limit <= MAX_LIST:
            raise ValidationFailed(f"limit must be between 1 and {MAX_LIST}.", param="limit")
        filters = DeliveryFilters.of(status, event, customer)
        query = select(CallbackDelivery).where(CallbackDelivery.tenant_id == tenant.id)
        if filters.status:
            query = query.where(CallbackDelivery.status == filters.status)
        if filters.event:
            query = query.where(CallbackDelivery.event == filters.event)
        if filters.customer:
            query = query.where(CallbackDelivery.customer_key == filters.customer)
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

    async def get(self, tenant: Tenant, event_id: str) -> DeliveryView:
        """One delivery of the tenant with every attempt, oldest first."""
        delivery = await self._get(tenant, event_id)
        return view(delivery, await self._attempts(delivery))

    async def _get(self, tenant: Tenant, event_id: str) -> CallbackDelivery:
        delivery = None
        if len(event_id) <= 40:
            delivery = await self.session.scalar(
                select(CallbackDelivery).where(
                    CallbackDelivery.tenant_id == tenant.id, CallbackDelivery.event_id == event_id
                )
            )
        if delivery is None:
            raise NotFound(f"No callback delivery {event_id[:60]}", code="callback_not_found")
        return delivery

    async def _attempts(self, delivery: CallbackDelivery) -> Sequence[CallbackAttempt]:
        attempts = await self.session.scalars(
            select(CallbackAttempt)
            .where(CallbackAttempt.delivery_id == delivery.id)
            .order_by(CallbackAttempt.id)
        )
        return list(attempts)

    async def retry(self, tenant: Tenant, event_id: str) -> DeliveryView:
        """Send a delivery again now, with the same id (receivers can tell it is a repeat)."""
        delivery = await self._get(tenant, event_id)
        delivery.status = PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = utcnow()
        delivery.claimed_until = None
        await self.session.commit()
        return view(delivery, await self._attempts(delivery))

    async def send_test(self, tenant: Tenant) -> DeliveryView:
        """Queue a ``test`` event for the tenant's callback URL, signed like any callback."""
        if not tenant.callback_url:
            raise Conflict(
                "There is no callback URL to send to; set one in the settings first.",
                code="callback_url_missing",
            )
        if tenant.callbacks_disabled_at is not None:
            raise Conflict(
                "Callbacks are disabled because the callback URL answered 410 Gone; "
                "save the callback URL again in the settings to enable them.",
                code="callbacks_disabled",
            )
        delivery = enqueue(
            self.session,
            tenant_id=tenant.id,
            event=TEST_EVENT,
            response={"object": TEST_EVENT, "message": TEST_MESSAGE},
            customer_id=None,
            livemode=tenant.livemode,
        )
        # Deliveries sharing a customer key go out one after another; a lane of its own keeps
        # a test sent to a failing endpoint from holding back real events about no customer.
        delivery.customer_key = f"{TEST_EVENT}:{delivery.event_id}"
        await self.session.commit()
        return view(delivery, [])

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

    async def stripe_intake(self, tenant: Tenant) -> StripeIntakeSummary:
        """The Stripe events behind the Stripe-derived callbacks, in short."""
        rows = await self.session.execute(
            select(StripeEvent.status, func.count(), func.max(StripeEvent.received_at))
            .where(StripeEvent.tenant_id == tenant.id)
            .group_by(StripeEvent.status)
        )
        counts: dict[str, int] = {}
        last: datetime | None = None
        for status, count, received in rows:
            counts[status] = count
            if received is not None and (last is None or received > last):
                last = received
        return StripeIntakeSummary(tenant.stripe_webhook_secret_encrypted is not None, counts, last)
