"""The callback worker: claims due deliveries, POSTs them signed, records every attempt.

Any number of workers may run against one database. A delivery is claimed by setting a lease
(``claimed_until``) in one statement — with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, and under
SQLite's single writer otherwise — so no two workers send the same delivery at once. A worker
that dies leaves its lease to expire; one that stops cleanly hands its claims back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import bindparam, select, text

from portal import metrics
from portal.crypto import Vault
from portal.db import Database, UTCDateTime

from .models import DELIVERED, FAILED, PENDING, CallbackAttempt, CallbackDelivery
from .signing import headers

log = logging.getLogger("billport.callbacks")

# CONTRACT: after a failure, retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
RETRY_DELAYS = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
TIMEOUT = 15.0
LEASE = 60
MAX_RESPONSE_KEPT = 2000

# Due, unclaimed deliveries with no earlier pending delivery of the same customer: events of
# one customer go out in the order they happened, whichever worker sends them.
_DUE = """
    SELECT d.id FROM callback_delivery d
    WHERE d.status = 'pending' AND d.next_attempt_at <= :now
      AND (d.claimed_until IS NULL OR d.claimed_until < :now)
      AND NOT EXISTS (
        SELECT 1 FROM callback_delivery e
        WHERE e.tenant_id = d.tenant_id AND e.customer_key = d.customer_key
          AND e.status = 'pending' AND e.id < d.id)
    ORDER BY d.id LIMIT :batch
"""
_CLAIM = "UPDATE callback_delivery SET claimed_until = :until WHERE id IN ({due}) RETURNING id"
_CLAIM_POSTGRES = _CLAIM.format(due=_DUE + " FOR UPDATE SKIP LOCKED")
_CLAIM = _CLAIM.format(due=_DUE)


def _retry_after(answer: httpx.Response, now: float) -> float | None:
    value = answer.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    try:
        moment = datetime.strptime(value, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)
    except ValueError:
        return None
    return max(0.0, moment.timestamp() - now)


@dataclasses.dataclass(frozen=True)
class _Sent:
    """What one POST to the tenant's endpoint came to."""

    status_code: int | None = None
    latency_ms: int | None = None
    response_body: str | None = None
    error: str | None = None
    retry_after: float | None = None


class CallbackWorker:
    def __init__(
        self,
        database: Database,
        vault: Vault,
        *,
        clock: Callable[[], float] = time.time,
        batch: int = 50,
        transport: httpx.AsyncBaseTransport | None = None,
        extra: Sequence[Callable[[], Awaitable[int]]] = (),
        lease: int = LEASE,
    ) -> None:
        self.database = database
        # How long a claim holds: a worker that dies mid-batch delays its work this long.
        self.lease = lease
        # Other batches run in each round of ``run`` before the deliveries (Stripe events),
        # each returning how much it did.
        self.extra = tuple(extra)
        self.vault = vault
        self.clock = clock
        self.batch = batch
        self._client = httpx.AsyncClient(timeout=TIMEOUT, transport=transport)
        self._claimed: set[int] = set()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def claim(self) -> list[int]:
        now = self._now()
        params = {"now": now, "until": now + timedelta(seconds=self.lease), "batch": self.batch}
        async with self.database.engine.begin() as conn:
            statement = _CLAIM_POSTGRES if conn.dialect.name == "postgresql" else _CLAIM
            typed = text(statement).bindparams(
                bindparam("now", type_=UTCDateTime()), bindparam("until", type_=UTCDateTime())
            )
            rows = await conn.execute(typed, params)
            claimed = sorted(row[0] for row in rows)
        self._claimed.update(claimed)
        return claimed

    async def run_once(self) -> int:
        """Claim and send one batch; the number of deliveries attempted."""
        claimed = await self.claim()
        by_customer: dict[tuple[str, str], list[int]] = {}
        if claimed:
            async with self.database.sessions() as session:
                for delivery in await _load(session, claimed):
                    key = (delivery.tenant_id, delivery.customer_key)
                    by_customer.setdefault(key, []).append(delivery.id)
        # Customers in parallel; one customer's deliveries one after another, oldest first.
        await asyncio.gather(*(self._send_in_order(ids) for ids in by_customer.values()))
        return len(claimed)

    async def _send_in_order(self, ids: list[int]) -> None:
        for position, delivery_id in enumerate(ids):
            delivered = await self.deliver(delivery_id)
            if not delivered:
                await self.release(ids[position + 1 :])
                return

    async def release(self, ids: list[int]) -> None:
        """Hand claims back (on shutdown, or behind a customer's failed delivery)."""
        if not ids:
            return
        async with self.database.engine.begin() as conn:
            statement = text("UPDATE callback_delivery SET claimed_until = NULL WHERE id IN :ids")
            await conn.execute(statement.bindparams(bindparam("ids", expanding=True)), {"ids": ids})
        self._claimed.difference_update(ids)

    async def deliver(self, delivery_id: int) -> bool:
        """One attempt at one delivery; whether the tenant has it now.

        No database connection is held while the tenant's endpoint answers (up to 15 s):
        the delivery is read, sent, then its outcome written in a second transaction.
        """
        from tenants.keys import callback_secrets
        from tenants.models import Tenant

        request: tuple[str, str, dict[str, str]] | None = None
        async with self.database.sessions() as session:
            delivery = await session.get(CallbackDelivery, delivery_id)
            if delivery is None or delivery.status != PENDING:
                self._claimed.discard(delivery_id)
                return True
            tenant = await session.get(Tenant, delivery.tenant_id)
            missing = "tenant deleted" if tenant is None else "no callback URL is configured"
            if tenant is not None and tenant.callback_url and not tenant.callbacks_disabled_at:
                body = json.dumps(delivery.payload, separators=(",", ":"))
                # Signed with the wall clock: receivers check it against theirs.
                signed = headers(
                    callback_secrets(tenant, self.vault), delivery.event_id, int(time.time()), body
                )
                request = (tenant.callback_url, body, signed)
        at = self._now()
        sent = await self._send(*request) if request else _Sent(error=missing)
        async with self.database.sessions() as session:
            delivery = await session.get(CallbackDelivery, delivery_id)
            if delivery is None or delivery.status != PENDING:
                self._claimed.discard(delivery_id)
                return True
            attempt = CallbackAttempt(
                delivery_id=delivery.id,
                at=at,
                status_code=sent.status_code,
                latency_ms=sent.latency_ms,
                response_body=sent.response_body,
                error=sent.error,
            )
            delivery.attempts += 1
            now = self.clock()
            if sent.status_code == 410:
                # The tenant said the endpoint is gone: stop sending until it sets a URL again.
                tenant = await session.get(Tenant, delivery.tenant_id)
                if tenant is not None:
                    tenant.callbacks_disabled_at = self._now()
                delivery.status = FAILED
                delivery.last_error = "the callback URL answered 410 Gone; callbacks are disabled"
            elif sent.status_code is not None and 200 <= sent.status_code < 300:
                delivery.status = DELIVERED
                delivery.delivered_at = self._now()
                delivery.last_error = None
            else:
                error = sent.error or f"HTTP {sent.status_code}"
                self._fail(delivery, error, now, at_least=sent.retry_after)
            delivery.claimed_until = None
            session.add(attempt)
            await session.commit()
            self._claimed.discard(delivery_id)
            outcome = {DELIVERED: "delivered", FAILED: "failed"}.get(delivery.status, "retry")
            metrics.CALLBACK_ATTEMPTS.labels(outcome).inc()
            return delivery.status == DELIVERED

    async def _send(self, url: str, body: str, signed: dict[str, str]) -> _Sent:
        started = time.perf_counter()
        try:
            answer = await self._client.post(url, content=body.encode(), headers=signed)
        except httpx.HTTPError as exc:
            return _Sent(
                latency_ms=int((time.perf_counter() - started) * 1000),
                error=f"{type(exc).__name__}: {exc}"[:MAX_RESPONSE_KEPT],
            )
        status = answer.status_code
        return _Sent(
            status_code=status,
            latency_ms=int((time.perf_counter() - started) * 1000),
            response_body=answer.text[:MAX_RESPONSE_KEPT],
            retry_after=_retry_after(answer, self.clock()) if status in (429, 503) else None,
        )

    def _fail(
        self, delivery: CallbackDelivery, error: str, now: float, at_least: float | None = None
    ) -> None:
        delivery.last_error = error
        if delivery.attempts > len(RETRY_DELAYS):
            delivery.status = FAILED
            return
        delay = max(RETRY_DELAYS[delivery.attempts - 1], at_least or 0)
        delivery.next_attempt_at = datetime.fromtimestamp(now + delay, UTC)

    async def run(self, stop: asyncio.Event, idle: float = 1.0) -> None:
        """Deliver until ``stop`` is set; claimed-but-unsent work is handed back."""
        try:
            while not stop.is_set():
                sent = 0
                for batch in (*self.extra, self.run_once):
                    try:
                        sent += await batch()
                    except Exception:
                        log.exception("worker batch failed")
                if not sent:
                    try:
                        await asyncio.wait_for(stop.wait(), idle)
                    except TimeoutError:
                        pass
        finally:
            await self.release(sorted(self._claimed))
            await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()


async def _load(session: Any, ids: list[int]) -> list[CallbackDelivery]:
    rows = await session.scalars(
        select(CallbackDelivery).where(CallbackDelivery.id.in_(ids)).order_by(CallbackDelivery.id)
    )
    return list(rows)
