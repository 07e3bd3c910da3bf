"""Subscribing, previewing and changing plans for the customer a widget session names.

Every mutating Stripe call carries an idempotency key derived from the user's action, so a
double click, a network retry or a reload re-sends the same request and Stripe answers it
once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import stripe

from portal.errors import BillportError, Conflict, NotFound, ValidationFailed
from portal.identity.widget_session import WidgetSession
from portal.stripe_gateway import idempotency_key, map_stripe_error, stripe_call
from tenants.models import Tenant

from ..catalog.service import Catalog

# Subscriptions that still give (or are about to give) the customer a plan.
LIVE = ("active", "trialing", "past_due", "incomplete", "unpaid", "paused")


def plain(obj: Any) -> dict[str, Any]:
    """A Stripe object as plain JSON, as Stripe sent it (decimals as strings)."""
    data = obj.to_dict() if hasattr(obj, "to_dict") else obj
    return dict(json.loads(json.dumps(data, default=str)))


@dataclass(frozen=True)
class Subscribed:
    subscription: dict[str, Any]
    customer_id: str
    # Set when the bank asks the customer to authenticate (3D Secure) the first payment.
    payment_client_secret: str | None = None


class BillingService:
    def __init__(
        self, tenant: Tenant, session: WidgetSession, client: stripe.StripeClient, catalog: Catalog
    ) -> None:
        self.tenant = tenant
        self.session = session
        self.client = client
        self.catalog = catalog

    def key(self, *parts: str) -> str:
        return idempotency_key(self.tenant.id, *parts)

    # -- reading -------------------------------------------------------------------------
    async def subscriptions(self, customer_id: str | None = None) -> list[dict[str, Any]]:
        customer_id = customer_id or self.session.customer_id
        if customer_id is None:
            return []
        found = await stripe_call(
            self.client.v1.subscriptions.list_async(
                params={"customer": customer_id, "status": "all", "limit": 20}
            )
        )
        return [plain(s) for s in found.data if s.status in LIVE]

    async def owned_subscription(self, subscription_id: str) -> dict[str, Any]:
        """A subscription of this session's customer, or 404 (others' ids reveal nothing)."""
        customer_id = self.session.customer_id
        if customer_id is None or not subscription_id.startswith("sub_"):
            raise NotFound("No such subscription.", code="subscription_not_found")
        try:
            sub = await self.client.v1.subscriptions.retrieve_async(subscription_id)
        except stripe.InvalidRequestError:
            raise NotFound("No such subscription.", code="subscription_not_found") from None
        except stripe.StripeError as exc:
            raise map_stripe_error(exc) from exc
        if sub.customer != customer_id:
            raise NotFound("No such subscription.", code="subscription_not_found")
        return plain(sub)

    async def has_payment_method(self, subscription: dict[str, Any]) -> bool:
        """Whether renewals and upgrades of ``subscription`` have a card to charge."""
        if subscription.get("default_payment_method"):
            return True
        customer = await stripe_call(
            self.client.v1.customers.retrieve_async(str(subscription["customer"]))
        )
        settings = getattr(customer, "invoice_settings", None)
        return bool(settings and settings.default_payment_method)

    def price(self, price_id: str) -> dict[str, Any]:
        price = self.catalog.prices_by_id.get(price_id)
        if price is None or not price.get("active") or price.get("type") != "recurring":
            raise ValidationFailed(
                "This plan is not available.", code="price_unavailable", param="price"
            )
        return price

    def plan_metadata(self, price: dict[str, Any]) -> dict[str, str]:
        """The product's ``service`` and ``tier``, copied onto the subscription."""
        product = self.catalog.products_by_id.get(price["product"]) or {}
        metadata = product.get("metadata") or {}
        copied = {key: str(metadata[key]) for key in ("service", "tier") if metadata.get(key)}
        if self.session.user_id:
            copied["billport_user_id"] = self.session.user_id
        return copied

    # -- customers and payment methods ---------------------------------------------------
    async def ensure_customer(self, email: str | None) -> str:
        if self.session.customer_id:
            return self.session.customer_id
        email = email or self.session.email
        if not email:
            raise ValidationFailed("An email address is needed.", param="email")
        existing = await stripe_call(
            self.client.v1.customers.list_async(params={"email": email, "limit": 1})
        )
        if existing.data:
            return str(existing.data[0].id)
        params: Any = {"email": email}
        if self.session.user_id:
            params["metadata"] = {"billport_user_id": self.session.user_id}
        customer = await stripe_call(
            self.client.v1.customers.create_async(
                params=params, options={"idempotency_key": self.key("customer", email)}
            )
        )
        return str(customer.id)

    async def attach(self, customer_id: str, payment_method: str) -> str:
        """Attach the card to the customer; the id to use from now on (test ids are copied)."""
        if not payment_method.startswith("pm_") or len(payment_method) > 255:
            raise ValidationFailed("The card could not be read.", param="payment_method")
        attached = await stripe_call(
            self.client.v1.payment_methods.attach_async(
                payment_method,
                params={"customer": customer_id},
                options={"idempotency_key": self.key("attach", payment_method, customer_id)},
            )
        )
        return str(attached.id)

    async def promotion_code(self, code: str) -> dict[str, Any]:
        code = code.strip()
        if not code or len(code) > 200:
            raise ValidationFailed("Enter a promotion code.", param="promotion_code")
        found = await stripe_call(
            self.client.v1.promotion_codes.list_async(
                params={
                    "code": code,
                    "active": True,
                    "limit": 1,
                    "expand": ["data.promotion.coupon"],
                }
            )
        )
        if not found.data:
            raise ValidationFailed(
                f"{code} is not a valid promotion code.",
                code="invalid_promotion_code",
                param="promotion_code",
            )
        return plain(found.data[0])

    # -- subscribing ---------------------------------------------------------------------
    async def subscribe(
        self,
        *,
        price_id: str,
        quantity: int,
        action_id: str,
        payment_method: str | None,
        promotion_code: str | None,
        trial_days: int | None,
        email: str | None = None,
    ) -> Subscribed:
        price = self.price(price_id)
        customer_id = await self.ensure_customer(email)
        live = await self.subscriptions(customer_id)
        for existing in live:
            # The same action retried after its answer was lost: answer it again.
            if (existing.get("metadata") or {}).get("billport_action") == action_id:
                return Subscribed(existing, customer_id)
        if live:
            raise Conflict(
                "You already have a subscription; change its plan instead.",
                code="already_subscribed",
            )
        if payment_method:
            payment_method = await self.attach(customer_id, payment_method)
        params: Any = {
            "customer": customer_id,
            "items": [{"price": price_id, "quantity": quantity}],
            "metadata": {**self.plan_metadata(price), "billport_action": action_id},
            "payment_behavior": "allow_incomplete",
            "expand": ["latest_invoice.payments"],
        }
        if payment_method:
            params["default_payment_method"] = payment_method
        if trial_days:
            params["trial_period_days"] = trial_days
        elif (price.get("recurring") or {}).get("trial_period_days"):
            params["trial_from_plan"] = True
        if promotion_code:
            params["discounts"] = [
                {"promotion_code": (await self.promotion_code(promotion_code))["id"]}
            ]
        subscription = plain(
            await stripe_call(
                self.client.v1.subscriptions.create_async(
                    params=params,
                    options={"idempotency_key": self.key("subscribe", customer_id, action_id)},
                )
            )
        )
        if subscription["status"] == "incomplete":
            intent = await self._first_payment(subscription)
            if intent is not None and intent.status == "requires_action":
                return Subscribed(subscription, customer_id, intent.client_secret)
            # Declined after all: leave nothing behind that the customer did not get.
            await self.abandon(subscription["id"], customer_id)
            message = "Your card was declined."
            if intent is not None and intent.last_payment_error:
                message = intent.last_payment_error.message or message
            raise BillportError(message, code="card_declined", status_code=402)
        return Subscribed(subscription, customer_id)

    async def _first_payment(self, subscription: dict[str, Any]) -> Any:
        invoice = subscription.get("latest_invoice") or {}
        for payment in (invoice.get("payments") or {}).get("data") or []:
            intent_id = (payment.get("payment") or {}).get("payment_intent")
            if intent_id:
                return await stripe_call(self.client.v1.payment_intents.retrieve_async(intent_id))
        return None

    async def abandon(self, subscription_id: str, customer_id: str | None = None) -> None:
        """Cancel a subscription whose first payment never completed."""
        sub = await stripe_call(self.client.v1.subscriptions.retrieve_async(subscription_id))
        if sub.customer != (customer_id or self.session.customer_id):
            raise NotFound("No such subscription.", code="subscription_not_found")
        if sub.status in ("incomplete", "incomplete_expired"):
            if sub.status == "incomplete":
                await stripe_call(
                    self.client.v1.subscriptions.cancel_async(
                        subscription_id,
                        options={"idempotency_key": self.key("abandon", subscription_id)},
                    )
                )
            return
        raise Conflict("This subscription is already under way.", code="subscription_started")

    # -- changing plans ------------------------------------------------------------------
    def change_items(
        self, sub: dict[str, Any], price_id: str, quantity: int
    ) -> list[dict[str, Any]]:
        items = sub["items"]["data"]
        licensed = [
            i for i in items if (i["price"].get("recurring") or {}).get("usage_type") != "metered"
        ]
        if len(licensed) != 1:
            raise Conflict(
                "This subscription has several plans; change it from the customer portal.",
                code="ambiguous_subscription",
            )
        return [{"id": licensed[0]["id"], "price": price_id, "quantity": quantity}]

    async def preview_change(
        self, subscription_id: str, price_id: str, quantity: int
    ) -> dict[str, Any]:
        self.price(price_id)
        sub = await self.owned_subscription(subscription_id)
        params: Any = {
            "customer": sub["customer"],
            "subscription": subscription_id,
            "subscription_details": {
                "items": self.change_items(sub, price_id, quantity),
                "proration_behavior": "always_invoice",
            },
        }
        preview = await stripe_call(self.client.v1.invoices.create_preview_async(params=params))
        data = plain(preview)
        return {
            "amount_due": data.get("amount_due"),
            "total": data.get("total"),
            "currency": data.get("currency"),
            "lines": [
                {"description": line.get("description"), "amount": line.get("amount")}
                for line in (data.get("lines") or {}).get("data") or []
            ],
        }

    async def change_plan(
        self,
        subscription_id: str,
        price_id: str,
        quantity: int,
        action_id: str,
        payment_method: str | None = None,
    ) -> dict[str, Any]:
        price = self.price(price_id)
        sub = await self.owned_subscription(subscription_id)
        if sub["status"] not in LIVE:
            raise Conflict("This subscription has ended.", code="subscription_ended")
        params: Any = {
            "items": self.change_items(sub, price_id, quantity),
            "proration_behavior": "always_invoice",
            "metadata": self.plan_metadata(price),
        }
        if payment_method:
            # Upgrading from a free plan: the first card becomes the subscription's.
            params["default_payment_method"] = await self.attach(sub["customer"], payment_method)
        updated = await stripe_call(
            self.client.v1.subscriptions.update_async(
                subscription_id,
                params=params,
                options={
                    "idempotency_key": self.key("change", subscription_id, action_id),
                },
            )
        )
        return plain(updated)


def check_quantity(quantity: Any, options: dict[str, Any]) -> int:
    limits = options.get("quantity") or {}
    low, high, step = (
        int(limits.get("min", 1)),
        int(limits.get("max", 10_000)),
        int(limits.get("step", 1)),
    )
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise ValidationFailed("Quantity must be a whole number.", param="quantity")
    if not low <= quantity <= high or (quantity - low) % max(step, 1):
        raise ValidationFailed(
            f"Quantity must be between {low} and {high}"
            + (f" in steps of {step}." if step > 1 else "."),
            param="quantity",
        )
    return quantity
