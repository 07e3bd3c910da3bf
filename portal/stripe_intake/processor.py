"""Acting on stored Stripe events, in the worker: catalog refreshes and tenant callbacks.

Events are claimed like callback deliveries: a lease (``claimed_until``) set in one
statement, with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of workers can share
the work. Events about one Stripe object are taken one at a time, oldest ``created`` first:
an event is not claimed while another event about the same object is leased, or is waiting
and happened earlier. An event that carries an object's state and happened before one already
processed about that object is skipped, so an older event never overwrites newer state.

Marking an event processed and writing its callback to the outbox happen in one transaction,
and only if the event was still open: two workers never both act on one event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from portal.callbacks.outbox import dedupe_key, enqueue, queued
from portal.callbacks.worker import RETRY_DELAYS
from portal.crypto import Vault
from portal.db import Database, UTCDateTime
from portal.errors import BillportError
from portal.stripe_gateway import StripeGateway

from .models import FAILED, PROCESSED, RECEIVED, SKIPPED, StripeEvent

log = logging.getLogger("billport.stripe_intake")

# Stripe event type → the callback it becomes (CONTRACT "Events").
CALLBACK_EVENTS = {
    "customer.subscription.updated": "subscription_updated",
    "customer.subscription.deleted": "subscription_deleted",
    "customer.subscription.trial_will_end": "trial_will_end",
    "invoice.payment_failed": "payment_failed",
    "invoice.payment_succeeded": "payment_succeeded",
}
CATALOG_EVENTS = frozenset(
    {
        "product.created",
        "product.updated",
        "product.deleted",
        "price.created",
        "price.updated",
        "price.deleted",
    }
)
# Where a widget's checkout shows up in Stripe: see ``_checkout_completed``.
CHECKOUT_EVENTS = ("customer.subscription.created", "customer.subscription.updated")
# What the endpoint Billport registers in each tenant's Stripe account listens to.
ENABLED_EVENTS = (*CALLBACK_EVENTS, CHECKOUT_EVENTS[0], *sorted(CATALOG_EVENTS))
# The metadata a widget's checkout puts on the subscription it creates.
CHECKOUT_MARK = "billport_action"
# Events whose object is the new state of a subscription or invoice. A trial notice is not:
# it is sent whatever happened after it.
STATE_EVENTS = frozenset(
    {
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.payment_failed",
        "invoice.payment_succeeded",
    }
)
OPEN = (RECEIVED, FAILED)
LIVE = ("active", "trialing")
# Longer than a catalog refresh against a slow Stripe takes.
LEASE = 120
MAX_ERROR_KEPT = 2000

_DUE = """
    SELECT s.id FROM stripe_event s
    WHERE s.status IN ('received', 'failed') AND s.next_attempt_at <= :now
      AND (s.claimed_until IS NULL OR s.claimed_until < :now)
      AND NOT EXISTS (
        SELECT 1 FROM stripe_event e
        WHERE e.tenant_id = s.tenant_id AND e.object_id = s.object_id AND e.id <> s.id
          AND e.status IN ('received', 'failed')
          AND (e.claimed_until >= :now
               OR (e.status = 'received'
                   AND (e.created < s.created OR (e.created = s.created AND e.id < s.id)))))
    ORDER BY s.created, s.id LIMIT :batch
"""
_CLAIM = "UPDATE stripe_event SET claimed_until = :until WHERE id IN ({due}) RETURNING id"
_CLAIM_POSTGRES = _CLAIM.format(due=_DUE + " FOR UPDATE SKIP LOCKED")
_CLAIM = _CLAIM.format(due=_DUE)


def _customer(obj: dict[str, Any]) -> str | None:
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    return customer if isinstance(customer, str) else None


def _checkout_completed(event: StripeEvent) -> dict[str, Any] | None:
    """The subscription a widget's checkout started, when this event shows it started.

    The widget queues ``create_subscription`` as soon as Stripe answers; should the portal
    stop between Stripe's answer and that write, this event queues it instead. Both use the
    same dedupe key, so the tenant hears of the checkout once, whichever comes first.
    """
    data = event.payload["data"]
    obj = data["object"]
    if event.type not in CHECKOUT_EVENTS or obj.get("object") != "subscription":
        return None
    if not (obj.get("metadata") or {}).get(CHECKOUT_MARK) or obj.get("status") not in LIVE:
        return None
    # A checkout needing 3-D Secure starts incomplete and becomes live when it is confirmed.
    started = event.type == CHECKOUT_EVENTS[0] or (
        (data.get("previous_attributes") or {}).get("status") == "incomplete"
    )
    return obj if started else None


def _describe(exc: Exception) -> str:
    message = exc.message if isinstance(exc, BillportError) else f"{type(exc).__name__}: {exc}"
    return message[:MAX_ERROR_KEPT]


class StripeEventProcessor:
    """Claims stored Stripe events and acts on them; ``run_once`` is one batch."""

    def __init__(
        self,
        database: Database,
        vault: Vault,
        gateway: StripeGateway,
        *,
        clock: Callable[[], float] = time.time,
        batch: int = 50,
    ) -> None:
        from widgets.catalog.service import CatalogCache

        self.database = database
        self.vault = vault
        self.gateway = gateway
        self.clock = clock
        self.batch = batch
        # The worker's own: web processes see a refreshed catalog by its version number.
        self.catalog_cache = CatalogCache()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def claim(self) -> list[int]:
        now = self._now()
        params = {"now": now, "until": now + timedelta(seconds=LEASE), "batch": self.batch}
        async with self.database.engine.begin() as conn:
            statement = _CLAIM_POSTGRES if conn.dialect.name == "postgresql" else _CLAIM
            typed = text(statement).bindparams(
                bindparam("now", type_=UTCDateTime()), bindparam("until", type_=UTCDateTime())
            )
            rows = await conn.execute(typed, params)
            return sorted(row[0] for row in rows)

    async def run_once(self) -> int:
        """Claim and process one batch; the number of events taken."""
        claimed = await self.claim()
        if not claimed:
            return 0
        async with self.database.sessions() as session:
            rows = await session.execute(
                select(StripeEvent.id, StripeEvent.tenant_id, StripeEvent.type)
                .where(StripeEvent.id.in_(claimed))
                .order_by(StripeEvent.created, StripeEvent.id)
            )
            by_tenant: dict[str, list[tuple[int, str]]] = {}
            for event_id, tenant_id, event_type in rows:
                by_tenant.setdefault(tenant_id, []).append((event_id, event_type))
        # Tenants side by side; one tenant's events one after another, oldest first.
        await asyncio.gather(*(self._process_tenant(t, e) for t, e in by_tenant.items()))
        return len(claimed)

    async def _process_tenant(self, tenant_id: str, events: list[tuple[int, str]]) -> None:
        catalog = [event_id for event_id, event_type in events if event_type in CATALOG_EVENTS]
        if catalog:
            # One refresh reads the current catalog: it answers every such event of the batch.
            await self._refresh_catalog(tenant_id, catalog)
        for event_id, event_type in events:
            if event_type not in CATALOG_EVENTS:
                await self._process(event_id)

    async def _refresh_catalog(self, tenant_id: str, event_ids: list[int]) -> None:
        from tenants.models import Tenant
        from tenants.service import TenantService
        from widgets.catalog.service import CatalogService

        try:
            async with self.database.sessions() as session:
                tenant = await session.get(Tenant, tenant_id)
                if tenant is not None:
                    tenants = TenantService(session, self.vault, self.gateway)
                    await CatalogService(session, tenants, self.catalog_cache).refresh(tenant)
                await self._finish(session, event_ids, PROCESSED)
                await session.commit()
        except Exception as exc:
            log.warning("catalog refresh for Stripe events failed", exc_info=True)
            await self._failed(event_ids, exc)

    async def _process(self, event_id: int) -> None:
        try:
            async with self.database.sessions() as session:
                event = await session.get(StripeEvent, event_id)
                if event is None or event.status not in OPEN:
                    return
                callback = CALLBACK_EVENTS.get(event.type)
                checkout = _checkout_completed(event)
                status, note = PROCESSED, None
                if callback is None and checkout is None:
                    status, note = SKIPPED, f"Billport does not act on {event.type} events"
                elif event.type in STATE_EVENTS and await self._superseded(session, event):
                    status = SKIPPED
                    note = f"older than an event already processed about {event.object_id}"
                if not await self._finish(session, [event.id], status, note):
                    # Another worker finished it after our lease ran out.
                    await session.rollback()
                    return
                if checkout is not None:
                    await self._checkout_fallback(session, event, checkout)
                if callback is not None and status == PROCESSED:
                    obj = event.payload["data"]["object"]
                    enqueue(
                        session,
                        tenant_id=event.tenant_id,
                        event=callback,
                        response=obj,
                        customer_id=_customer(obj),
                        livemode=event.livemode,
                    )
                await session.commit()
        except Exception as exc:
            log.warning("processing a Stripe event failed", exc_info=True)
            await self._failed([event_id], exc)

    async def _checkout_fallback(
        self, session: AsyncSession, event: StripeEvent, subscription: dict[str, Any]
    ) -> None:
        key = dedupe_key("create_subscription", subscription["id"])
        # Should the widget write its own between this check and the commit, the commit
        # fails on the unique key and the event is processed again, finding it queued.
        if not await queued(session, event.tenant_id, key):
            enqueue(
                session,
                tenant_id=event.tenant_id,
                event="create_subscription",
                response=subscription,
                customer_id=_customer(subscription),
                livemode=event.livemode,
                dedupe_key=key,
            )

    async def _superseded(self, session: AsyncSession, event: StripeEvent) -> bool:
        """Whether a newer event about the same object was processed already."""
        newest = await session.scalar(
            select(func.max(StripeEvent.created)).where(
                StripeEvent.tenant_id == event.tenant_id,
                StripeEvent.object_id == event.object_id,
                StripeEvent.status == PROCESSED,
                StripeEvent.type.in_(STATE_EVENTS),
                StripeEvent.id != event.id,
            )
        )
        return newest is not None and event.created < newest

    async def _finish(
        self, session: AsyncSession, event_ids: list[int], status: str, note: str | None = None
    ) -> list[int]:
        """Close the events that are still open; the ids this call closed."""
        rows = await session.execute(
            update(StripeEvent)
            .where(StripeEvent.id.in_(event_ids), StripeEvent.status.in_(OPEN))
            .values(
                status=status,
                error=note,
                processed_at=self._now(),
                attempts=StripeEvent.attempts + 1,
                next_attempt_at=None,
                claimed_until=None,
            )
            .returning(StripeEvent.id)
            .execution_options(synchronize_session=False)
        )
        return list(rows.scalars())

    async def _failed(self, event_ids: list[int], exc: Exception) -> None:
        """Record the failure; the event is tried again on the callback retry schedule."""
        now = self.clock()
        try:
            async with self.database.sessions() as session:
                events = await session.scalars(
                    select(StripeEvent).where(
                        StripeEvent.id.in_(event_ids), StripeEvent.status.in_(OPEN)
                    )
                )
                for event in events:
                    event.attempts += 1
                    event.status = FAILED
                    event.error = _describe(exc)
                    event.claimed_until = None
                    event.next_attempt_at = (
                        datetime.fromtimestamp(now + RETRY_DELAYS[event.attempts - 1], UTC)
                        if event.attempts <= len(RETRY_DELAYS)
                        else None
                    )
                await session.commit()
        except Exception:
            # The lease runs out and another round takes the events again.
            log.exception("could not record a failed Stripe event")
