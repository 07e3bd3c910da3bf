from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from portal.openapi import API_ERRORS

from ..dependencies import provide_current_tenant, tenant_guard
from ..models import Tenant
from .schemas import DeliveryList, DeliveryView, ReplayBody, ReplayResult, Status
from .service import CallbackService


async def provide_callbacks(db_session: NamedDependency[AsyncSession]) -> CallbackService:
    return CallbackService(db_session)


class CallbackController(Controller):
    path = "/api/v1/callbacks"
    tags = ["callbacks"]
    guards = [tenant_guard]
    dependencies = {
        "callbacks": Provide(provide_callbacks),
        "tenant": Provide(provide_current_tenant),
    }

    @get(summary="Callback deliveries with their attempts, newest first", responses=API_ERRORS)
    async def list_deliveries(
        self,
        tenant: NamedDependency[Tenant],
        callbacks: NamedDependency[CallbackService],
        status: FromQuery[Status | None] = None,
        limit: FromQuery[int] = 50,
        before: FromQuery[str | None] = None,
        event: FromQuery[str | None] = None,
        customer: FromQuery[str | None] = None,
    ) -> DeliveryList:
        return await callbacks.list(tenant, status, limit, before, event=event, customer=customer)

    @post(
        "/{event_id:str}/retry",
        summary="Send a delivery again now",
        status_code=200,
        responses=API_ERRORS,
    )
    async def retry(
        self,
        event_id: FromPath[str],
        tenant: NamedDependency[Tenant],
        callbacks: NamedDependency[CallbackService],
    ) -> DeliveryView:
        return await callbacks.retry(tenant, event_id)

    @post(
        "/replay",
        summary="Send again every failed delivery since a time",
        status_code=200,
        responses=API_ERRORS,
    )
    async def replay(
        self,
        tenant: NamedDependency[Tenant],
        callbacks: NamedDependency[CallbackService],
        data: JSONBody[ReplayBody],
    ) -> ReplayResult:
        return ReplayResult(await callbacks.replay(tenant, data.since, data.status))

    @post(
        "/test",
        summary="Queue a signed `test` event for the callback URL",
        description="The same as the dashboard's Send test event: check that your endpoint "
        "verifies signatures and answers 2xx.",
        status_code=201,
        responses=API_ERRORS,
    )
    async def send_test(
        self, tenant: NamedDependency[Tenant], callbacks: NamedDependency[CallbackService]
    ) -> DeliveryView:
        return await callbacks.send_test(tenant)
