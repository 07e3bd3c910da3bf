from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery
from sqlalchemy.ext.asyncio import AsyncSession

from ..dependencies import provide_current_tenant, tenant_guard
from ..models import Tenant
from .schemas import AuditEntryView, AuditList
from .service import entries

Limit = Annotated[int, msgspec.Meta(ge=1, le=200)]


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]
    guards = [tenant_guard]
    dependencies = {"tenant": Provide(provide_current_tenant)}

    @get(summary="The audit log: every settings change, who made it and when, newest first")
    async def list_entries(
        self,
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        limit: FromQuery[Limit] = 50,
        before: FromQuery[int | None] = None,
    ) -> AuditList:
        rows = await entries(db_session, tenant.id, limit + 1, before)
        return AuditList(
            data=[
                AuditEntryView(r.id, r.at, r.actor, r.action, dict(r.details)) for r in rows[:limit]
            ],
            has_more=len(rows) > limit,
        )
