"""Invoice history and paying open invoices in place, for the portal and the invoices widget."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import stripe
from litestar import Controller, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from portal.errors import Conflict, NotFound, UpstreamError
from portal.stripe_gateway import map_stripe_error, stripe_call

from ..billing.routes import ActionId, WidgetContext, provide_context
from ..billing.service import BillingService, plain
from .payments import PaymentMethodService, check_widget, portal_customer

# Stripe's answer to paying an invoice whose card asks the customer to authenticate.
REQUIRES_ACTION = "invoice_payment_intent_requires_action"


def invoice_subscription(invoice: dict[str, Any]) -> str | None:
    """The subscription an invoice bills; today's API names it under ``parent``."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    found = details.get("subscription") or invoice.get("subscription")
    if isinstance(found, dict):
        found = found.get("id")
    return str(found) if found else None


def invoice_summary(invoice: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": invoice["id"],
        "number": invoice.get("number"),
        "created": invoice.get("created"),
        "amount_due": invoice.get("amount_due"),
        "amount_remaining": invoice.get("amount_remaining"),
        "total": invoice.get("total"),
        "currency": invoice.get("currency"),
        "status": invoice.get("status"),
        "hosted_invoice_url": invoice.get("hosted_invoice_url"),
        "invoice_pdf": invoice.get("invoice_pdf"),
        "subscription": invoice_subscription(invoice),
    }


class InvoiceService:
    def __init__(self, billing: BillingService, customer_id: str) -> None:
        self.billing = billing
        self.client = billing.client
        self.customer_id = customer_id

    async def history(self, *, show_all: bool) -> list[dict[str, Any]]:
        found = await stripe_call(
            self.client.v1.invoices.list_async(params={"customer": self.customer_id, "limit": 100})
        )
        invoices = [invoice_summary(plain(invoice)) for invoice in found.data]
        shown = [
            invoice
            for invoice in invoices
            if invoice["status"] != "draft" and (show_all or invoice["subscription"])
        ]
        return sorted(shown, key=lambda invoice: invoice["created"] or 0, reverse=True)

    async def owned(self, invoice_id: str) -> dict[str, Any]:
        """An invoice of this customer, or 404 (others' ids reveal nothing)."""
        if not invoice_id.startswith("in_") or len(invoice_id) > 255:
            raise NotFound("No such invoice.", code="invoice_not_found")
        try:
            invoice = await self.client.v1.invoices.retrieve_async(invoice_id)
        except stripe.InvalidRequestError:
            raise NotFound("No such invoice.", code="invoice_not_found") from None
        except stripe.StripeError as exc:
            raise map_stripe_error(exc) from exc
        if invoice.customer != self.customer_id:
            raise NotFound("No such invoice.", code="invoice_not_found")
        return plain(invoice)

    async def _has_card(self, invoice: dict[str, Any]) -> bool:
        """Whether Stripe has a card to charge for ``invoice`` without being given one."""
        if invoice.get("default_payment_method"):
            return True
        subscription_id = invoice_subscription(invoice)
        if subscription_id:
            subscription = await self.billing.owned_subscription(subscription_id)
            if subscription.get("default_payment_method"):
                return True
        return await PaymentMethodService(self.billing, self.customer_id).default_id() is not None

    async def pay(
        self, invoice_id: str, payment_method: str | None, action_id: str | None
    ) -> dict[str, Any]:
        """Pay an open invoice: ``{"invoice"}``, or ``{"invoice", "client_secret"}`` for 3DS."""
        invoice = await self.owned(invoice_id)
        if invoice["status"] == "paid":
            raise Conflict("This invoice is already paid.", code="invoice_already_paid")
        if invoice["status"] != "open":
            raise Conflict("Only open invoices can be paid.", code="invoice_not_open")
        params: Any = {"off_session": False}
        if payment_method:
            card = await PaymentMethodService(self.billing, self.customer_id).owned(payment_method)
            params["payment_method"] = card["id"]
        elif not await self._has_card(invoice):
            raise Conflict(
                "There is no card on file to pay with; add a card first.",
                code="no_payment_method",
            )
        # Without an action id, each payment attempt of the invoice is one action: a double
        # click pays once, and a retry after a decline is a new attempt.
        attempt = action_id or f"attempt-{invoice.get('attempt_count') or 0}"
        key = self.billing.key("pay_invoice", invoice_id, payment_method or "default", attempt)
        try:
            paid = await self.client.v1.invoices.pay_async(
                invoice_id, params=params, options={"idempotency_key": key}
            )
        except stripe.CardError as exc:
            if exc.code != REQUIRES_ACTION:
                raise map_stripe_error(exc) from exc
            secret = await self._client_secret(invoice_id, exc)
            return {"invoice": await self.owned(invoice_id), "client_secret": secret}
        except stripe.StripeError as exc:
            raise map_stripe_error(exc) from exc
        return {"invoice": plain(paid)}

    async def _client_secret(self, invoice_id: str, error: stripe.CardError) -> str:
        intent = getattr(error.error, "payment_intent", None) if error.error else None
        if intent is not None and getattr(intent, "client_secret", None):
            return str(intent.client_secret)
        invoice = await stripe_call(
            self.client.v1.invoices.retrieve_async(
                invoice_id, params={"expand": ["confirmation_secret"]}
            )
        )
        if invoice.confirmation_secret is None:
            raise UpstreamError("Stripe did not say how to authenticate this payment.")
        return str(invoice.confirmation_secret.client_secret)


class PayBody(msgspec.Struct, forbid_unknown_fields=True):
    action_id: ActionId | None = None
    payment_method: Annotated[str, msgspec.Meta(max_length=255)] | None = None


class InvoicesController(Controller):
    path = "/w/api/portal"
    include_in_schema = False
    dependencies = {"widget": Provide(provide_context)}

    @get("/invoices")
    async def history(self, widget: NamedDependency[WidgetContext]) -> dict[str, Any]:
        check_widget(widget)
        if widget.session.customer_id is None:
            return {"invoices": []}
        service = InvoiceService(widget.billing, widget.session.customer_id)
        show_all = bool(widget.options.get("show_all_invoices", False))
        return {"invoices": await service.history(show_all=show_all)}

    @post("/invoices/{invoice_id:str}/pay", status_code=200)
    async def pay(
        self,
        invoice_id: FromPath[str],
        widget: NamedDependency[WidgetContext],
        data: JSONBody[PayBody],
    ) -> dict[str, Any]:
        service = InvoiceService(widget.billing, portal_customer(widget))
        answer = await service.pay(invoice_id, data.payment_method, data.action_id)
        if not answer.get("client_secret"):
            await widget.record("pay_invoice", answer["invoice"], once_per=invoice_id)
        return answer

    @post("/invoices/{invoice_id:str}/refresh", status_code=200)
    async def refresh(
        self, invoice_id: FromPath[str], widget: NamedDependency[WidgetContext]
    ) -> dict[str, Any]:
        """The invoice after the browser finished 3D Secure: paid, or still open."""
        service = InvoiceService(widget.billing, portal_customer(widget))
        invoice = await service.owned(invoice_id)
        if invoice.get("status") == "paid":
            await widget.record("pay_invoice", invoice, once_per=invoice_id)
        return {"invoice": invoice}
