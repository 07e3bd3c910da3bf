from __future__ import annotations

from litestar import Controller, delete, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from portal.openapi import API_ERRORS

from ..dependencies import provide_current_tenant, provide_tenant_service, tenant_guard
from ..models import Tenant
from ..service import TenantService
from .schemas import SessionCreate, SessionCreated, SessionRevoked
from .service import end_session, issue_session


class SessionController(Controller):
    path = "/api/v1/sessions"
    tags = ["sessions"]
    guards = [tenant_guard]
    dependencies = {
        "tenant_service": Provide(provide_tenant_service),
        "tenant": Provide(provide_current_tenant),
    }

    @post(
        summary="Issue a session token for one of the tenant's users",
        status_code=201,
        responses=API_ERRORS,
    )
    async def create_session(
        self,
        state: State,
        tenant: NamedDependency[Tenant],
        tenant_service: NamedDependency[TenantService],
        data: JSONBody[SessionCreate],
    ) -> SessionCreated:
        return await issue_session(tenant_service, tenant, data, state.settings.public_url)

    @delete(
        "/{session_id:str}", summary="Revoke a session token", status_code=200, responses=API_ERRORS
    )
    async def revoke_session(
        self,
        session_id: FromPath[str],
        tenant: NamedDependency[Tenant],
        tenant_service: NamedDependency[TenantService],
    ) -> SessionRevoked:
        return await end_session(tenant_service, tenant, session_id)
