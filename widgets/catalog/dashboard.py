"""The catalog in the tenant dashboard: what the widgets show, and reading it again from Stripe.

It lives beside the catalog rather than in ``tenants.dashboard`` because dependencies point
from ``widgets`` to ``tenants``: this controller reuses the dashboard's request context and
error pages, while ``tenants`` never imports the catalog.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from litestar import Controller, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from portal.errors import BillportError
from tenants.dashboard.context import Dashboard, TenantAccess
from tenants.dashboard.routes import DASHBOARD

from ..options import effective_options
from ..plans import build_plans, describe
from .models import CatalogSnapshot
from .service import Catalog, CatalogService

LOCALE = "en"


@dataclasses.dataclass(frozen=True)
class PriceRow:
    id: str
    label: str
    interval: str
    currency: str
    active: bool
    lookup_key: str | None
    # Whether the plan picker offers it with the tenant's widget options.
    in_plan_picker: bool


@dataclasses.dataclass(frozen=True)
class ProductRow:
    id: str
    name: str
    description: str | None
    active: bool
    service: str | None
    tier: str | None
    # Metadata besides service and tier, sorted by key.
    other_metadata: list[tuple[str, str]]
    prices: list[PriceRow]


@dataclasses.dataclass(frozen=True)
class CatalogPage:
    refreshed_at: datetime | None
    products: list[ProductRow]
    # Prices whose product is not in the catalog (archived, or the product was deleted).
    orphan_prices: list[PriceRow]


def _interval(price: dict[str, Any]) -> str:
    recurring = price.get("recurring") or {}
    interval = recurring.get("interval")
    if not interval:
        return "one-time"
    count = int(recurring.get("interval_count") or 1)
    every = interval if count == 1 else f"every {count} {interval}s"
    return f"{every}, metered" if recurring.get("usage_type") == "metered" else every


def catalog_page(catalog: Catalog | None, widget_options: dict[str, Any]) -> CatalogPage:
    """The catalog as the dashboard lists it: products with their prices, newest last."""
    if catalog is None:
        return CatalogPage(None, [], [])
    offered = {
        price.id
        for plan in build_plans(catalog, currency=None, locale=LOCALE, options=widget_options)
        if not plan.disabled
        for price in plan.prices
    }

    def row(price: dict[str, Any], product: dict[str, Any]) -> PriceRow:
        return PriceRow(
            id=price["id"],
            label=describe(price, product, price["currency"], LOCALE),
            interval=_interval(price),
            currency=str(price["currency"]).upper(),
            active=bool(price.get("active", True)),
            lookup_key=price.get("lookup_key"),
            in_plan_picker=price["id"] in offered,
        )

    by_product: dict[str, list[PriceRow]] = {}
    orphans = []
    for price in catalog.prices:
        product = catalog.products_by_id.get(price.get("product") or "")
        if product is None:
            orphans.append(row(price, {"name": price.get("product") or "?"}))
        else:
            by_product.setdefault(product["id"], []).append(row(price, product))
    products = []
    for product in catalog.products:
        metadata = {str(k): str(v) for k, v in (product.get("metadata") or {}).items()}
        products.append(
            ProductRow(
                id=product["id"],
                name=product.get("name") or product["id"],
                description=product.get("description"),
                active=bool(product.get("active", True)),
                service=metadata.get("service"),
                tier=metadata.get("tier"),
                other_metadata=sorted(
                    (k, v) for k, v in metadata.items() if k not in ("service", "tier")
                ),
                prices=by_product.get(product["id"], []),
            )
        )
    return CatalogPage(catalog.refreshed_at, products, orphans)


def _service(dashboard: Dashboard) -> CatalogService:
    return CatalogService(dashboard.db, dashboard.tenants(), dashboard.state.catalog_cache)


async def _stored(dashboard: Dashboard, access: TenantAccess) -> Catalog | None:
    """The stored catalog, without asking Stripe (which just failed)."""
    snapshot = await dashboard.db.get(CatalogSnapshot, access.tenant.id)
    return Catalog.of(snapshot) if snapshot else None


class CatalogDashboardController(Controller):
    path = "/dashboard/t/{tenant_id:str}/catalog"
    include_in_schema = False

    @get()
    async def catalog(
        self, tenant_id: FromPath[str], dashboard: NamedDependency[Dashboard]
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id)
        try:
            # The copy the widgets show; read from Stripe only when there is none yet.
            found = await _service(dashboard).current(access.tenant, dashboard.state.database)
        except BillportError as error:
            return _page(dashboard, access, None, error)
        return _page(dashboard, access, found)

    @post("/refresh")
    async def refresh(
        self, tenant_id: FromPath[str], dashboard: NamedDependency[Dashboard]
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id, "admin")
        await dashboard.form()
        try:
            await _service(dashboard).refresh(access.tenant)
        except BillportError as error:
            # Stripe failed before anything was written; the stored copy still stands.
            return _page(dashboard, access, await _stored(dashboard, access), error)
        return dashboard.redirect(f"/dashboard/t/{tenant_id}/catalog", done="refreshed")


def _page(
    dashboard: Dashboard,
    access: TenantAccess,
    catalog: Catalog | None,
    error: BillportError | None = None,
) -> Response[Any]:
    return dashboard.render(
        "catalog.html",
        status_code=error.status_code if error else 200,
        tenant=access.tenant,
        access=access,
        catalog=catalog_page(catalog, effective_options(access.tenant.widget_options)),
        error=error,
    )


# The dashboard's pages share its request context and its error pages.
CATALOG_DASHBOARD = Router(
    path="/",
    route_handlers=[CatalogDashboardController],
    dependencies=DASHBOARD.dependencies,
    exception_handlers=DASHBOARD.exception_handlers,
    include_in_schema=False,
)
