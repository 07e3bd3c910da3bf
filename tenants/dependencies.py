"""Authentication of tenant API calls, and request-scoped providers.

Authentication runs as a guard, before the body is read, so a caller without a valid key
learns nothing about what the route would accept.
"""

from __future__ import annotations

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.handlers import BaseRouteHandler
from sqlalchemy.ext.asyncio import AsyncSession

from portal.crypto import same
from portal.errors import Forbidden, Unauthorized
from portal.logs import tenant_id_var

from .models import Tenant
from .service import TenantService


def bearer_token(connection: ASGIConnection) -> str:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "Send the tenant's secret API key as 'Authorization: Bearer bp_sk_…'",
            code="missing_api_key",
        )
    return token.strip()


async def tenant_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    state = connection.app.state
    async with state.database.sessions() as session:
        service = TenantService(session, state.vault, state.gateway)
        tenant = await service.by_secret_key(bearer_token(connection))
    connection.state.tenant = tenant
    tenant_id_var.set(tenant.id)


async def operator_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    expected = connection.app.state.settings.operator_token
    if not expected:
        raise Forbidden(
            "Tenant creation over the API is disabled; set BILLPORT_OPERATOR_TOKEN to enable it.",
            code="operator_api_disabled",
        )
    if not same(bearer_token(connection), expected):
        raise Unauthorized("Invalid operator token", code="invalid_operator_token")


def api_actor(request: Request) -> str:
    """Who the audit log names for a tenant API call: the key's hint, or the operator."""
    tenant = getattr(request.state, "tenant", None)
    return f"API key {tenant.secret_key_hint}" if tenant is not None else "operator"


async def provide_tenant_service(
    request: Request, db_session: NamedDependency[AsyncSession], state: State
) -> TenantService:
    return TenantService(
        db_session, state.vault, state.gateway, state.settings.public_url, api_actor(request)
    )


async def provide_current_tenant(
    request: Request,
    db_session: NamedDependency[AsyncSession],
) -> Tenant:
    """The tenant the guard authenticated, attached to this request's session."""
    return await db_session.merge(request.state.tenant, load=False)
