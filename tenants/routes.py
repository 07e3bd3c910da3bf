"""Tenant API routes (CONTRACT "Tenant API"); the logic lives in the service."""

from __future__ import annotations

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from litestar.types import ControllerRouterHandler

from portal.openapi import API_ERRORS

from .audit.routes import AuditController
from .billing_pages.routes import BillingPageController, embed_target
from .callbacks.routes import CallbackController
from .dashboard.members_api import MemberController
from .dashboard.routes import DASHBOARD
from .dependencies import (
    operator_guard,
    provide_current_tenant,
    provide_tenant_service,
    tenant_guard,
)
from .keys import RotatedKey, RotateKey
from .models import Tenant
from .schemas import TenantCreate, TenantCreated, TenantUpdate, TenantView
from .service import TenantService, view
from .sessions.routes import SessionController


class TenantController(Controller):
    path = "/api/v1/tenant"
    tags = ["tenant"]
    guards = [tenant_guard]
    dependencies = {
        "tenant_service": Provide(provide_tenant_service),
        "tenant": Provide(provide_current_tenant),
    }

    @get(summary="The authenticated tenant's settings (no secrets)", responses=API_ERRORS)
    async def read_tenant(self, tenant: NamedDependency[Tenant]) -> TenantView:
        return view(tenant)

    @patch(summary="Change the tenant's settings", responses=API_ERRORS)
    async def update_tenant(
        self,
        tenant: NamedDependency[Tenant],
        tenant_service: NamedDependency[TenantService],
        data: JSONBody[TenantUpdate],
    ) -> TenantView:
        return view(await tenant_service.update(tenant, data))

    @post(
        "/keys/{name:str}/rotate",
        status_code=200,
        summary="Replace the secret API key, token secret or callback secret",
        description="The new secret is shown only in this answer. The replaced one keeps "
        "working for overlap_seconds (default one day; 0 ends it at once).",
        responses=API_ERRORS,
    )
    async def rotate_key(
        self,
        name: FromPath[str],
        tenant: NamedDependency[Tenant],
        tenant_service: NamedDependency[TenantService],
        data: JSONBody[RotateKey | None] = None,
    ) -> RotatedKey:
        overlap = (data or RotateKey()).overlap_seconds
        return await tenant_service.rotate_key(tenant, name, overlap)

    @post(
        "/stripe_webhook",
        status_code=200,
        summary="Register Billport's webhook endpoint in the tenant's Stripe account again",
        description="Replaces the endpoint Billport registered before (if any) and stores the "
        "new signing secret. 422 when Stripe refuses the portal's public URL.",
        responses=API_ERRORS,
    )
    async def register_stripe_webhook(
        self, tenant: NamedDependency[Tenant], tenant_service: NamedDependency[TenantService]
    ) -> TenantView:
        await tenant_service.register_intake(tenant)
        return view(tenant)


class OperatorController(Controller):
    path = "/api/v1/tenants"
    tags = ["operator"]
    guards = [operator_guard]
    dependencies = {"tenant_service": Provide(provide_tenant_service)}

    @post(summary="Register a tenant (operator token only)", status_code=201, responses=API_ERRORS)
    async def create_tenant(
        self, tenant_service: NamedDependency[TenantService], data: JSONBody[TenantCreate]
    ) -> TenantCreated:
        return await tenant_service.create(data)


ROUTERS: list[ControllerRouterHandler] = [
    TenantController,
    OperatorController,
    SessionController,
    BillingPageController,
    CallbackController,
    AuditController,
    MemberController,
    embed_target,
    DASHBOARD,
]
