"""The customer portal's payment methods: list, add (SetupIntent), make default, remove.

Every id a browser sends is checked against the session's customer before anything is read
or changed: another customer's card answers 404, exactly like a card that does not exist.
"""

from __future__ import annotations

from typing import Any

import msgspec
import stripe
from litestar import Controller, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from portal.errors import Conflict, Forbidden, NotFound
from portal.stripe_gateway import map_stripe_error, stripe_call

from ..billing.routes import ActionId, WidgetContext, provide_context
from ..billing.service import BillingService, plain

PORTAL_WIDGETS = ("customer-portal", "invoices")
# Cards and billing details are managed in the customer portal; the invoices widget only pays.
CUSTOMER_PORTAL = ("customer-portal",)


def check_widget(widget: WidgetContext, widgets: tuple[str, ...] = PORTAL_WIDGETS) -> None:
    """Only the portal's own pages manage billing, not a plan picker's session."""
    if widget.session.widget not in widgets:
        raise Forbidden(
            "This widget cannot manage billing; open the customer portal.",
            code="widget_not_allowed",
        )


def portal_customer(widget: WidgetContext, widgets: tuple[str, ...] = PORTAL_WIDGETS) -> str:
    """The Stripe customer this portal session acts for."""
    check_widget(widget, widgets)
    if widget.session.customer_id is None:
        raise NotFound("There is no billing account for you yet.", code="customer_not_found")
    return widget.session.customer_id


def card_summary(pm: dict[str, Any], default_id: str | None) -> dict[str, Any]:
    card = pm.get("card") or {}
    return {
        "id": pm["id"],
        "brand": card.get("brand") or pm.get("type"),
        "last4": card.get("last4"),
        "exp_month": card.get("exp_month"),
        "exp_year": card.get("exp_year"),
        "default": pm["id"] == default_id,
    }


class PaymentMethodService:
    def __init__(self, billing: BillingService, customer_id: str) -> None:
        self.billing = billing
        self.client = billing.client
        self.customer_id = customer_id

    async def default_id(self) -> str | None:
        customer = await stripe_call(self.client.v1.customers.retrieve_async(self.customer_id))
        if getattr(customer, "deleted", False):
            raise NotFound("There is no billing account for you yet.", code="customer_not_found")
        settings = getattr(customer, "invoice_settings", None)
        found = settings.default_payment_method if settings else None
        return str(found) if found else None

    async def cards(self) -> list[dict[str, Any]]:
        default = await self.default_id()
        found = await stripe_call(
            self.client.v1.customers.payment_methods.list_async(
                self.customer_id, params={"type": "card", "limit": 100}
            )
        )
        return [card_summary(plain(pm), default) for pm in found.data]

    async def owned(self, payment_method_id: str) -> dict[str, Any]:
        """A card of this customer, or 404 (others' ids reveal nothing)."""
        if not payment_method_id.startswith("pm_") or len(payment_method_id) > 255:
            raise NotFound("No such card.", code="payment_method_not_found")
        try:
            pm = await self.client.v1.customers.payment_methods.retrieve_async(
                self.customer_id, payment_method_id
            )
        except stripe.InvalidRequestError:
            raise NotFound("No such card.", code="payment_method_not_found") from None
        except stripe.StripeError as exc:
            raise map_stripe_error(exc) from exc
        if pm.customer != self.customer_id:
            raise NotFound("No such card.", code="payment_method_not_found")
        return plain(pm)

    async def setup(self, action_id: str) -> dict[str, Any]:
        params: Any = {
            "customer": self.customer_id,
            "usage": "off_session",
            "payment_method_types": ["card"],
        }
        intent = await stripe_call(
            self.client.v1.setup_intents.create_async(
                params=params,
                options={"idempotency_key": self.billing.key("setup", self.customer_id, action_id)},
            )
        )
        return {"id": intent.id, "client_secret": intent.client_secret}

    async def make_default(self, payment_method_id: str, action_id: str) -> dict[str, Any]:
        pm = await self.owned(payment_method_id)
        await stripe_call(
            self.client.v1.customers.update_async(
                self.customer_id,
                params={"invoice_settings": {"default_payment_method": pm["id"]}},
                options={
                    "idempotency_key": self.billing.key(
                        "default_card", self.customer_id, pm["id"], action_id
                    )
                },
            )
        )
        updated = []
        for sub in await self.billing.subscriptions(self.customer_id):
            if sub.get("default_payment_method") == pm["id"]:
                continue
            await stripe_call(
                self.client.v1.subscriptions.update_async(
                    sub["id"],
                    params={"default_payment_method": pm["id"]},
                    options={
                        "idempotency_key": self.billing.key(
                            "subscription_card", sub["id"], pm["id"], action_id
                        )
                    },
                )
            )
            updated.append(sub["id"])
        return {"payment_method": pm, "subscriptions": updated}

    async def remove(self, payment_method_id: str) -> dict[str, Any]:
        pm = await self.owned(payment_method_id)
        if pm["id"] == await self.default_id():
            raise Conflict(
                "This is your default card; make another card the default before removing it.",
                code="default_payment_method",
            )
        for sub in await self.billing.subscriptions(self.customer_id):
            if sub.get("default_payment_method") == pm["id"]:
                raise Conflict(
                    "This card pays a subscription; make another card the default first.",
                    code="subscription_payment_method",
                )
        await stripe_call(
            self.client.v1.payment_methods.detach_async(
                pm["id"],
                options={"idempotency_key": self.billing.key("detach", pm["id"])},
            )
        )
        return {"removed": pm["id"]}


class ActionBody(msgspec.Struct, forbid_unknown_fields=True):
    action_id: ActionId


class PaymentMethodsController(Controller):
    path = "/w/api/portal"
    include_in_schema = False
    dependencies = {"widget": Provide(provide_context)}

    @get("/payment-methods")
    async def list_cards(self, widget: NamedDependency[WidgetContext]) -> dict[str, Any]:
        check_widget(widget, CUSTOMER_PORTAL)
        if widget.session.customer_id is None:
            return {"payment_methods": []}
        service = PaymentMethodService(widget.billing, widget.session.customer_id)
        return {"payment_methods": await service.cards()}

    @post("/payment-methods/setup", status_code=200)
    async def setup(
        self, widget: NamedDependency[WidgetContext], data: JSONBody[ActionBody]
    ) -> dict[str, Any]:
        customer_id = portal_customer(widget, CUSTOMER_PORTAL)
        return await PaymentMethodService(widget.billing, customer_id).setup(data.action_id)

    @post("/payment-methods/{payment_method_id:str}/default", status_code=200)
    async def make_default(
        self,
        payment_method_id: FromPath[str],
        widget: NamedDependency[WidgetContext],
        data: JSONBody[ActionBody],
    ) -> dict[str, Any]:
        customer_id = portal_customer(widget, CUSTOMER_PORTAL)
        service = PaymentMethodService(widget.billing, customer_id)
        answer = await service.make_default(payment_method_id, data.action_id)
        await widget.record(
            "update_payment_method",
            answer["payment_method"],
            customer_id,
            once_per=f"{payment_method_id}:{data.action_id}",
        )
        return answer

    @delete("/payment-methods/{payment_method_id:str}", status_code=200)
    async def remove(
        self, payment_method_id: FromPath[str], widget: NamedDependency[WidgetContext]
    ) -> dict[str, Any]:
        customer_id = portal_customer(widget, CUSTOMER_PORTAL)
        return await PaymentMethodService(widget.billing, customer_id).remove(payment_method_id)
