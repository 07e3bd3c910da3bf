from __future__ import annotations

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from portal.openapi import API_ERRORS

from ..dependencies import api_actor, provide_current_tenant, tenant_guard
from ..models import Tenant
from .schemas import (
    BillingPageCreate,
    BillingPageDeleted,
    BillingPageUpdate,
    BillingPageView,
    EmbedTarget,
)
from .service import BillingPageService, view


async def provide_billing_pages(
    request: Request, db_session: NamedDependency[AsyncSession]
) -> BillingPageService:
    return BillingPageService(db_session, api_actor(request))


class BillingPageController(Controller):
    path = "/api/v1/billing_pages"
    tags = ["billing pages"]
    guards = [tenant_guard]
    dependencies = {
        "billing_pages": Provide(provide_billing_pages),
        "tenant": Provide(provide_current_tenant),
    }

    @post(summary="Create a billing page", status_code=201, responses=API_ERRORS)
    async def create_page(
        self,
        tenant: NamedDependency[Tenant],
        billing_pages: NamedDependency[BillingPageService],
        data: JSONBody[BillingPageCreate],
    ) -> BillingPageView:
        return view(await billing_pages.create(tenant, data))

    @get(summary="List billing pages", responses=API_ERRORS)
    async def list_pages(
        self, tenant: NamedDependency[Tenant], billing_pages: NamedDependency[BillingPageService]
    ) -> list[BillingPageView]:
        return [view(page) for page in await billing_pages.list(tenant)]

    @get("/{page_id:str}", summary="Read a billing page", responses=API_ERRORS)
    async def read_page(
        self,
        page_id: FromPath[str],
        tenant: NamedDependency[Tenant],
        billing_pages: NamedDependency[BillingPageService],
    ) -> BillingPageView:
        return view(await billing_pages.get(tenant, page_id))

    @patch("/{page_id:str}", summary="Change a billing page", responses=API_ERRORS)
    async def update_page(
        self,
        page_id: FromPath[str],
        tenant: NamedDependency[Tenant],
        billing_pages: NamedDependency[BillingPageService],
        data: JSONBody[BillingPageUpdate],
    ) -> BillingPageView:
        return view(await billing_pages.update(tenant, page_id, data))

    @delete(
        "/{page_id:str}", summary="Delete a billing page", status_code=200, responses=API_ERRORS
    )
    async def delete_page(
        self,
        page_id: FromPath[str],
        tenant: NamedDependency[Tenant],
        billing_pages: NamedDependency[BillingPageService],
    ) -> BillingPageDeleted:
        await billing_pages.delete(tenant, page_id)
        return BillingPageDeleted(id=page_id, deleted=True)


@get(
    "/embed/billing-pages/{page_id:str}",
    include_in_schema=False,
    dependencies={"billing_pages": Provide(provide_billing_pages)},
    # Read by embed.js from the tenant's pages; it holds nothing that is not public.
    response_headers={"Access-Control-Allow-Origin": "*"},
)
async def embed_target(
    page_id: FromPath[str], billing_pages: NamedDependency[BillingPageService]
) -> EmbedTarget:
    """Where a page known only by its id (the Billflow snippet) is mounted from."""
    return await billing_pages.embed_target(page_id)
