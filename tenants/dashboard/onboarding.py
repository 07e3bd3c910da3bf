"""The first-run checklist: what a tenant has set up, and what is left."""

from __future__ import annotations

import dataclasses

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.callbacks.models import DELIVERED, FAILED, PENDING, CallbackDelivery

from ..billing_pages.models import BillingPage
from ..models import Tenant


@dataclasses.dataclass(frozen=True)
class Step:
    title: str
    done: bool
    hint: str
    link: str


async def checklist(session: AsyncSession, tenant: Tenant) -> list[Step]:
    base = f"/dashboard/t/{tenant.id}"
    pages = await session.scalar(select(func.count()).where(BillingPage.tenant_id == tenant.id))
    delivered = await session.scalar(
        select(func.count()).where(
            CallbackDelivery.tenant_id == tenant.id, CallbackDelivery.status == DELIVERED
        )
    )
    return [
        Step(
            "Connect your Stripe account",
            True,
            f"Key {tenant.stripe_secret_key_hint} verified with Stripe.",
            f"{base}/stripe",
        ),
        Step(
            "Receive Stripe events",
            tenant.stripe_webhook_secret_encrypted is not None,
            "Billport's webhook endpoint in your Stripe account keeps plans and statuses in sync.",
            f"{base}/stripe",
        ),
        Step(
            "Allow your website's origin",
            bool(tenant.allowed_origins),
            "Widgets only appear on the origins you allow, e.g. https://app.example.com.",
            f"{base}/settings",
        ),
        Step(
            "Set a callback URL",
            bool(tenant.callback_url),
            "Your server hears of every billing action, signed, even when the tab is closed.",
            f"{base}/settings",
        ),
        Step(
            "Create a billing page",
            bool(pages),
            "Pick the plans, options and theme of a widget, and copy its snippet.",
            f"{base}/pages",
        ),
        Step(
            "Receive a first callback",
            bool(delivered),
            "Send a test event from the Callbacks page and check your endpoint answers 2xx.",
            f"{base}/callbacks",
        ),
    ]


async def delivery_counts(session: AsyncSession, tenant: Tenant) -> dict[str, int]:
    rows = await session.execute(
        select(CallbackDelivery.status, func.count())
        .where(CallbackDelivery.tenant_id == tenant.id)
        .group_by(CallbackDelivery.status)
    )
    counts = {PENDING: 0, DELIVERED: 0, FAILED: 0}
    counts.update({status: count for status, count in rows})
    return counts
