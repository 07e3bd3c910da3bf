"""Customers in the dashboard, for support: find one, see what their portal shows (read only)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from portal.errors import BillportError

from .context import Dashboard
from .customers import CustomerMatch, CustomerSupport


class CustomerDashboardController(Controller):
    path = "/dashboard/t/{tenant_id:str}/customers"
    include_in_schema = False

    @get()
    async def search(
        self,
        tenant_id: FromPath[str],
        dashboard: NamedDependency[Dashboard],
        q: FromQuery[str | None] = None,
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id)
        query = (q or "").strip()
        matches: list[CustomerMatch] | None = None
        error: BillportError | None = None
        if query:
            support = CustomerSupport(
                dashboard.db, dashboard.tenants().stripe_client(access.tenant), access.tenant
            )
            try:
                matches = await support.search(query)
            except BillportError as refused:
                error = refused
        return dashboard.render(
            "customers.html",
            status_code=error.status_code if error else 200,
            tenant=access.tenant,
            access=access,
            query=query,
            matches=matches,
            error=error,
        )

    @get("/{customer_id:str}")
    async def customer(
        self,
        tenant_id: FromPath[str],
        customer_id: FromPath[str],
        dashboard: NamedDependency[Dashboard],
    ) -> Response[Any]:
        access = await dashboard.access(tenant_id)
        support = CustomerSupport(
            dashboard.db, dashboard.tenants().stripe_client(access.tenant), access.tenant
        )
        try:
            profile = await support.profile(customer_id)
        except BillportError as error:
            # Answered within the customers page, so support can search again from there.
            return dashboard.render(
                "customers.html",
                status_code=error.status_code,
                tenant=access.tenant,
                access=access,
                query=customer_id[:255],
                matches=None,
                error=error,
            )
        return dashboard.render(
            "customer.html", tenant=access.tenant, access=access, customer=profile
        )
