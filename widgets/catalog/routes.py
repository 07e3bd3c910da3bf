"""``GET /api/v1/catalog`` and ``POST /api/v1/catalog/refresh``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncSession

from portal.openapi import API_ERRORS
from tenants.dependencies import provide_current_tenant, tenant_guard
from tenants.models import Tenant
from tenants.service import TenantService

from .service import Catalog, CatalogService


class CatalogView(msgspec.Struct):
    refreshed_at: datetime
    products: list[dict[str, Any]]
    prices: list[dict[str, Any]]


def catalog_view(catalog: Catalog) -> CatalogView:
    return CatalogView(catalog.refreshed_at, catalog.products, catalog.prices)


async def provide_catalog_service(
    db_session: NamedDependency[AsyncSession], state: State
) -> CatalogService:
    tenants = TenantService(db_session, state.vault, state.gateway)
    return CatalogService(db_session, tenants, state.catalog_cache)


class CatalogController(Controller):
    path = "/api/v1/catalog"
    tags = ["catalog"]
    guards = [tenant_guard]
    dependencies = {
        "catalog": Provide(provide_catalog_service),
        "tenant": Provide(provide_current_tenant),
    }

    @get(summary="The cached products and prices the widgets show", responses=API_ERRORS)
    async def read_catalog(
        self,
        state: State,
        tenant: NamedDependency[Tenant],
        catalog: NamedDependency[CatalogService],
    ) -> CatalogView:
        return catalog_view(await catalog.current(tenant, state.database))

    @post(
        "/refresh",
        summary="Re-read the catalog from Stripe now",
        status_code=200,
        responses=API_ERRORS,
    )
    async def refresh_catalog(
        self, tenant: NamedDependency[Tenant], catalog: NamedDependency[CatalogService]
    ) -> CatalogView:
        return catalog_view(await catalog.refresh(tenant))
