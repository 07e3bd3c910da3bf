"""The widget API: what the iframe's script calls, authenticated by its widget session."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.callbacks.outbox import dedupe_key, enqueue
from portal.db import release_connection
from portal.errors import Forbidden, NotFound, ValidationFailed
from portal.identity.tokens import valid_email
from portal.identity.widget_session import HEADER, WidgetSession, WidgetSessionSigner
from tenants.billing_pages.models import BillingPage
from tenants.models import Tenant
from tenants.service import TenantService

from ..catalog.service import CatalogService
from ..options import effective_options
from .service import BillingService, check_quantity

ActionId = Annotated[str, msgspec.Meta(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class SubscribeBody(msgspec.Struct, forbid_unknown_fields=True):
    price: Annotated[str, msgspec.Meta(max_length=255)]
    action_id: ActionId
    quantity: int = 1
    payment_method: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    promotion_code: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    email: Annotated[str, msgspec.Meta(max_length=512)] | None = None


class ChangeBody(msgspec.Struct, forbid_unknown_fields=True):
    price: Annotated[str, msgspec.Meta(max_length=255)]
    quantity: int = 1
    action_id: ActionId | None = None
    payment_method: Annotated[str, msgspec.Meta(max_length=255)] | None = None


class CodeBody(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(max_length=200)]


@dataclasses.dataclass
class WidgetContext:
    session: WidgetSession
    signer: WidgetSessionSigner
    billing: BillingService
    options: dict[str, Any]
    client_address: str
    db: AsyncSession

    def reissued(self, customer_id: str) -> str:
        """A fresh widget session naming the customer that now exists."""
        return self.signer.sign(dataclasses.replace(self.session, customer_id=customer_id))

    async def record(
        self,
        event: str,
        response: dict[str, Any],
        customer_id: str | None = None,
        *,
        once_per: str | None = None,
    ) -> None:
        """Queue the callback of a completed action (the browser hears it from the page).

        ``once_per`` names what makes the action unique (a subscription's creation, an
        invoice's payment, an action id): repeating it queues nothing more.
        """
        enqueue(
            self.db,
            tenant_id=self.billing.tenant.id,
            event=event,
            response=response,
            customer_id=customer_id or self.session.customer_id,
            livemode=self.billing.tenant.livemode,
            dedupe_key=dedupe_key(event, once_per) if once_per else None,
        )
        try:
            await self.db.commit()
        except IntegrityError:
            await self.db.rollback()


async def provide_context(
    request: Request[Any, Any, Any], state: State, db_session: NamedDependency[AsyncSession]
) -> WidgetContext:
    signer = WidgetSessionSigner(state.settings.secret_key)
    session = signer.verify(request.headers.get(HEADER))
    tenant = await db_session.get(Tenant, session.tenant_id)
    if tenant is None:
        raise NotFound("This billing account no longer exists.", code="tenant_gone")
    tenants = TenantService(db_session, state.vault, state.gateway)
    catalog = await CatalogService(db_session, tenants, state.catalog_cache).current(
        tenant, state.database
    )
    page = (
        await db_session.get(BillingPage, session.billing_page_id)
        if session.billing_page_id
        else None
    )
    options = effective_options(tenant.widget_options, page.options if page else None)
    billing = BillingService(tenant, session, tenants.stripe_client(tenant), catalog)
    client = request.client.host if request.client else "unknown"
    # Every route goes on to call Stripe; callbacks are written in a transaction of their own.
    await release_connection(db_session)
    return WidgetContext(session, signer, billing, options, client, db_session)


class WidgetBillingController(Controller):
    path = "/w/api"
    include_in_schema = False
    dependencies = {"widget": Provide(provide_context)}

    @get("/subscriptions")
    async def subscriptions(self, widget: NamedDependency[WidgetContext]) -> dict[str, Any]:
        return {"subscriptions": await widget.billing.subscriptions()}

    @post("/subscribe", status_code=200)
    async def subscribe(
        self, state: State, widget: NamedDependency[WidgetContext], data: JSONBody[SubscribeBody]
    ) -> dict[str, Any]:
        session = widget.session
        email = session.email
        if session.customer_id is None and session.email is None:
            # Anonymous: a visitor signing up. Only through an allowed origin, and rate-limited.
            if not session.parent_origin:
                raise Forbidden(
                    "Sign-up is only possible from the tenant's own website.",
                    code="origin_required",
                )
            if not data.email or not valid_email(data.email):
                raise ValidationFailed("Enter a valid email address.", param="email")
            state.anonymous_limits.check(session.tenant_id, widget.client_address)
            email = data.email
        options = widget.options
        trial_days = options.get("trial_days")
        free = widget.billing.price(data.price).get("unit_amount") == 0
        needs_card = not free and (bool(options.get("require_card", True)) or not trial_days)
        if needs_card and not data.payment_method:
            raise ValidationFailed("Enter your card details.", param="payment_method")
        result = await widget.billing.subscribe(
            price_id=data.price,
            quantity=check_quantity(data.quantity, options),
            action_id=data.action_id,
            payment_method=data.payment_method,
            promotion_code=data.promotion_code if options.get("coupon_field", True) else None,
            trial_days=int(trial_days) if trial_days else None,
            email=email,
        )
        if result.payment_client_secret is None:
            await widget.record(
                "create_subscription",
                result.subscription,
                result.customer_id,
                once_per=result.subscription["id"],
            )
        return {
            "subscription": result.subscription,
            "payment_client_secret": result.payment_client_secret,
            "session": widget.reissued(result.customer_id),
        }

    @post("/subscriptions/{subscription_id:str}/complete", status_code=200)
    async def complete(
        self, subscription_id: FromPath[str], widget: NamedDependency[WidgetContext]
    ) -> dict[str, Any]:
        sub = await widget.billing.owned_subscription(subscription_id)
        if sub["status"] == "incomplete":
            await widget.billing.abandon(subscription_id)
            raise ValidationFailed(
                "The payment was not authenticated, so no subscription was started.",
                code="authentication_failed",
            )
        await widget.record("create_subscription", sub, once_per=sub["id"])
        return {"subscription": sub}

    @post("/subscriptions/{subscription_id:str}/abandon", status_code=200)
    async def abandon(
        self, subscription_id: FromPath[str], widget: NamedDependency[WidgetContext]
    ) -> dict[str, Any]:
        await widget.billing.abandon(subscription_id)
        return {"abandoned": True}

    @post("/subscriptions/{subscription_id:str}/preview", status_code=200)
    async def preview(
        self,
        subscription_id: FromPath[str],
        widget: NamedDependency[WidgetContext],
        data: JSONBody[ChangeBody],
    ) -> dict[str, Any]:
        quantity = check_quantity(data.quantity, widget.options)
        return await widget.billing.preview_change(subscription_id, data.price, quantity)

    @post("/subscriptions/{subscription_id:str}/change", status_code=200)
    async def change(
        self,
        subscription_id: FromPath[str],
        widget: NamedDependency[WidgetContext],
        data: JSONBody[ChangeBody],
    ) -> dict[str, Any]:
        if not data.action_id:
            raise ValidationFailed("action_id is required.", param="action_id")
        quantity = check_quantity(data.quantity, widget.options)
        sub = await widget.billing.change_plan(
            subscription_id, data.price, quantity, data.action_id, data.payment_method
        )
        await widget.record("change_plan", sub, once_per=f"{sub['id']}:{data.action_id}")
        return {"subscription": sub}

    @post("/promotion-codes/check", status_code=200)
    async def check_code(
        self, widget: NamedDependency[WidgetContext], data: JSONBody[CodeBody]
    ) -> dict[str, Any]:
        promo = await widget.billing.promotion_code(data.code)
        coupon = (promo.get("promotion") or {}).get("coupon") or promo.get("coupon")
        return {"id": promo["id"], "code": promo["code"], "coupon": coupon}
