"""Who may manage a tenant: members and invitations, with the roles owner, admin, viewer."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.errors import Conflict, Forbidden, NotFound, ValidationFailed

from ..audit.service import record
from ..models import Tenant
from .accounts import normalize_email
from .context import TenantAccess
from .models import ROLES, DashboardUser, Membership


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationFailed(f"Choose a role among {', '.join(ROLES)}.", param="role")
    return role


class TeamService:
    def __init__(self, session: AsyncSession, actor: str) -> None:
        self.session = session
        self.actor = actor

    async def members(self, tenant: Tenant) -> Sequence[Membership]:
        query = select(Membership).where(Membership.tenant_id == tenant.id)
        return (await self.session.scalars(query.order_by(Membership.created_at))).all()

    async def add(self, access: TenantAccess, email: str, role: str) -> Membership:
        email = normalize_email(email)
        role = check_role(role)
        self._may_grant(access, role)
        exists = await self.session.scalar(
            select(Membership).where(
                Membership.tenant_id == access.tenant.id, Membership.email == email
            )
        )
        if exists is not None:
            raise Conflict(f"{email} is already a member.", code="member_exists", param="email")
        user = await self.session.scalar(select(DashboardUser).where(DashboardUser.email == email))
        member = Membership(
            tenant_id=access.tenant.id, email=email, user_id=user.id if user else None, role=role
        )
        self.session.add(member)
        record(
            self.session,
            access.tenant.id,
            self.actor,
            "member.added",
            {"email": email, "role": role},
        )
        await self.session.commit()
        return member

    async def change_role(self, access: TenantAccess, member_id: int, role: str) -> Membership:
        role = check_role(role)
        member = await self._member(access, member_id)
        self._may_grant(access, role)
        self._may_grant(access, member.role)
        if member.role == "owner" and role != "owner":
            await self._keep_an_owner(access.tenant)
        details = {"email": member.email, "role": {"from": member.role, "to": role}}
        member.role = role
        record(self.session, access.tenant.id, self.actor, "member.role_changed", details)
        await self.session.commit()
        return member

    async def remove(self, access: TenantAccess, member_id: int) -> None:
        member = await self._member(access, member_id)
        self._may_grant(access, member.role)
        if member.role == "owner":
            await self._keep_an_owner(access.tenant)
        record(
            self.session, access.tenant.id, self.actor, "member.removed", {"email": member.email}
        )
        await self.session.delete(member)
        await self.session.commit()

    async def _member(self, access: TenantAccess, member_id: int) -> Membership:
        # An id no database column can hold is simply not found (not an overflow error).
        member = await self.session.get(Membership, member_id) if 0 < member_id < 2**63 else None
        if member is None or member.tenant_id != access.tenant.id:
            raise NotFound("There is no such member.", code="member_not_found")
        return member

    @staticmethod
    def _may_grant(access: TenantAccess, role: str) -> None:
        # Admins manage admins and viewers; only owners make or unmake owners.
        if role == "owner" and access.role != "owner":
            raise Forbidden(
                "Only an owner can grant or change the owner role.", code="role_forbidden"
            )

    async def _keep_an_owner(self, tenant: Tenant) -> None:
        owners = await self.session.scalar(
            select(func.count()).where(
                Membership.tenant_id == tenant.id,
                Membership.role == "owner",
                Membership.user_id.is_not(None),
            )
        )
        if (owners or 0) <= 1:
            raise Conflict(
                "A tenant keeps at least one owner: make someone else owner first.",
                code="last_owner",
            )
