"""The portal's Litestar application factory."""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import stripe
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import (
    HTTPScope,
    LifeSpanReceive,
    LifeSpanScope,
    LifeSpanSend,
    Receive,
    Scope,
    Send,
)
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession

from . import health, metrics
from .assets import load_assets
from .callbacks.worker import CallbackWorker
from .changes import ChangeWatcher
from .crypto import Vault
from .db import Database
from .errors import BillportError, error_body
from .identity.widget_session import WidgetSessionSigner
from .logs import request_id_var, tenant_id_var
from .settings import Settings, load_settings
from .stripe_gateway import StripeGateway, map_stripe_error
from .stripe_intake import routes as stripe_intake
from .stripe_intake.processor import StripeEventProcessor

log = logging.getLogger("billport.http")

MAX_BODY_BYTES = 1_048_576

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def _billport_error(request: Request[Any, Any, Any], exc: BillportError) -> Response[Any]:
    if exc.status_code >= 500:
        log.warning("upstream failure: %s", exc.message, extra={"code": exc.code})
        metrics.STRIPE_ERRORS.labels(exc.code).inc()
    return Response(exc.body(), status_code=exc.status_code)


def _stripe_error(request: Request[Any, Any, Any], exc: stripe.StripeError) -> Response[Any]:
    """A Stripe failure that no route turned into a Billport error: answered as the gateway
    maps it (retryable 502/503/429 for outages), never as an internal error."""
    return _billport_error(request, map_stripe_error(exc))


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    details = exc.extra if isinstance(exc.extra, list) else []
    problems = []
    param = None
    for item in details:
        if isinstance(item, dict):
            key = item.get("key")
            param = param or key
            problems.append(f"{key}: {item.get('message')}" if key else str(item.get("message")))
    # A body that is not JSON at all is a malformed request, not an invalid one.
    malformed = any("JSON" in p and "malformed" in p.lower() for p in problems)
    message = "; ".join(problems) or exc.detail or "The request is not valid."
    status = 400 if malformed or not details else 422
    extra = {"param": param} if param else {}
    return Response(error_body(_STATUS_CODES[status], message, **extra), status_code=status)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        return _internal_error(request, exc)
    code = _STATUS_CODES.get(status, "error")
    message = exc.detail or code.replace("_", " ")
    if status == 404:
        message = f"No route {request.method} {request.url.path}"
    return Response(error_body(code, message), status_code=status, headers=exc.headers)


def _database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached (or is busy) right now.

    Lost or refused connections, connect and pool timeouts, and a locked SQLite file: the
    same request is likely to succeed once the database is back. Errors in what was asked
    of it (an integrity or a programming error) are not among them.
    """
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    return isinstance(exc, SQLAlchemyTimeoutError | ConnectionError | TimeoutError)


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if _database_unavailable(exc):
        log.warning("database unavailable: %s", type(exc).__name__)
        return Response(
            error_body(
                "unavailable",
                "The service is briefly unavailable; please try again in a moment.",
                retryable=True,
            ),
            status_code=503,
            headers={"Retry-After": "5"},
        )
    log.error("unhandled error", exc_info=exc)
    request_id = request_id_var.get() or "-"
    return Response(
        error_body(
            "internal_error",
            f"Something went wrong on our side; it was logged with request id {request_id}.",
        ),
        status_code=500,
    )


_DEFAULT_HEADERS = [(b"x-content-type-options", b"nosniff")]
_NEVER_FRAMED = [
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-frame-options", b"DENY"),
]


class Portal(Litestar):
    """Litestar with request ids, access logs and metrics around every HTTP request.

    This wraps the whole application rather than using a Litestar middleware, so that
    requests matching no route (404, 405) are counted, logged and tagged too.
    """

    async def __call__(
        self,
        scope: Scope | LifeSpanScope,
        receive: Receive | LifeSpanReceive,
        send: Send | LifeSpanSend,
    ) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        valid = 0 < len(incoming) <= 64 and incoming.isprintable()
        request_id = incoming if valid else "req_" + secrets.token_hex(8)
        request_id_var.set(request_id)
        tenant_id_var.set(None)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {bytes(name).lower() for name, _ in headers}
                headers += [h for h in _DEFAULT_HEADERS if h[0] not in present]
                if b"content-security-policy" not in present:
                    # Only pages that set their own policy (widgets, dashboard) may say
                    # who frames them; JSON answers, assets and stray 404s never are.
                    headers += [h for h in _NEVER_FRAMED if h[0] not in present]
                message["headers"] = [*headers, (b"x-request-id", request_id.encode())]
            await send(message)

        method = cast(HTTPScope, scope)["method"]
        try:
            await super().__call__(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = str(scope.get("path_template") or "unmatched")
            metrics.REQUESTS.labels(route, method, f"{status // 100}xx").inc()
            metrics.LATENCY.labels(route, method).observe(elapsed)
            if route not in {"/healthz", "/readyz", "/metrics"}:
                log.info(
                    "request",
                    extra={
                        "method": method,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )


_FROZEN: list[bool] = []


def _freeze_what_is_loaded() -> None:
    """Take what the process loaded at start out of the garbage collector's view, once.

    Modules, the app and its routes are a few hundred thousand objects that live as long
    as the process. Every full collection would walk them all again: under load that is a
    pause of 50 to 90 ms for every request in flight, every few seconds, and it is what the
    99th-percentile latency at 64 connections was made of.
    """
    if not _FROZEN:
        gc.collect()
        gc.freeze()
        _FROZEN.append(True)


async def provide_db_session(state: State) -> AsyncIterator[AsyncSession]:
    async for session in state.database.session():
        yield session


def create_app(settings: Settings | None = None) -> Litestar:
    """The portal: health, the tenant API and the routers of ``tenants`` and ``widgets``."""
    settings = settings or load_settings()
    from tenants.dashboard.accounts import SignInLimits
    from tenants.routes import ROUTERS as TENANT_ROUTERS
    from widgets.catalog.service import CatalogCache
    from widgets.ratelimit import AnonymousLimits
    from widgets.routes import ROUTES as WIDGET_ROUTES
    from widgets.routes import STATIC as WIDGET_STATIC
    from widgets.visitor_pages import VisitorPages

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        database = Database(settings.database_url)
        gateway = StripeGateway(settings)
        app.state.database = database
        app.state.gateway = gateway
        app.state.changes = ChangeWatcher(database)
        app.state.visitor_pages = VisitorPages(app.state.changes)
        stop = asyncio.Event()
        watching = asyncio.create_task(app.state.changes.run(stop), name="change-watcher")
        _freeze_what_is_loaded()
        worker = None
        if settings.worker_in_process:
            processing = StripeEventProcessor(database, app.state.vault, gateway)
            delivering = CallbackWorker(
                database,
                app.state.vault,
                extra=[processing.run_once],
                lease=settings.callback_lease_seconds,
            )
            worker = asyncio.create_task(delivering.run(stop), name="callback-worker")
        try:
            yield
        finally:
            stop.set()
            await watching
            if worker is not None:
                await worker
            await gateway.aclose()
            await database.dispose()

    return Portal(
        route_handlers=[*health.ROUTES, *stripe_intake.ROUTES, *TENANT_ROUTERS, *WIDGET_ROUTES],
        lifespan=[lifespan],
        state=State(
            {
                "settings": settings,
                "vault": Vault(settings.encryption_keys),
                "assets": load_assets(WIDGET_STATIC),
                "catalog_cache": CatalogCache(),
                "widget_signer": WidgetSessionSigner(settings.secret_key),
                "anonymous_limits": AnonymousLimits(),
                "sign_in_limits": SignInLimits(),
            }
        ),
        dependencies={"db_session": Provide(provide_db_session)},
        exception_handlers={
            BillportError: _billport_error,
            stripe.StripeError: _stripe_error,
            ValidationException: _validation_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
        openapi_config=OpenAPIConfig(
            title="Billport tenant API",
            version="1.0.0",
            path="/api/schema",
            components=Components(
                security_schemes={
                    "secret_key": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="The tenant's secret API key, bp_sk_… (POST /api/v1/tenants "
                        "takes the operator token instead)",
                    )
                }
            ),
            security=[{"secret_key": []}],
        ),
        request_max_body_size=MAX_BODY_BYTES,
        # Logging is configured once per process by the command that starts it.
        logging_config=None,
        debug=False,
    )
