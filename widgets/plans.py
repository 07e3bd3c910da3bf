"""Plans as the plan picker shows them: products grouped by service and tier, prices in words.

Grouping follows Billflow's model: a product's metadata ``service`` and ``tier`` name the plan
(falling back to the product itself); ``order`` and ``highlight`` come from product metadata or
the billing page's options.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .catalog.service import Catalog
from .i18n import translate
from .money import money, number

INTERVALS = ("month", "year", "week", "day")


@dataclass(frozen=True)
class PlanPrice:
    id: str
    interval: str | None
    interval_count: int
    currency: str
    unit_amount: int | None
    label: str
    metered: bool
    lookup_key: str | None
    trial_days: int | None

    @property
    def free(self) -> bool:
        return self.unit_amount == 0


@dataclass
class Plan:
    key: str
    product_id: str
    name: str
    description: str | None
    service: str | None
    tier: str | None
    features: list[str]
    highlight: bool
    order: int
    prices: list[PlanPrice] = field(default_factory=list)
    # Shown but not for sale (a billing page's ``disabled_plans``).
    disabled: bool = False

    def price_for(self, interval: str | None) -> PlanPrice | None:
        return next((p for p in self.prices if p.interval == interval), None)

    @property
    def free(self) -> bool:
        return bool(self.prices) and all(p.free for p in self.prices)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def unit_name(product: dict[str, Any], locale: str) -> str:
    metadata = product.get("metadata") or {}
    return str(metadata.get("unit") or product.get("unit_label") or translate(locale, "unit"))


def _amount_in(price: dict[str, Any], currency: str) -> tuple[dict[str, Any], str]:
    """The price's amounts in ``currency`` when it offers it, else in its own currency."""
    options = price.get("currency_options") or {}
    if currency != price["currency"] and currency in options:
        return options[currency], currency
    return price, price["currency"]


def describe(price: dict[str, Any], product: dict[str, Any], currency: str, locale: str) -> str:
    """A price in words: ``$12 / month``, ``$0.10 per API call after 1,000``."""
    amounts, code = _amount_in(price, currency)
    unit = unit_name(product, locale)
    recurring = price.get("recurring") or {}
    interval = recurring.get("interval")
    count = _int(recurring.get("interval_count"), 1)
    suffix = ""
    if interval in INTERVALS:
        suffix = (
            translate(locale, f"per_interval.{interval}")
            if count == 1
            else translate(locale, f"every_n.{interval}", count=count)
        )
    if price.get("billing_scheme") == "tiered":
        body = _describe_tiers(
            amounts.get("tiers") or [], price.get("tiers_mode"), code, unit, locale
        )
    else:
        amount = amounts.get("unit_amount_decimal") or amounts.get("unit_amount") or 0
        if str(amount) in {"0", "0.0"} and recurring.get("usage_type") != "metered":
            return translate(locale, "free")
        shown = money(amount, code, locale)
        if recurring.get("usage_type") == "metered" or product.get("unit_label"):
            body = translate(locale, "per_unit", amount=shown, unit=unit)
        else:
            body = shown
    return f"{body} {suffix}".strip()


def _describe_tiers(
    tiers: list[dict[str, Any]], mode: str | None, code: str, unit: str, locale: str
) -> str:
    if not tiers:
        return translate(locale, "free")

    def each(tier: dict[str, Any]) -> str:
        return money(tier.get("unit_amount_decimal") or tier.get("unit_amount") or 0, code, locale)

    def flat(tier: dict[str, Any]) -> int:
        return _int(tier.get("flat_amount"), 0)

    if mode == "volume":
        cheapest = min(
            tiers, key=lambda t: float(t.get("unit_amount_decimal") or t.get("unit_amount") or 0)
        )
        return translate(locale, "from_per_unit", amount=each(cheapest), unit=unit)
    first = tiers[0]
    first_is_free = not flat(first) and each(first) == money(0, code, locale)
    if len(tiers) == 2 and first_is_free and first.get("up_to"):
        return translate(
            locale,
            "per_unit_after",
            amount=each(tiers[1]),
            unit=unit,
            count=number(_int(first["up_to"], 0), locale),
        )
    parts = []
    for tier in tiers:
        up_to = tier.get("up_to")
        if up_to in (None, "inf"):
            part = translate(locale, "tier_beyond", amount=each(tier), unit=unit)
        else:
            part = translate(
                locale,
                "tier_up_to",
                amount=each(tier),
                unit=unit,
                count=number(_int(up_to, 0), locale),
            )
        if flat(tier):
            part = translate(locale, "plus_flat", amount=money(flat(tier), code, locale), rest=part)
        parts.append(part)
    return ", ".join(parts)


def plans_for(
    catalog: Catalog,
    *,
    currency: str | None,
    locale: str,
    options: dict[str, Any],
    preferred_currency: str | None = None,
) -> list[Plan]:
    """``build_plans``, remembered per catalog version: pages show it on every request."""
    key = json.dumps(
        ["plans", currency, preferred_currency, locale, options], sort_keys=True, default=str
    )
    if key not in catalog.derived:
        if len(catalog.derived) > 256:
            catalog.derived.clear()
        catalog.derived[key] = build_plans(
            catalog,
            currency=currency,
            locale=locale,
            options=options,
            preferred_currency=preferred_currency,
        )
    return list(catalog.derived[key])


def build_plans(
    catalog: Catalog,
    *,
    currency: str | None,
    locale: str,
    options: dict[str, Any] | None = None,
    preferred_currency: str | None = None,
) -> list[Plan]:
    """The plans to show, ordered, with their recurring prices described in ``locale``.

    ``currency`` is required (prices without it are left out); ``preferred_currency`` (the
    visitor's, from their locale) is used where a price offers it.
    """
    options = options or {}
    hidden = set(options.get("hidden_plans") or [])
    disabled = set(options.get("disabled_plans") or [])
    order_override: dict[str, int] = {
        str(k): _int(v, 0) for k, v in (options.get("plan_order") or {}).items()
    }
    highlight_override = options.get("highlight")
    service_filter = options.get("service")

    plans: dict[str, Plan] = {}
    for product in catalog.products:
        if not product.get("active", True):
            continue
        metadata = product.get("metadata") or {}
        service, tier = metadata.get("service"), metadata.get("tier")
        if service_filter and service != service_filter:
            continue
        key = f"{service}:{tier}" if service and tier else product["id"]
        if key in hidden or product["id"] in hidden:
            continue
        plans.setdefault(
            key,
            Plan(
                key=key,
                product_id=product["id"],
                name=product["name"],
                description=product.get("description"),
                service=service,
                tier=tier,
                features=[
                    f["name"] for f in product.get("marketing_features") or [] if f.get("name")
                ],
                highlight=(
                    highlight_override in (key, product["id"])
                    if highlight_override
                    else _truthy(metadata.get("highlight"))
                ),
                order=order_override.get(
                    key, order_override.get(product["id"], _int(metadata.get("order"), 1000))
                ),
                disabled=key in disabled or product["id"] in disabled,
            ),
        )
    by_product = {plan.product_id: plan for plan in plans.values()}
    for price in catalog.prices:
        plan = by_product.get(price.get("product") or "")
        if plan is None or not price.get("active", True) or price.get("type") != "recurring":
            continue
        product = catalog.products_by_id[plan.product_id]
        options_for = price.get("currency_options") or {}
        wanted = (currency or preferred_currency or price["currency"]).lower()
        if wanted != price["currency"] and wanted not in options_for:
            if currency:
                continue
            wanted = price["currency"]
        recurring = price.get("recurring") or {}
        amounts, code = _amount_in(price, wanted)
        plan.prices.append(
            PlanPrice(
                id=price["id"],
                interval=recurring.get("interval"),
                interval_count=_int(recurring.get("interval_count"), 1),
                currency=code,
                unit_amount=amounts.get("unit_amount"),
                label=describe(price, product, wanted, locale),
                metered=recurring.get("usage_type") == "metered",
                lookup_key=price.get("lookup_key"),
                trial_days=recurring.get("trial_period_days"),
            )
        )
    shown = [plan for plan in plans.values() if plan.prices]
    for plan in shown:
        plan.prices.sort(
            key=lambda p: (INTERVALS.index(p.interval) if p.interval in INTERVALS else 9, p.metered)
        )
    # Cheapest first within the same order, so free plans lead.
    return sorted(shown, key=lambda p: (p.order, min(_sort_amount(x) for x in p.prices), p.name))


def _sort_amount(price: PlanPrice) -> int:
    return price.unit_amount if price.unit_amount is not None else 10**12


def intervals_of(plans: list[Plan]) -> list[str]:
    present = {price.interval for plan in plans for price in plan.prices if price.interval}
    return [interval for interval in INTERVALS if interval in present]
