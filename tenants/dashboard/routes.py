"""The dashboard's router: its pages, static files, and errors answered as pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, Router, get
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.params import FromPath
from litestar.response import Redirect

from portal.errors import BillportError, NotFound

from .auth_routes import AuthController
from .callbacks_routes import CallbackDashboardController
from .context import SignInRequired, provide_dashboard
from .customers_routes import CustomerDashboardController
from .pages_routes import BillingPagesController
from .rendering import ASSETS, render
from .sso_routes import SsoController
from .tenant_routes import TenantDashboardController

HEADINGS = {
    400: "That request was not valid",
    401: "Please sign in",
    403: "You cannot do that",
    404: "Not found",
    405: "Not found",
    409: "That conflicts with the current state",
    413: "That is too large to send",
    422: "That was not valid",
    429: "Too many attempts",
    502: "Stripe did not answer",
    503: "Temporarily unavailable",
}


@get("/dashboard/static/{name:str}", include_in_schema=False)
async def dashboard_asset(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
    asset = ASSETS.get(name)
    if asset is None:
        raise NotFound(f"No file {name}")
    versioned = request.query_params.get("v") == asset.version
    headers = {
        "ETag": asset.etag,
        "Cache-Control": f"public, max-age={31_536_000 if versioned else 300}",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == asset.etag:
        return Response(b"", status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


@get("/dashboard/{rest:path}", include_in_schema=False)
async def unknown_page(rest: FromPath[str]) -> None:
    raise NotFound("There is no such page in the dashboard.")


def _error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, SignInRequired):
        path = request.url.path if request.method == "GET" else "/dashboard/"
        # Encoded whole: a path holding ?, # or & still comes back as the same path.
        return Redirect(f"/dashboard/login?{urlencode({'next': path})}", status_code=303)
    if isinstance(exc, BillportError):
        status, message = exc.status_code, exc.message
    elif isinstance(exc, ValidationException):
        status, message = 400, "Some of what was sent is not valid."
    elif isinstance(exc, HTTPException) and exc.status_code < 500:
        status = exc.status_code
        message = (
            "There is no such page in the dashboard."
            if isinstance(exc, NotFoundException) or status in (404, 405)
            else str(exc.detail)
        )
    else:
        import logging

        logging.getLogger("billport.dashboard").error("dashboard error", exc_info=exc)
        status, message = 500, "Something went wrong on our side; it was logged."
    heading = HEADINGS.get(status, "Something went wrong")
    return render("error.html", status_code=status, heading=heading, message=message)


DASHBOARD = Router(
    path="/",
    route_handlers=[
        dashboard_asset,
        unknown_page,
        AuthController,
        SsoController,
        TenantDashboardController,
        BillingPagesController,
        CallbackDashboardController,
        CustomerDashboardController,
    ],
    dependencies={"dashboard": Provide(provide_dashboard)},
    # Every class the app answers in JSON, so that these pages answer in HTML instead.
    exception_handlers={
        BillportError: _error_page,
        ValidationException: _error_page,
        HTTPException: _error_page,
        Exception: _error_page,
    },
    include_in_schema=False,
)
