"""The customer portal's subscriptions: what they are, and changing, cancelling, resuming them."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import stripe
from babel.numbers import format_decimal
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from portal.errors import Conflict, Forbidden, ValidationFailed
from portal.stripe_gateway import stripe_call
from portal.stripe_intake.processor import CHECKOUT_MARK

from ..billing.routes import ActionId, WidgetContext, provide_context
from ..billing.service import LIVE, BillingService, check_quantity, plain
from ..catalog.service import Catalog
from ..money import money, pick_locale
from ..plans import describe

# Stripe's cancellation feedback values, in the words the form shows.
CANCELLATION_REASONS = {
    "too_expensive": "It's too expensive",
    "missing_features": "Some features are missing",
    "switched_service": "I'm switching to another service",
    "unused": "I don't use it enough",
    "customer_service": "Customer service was less than expected",
    "too_complex": "It's too complicated",
    "low_quality": "Quality was less than expected",
    "other": "Another reason",
}
# The last portal action Stripe applied to a subscription. Its answer can be lost (a timeout,
# a portal restart) after Stripe did it; the retry of that action then finds the work done
# and answers it again, rather than refusing it as having nothing left to do.
ACTION_MARK = "billport_portal_action"
RESUBSCRIBED_FROM = "billport_resubscribed_from"
PRORATION_BEHAVIORS = ("create_prorations", "always_invoice", "none", "downgrade_at_period_end")
# Months in one interval, to compare prices billed over different intervals.
MONTHS = {
    "day": Decimal(12) / 365,
    "week": Decimal(12) / 52,
    "month": Decimal(1),
    "year": Decimal(12),
}


def monthly_amount(price: dict[str, Any], quantity: int) -> Decimal:
    recurring = price.get("recurring") or {}
    months = MONTHS.get(recurring.get("interval") or "month", Decimal(1))
    months *= int(recurring.get("interval_count") or 1)
    return Decimal(int(price.get("unit_amount") or 0) * quantity) / months


class ChangeBody(msgspec.Struct, forbid_unknown_fields=True):
    price: Annotated[str, msgspec.Meta(max_length=255)]
    quantity: int = 1
    action_id: ActionId | None = None


class CancelBody(msgspec.Struct, forbid_unknown_fields=True):
    action_id: ActionId
    reason: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    comment: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class ActionBody(msgspec.Struct, forbid_unknown_fields=True):
    action_id: ActionId


def _allowed(options: dict[str, Any], name: str, default: bool = True) -> None:
    if not bool(options.get(name, default)):
        raise Forbidden("This is not available here; contact support.", code="not_allowed")


def _done_by(sub: dict[str, Any], action_id: str) -> bool:
    """Whether ``action_id`` is the portal action Stripe last applied to ``sub``."""
    return (sub.get("metadata") or {}).get(ACTION_MARK) == action_id


def _licensed_item(sub: dict[str, Any]) -> dict[str, Any] | None:
    items = sub["items"]["data"]
    return next(
        (i for i in items if (i["price"].get("recurring") or {}).get("usage_type") != "metered"),
        None,
    )


def usage_cost(price: dict[str, Any], quantity: Decimal) -> int:
    """What ``quantity`` units cost so far at ``price`` (per unit or graduated tiers), in cents."""
    if price.get("billing_scheme") != "tiered":
        unit = Decimal(str(price.get("unit_amount_decimal") or price.get("unit_amount") or 0))
        return int((unit * quantity).to_integral_value())
    remaining, total, floor = quantity, Decimal(0), Decimal(0)
    tiers = price.get("tiers") or []
    if price.get("tiers_mode") == "volume":
        for tier in tiers:
            up_to = tier.get("up_to")
            if up_to in (None, "inf") or quantity <= Decimal(up_to):
                unit = Decimal(str(tier.get("unit_amount_decimal") or tier.get("unit_amount") or 0))
                return int((unit * quantity).to_integral_value()) + int(
                    tier.get("flat_amount") or 0
                )
        return 0
    for tier in tiers:
        if remaining <= 0:
            break
        up_to = tier.get("up_to")
        span = remaining if up_to in (None, "inf") else min(remaining, Decimal(up_to) - floor)
        unit = Decimal(str(tier.get("unit_amount_decimal") or tier.get("unit_amount") or 0))
        total += unit * span + Decimal(int(tier.get("flat_amount") or 0))
        remaining -= span
        floor = Decimal(up_to) if up_to not in (None, "inf") else floor
    return int(total.to_integral_value())


class PortalSubscriptions:
    def __init__(self, widget: WidgetContext, locale: str) -> None:
        self.widget = widget
        self.billing: BillingService = widget.billing
        self.client: stripe.StripeClient = widget.billing.client
        self.catalog: Catalog = widget.billing.catalog
        self.options = widget.options
        self.locale = locale

    # -- what the portal shows -----------------------------------------------------------
    async def overview(self, locale: str) -> dict[str, Any]:
        customer_id = self.widget.session.customer_id
        if customer_id is None:
            return {"subscriptions": [], "reasons": CANCELLATION_REASONS}
        found = await stripe_call(
            self.client.v1.subscriptions.list_async(
                params={
                    "customer": customer_id,
                    "status": "all",
                    "limit": 20,
                    "expand": [
                        "data.latest_invoice",
                        "data.default_payment_method",
                        "data.schedule",
                    ],
                }
            )
        )
        subscriptions = [
            await self._describe(plain(sub), locale)
            for sub in found.data
            if sub.status in LIVE or sub.status == "canceled"
        ]
        return {"subscriptions": subscriptions, "reasons": CANCELLATION_REASONS}

    async def _describe(self, sub: dict[str, Any], locale: str) -> dict[str, Any]:
        item = _licensed_item(sub) or sub["items"]["data"][0]
        # The catalog's copy carries tiers, which Stripe leaves out of subscription items.
        price = self.catalog.prices_by_id.get(item["price"]["id"]) or item["price"]
        product = self.catalog.products_by_id.get(price["product"]) or {"name": "Plan"}
        latest = sub.get("latest_invoice") or {}
        card = (sub.get("default_payment_method") or {}).get("card") or {}
        live = sub["status"] in LIVE
        described: dict[str, Any] = {
            "id": sub["id"],
            "status": sub["status"],
            "plan": product.get("name"),
            "price": price["id"],
            "price_label": describe(price, product, price["currency"], locale),
            "interval": (price.get("recurring") or {}).get("interval"),
            "quantity": item.get("quantity") or 1,
            "current_period_end": item.get("current_period_end"),
            "trial_end": sub.get("trial_end") if sub["status"] == "trialing" else None,
            "cancel_at_period_end": sub.get("cancel_at_period_end"),
            "cancel_at": sub.get("cancel_at"),
            "ended_at": sub.get("ended_at"),
            "open_invoice": (
                {
                    "id": latest["id"],
                    "amount_due": latest["amount_due"],
                    "currency": latest["currency"],
                }
                if latest.get("status") == "open"
                else None
            ),
            "card": {"brand": card.get("brand"), "last4": card.get("last4")} if card else None,
            "discounted": bool(sub.get("discounts")),
            "retention_offer": self._retention_offer(sub, locale),
            "plans": self._choices(price),
            "usage": await self._usage(sub, locale),
            "next_invoice": None,
            "pending_change": self._pending_change(sub, locale),
        }
        if live and not sub.get("cancel_at_period_end") and not sub.get("cancel_at"):
            described["next_invoice"] = await self._next_invoice(sub)
        return described

    def _choices(self, current: dict[str, Any]) -> list[dict[str, Any]]:
        """Prices this subscription may move to: the same service's recurring prices."""
        product = self.catalog.products_by_id.get(current["product"]) or {}
        service = (product.get("metadata") or {}).get("service")
        hidden = set(self.options.get("hidden_plans") or [])
        choices = []
        for price in self.catalog.prices:
            owner = self.catalog.products_by_id.get(price["product"])
            recurring = price.get("recurring") or {}
            if owner is None or not price.get("active") or recurring.get("usage_type") == "metered":
                continue
            metadata = owner.get("metadata") or {}
            if service and metadata.get("service") != service:
                continue
            if not service and owner["id"] != current["product"]:
                continue
            if owner["id"] in hidden or f"{service}:{metadata.get('tier')}" in hidden:
                continue
            if price["currency"] != current["currency"]:
                continue
            choices.append(
                {
                    "id": price["id"],
                    "plan": owner["name"],
                    "label": describe(price, owner, price["currency"], self.locale),
                    "amount": price.get("unit_amount"),
                    "interval": recurring.get("interval"),
                }
            )
        return choices

    def _pending_change(self, sub: dict[str, Any], locale: str) -> dict[str, Any] | None:
        """A plan change waiting in the subscription's schedule for its next phase."""
        schedule = sub.get("schedule")
        if not isinstance(schedule, dict) or schedule.get("status") not in (
            "active",
            "not_started",
        ):
            return None
        now = int(time.time())
        for phase in schedule.get("phases") or []:
            if phase.get("start_date", 0) <= now or not phase.get("items"):
                continue
            price = phase["items"][0]["price"]
            price_id = price["id"] if isinstance(price, dict) else price
            full = self.catalog.prices_by_id.get(price_id)
            product = self.catalog.products_by_id.get(full["product"]) if full else None
            if full is None or product is None:
                return None
            return {
                "plan": product["name"],
                "price_label": describe(full, product, full["currency"], locale),
                "date": phase["start_date"],
            }
        return None

    def _retention_offer(self, sub: dict[str, Any], locale: str) -> dict[str, Any] | None:
        coupon = self.options.get("retention_coupon")
        if not coupon or sub["status"] not in LIVE or sub.get("cancel_at_period_end"):
            return None
        if (sub.get("metadata") or {}).get("billport_retention_offered"):
            return None
        message = self.options.get("retention_message") or "Stay with us and get a discount."
        return {"coupon": coupon, "message": str(message)[:300]}

    async def _next_invoice(self, sub: dict[str, Any]) -> dict[str, Any] | None:
        try:
            preview = await self.client.v1.invoices.create_preview_async(
                params={"customer": sub["customer"], "subscription": sub["id"]}
            )
        except stripe.StripeError:
            # The summary still shows without the amount when Stripe cannot preview it.
            return None
        return {
            "amount_due": preview.amount_due,
            "currency": preview.currency,
            "date": getattr(preview, "next_payment_attempt", None) or preview.period_end,
        }

    async def _usage(self, sub: dict[str, Any], locale: str) -> list[dict[str, Any]]:
        """Metered items: usage so far this period and what it costs, from the meter."""
        usage = []
        for item in sub["items"]["data"]:
            price = item["price"]
            meter = (price.get("recurring") or {}).get("meter")
            if not meter or sub["status"] not in LIVE:
                continue
            start = int(item["current_period_start"]) // 60 * 60
            end = (int(time.time()) // 60 + 1) * 60
            summaries = await stripe_call(
                self.client.v1.billing.meters.event_summaries.list_async(
                    meter,
                    params={"customer": sub["customer"], "start_time": start, "end_time": end},
                )
            )
            quantity = sum((Decimal(str(s.aggregated_value)) for s in summaries.data), Decimal(0))
            full = self.catalog.prices_by_id.get(price["id"]) or price
            product = self.catalog.products_by_id.get(price["product"]) or {"name": "Usage"}
            cost = usage_cost(full, quantity)
            usage.append(
                {
                    "item": item["id"],
                    "name": product.get("name"),
                    "unit": (product.get("metadata") or {}).get("unit")
                    or product.get("unit_label")
                    or "units",
                    "quantity": str(quantity),
                    "quantity_label": format_decimal(quantity, locale=locale),
                    "cost": cost,
                    "cost_label": money(cost, price["currency"], locale),
                    "price_label": describe(full, product, price["currency"], locale),
                }
            )
        return usage

    # -- changing ------------------------------------------------------------------------
    def _behaviour(self) -> str:
        behaviour = str(self.options.get("proration_behavior") or "always_invoice")
        return behaviour if behaviour in PRORATION_BEHAVIORS else "always_invoice"

    def _proration(self) -> str:
        """Stripe's proration_behavior for a change that applies now."""
        behaviour = self._behaviour()
        return "always_invoice" if behaviour == "downgrade_at_period_end" else behaviour

    def _waits_for_renewal(self, sub: dict[str, Any], price_id: str, quantity: int) -> bool:
        """A downgrade that the tenant wants to start at the next renewal."""
        item = _licensed_item(sub)
        if self._behaviour() != "downgrade_at_period_end" or item is None:
            return False
        new = self.catalog.prices_by_id.get(price_id) or {}
        current = monthly_amount(item["price"], int(item.get("quantity") or 1))
        return monthly_amount(new, quantity) < current

    async def _changeable(self, subscription_id: str) -> dict[str, Any]:
        sub = await self.billing.owned_subscription(subscription_id)
        if sub["status"] not in LIVE and not (
            sub["status"] == "canceled" and self.options.get("change_canceled")
        ):
            raise Conflict("This subscription has ended.", code="subscription_ended")
        return sub

    async def preview(self, subscription_id: str, price_id: str, quantity: int) -> dict[str, Any]:
        sub = await self._changeable(subscription_id)
        self.billing.price(price_id)
        if self._waits_for_renewal(sub, price_id, quantity):
            item = _licensed_item(sub) or {}
            return {
                "amount_due": 0,
                "currency": sub["currency"],
                "immediate": False,
                "starts_at": item.get("current_period_end"),
                "lines": [],
            }
        params: Any = {
            "customer": sub["customer"],
            "subscription": subscription_id,
            "subscription_details": {
                "items": self.billing.change_items(sub, price_id, quantity),
                "proration_behavior": self._proration(),
            },
        }
        preview = plain(
            await stripe_call(self.client.v1.invoices.create_preview_async(params=params))
        )
        return {
            "amount_due": preview.get("amount_due"),
            "currency": preview.get("currency"),
            "immediate": self._proration() == "always_invoice",
            "lines": [
                {"description": line.get("description"), "amount": line.get("amount")}
                for line in (preview.get("lines") or {}).get("data") or []
            ],
        }

    async def change(
        self, subscription_id: str, price_id: str, quantity: int, action_id: str
    ) -> dict[str, Any]:
        sub = await self._changeable(subscription_id)
        price = self.billing.price(price_id)
        item = _licensed_item(sub)
        if (
            item is not None
            and item["price"]["id"] == price_id
            and item.get("quantity") == quantity
        ):
            if _done_by(sub, action_id):
                return sub
            raise ValidationFailed("That is already your plan.", code="no_change")
        if self._waits_for_renewal(sub, price_id, quantity):
            return await self._schedule_downgrade(sub, price_id, quantity, action_id)
        params: Any = {
            "items": self.billing.change_items(sub, price_id, quantity),
            "proration_behavior": self._proration(),
            "metadata": {**self.billing.plan_metadata(price), ACTION_MARK: action_id},
        }
        updated = await stripe_call(
            self.client.v1.subscriptions.update_async(
                subscription_id,
                params=params,
                options={
                    "idempotency_key": self.billing.key("portal-change", subscription_id, action_id)
                },
            )
        )
        return plain(updated)

    async def _schedule_downgrade(
        self, sub: dict[str, Any], price_id: str, quantity: int, action_id: str
    ) -> dict[str, Any]:
        """Keep the current plan until the renewal, then move to the cheaper one.

        Done with a subscription schedule, as Stripe recommends: the current phase ends at the
        period's end and the next one bills the new price, with nothing prorated.
        """
        schedule_id = sub.get("schedule")
        if isinstance(schedule_id, dict):
            schedule_id = schedule_id.get("id")
        if not schedule_id:
            created = await stripe_call(
                self.client.v1.subscription_schedules.create_async(
                    params={"from_subscription": sub["id"]},
                    options={"idempotency_key": self.billing.key("schedule", sub["id"], action_id)},
                )
            )
            schedule_id = created.id
        schedule = await stripe_call(
            self.client.v1.subscription_schedules.retrieve_async(schedule_id)
        )
        current = schedule.phases[0]
        now = int(time.time())
        for phase in schedule.phases:
            if phase.start_date <= now < phase.end_date:
                current = phase
        keep = [
            {"price": getattr(i.price, "id", i.price), "quantity": i.quantity or 1}
            for i in current["items"]
        ]
        later = [
            {"price": item["price"], "quantity": item["quantity"]}
            for item in self.billing.change_items(sub, price_id, quantity)
        ]
        metered = [
            {"price": i["price"]["id"]}
            for i in sub["items"]["data"]
            if (i["price"].get("recurring") or {}).get("usage_type") == "metered"
        ]
        params: Any = {
            "end_behavior": "release",
            "phases": [
                {"items": keep, "start_date": current.start_date, "end_date": current.end_date},
                {
                    "items": later + metered,
                    "iterations": 1,
                    "metadata": self.billing.plan_metadata(self.billing.price(price_id)),
                },
            ],
        }
        await stripe_call(
            self.client.v1.subscription_schedules.update_async(
                schedule_id,
                params=params,
                options={"idempotency_key": self.billing.key("downgrade", sub["id"], action_id)},
            )
        )
        return await self.billing.owned_subscription(sub["id"])

    async def keep_plan(self, subscription_id: str) -> dict[str, Any]:
        """Drop a downgrade waiting for the renewal: release the subscription's schedule."""
        sub = await self.billing.owned_subscription(subscription_id)
        schedule_id = sub.get("schedule")
        if not schedule_id:
            raise Conflict("No plan change is waiting for this subscription.", code="no_change")
        await stripe_call(
            self.client.v1.subscription_schedules.release_async(
                schedule_id,
                options={"idempotency_key": self.billing.key("release", str(schedule_id))},
            )
        )
        return await self.billing.owned_subscription(subscription_id)

    async def cancel(
        self, subscription_id: str, reason: str | None, comment: str | None, action_id: str
    ) -> dict[str, Any]:
        sub = await self.billing.owned_subscription(subscription_id)
        if sub["status"] not in LIVE:
            if sub["status"] == "canceled" and _done_by(sub, action_id):
                return sub
            raise Conflict("This subscription has already ended.", code="subscription_ended")
        if reason is not None and reason not in CANCELLATION_REASONS:
            raise ValidationFailed("Pick one of the listed reasons.", param="reason")
        details: dict[str, Any] = {}
        if reason:
            details["feedback"] = reason
        if comment and comment.strip():
            details["comment"] = comment.strip()
        key = self.billing.key("portal-cancel", subscription_id, action_id)
        if sub.get("schedule"):
            # A waiting downgrade holds the subscription in a schedule; cancelling drops it.
            await self.keep_plan(subscription_id)
        if self.options.get("cancel_mode") == "immediately":
            # Stripe's cancel (a DELETE) sets no metadata and is not replayed for a repeated
            # key: mark the subscription first, so a retry finding it ended knows it was this.
            await stripe_call(
                self.client.v1.subscriptions.update_async(
                    subscription_id,
                    params={"metadata": {ACTION_MARK: action_id}},
                    options={
                        "idempotency_key": self.billing.key(
                            "portal-cancel-mark", subscription_id, action_id
                        )
                    },
                )
            )
            cancel_params: Any = {"cancellation_details": details} if details else {}
            done = await stripe_call(
                self.client.v1.subscriptions.cancel_async(
                    subscription_id, params=cancel_params, options={"idempotency_key": key}
                )
            )
            return plain(done)
        params: Any = {
            "cancel_at_period_end": True,
            "metadata": {"billport_retention_offered": "1", ACTION_MARK: action_id},
        }
        if details:
            params["cancellation_details"] = details
        done = await stripe_call(
            self.client.v1.subscriptions.update_async(
                subscription_id, params=params, options={"idempotency_key": key}
            )
        )
        return plain(done)

    async def accept_offer(self, subscription_id: str, action_id: str) -> dict[str, Any]:
        sub = await self.billing.owned_subscription(subscription_id)
        if _done_by(sub, action_id):
            return sub
        coupon = self.options.get("retention_coupon")
        if not coupon or (sub.get("metadata") or {}).get("billport_retention_offered"):
            raise Conflict("There is no offer for this subscription.", code="no_offer")
        params: Any = {
            "discounts": [{"coupon": coupon}],
            "metadata": {"billport_retention_offered": "1", ACTION_MARK: action_id},
        }
        kept = await stripe_call(
            self.client.v1.subscriptions.update_async(
                subscription_id,
                params=params,
                options={
                    "idempotency_key": self.billing.key("portal-retain", subscription_id, action_id)
                },
            )
        )
        return plain(kept)

    async def resume(self, subscription_id: str, action_id: str) -> dict[str, Any]:
        """Undo a pending cancellation, or subscribe again to the plan of an ended one."""
        sub = await self.billing.owned_subscription(subscription_id)
        if sub["status"] in LIVE:
            if not sub.get("cancel_at_period_end") and not sub.get("cancel_at"):
                if _done_by(sub, action_id):
                    return sub
                raise Conflict("This subscription is not being cancelled.", code="not_canceling")
            params: Any = {"cancel_at_period_end": False, "metadata": {ACTION_MARK: action_id}}
            if sub.get("cancel_at"):
                params["cancel_at"] = ""
            undone = await stripe_call(
                self.client.v1.subscriptions.update_async(
                    subscription_id,
                    params=params,
                    options={
                        "idempotency_key": self.billing.key(
                            "portal-undo", subscription_id, action_id
                        )
                    },
                )
            )
            return plain(undone)
        if not self.options.get("allow_resubscribe", True):
            raise Forbidden("Subscribing again is not available here.", code="not_allowed")
        live = await self.billing.subscriptions(sub["customer"])
        for existing in live:
            metadata = existing.get("metadata") or {}
            if _done_by(existing, action_id) and metadata.get(RESUBSCRIBED_FROM) == sub["id"]:
                return existing
        if live:
            raise Conflict("You already have a subscription.", code="already_subscribed")
        item = _licensed_item(sub) or sub["items"]["data"][0]
        create: Any = {
            "customer": sub["customer"],
            "items": [{"price": item["price"]["id"], "quantity": item.get("quantity") or 1}],
            "metadata": {
                # Not the checkout's mark: this is a resubscription, reported as such, and
                # Stripe's event of its creation must not be taken for a missed checkout.
                **{k: v for k, v in (sub.get("metadata") or {}).items() if k != CHECKOUT_MARK},
                RESUBSCRIBED_FROM: sub["id"],
                ACTION_MARK: action_id,
            },
            "payment_behavior": "error_if_incomplete",
        }
        if sub.get("default_payment_method"):
            create["default_payment_method"] = sub["default_payment_method"]
        created = await stripe_call(
            self.client.v1.subscriptions.create_async(
                params=create,
                options={
                    "idempotency_key": self.billing.key(
                        "portal-resubscribe", subscription_id, action_id
                    )
                },
            )
        )
        return plain(created)


def provide_portal(
    request: Request[Any, Any, Any], widget: NamedDependency[WidgetContext]
) -> PortalSubscriptions:
    wanted = request.query_params.get("locale") or request.headers.get("accept-language")
    return PortalSubscriptions(widget, pick_locale(wanted))


class PortalSubscriptionsController(Controller):
    path = "/w/api/portal/subscriptions"
    include_in_schema = False
    dependencies = {
        "widget": Provide(provide_context),
        "portal": Provide(provide_portal, sync_to_thread=False),
    }

    @get()
    async def overview(self, portal: NamedDependency[PortalSubscriptions]) -> dict[str, Any]:
        return await portal.overview(portal.locale)

    @post("/{subscription_id:str}/preview", status_code=200)
    async def preview(
        self,
        subscription_id: FromPath[str],
        portal: NamedDependency[PortalSubscriptions],
        data: JSONBody[ChangeBody],
    ) -> dict[str, Any]:
        _allowed(portal.options, "allow_plan_change")
        quantity = check_quantity(data.quantity, portal.options)
        return await portal.preview(subscription_id, data.price, quantity)

    @post("/{subscription_id:str}/change", status_code=200)
    async def change(
        self,
        subscription_id: FromPath[str],
        portal: NamedDependency[PortalSubscriptions],
        data: JSONBody[ChangeBody],
    ) -> dict[str, Any]:
        _allowed(portal.options, "allow_plan_change")
        if not data.action_id:
            raise ValidationFailed("action_id is required.", param="action_id")
        quantity = check_quantity(data.quantity, portal.options)
        sub = await portal.change(subscription_id, data.price, quantity, data.action_id)
        await portal.widget.record("change_plan", sub, once_per=f"{sub['id']}:{data.action_id}")
        return {"subscription": sub}

    @post("/{subscription_id:str}/cancel", status_code=200)
    async def cancel(
        self,
        subscription_id: FromPath[str],
        portal: NamedDependency[PortalSubscriptions],
        data: JSONBody[CancelBody],
    ) -> dict[str, Any]:
        _allowed(portal.options, "allow_cancel")
        sub = await portal.cancel(subscription_id, data.reason, data.comment, data.action_id)
        await portal.widget.record(
            "cancel_subscription", sub, once_per=f"{sub['id']}:{data.action_id}"
        )
        return {"subscription": sub}

    @post("/{subscription_id:str}/accept-offer", status_code=200)
    async def accept_offer(
        self,
        subscription_id: FromPath[str],
        portal: NamedDependency[PortalSubscriptions],
        data: JSONBody[ActionBody],
    ) -> dict[str, Any]:
        return {"subscription": await portal.accept_offer(subscription_id, data.action_id)}

    @post("/{subscription_id:str}/keep-plan", status_code=200)
    async def keep_plan(
        self, subscription_id: FromPath[str], portal: NamedDependency[PortalSubscriptions]
    ) -> dict[str, Any]:
        sub = await portal.keep_plan(subscription_id)
        await portal.widget.record("change_plan", sub)
        return {"subscription": sub}

    @post("/{subscription_id:str}/resume", status_code=200)
    async def resume(
        self,
        subscription_id: FromPath[str],
        portal: NamedDependency[PortalSubscriptions],
        data: JSONBody[ActionBody],
    ) -> dict[str, Any]:
        sub = await portal.resume(subscription_id, data.action_id)
        await portal.widget.record("resubscribe", sub, once_per=f"{sub['id']}:{data.action_id}")
        return {"subscription": sub}
