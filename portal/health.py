"""Liveness, readiness and metrics."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Response, get
from litestar.datastructures import State
from sqlalchemy import func, select

from . import metrics
from .callbacks.models import PENDING, CallbackDelivery


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
    """Outbox depth and age, read at scrape time (every process sees the same database)."""
    try:
        async with state.database.engine.connect() as conn:
            count, oldest = (
                await conn.execute(
                    select(func.count(), func.min(CallbackDelivery.created_at)).where(
                        CallbackDelivery.status == PENDING
                    )
                )
            ).one()
    except Exception:
        # Metrics still answer when the database does not; /readyz reports that.
        return
    metrics.CALLBACKS_PENDING.set(count)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
    metrics.CALLBACK_OLDEST_PENDING.set(max(age, 0.0))


ROUTES = [healthz, readyz, metrics_endpoint]
