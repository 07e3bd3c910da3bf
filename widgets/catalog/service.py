"""Reading the catalog from Stripe into the database, and serving it from there."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db import Database, utcnow
from portal.stripe_gateway import stripe_call
from tenants.models import Tenant
from tenants.service import TenantService

from .models import CatalogSnapshot

log = logging.getLogger("billport.catalog")

# After this long a catalog is refreshed in the background; events refresh it sooner.
TTL = timedelta(minutes=15)

PRODUCT_FIELDS = (
    "id",
    "name",
    "description",
    "active",
    "metadata",
    "marketing_features",
    "default_price",
    "images",
    "unit_label",
    "created",
)
PRICE_FIELDS = (
    "id",
    "product",
    "active",
    "currency",
    "unit_amount",
    "unit_amount_decimal",
    "recurring",
    "type",
    "lookup_key",
    "nickname",
    "billing_scheme",
    "tiers_mode",
    "tiers",
    "currency_options",
    "transform_quantity",
    "metadata",
    "tax_behavior",
    "created",
)


@dataclass(frozen=True)
class Catalog:
    products: list[dict[str, Any]]
    prices: list[dict[str, Any]]
    refreshed_at: datetime
    version: int
    products_by_id: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)
    prices_by_id: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)
    # Values derived from this version of the catalog (plans per locale and options).
    derived: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, snapshot: CatalogSnapshot) -> Catalog:
        return cls(
            products=snapshot.products,
            prices=snapshot.prices,
            refreshed_at=snapshot.refreshed_at,
            version=snapshot.version,
            products_by_id={p["id"]: p for p in snapshot.products},
            prices_by_id={p["id"]: p for p in snapshot.prices},
        )


def _keep(obj: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The named fields as plain JSON (the SDK turns ``*_decimal`` strings into Decimals)."""
    kept = {name: obj.get(name) for name in fields}
    return dict(json.loads(json.dumps(kept, default=str)))


class CatalogCache:
    """One per process: parsed catalogs by tenant, checked against the stored version."""

    def __init__(self) -> None:
        self.catalogs: dict[str, Catalog] = {}
        self.refreshing: dict[str, asyncio.Task[None]] = {}


class CatalogService:
    def __init__(self, session: AsyncSession, tenants: TenantService, cache: CatalogCache) -> None:
        self.session = session
        self.tenants = tenants
        self.cache = cache

    async def fetch(
        self, client: stripe.StripeClient
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        products: list[dict[str, Any]] = []
        prices: list[dict[str, Any]] = []
        product_page = await stripe_call(
            client.v1.products.list_async(params={"active": True, "limit": 100})
        )
        async for product in product_page.auto_paging_iter():
            products.append(_keep(product.to_dict(), PRODUCT_FIELDS))
        price_page = await stripe_call(
            client.v1.prices.list_async(
                params={
                    "active": True,
                    "limit": 100,
                    "expand": ["data.tiers", "data.currency_options"],
                }
            )
        )
        async for price in price_page.auto_paging_iter():
            prices.append(_keep(price.to_dict(), PRICE_FIELDS))
        return products, prices

    async def refresh(self, tenant: Tenant) -> Catalog:
        """Read the catalog from Stripe now and store it."""
        products, prices = await self.fetch(self.tenants.stripe_client(tenant))
        values = {"products": products, "prices": prices, "refreshed_at": utcnow()}
        # One statement, so concurrent refreshes of one tenant never collide on its row.
        dialect = self.session.get_bind().dialect.name
        insert = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(CatalogSnapshot)
        statement = insert.values(tenant_id=tenant.id, version=1, **values)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[CatalogSnapshot.tenant_id],
                set_={**values, "version": CatalogSnapshot.version + 1},
            )
        )
        await self.session.commit()
        snapshot = await self.session.get_one(CatalogSnapshot, tenant.id, populate_existing=True)
        catalog = Catalog.of(snapshot)
        self.cache.catalogs[tenant.id] = catalog
        return catalog

    async def current(self, tenant: Tenant, database: Database | None = None) -> Catalog:
        """The stored catalog, without calling Stripe unless there is none yet.

        A stale one is still answered at once; with ``database`` given, a refresh starts in
        the background.
        """
        row = (
            await self.session.execute(
                select(CatalogSnapshot.version, CatalogSnapshot.refreshed_at).where(
                    CatalogSnapshot.tenant_id == tenant.id
                )
            )
        ).first()
        if row is None:
            return await self.refresh(tenant)
        version, refreshed_at = row
        cached = self.cache.catalogs.get(tenant.id)
        if cached is None or cached.version != version:
            snapshot = await self.session.get_one(CatalogSnapshot, tenant.id)
            cached = self.cache.catalogs[tenant.id] = Catalog.of(snapshot)
        if database is not None and utcnow() - refreshed_at > TTL:
            self._refresh_later(tenant.id, database)
        return cached

    def _refresh_later(self, tenant_id: str, database: Database) -> None:
        if tenant_id in self.cache.refreshing:
            return
        tenants = self.tenants

        async def run() -> None:
            try:
                async with database.sessions() as session:
                    tenant = await session.get_one(Tenant, tenant_id)
                    service = TenantService(session, tenants.vault, tenants.gateway)
                    await CatalogService(session, service, self.cache).refresh(tenant)
            except Exception:
                log.warning("background catalog refresh failed", exc_info=True)
            finally:
                self.cache.refreshing.pop(tenant_id, None)

        self.cache.refreshing[tenant_id] = asyncio.create_task(run())
