"""Callbacks in the dashboard: deliveries with filters, one delivery's attempts, retry, test.

The pages read and change deliveries through the tenant API's ``CallbackService``, so the
dashboard and ``GET /api/v1/callbacks`` always show the same thing.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from portal.errors import BillportError

from ..callbacks.schemas import DeliveryList
from ..callbacks.service import STATUSES, CallbackService, sent_headers
from .context import Dashboard, TenantAccess
from .onboarding import delivery_counts

PAGE_SIZE = 25
# The names a filter may pick from (docs/events.md); any other well-formed name is allowed.
KNOWN_EVENTS = (
    "post_load",
    "select_plan",
    "create_subscription",
    "change_plan",
    "resubscribe",
    "cancel_subscription",
    "update_payment_method",
    "pay_invoice",
    "subscription_updated",
    "subscription_deleted",
    "trial_will_end",
    "payment_failed",
    "payment_succeeded",
    "test",
)


class CallbackDashboardController(Controller):
    path = "/dashboard/t/{tenant_id:str}/callbacks"
    include_in_schema = False

    @get()
    async def deliveries(
        self,
        tenant_id: FromPath[str],
        dashboard: NamedDependency[Dashboard],
        status: FromQuery[str | None] = None,
        event: FromQuery[str | None] = None,
        customer: FromQuery[str | None] = None,
        before: FromQuery[str | None] = None,
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id)
        values = {"status": status or "", "event": event or "", "customer": customer or ""}
        return await self._page(dashboard, access, values, before or None)

    @get("/{event_id:str}")
    async def delivery(
        self,
        tenant_id: FromPath[str],
        event_id: FromPath[str],
        dashboard: NamedDependency[Dashboard],
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id)
        delivery = await CallbackService(dashboard.db).get(access.tenant, event_id)
        return dashboard.render(
            "delivery.html",
            tenant=access.tenant,
            access=access,
            delivery=delivery,
            payload=json.dumps(delivery.payload, indent=2, ensure_ascii=False),
            headers=sent_headers(delivery),
        )

    @post("/{event_id:str}/retry")
    async def retry(
        self,
        tenant_id: FromPath[str],
        event_id: FromPath[str],
        dashboard: NamedDependency[Dashboard],
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id, "admin")
        await dashboard.form()
        delivery = await CallbackService(dashboard.db).retry(access.tenant, event_id)
        return dashboard.redirect(
            f"/dashboard/t/{tenant_id}/callbacks/{delivery.id}", done="retried"
        )

    @post("/test")
    async def send_test(
        self, tenant_id: FromPath[str], dashboard: NamedDependency[Dashboard]
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id, "admin")
        await dashboard.form()
        try:
            await CallbackService(dashboard.db).send_test(access.tenant)
        except BillportError as error:
            # Refused before anything was written: the page explains why.
            return await self._page(dashboard, access, {}, None, error)
        return dashboard.redirect(f"/dashboard/t/{tenant_id}/callbacks", done="test_sent")

    @staticmethod
    async def _page(
        dashboard: Dashboard,
        access: TenantAccess,
        values: dict[str, str],
        before: str | None,
        error: BillportError | None = None,
    ) -> Response[Any]:
        tenant = access.tenant
        service = CallbackService(dashboard.db)
        found = DeliveryList([], has_more=False)
        try:
            found = await service.list(
                tenant,
                values.get("status") or None,
                PAGE_SIZE,
                before,
                event=values.get("event"),
                customer=values.get("customer"),
            )
        except BillportError as refused:
            error = error or refused
        query = {k: v for k, v in values.items() if v}
        here = f"/dashboard/t/{tenant.id}/callbacks"
        older = None
        if found.has_more and found.data:
            older = f"{here}?{urlencode({**query, 'before': found.data[-1].id})}"
        newest = (f"{here}?{urlencode(query)}" if query else here) if before else None
        return dashboard.render(
            "callbacks.html",
            status_code=error.status_code if error else 200,
            tenant=tenant,
            access=access,
            error=error,
            values=values,
            filtered=bool(query),
            statuses=STATUSES,
            known_events=KNOWN_EVENTS,
            deliveries=found.data,
            older=older,
            newest=newest,
            counts=await delivery_counts(dashboard.db, tenant),
            intake=await service.stripe_intake(tenant),
        )
