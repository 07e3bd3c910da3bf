"""Reading the catalog from Stripe into the database, and serving it from there."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from portal.crypto import Vault
from portal.db import Database, utcnow
from portal.stripe_gateway import StripeGateway, stripe_call
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
    """One per process: parsed catalogs by tenant, checked against the stored version.

    At most ``KEPT`` catalogs, the least recently used going first: a parsed 20-price
    catalog takes about 60 KiB, and visitors' pages are kept rendered (widgets/visitor_pages.py),
    so only pages being rendered and billing actions read a catalog from here.
    """

    KEPT = 500

    def __init__(self, kept: int = KEPT) -> None:
        self.kept = kept
        self._catalogs: OrderedDict[str, Catalog] = OrderedDict()
        self.refreshing: dict[str, asyncio.Task[None]] = {}

    def get(self, tenant_id: str) -> Catalog | None:
        catalog = self._catalogs.get(tenant_id)
        if catalog is not None:
            self._catalogs.move_to_end(tenant_id)
        return catalog

    def put(self, tenant_id: str, catalog: Catalog) -> Catalog:
        self._catalogs[tenant_id] = catalog
        self._catalogs.move_to_end(tenant_id)
        while len(self._catalogs) > self.kept:
            self._catalogs.popitem(last=False)
        return catalog

    def refresh_if_stale(
        self,
        tenant_id: str,
        refreshed_at: datetime,
        database: Database,
        vault: Vault,
        gateway: StripeGateway,
    ) -> None:
        """Start reading the tenant's catalog from Stripe in the background if it is stale."""
        if utcnow() - refreshed_at <= TTL or tenant_id in self.refreshing:
            return

        async def run() -> None:
            try:
                async with database.sessions() as session:
                    tenant = await session.get_one(Tenant, tenant_id)
                    tenants = TenantService(session, vault, gateway)
                    await CatalogService(session, tenants, self).refresh(tenant)
            except Exception:
                log.warning("background catalog refresh failed", exc_info=True)
            finally:
                self.refreshing.pop(tenant_id, None)

        self.refreshing[tenant_id] = asyncio.create_task(run())


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
        return self.cache.put(tenant.id, Catalog.of(snapshot))

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
        cached = self.cache.get(tenant.id)
        if cached is None or cached.version != version:
            snapshot = await self.session.get_one(CatalogSnapshot, tenant.id)
            cached = self.cache.put(tenant.id, Catalog.of(snapshot))
        if database is not None:
            self.cache.refresh_if_stale(
                tenant.id, refreshed_at, database, self.tenants.vault, self.tenants.gateway
            )
        return cached
