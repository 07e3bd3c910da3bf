"""Creating, changing and finding billing pages."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.crypto import new_key
from portal.errors import Conflict, NotFound, ValidationFailed

from ..audit.service import changes, record
from ..models import Tenant
from .models import BillingPage
from .schemas import BillingPageCreate, BillingPageUpdate, BillingPageView, EmbedTarget

MAX_OPTIONS_BYTES = 16_384


def _check_options(options: dict[str, object]) -> dict[str, object]:
    if len(json.dumps(options)) > MAX_OPTIONS_BYTES:
        raise ValidationFailed(
            f"options must be at most {MAX_OPTIONS_BYTES} bytes of JSON", param="options"
        )
    return options


def view(page: BillingPage) -> BillingPageView:
    return BillingPageView(
        id=page.id,
        widget=page.widget,
        name=page.name,
        options=dict(page.options),
        billflow_id=page.billflow_id,
        created_at=page.created_at,
        updated_at=page.updated_at,
    )


class BillingPageService:
    def __init__(self, session: AsyncSession, actor: str = "system") -> None:
        self.session = session
        # Who the audit log names for the changes made through this service.
        self.actor = actor

    def _audit(self, page: BillingPage, action: str, details: dict[str, Any]) -> None:
        details = {"page": page.id, "name": page.name, **details}
        record(self.session, page.tenant_id, self.actor, action, details)

    async def create(self, tenant: Tenant, data: BillingPageCreate) -> BillingPage:
        page = BillingPage(
            id=new_key("bpg_", 20),
            tenant_id=tenant.id,
            widget=data.widget,
            name=data.name.strip() or data.widget,
            options=_check_options(data.options),
            billflow_id=data.billflow_id,
        )
        self.session.add(page)
        self._audit(page, "billing_page.created", {"widget": page.widget})
        await self._commit(data.billflow_id)
        return page

    async def list(self, tenant: Tenant) -> Sequence[BillingPage]:
        query = select(BillingPage).where(BillingPage.tenant_id == tenant.id)
        return (await self.session.scalars(query.order_by(BillingPage.created_at))).all()

    async def get(self, tenant: Tenant, page_id: str) -> BillingPage:
        page = await self.session.get(BillingPage, page_id)
        if page is None or page.tenant_id != tenant.id:
            raise NotFound(f"No billing page {page_id}", code="billing_page_not_found")
        return page

    async def update(self, tenant: Tenant, page_id: str, data: BillingPageUpdate) -> BillingPage:
        page = await self.get(tenant, page_id)
        before = {"name": page.name, "options": page.options, "billflow_id": page.billflow_id}
        if data.name is not msgspec.UNSET:
            page.name = data.name.strip() or page.name
        if data.options is not msgspec.UNSET:
            page.options = _check_options(data.options)
        if data.billflow_id is not msgspec.UNSET:
            page.billflow_id = data.billflow_id
        after = {"name": page.name, "options": page.options, "billflow_id": page.billflow_id}
        if details := changes(before, after):
            self._audit(page, "billing_page.updated", details)
        await self._commit(page.billflow_id)
        return page

    async def delete(self, tenant: Tenant, page_id: str) -> None:
        page = await self.get(tenant, page_id)
        self._audit(page, "billing_page.deleted", {})
        await self.session.delete(page)
        await self.session.commit()

    async def _commit(self, billflow_id: str | None) -> None:
        try:
            await self.session.commit()
        except IntegrityError:
            await self.session.rollback()
            raise Conflict(
                f"Another billing page already answers to the Billflow id {billflow_id!r}.",
                code="billflow_id_taken",
                param="billflow_id",
            ) from None

    async def embed_target(self, page_id: str) -> EmbedTarget:
        """The widget and publishable key of a page, by its id or its Billflow id."""
        row = (
            await self.session.execute(
                select(BillingPage, Tenant.publishable_key)
                .join(Tenant, Tenant.id == BillingPage.tenant_id)
                .where(or_(BillingPage.id == page_id, BillingPage.billflow_id == page_id))
                .limit(1)
            )
        ).first()
        if row is None:
            raise NotFound(f"No billing page {page_id}", code="billing_page_not_found")
        page, key = row
        return EmbedTarget(id=page.id, widget=page.widget, key=key)
