"""Liveness, readiness and metrics."""

from __future__ import annotations

from litestar import Response, get
from litestar.datastructures import State

from . import metrics


@get("/healthz", include_in_schema=False, sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", include_in_schema=False)
async def readyz(state: State) -> Response[dict[str, str]]:
    if await state.database.ping():
        return Response({"status": "ok"})
    return Response({"status": "unavailable", "reason": "database not answering"}, status_code=503)


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics_endpoint() -> Response[bytes]:
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)


ROUTES = [healthz, readyz, metrics_endpoint]
