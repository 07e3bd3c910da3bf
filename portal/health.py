"""Liveness, readiness and metrics."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Response, get
from litestar.datastructures import State
from sqlalchemy import func, select

from . import metrics
from .callbacks.models import PENDING, CallbackDelivery
from .stripe_intake.models import RECEIVED, StripeEvent


@get("/healthz", include_in_schema=False, sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", include_in_schema=False)
async def readyz(state: State) -> Response[dict[str, str]]:
    if await state.database.ping():
        return Response({"status": "ok"})
    return Response({"status": "unavailable", "reason": "database not answering"}, status_code=503)


@get("/metrics", include_in_schema=False)
async def metrics_endpoint(state: State) -> Response[bytes]:
    await _queue_gauges(state)
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)


async def _queue_gauges(state: State) -> None:
    """Outbox depth and age and intake lag, read at scrape time (one database for all)."""
    try:
        async with state.database.engine.connect() as conn:
            count, oldest = (
                await conn.execute(
                    select(func.count(), func.min(CallbackDelivery.created_at)).where(
                        CallbackDelivery.status == PENDING
                    )
                )
            ).one()
            waiting = await conn.scalar(
                select(func.min(StripeEvent.received_at)).where(StripeEvent.status == RECEIVED)
            )
    except Exception:
        # Metrics still answer when the database does not; /readyz reports that.
        return
    metrics.CALLBACKS_PENDING.set(count)
    metrics.CALLBACK_OLDEST_PENDING.set(_age(oldest))
    metrics.STRIPE_INTAKE_LAG.set(_age(waiting))


def _age(moment: datetime | None) -> float:
    if moment is None:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((datetime.now(UTC) - moment).total_seconds(), 0.0)


ROUTES = [healthz, readyz, metrics_endpoint]
