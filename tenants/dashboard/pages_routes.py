"""Billing pages in the dashboard: list, create, edit with a live preview, delete.

Every change goes through BillingPageService, the service behind /api/v1/billing_pages, so the
options the form writes are exactly those the API reads.
"""

from __future__ import annotations

from typing import Any, cast

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from portal.errors import BillportError

from ..billing_pages.models import WIDGETS, BillingPage
from ..billing_pages.schemas import BillingPageCreate, BillingPageUpdate, Widget
from ..billing_pages.service import BillingPageService
from .auth_routes import form_errors
from .context import Dashboard, TenantAccess
from .page_options import (
    CANCEL_MODES,
    FONTS,
    INTERVALS,
    LANGUAGES,
    PRORATION,
    THEME_COLOURS,
    THEME_DEFAULTS,
    WIDGET_DESCRIPTIONS,
    WIDGET_LABELS,
    InvalidPageForm,
    form_values,
    initial_options,
    load_catalog,
    parse_page_form,
    plan_rows,
    posted_values,
    sections,
)
from .page_snippets import embed_snippets, preview_url, token_examples


def _pages(dashboard: Dashboard) -> BillingPageService:
    return BillingPageService(dashboard.db, actor=dashboard.actor)


def _base(tenant_id: str) -> str:
    return f"/dashboard/t/{tenant_id}/pages"


class BillingPagesController(Controller):
    path = "/dashboard"
    include_in_schema = False

    @get("/t/{tenant_id:str}/pages")
    async def list_pages(
        self, tenant_id: FromPath[str], dashboard: NamedDependency[Dashboard]
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id)
        pages = await _pages(dashboard).list(access.tenant)
        return dashboard.render(
            "pages.html",
            tenant=access.tenant,
            access=access,
            pages=pages,
            labels=WIDGET_LABELS,
        )

    @get("/t/{tenant_id:str}/pages/new")
    async def new_page(
        self, tenant_id: FromPath[str], dashboard: NamedDependency[Dashboard]
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id, "admin")
        return self._new(dashboard, access, {"widget": "plan-picker"}, {})

    @post("/t/{tenant_id:str}/pages/new")
    async def create_page(
        self, tenant_id: FromPath[str], dashboard: NamedDependency[Dashboard]
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id, "admin")
        values = posted_values(await dashboard.form())
        widget, name = values.get("widget", ""), values.get("name", "")
        errors = {}
        if widget not in WIDGETS:
            errors["widget"] = "Choose the widget this page configures."
        if not name:
            errors["name"] = "Give the page a name, e.g. Pricing page."
        elif len(name) > 200:
            errors["name"] = "The name can have at most 200 characters."
        if errors:
            return self._new(dashboard, access, values, errors)
        options = initial_options(widget, access.tenant.widget_options)
        data = BillingPageCreate(widget=cast(Widget, widget), name=name, options=options)
        page = await _pages(dashboard).create(access.tenant, data)
        return dashboard.redirect(f"{_base(tenant_id)}/{page.id}", done="created")

    @staticmethod
    def _new(
        dashboard: Dashboard, access: TenantAccess, values: dict[str, str], errors: dict[str, str]
    ) -> Response[Any]:
        return dashboard.render(
            "page_new.html",
            status_code=422 if errors else 200,
            tenant=access.tenant,
            access=access,
            values=values,
            errors=errors,
            labels=WIDGET_LABELS,
            descriptions=WIDGET_DESCRIPTIONS,
        )

    @get("/t/{tenant_id:str}/pages/{page_id:str}")
    async def edit_page(
        self,
        tenant_id: FromPath[str],
        page_id: FromPath[str],
        dashboard: NamedDependency[Dashboard],
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id)
        page = await _pages(dashboard).get(access.tenant, page_id)
        values = form_values(
            page.name, page.billflow_id, page.options, access.tenant.widget_options
        )
        return await self._edit(dashboard, access, page, values, {})

    @post("/t/{tenant_id:str}/pages/{page_id:str}")
    async def save_page(
        self,
        tenant_id: FromPath[str],
        page_id: FromPath[str],
        dashboard: NamedDependency[Dashboard],
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id, "admin")
        values = posted_values(await dashboard.form())
        service = _pages(dashboard)
        page = await service.get(access.tenant, page_id)
        try:
            change = parse_page_form(page.widget, values, page.options)
            await service.update(
                access.tenant,
                page_id,
                BillingPageUpdate(
                    name=change.name, options=change.options, billflow_id=change.billflow_id
                ),
            )
        except InvalidPageForm as invalid:
            return await self._edit(dashboard, access, page, values, invalid.errors, 422)
        except BillportError as error:
            await dashboard.db.rollback()
            # The rollback expired what was loaded; read it again before rendering.
            for loaded in (dashboard.user, access.tenant, page):
                if loaded is not None:
                    await dashboard.db.refresh(loaded)
            errors = form_errors(error)
            if set(errors) - {"name", "billflow_id"}:
                errors = {"_": error.message}
            return await self._edit(dashboard, access, page, values, errors, error.status_code)
        return dashboard.redirect(f"{_base(tenant_id)}/{page_id}", done="saved")

    @post("/t/{tenant_id:str}/pages/{page_id:str}/delete")
    async def delete_page(
        self,
        tenant_id: FromPath[str],
        page_id: FromPath[str],
        dashboard: NamedDependency[Dashboard],
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id, "admin")
        await dashboard.form()
        await _pages(dashboard).delete(access.tenant, page_id)
        return dashboard.redirect(_base(tenant_id), done="deleted")

    @staticmethod
    async def _edit(
        dashboard: Dashboard,
        access: TenantAccess,
        page: BillingPage,
        values: dict[str, str],
        errors: dict[str, str],
        status: int = 200,
    ) -> Response[Any]:
        tenant = access.tenant
        catalog = await load_catalog(dashboard.db, tenant.id)
        public_url = dashboard.state.settings.public_url
        language = str(page.options.get("language") or "")
        language = language if language in LANGUAGES else ""
        return dashboard.render(
            "page_edit.html",
            status_code=status if errors else 200,
            tenant=tenant,
            access=access,
            page=page,
            values=values,
            errors=errors,
            rows=plan_rows(values, catalog) if "plans" in sections(page.widget) else [],
            catalog=catalog,
            sections=sections(page.widget),
            inherited=tenant.widget_options or {},
            labels=WIDGET_LABELS,
            intervals=INTERVALS,
            prorations=PRORATION,
            cancel_modes=CANCEL_MODES,
            languages=LANGUAGES,
            colours=THEME_COLOURS,
            theme_defaults=THEME_DEFAULTS,
            fonts=FONTS,
            preview_url=preview_url(page.widget, tenant.publishable_key, page.id, language),
            snippets=embed_snippets(
                public_url=public_url,
                publishable_key=tenant.publishable_key,
                widget=page.widget,
                page_id=page.id,
                billflow_id=page.billflow_id,
                language=language,
            ),
            token_examples=token_examples(tenant.publishable_key),
            public_url=public_url,
        )
