"""What browsers load: embed.js, the iframe pages, the full-page portal, the widget API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncSession

from portal.assets import Asset
from portal.changes import ChangeWatcher
from portal.errors import BillportError, NotFound
from portal.identity.sessions import find_session
from portal.identity.widget_session import HEADER
from tenants.models import Tenant
from tenants.service import TenantService

from .billing.routes import WidgetBillingController
from .catalog.dashboard import CATALOG_DASHBOARD
from .catalog.routes import CatalogController
from .identity import ANONYMOUS_WIDGETS, OpenedWidget, WidgetOpener, WidgetRefused, WidgetRequest
from .money import locale_currency, pick_locale
from .pages import page_content, widget_options
from .portal.routes import PORTAL_ROUTES
from .portal.subscriptions import PortalSubscriptionsController
from .rendering import render, render_html
from .security import page_headers
from .visitor_pages import (
    FRAME_SLOT,
    ORIGIN_SLOT,
    SESSION_SLOT,
    VisitorKey,
    VisitorPage,
    VisitorPages,
    visitor_key,
)

STATIC = Path(__file__).parent / "static"
# The scripts of each widget page, after channel.js (and Stripe.js where cards are taken).
SCRIPTS = {
    "plan-picker": ("widgets.js",),
    "checkout": ("widgets.js",),
    "signup": ("widgets.js",),
    "customer-portal": ("portal-kit.js", "portal.js", "portal-payments.js"),
    "invoices": ("portal-kit.js", "portal-payments.js"),
}
TITLES = {
    "plan-picker": "Plans",
    "checkout": "Checkout",
    "signup": "Sign up",
    "customer-portal": "Billing",
    "invoices": "Invoices",
}


def _opener(state: State, session: AsyncSession) -> WidgetOpener:
    return WidgetOpener(TenantService(session, state.vault, state.gateway), state.widget_signer)


async def provide_opener(db_session: NamedDependency[AsyncSession], state: State) -> WidgetOpener:
    return _opener(state, db_session)


def _asset_response(request: Request[Any, Any, Any], asset: Asset, max_age: int) -> Response[bytes]:
    headers = {
        "ETag": asset.etag,
        "Cache-Control": f"public, max-age={max_age}",
        "X-Content-Type-Options": "nosniff",
        "Access-Control-Allow-Origin": "*",
    }
    wanted = request.headers.get("if-none-match", "")
    if any(tag.strip().removeprefix("W/") in (asset.etag, "*") for tag in wanted.split(",")):
        return Response(b"", status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


@get("/embed.js", include_in_schema=False)
async def embed_js(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    # Short max-age: tenants never change their snippet, so updates must reach them.
    return _asset_response(request, state.assets["embed.js"], max_age=300)


@get("/static/widgets/{name:str}", include_in_schema=False)
async def widget_asset(
    request: Request[Any, Any, Any], state: State, name: FromPath[str]
) -> Response[bytes]:
    asset = state.assets.get(name)
    if asset is None:
        raise NotFound(f"No file {name}")
    versioned = request.query_params.get("v") == asset.version
    return _asset_response(request, asset, max_age=31_536_000 if versioned else 300)


async def _widget_page(
    request: Request[Any, Any, Any],
    state: State,
    opener: WidgetOpener,
    opened: OpenedWidget,
    *,
    return_url: str | None = None,
    full_page: bool = False,
    visitor: tuple[VisitorKey, int] | None = None,
) -> Response[Any]:
    """The widget's page; with ``visitor`` (its key and change count) it may be kept."""
    query = request.query_params
    tenant, session = opened.tenant, opened.session
    frame = "" if full_page else query.get("frame", "")[:64]
    keep = visitor is not None and session.anonymous and session.widget in ANONYMOUS_WIDGETS
    config: dict[str, Any] = {
        "version": 1,
        "widget": session.widget,
        "frame": FRAME_SLOT if keep else frame,
        "parentOrigin": ORIGIN_SLOT if keep else session.parent_origin,
        "session": SESSION_SLOT if keep else opened.signed_session,
        "sessionHeader": HEADER,
    }
    # The page's own ?locale= first, then the language its billing page (or tenant) sets,
    # then the visitor's browser.
    configured = widget_options(opened).get("language")
    language = (
        query.get("locale")
        or (configured if isinstance(configured, str) else None)
        or request.headers.get("accept-language")
    )
    content = await page_content(
        opened,
        opener.tenants,
        state.catalog_cache,
        state.database,
        locale=pick_locale(language),
        currency=(query.get("currency") or "").lower()[:3] or None,
        preferred_currency=locale_currency(request.headers.get("accept-language")),
        price=query.get("price") or None,
    )
    context = dict(
        widget=session.widget,
        title=f"Billing — {tenant.name}" if full_page else TITLES[session.widget],
        tenant_name=tenant.name,
        session=session,
        config={**config, **content.config},
        full_page=full_page,
        return_url=return_url,
        stripe_js=content.stripe_js,
        widget_scripts=SCRIPTS.get(session.widget, ()),
        **content.context,
    )
    # The full page is opened from a link, never framed.
    frame_ancestors = [] if full_page else list(tenant.allowed_origins)
    if not keep or visitor is None or content.catalog_refreshed_at is None:
        return render(
            content.template,
            assets=state.assets,
            frame_ancestors=frame_ancestors,
            stripe_api_base=tenant.stripe_api_base,
            **context,
        )
    key, stamp = visitor
    compressed, dictionary = state.visitor_pages.compress(
        render_html(content.template, assets=state.assets, **context),
        session.widget,
        content.config["locale"],
    )
    page = VisitorPage(
        tenant_id=tenant.id,
        billing_page_id=session.billing_page_id,
        allowed_origins=frozenset(tenant.allowed_origins),
        compressed=compressed,
        dictionary=dictionary,
        headers=page_headers(frame_ancestors, tenant.stripe_api_base),
        stamp=stamp,
        catalog_refreshed_at=content.catalog_refreshed_at,
    )
    # Only pages a well-formed request asks for: a price or currency the catalog does not
    # have would let anyone fill the memory with pages nobody else asks for.
    offered = {price["currency"] for plan in content.config["plans"] for price in plan["prices"]}
    if content.config["price"] == key.price and key.currency in (None, *offered):
        state.visitor_pages.keep(key, page)
    return VisitorPages.serve(
        page, key, state.widget_signer, parent_origin=session.parent_origin, frame=frame
    )


def _error_page(
    request: Request[Any, Any, Any], state: State, error: BillportError, widget: str
) -> Response[str]:
    config: dict[str, Any] = {"version": 1, "widget": widget, "error": error.body()["error"]}
    # Anyone may frame an error page: it holds only the explanation, which is what a developer
    # embedding from a not-yet-allowed origin needs to see. Once the framing page is known to
    # be the tenant's, the page may resize itself and report the error there.
    ancestors = ["*"]
    if isinstance(error, WidgetRefused):
        ancestors = list(error.tenant.allowed_origins) or ["'none'"]
        if error.parent_origin:
            config["parentOrigin"] = error.parent_origin
            config["frame"] = request.query_params.get("frame", "")[:64]
    return render(
        "error.html",
        assets=state.assets,
        frame_ancestors=ancestors,
        stripe_api_base=None,
        status_code=error.status_code,
        widget=widget,
        title="Billing is unavailable",
        error=error,
        config=config,
    )


@get("/w/{widget:str}", include_in_schema=False)
async def widget_page(
    request: Request[Any, Any, Any], state: State, widget: FromPath[str]
) -> Response[Any]:
    query = request.query_params
    key = visitor_key(request, widget)
    if key is not None:
        await state.changes.check()
        kept = state.visitor_pages.get(key)
        origin = query.get("origin") or ""
        if kept is not None and (not origin or origin in kept.allowed_origins):
            state.catalog_cache.refresh_if_stale(
                kept.tenant_id,
                kept.catalog_refreshed_at,
                state.database,
                state.vault,
                state.gateway,
            )
            return VisitorPages.serve(
                kept,
                key,
                state.widget_signer,
                parent_origin=origin,
                frame=query.get("frame", "")[:64],
            )
    # Not kept: the database session is opened only now.
    async with state.database.sessions() as session:
        opener = _opener(state, session)
        try:
            # Read before anything the page is made from (portal/changes.py).
            visitor = (key, await ChangeWatcher.read_version(session)) if key else None
            opened = await opener.open(
                WidgetRequest(
                    widget=widget,
                    key=query.get("key", ""),
                    token=query.get("token") or None,
                    parent_origin=query.get("origin") or None,
                    billing_page=query.get("billing_page") or None,
                    email=query.get("email"),
                    customer_id=query.get("customer_id"),
                    hash=query.get("hash"),
                )
            )
            return await _widget_page(request, state, opener, opened, visitor=visitor)
        except BillportError as error:
            return _error_page(request, state, error, widget)


@get("/portal", include_in_schema=False, dependencies={"opener": Provide(provide_opener)})
async def full_page_portal(
    request: Request[Any, Any, Any], state: State, opener: NamedDependency[WidgetOpener]
) -> Response[Any]:
    """The customer portal as a page of its own, opened from a session URL (emails, dunning)."""
    token = request.query_params.get("session", "")
    try:
        row = await find_session(opener.tenants.session, token)
        tenant = await opener.tenants.session.get_one(Tenant, row.tenant_id)
        opened = await opener.open(
            WidgetRequest(widget="customer-portal", key=tenant.publishable_key, token=token)
        )
        return await _widget_page(
            request, state, opener, opened, return_url=row.return_url, full_page=True
        )
    except BillportError as error:
        return _error_page(request, state, error, "customer-portal")


@get("/w/api/session", include_in_schema=False)
async def widget_session_info(request: Request[Any, Any, Any], state: State) -> dict[str, Any]:
    """Who the widget acts for, as its page's session says; the iframe's own check."""
    session = state.widget_signer.verify(request.headers.get(HEADER))
    return {
        "widget": session.widget,
        "customer_id": session.customer_id,
        "email": session.email,
        "parent_origin": session.parent_origin,
    }


ROUTES: list[ControllerRouterHandler] = [
    embed_js,
    widget_asset,
    widget_page,
    full_page_portal,
    widget_session_info,
    CatalogController,
    CATALOG_DASHBOARD,
    WidgetBillingController,
    PortalSubscriptionsController,
    *PORTAL_ROUTES,
]
