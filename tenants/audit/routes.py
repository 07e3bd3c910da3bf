from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from portal.openapi import API_ERRORS

from ..dependencies import provide_current_tenant, tenant_guard
from ..models import Tenant
from .schemas import AuditEntryView, AuditList
from .service import entries

Limit = Annotated[int, QueryParameter(ge=1, le=200)]
# Ids are database integers: larger ones are refused, not passed on to overflow there.
EntryId = Annotated[int | None, QueryParameter(ge=1, le=2**63 - 1)]


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]
    guards = [tenant_guard]
    dependencies = {"tenant": Provide(provide_current_tenant)}

    @get(
        summary="The audit log: every settings change, who made it and when, newest first",
        responses=API_ERRORS,
    )
    async def list_entries(
        self,
        tenant: NamedDependency[Tenant],
        db_session: NamedDependency[AsyncSession],
        limit: Limit = 50,
        before: EntryId = None,
    ) -> AuditList:
        rows = await entries(db_session, tenant.id, limit + 1, before)
        return AuditList(
            data=[
                AuditEntryView(r.id, r.at, r.actor, r.action, dict(r.details)) for r in rows[:limit]
            ],
            has_more=len(rows) > limit,
        )
