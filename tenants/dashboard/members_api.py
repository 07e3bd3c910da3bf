"""The tenant's team through the tenant API: what the dashboard's Team page does.

The secret API key is the tenant's own credential, so it acts with an owner's rights.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from portal.openapi import API_ERRORS

from ..dependencies import api_actor, provide_current_tenant, tenant_guard
from ..models import Tenant
from .context import TenantAccess
from .models import Membership
from .team import TeamService

Role = Annotated[str, msgspec.Meta(max_length=16)]


class MemberView(msgspec.Struct):
    id: int
    email: str
    role: str
    # False for an invitation: the email has no dashboard account yet.
    active: bool
    created_at: datetime


class MemberCreate(msgspec.Struct, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(max_length=320)]
    role: Role = "viewer"


class MemberUpdate(msgspec.Struct, forbid_unknown_fields=True):
    role: Role


class MemberRemoved(msgspec.Struct):
    id: int
    removed: bool


def _view(member: Membership) -> MemberView:
    return MemberView(
        member.id, member.email, member.role, member.user_id is not None, member.created_at
    )


async def provide_team(request: Request, db_session: NamedDependency[AsyncSession]) -> TeamService:
    return TeamService(db_session, api_actor(request))


class MemberController(Controller):
    path = "/api/v1/members"
    tags = ["team"]
    guards = [tenant_guard]
    dependencies = {"team": Provide(provide_team), "tenant": Provide(provide_current_tenant)}

    @get(summary="Who may use the tenant's dashboard, and with which role", responses=API_ERRORS)
    async def list_members(
        self, tenant: NamedDependency[Tenant], team: NamedDependency[TeamService]
    ) -> list[MemberView]:
        return [_view(member) for member in await team.members(tenant)]

    @post(
        summary="Add a member (an invitation until that email signs up)",
        status_code=201,
        responses=API_ERRORS,
    )
    async def add_member(
        self,
        tenant: NamedDependency[Tenant],
        team: NamedDependency[TeamService],
        data: JSONBody[MemberCreate],
    ) -> MemberView:
        return _view(await team.add(TenantAccess(tenant, "owner"), data.email, data.role))

    @patch("/{member_id:int}", summary="Change a member's role", responses=API_ERRORS)
    async def change_role(
        self,
        member_id: FromPath[int],
        tenant: NamedDependency[Tenant],
        team: NamedDependency[TeamService],
        data: JSONBody[MemberUpdate],
    ) -> MemberView:
        return _view(await team.change_role(TenantAccess(tenant, "owner"), member_id, data.role))

    @delete("/{member_id:int}", summary="Remove a member", status_code=200, responses=API_ERRORS)
    async def remove_member(
        self,
        member_id: FromPath[int],
        tenant: NamedDependency[Tenant],
        team: NamedDependency[TeamService],
    ) -> MemberRemoved:
        await team.remove(TenantAccess(tenant, "owner"), member_id)
        return MemberRemoved(member_id, True)
