"""What each widget page shows: plans, the current subscription, checkout and signup forms."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from portal.db import Database, release_connection
from tenants.billing_pages.models import BillingPage
from tenants.service import TenantService

from .billing.service import BillingService
from .catalog.service import CatalogCache, CatalogService
from .i18n import MESSAGES
from .identity import OpenedWidget
from .options import effective_options
from .plans import Plan, intervals_of, plans_for
from .security import stripe_js_url

ACQUISITION = ("plan-picker", "checkout", "signup")
# What the customer portal may do, per tenant and billing page (docs/widgets.md).
PORTAL_OPTIONS = (
    "allow_plan_change",
    "allow_cancel",
    "cancel_mode",
    "retention_coupon",
    "retention_message",
    "proration_behavior",
    "allow_resubscribe",
    "change_canceled",
    "show_all_invoices",
    "quantity",
)
THEME_VARIABLES = {
    "primary": "--bp-primary",
    "text": "--bp-text",
    "background": "--bp-background",
    "surface": "--bp-surface",
    "border": "--bp-border",
    "radius": "--bp-radius",
    "font": "--bp-font",
}


@dataclass
class PageContent:
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    stripe_js: str | None = None
    # When the catalog shown was read from Stripe (acquisition pages only).
    catalog_refreshed_at: datetime | None = None


def widget_options(opened: OpenedWidget) -> dict[str, Any]:
    """Tenant-wide widget options, overridden by the billing page's."""
    page: BillingPage | None = opened.billing_page
    return effective_options(opened.tenant.widget_options, page.options if page else None)


def theme_css(options: dict[str, Any]) -> str:
    """Theme values as CSS custom properties; values are checked, never pasted raw."""
    theme = options.get("theme") or {}
    declarations = []
    for name, variable in THEME_VARIABLES.items():
        value = str(theme.get(name, "")).strip()
        if value and all(c.isalnum() or c in " #(),.%-'\"" for c in value) and len(value) < 120:
            declarations.append(f"{variable}: {value};")
    return ":root { " + " ".join(declarations) + " }" if declarations else ""


def _plan_json(plan: Plan, current_price: str | None) -> dict[str, Any]:
    return {
        "key": plan.key,
        "name": plan.name,
        "disabled": plan.disabled,
        "current": any(p.id == current_price for p in plan.prices),
        "prices": [
            {
                "id": p.id,
                "interval": p.interval,
                "amount": p.unit_amount,
                "currency": p.currency,
                "label": p.label,
                "metered": p.metered,
                "trial_days": p.trial_days,
            }
            for p in plan.prices
        ],
    }


async def acquisition_content(
    opened: OpenedWidget,
    tenants: TenantService,
    cache: CatalogCache,
    database: Database,
    *,
    locale: str,
    currency: str | None,
    price: str | None,
    preferred_currency: str | None = None,
) -> PageContent:
    tenant, session = opened.tenant, opened.session
    options = widget_options(opened)
    catalog = await CatalogService(tenants.session, tenants, cache).current(tenant, database)
    plans = plans_for(
        catalog,
        currency=currency or options.get("currency"),
        locale=locale,
        options=options,
        preferred_currency=preferred_currency,
    )
    subscriptions: list[dict[str, Any]] = []
    has_payment_method = False
    if session.customer_id:
        await release_connection(tenants.session)
        billing = BillingService(tenant, session, tenants.stripe_client(tenant), catalog)
        subscriptions = await billing.subscriptions()
        if subscriptions:
            has_payment_method = await billing.has_payment_method(subscriptions[0])
    current = subscriptions[0] if subscriptions else None
    current_item = None
    if current is not None:
        items = current["items"]["data"]
        current_item = next(
            (
                i
                for i in items
                if (i["price"].get("recurring") or {}).get("usage_type") != "metered"
            ),
            items[0] if items else None,
        )
    current_price = current_item["price"]["id"] if current_item else None
    intervals = [
        i for i in intervals_of(plans) if i in (options.get("intervals") or ["month", "year"])
    ]
    default_interval = options.get("default_interval") or (intervals[0] if intervals else None)
    if current_item is not None:
        default_interval = (current_item["price"].get("recurring") or {}).get(
            "interval"
        ) or default_interval
    chosen = price if price and price in catalog.prices_by_id else None
    config = {
        "plans": [_plan_json(plan, current_price) for plan in plans],
        "intervals": intervals,
        "defaultInterval": default_interval,
        "current": (
            {
                "subscription": current["id"],
                "status": current["status"],
                "price": current_price,
                "quantity": current_item.get("quantity") if current_item else 1,
                "hasPaymentMethod": has_payment_method,
            }
            if current
            else None
        ),
        "price": chosen,
        "identified": bool(session.customer_id or session.email),
        "stripeKey": tenants.stripe_publishable_key(tenant),
        "options": {
            "quantity": options.get("quantity") or None,
            "couponField": bool(options.get("coupon_field", True)),
            "trialDays": options.get("trial_days"),
            "requireCard": bool(options.get("require_card", True)),
            "passwordField": bool(options.get("password_field", False)),
            "ctaUrl": options.get("cta_url"),
        },
        "locale": locale,
        "texts": MESSAGES[locale],
    }
    return PageContent(
        template=f"{opened.session.widget}.html",
        context={
            "plans": plans,
            "intervals": intervals,
            "default_interval": default_interval,
            "current_price": current_price,
            "chosen_price": chosen,
            "texts": MESSAGES[locale],
            "theme_css": theme_css(options),
            "password_field": bool(options.get("password_field", False)),
        },
        config=config,
        stripe_js=stripe_js_url(tenant.stripe_api_base),
        catalog_refreshed_at=catalog.refreshed_at,
    )


async def portal_content(opened: OpenedWidget, tenants: TenantService, locale: str) -> PageContent:
    """The customer portal and invoices pages: their scripts load the customer's data."""
    options = widget_options(opened)
    config = {
        "stripeKey": tenants.stripe_publishable_key(opened.tenant),
        "locale": locale,
        "texts": MESSAGES[locale],
        "options": {key: options[key] for key in PORTAL_OPTIONS if key in options},
    }
    return PageContent(
        template=f"{opened.session.widget}.html",
        context={"texts": MESSAGES[locale], "theme_css": theme_css(options)},
        config=config,
        stripe_js=stripe_js_url(opened.tenant.stripe_api_base),
    )


async def page_content(
    opened: OpenedWidget,
    tenants: TenantService,
    cache: CatalogCache,
    database: Database,
    *,
    locale: str,
    currency: str | None,
    price: str | None,
    preferred_currency: str | None,
) -> PageContent:
    if opened.session.widget in ACQUISITION:
        return await acquisition_content(
            opened,
            tenants,
            cache,
            database,
            locale=locale,
            currency=currency,
            price=price,
            preferred_currency=preferred_currency,
        )
    return await portal_content(opened, tenants, locale)
