"""Billing page options as the dashboard's form shows and sends them.

The options dict is exactly what ``/api/v1/billing_pages`` reads and writes (docs/widgets.md);
the form is one view of it. Each widget type shows only the options it uses, and options the
form does not show (set through the API, or for another widget) are kept untouched.

Form values are a flat mapping of field names to strings, so a posted form can be shown
again as it was sent, next to the problems found in it.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import JSON, String, column, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db import UTCDateTime
from portal.errors import ValidationFailed

WIDGET_LABELS = {
    "plan-picker": "Plan picker",
    "checkout": "Checkout",
    "signup": "Signup",
    "customer-portal": "Customer portal",
    "invoices": "Invoices",
}
WIDGET_DESCRIPTIONS = {
    "plan-picker": "A pricing table. Visitors see prices; signed-in users see their current "
    "plan and can subscribe or switch.",
    "checkout": "Payment for one price: creates the Stripe customer and the subscription.",
    "signup": "Email, plan and optional card in one form, for trials and paid sign-ups.",
    "customer-portal": "The user's billing home: plan changes, cancellation, cards, invoices.",
    "invoices": "The user's invoices on their own; open ones can be paid there.",
}
# The languages widgets speak (widgets/i18n.py); "" leaves it to the visitor's browser.
LANGUAGES = {"en": "English", "fr": "Français"}
INTERVALS = {"month": "Monthly", "year": "Yearly", "week": "Weekly", "day": "Daily"}
PRORATION = {
    "always_invoice": "Charge or credit the difference now",
    "create_prorations": "Add the difference to the next invoice",
    "none": "No proration",
    "downgrade_at_period_end": "Downgrades start at the next renewal",
}
CANCEL_MODES = {
    "at_period_end": "At the end of the paid period",
    "immediately": "Immediately",
}
THEME_COLOURS = {
    "primary": "Primary",
    "text": "Text",
    "background": "Background",
    "surface": "Cards",
    "border": "Borders",
}
# Billport's own theme (widgets/static/widget.css), what the colour pickers show when unset.
THEME_DEFAULTS = {
    "primary": "#4f46e5",
    "text": "#111827",
    "background": "#ffffff",
    "surface": "#ffffff",
    "border": "#e5e7eb",
    "radius": "10px",
    "font": "system-ui, sans-serif",
}
FONTS = (
    "system-ui, sans-serif",
    "Inter, sans-serif",
    "Helvetica Neue, Arial, sans-serif",
    "Georgia, serif",
    "ui-monospace, monospace",
)
MAX_TRIAL_DAYS = 730  # Stripe's limit
MAX_SEATS = 100_000
NEW_ROW = "__new__"

ACQUISITION = ("plan-picker", "checkout", "signup")
# Which option groups each widget type uses (what the edit form shows).
SECTIONS: dict[str, frozenset[str]] = {
    "plan-picker": frozenset({"plans", "intervals", "purchase", "cta", "theme", "language"}),
    "signup": frozenset({"plans", "intervals", "purchase", "password", "theme", "language"}),
    "checkout": frozenset({"purchase", "theme", "language"}),
    "customer-portal": frozenset({"portal", "seats", "invoices", "theme", "language"}),
    "invoices": frozenset({"invoices", "theme", "language"}),
}
# Documented defaults of the switches (docs/widgets.md).
SWITCH_DEFAULTS: dict[str, bool] = {
    "coupon_field": True,
    "require_card": True,
    "password_field": False,
    "allow_plan_change": True,
    "allow_cancel": True,
    "allow_resubscribe": True,
    "change_canceled": False,
    "show_all_invoices": False,
}
SWITCHES = {
    "purchase": ("coupon_field", "require_card"),
    "password": ("password_field",),
    "portal": ("allow_plan_change", "allow_cancel", "allow_resubscribe", "change_canceled"),
    "invoices": ("show_all_invoices",),
}

_HEX = re.compile(r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_COLOUR_FUNCTION = re.compile(r"(?:rgb|rgba|hsl|hsla)\(\s*[0-9.%,\s]+(?:deg)?[0-9.%,\s]*\)")
_RADIUS = re.compile(r"0|\d{1,3}(?:\.\d{1,3})?(?:px|rem|em|%)")
_FONT = re.compile(r"[A-Za-z0-9 ,'\"\-.]{1,100}")
_CURRENCY = re.compile(r"[a-z]{3}")
_COUPON = re.compile(r"[A-Za-z0-9_\-]{1,200}")
_INTEGER = re.compile(r"[+-]?\d{1,9}")
# CSS named colours, so that a theme value is never one a browser would ignore.
CSS_COLOUR_NAMES = frozenset(
    """aliceblue antiquewhite aqua aquamarine azure beige bisque black blanchedalmond blue
    blueviolet brown burlywood cadetblue chartreuse chocolate coral cornflowerblue cornsilk
    crimson cyan darkblue darkcyan darkgoldenrod darkgray darkgreen darkgrey darkkhaki
    darkmagenta darkolivegreen darkorange darkorchid darkred darksalmon darkseagreen
    darkslateblue darkslategray darkslategrey darkturquoise darkviolet deeppink deepskyblue
    dimgray dimgrey dodgerblue firebrick floralwhite forestgreen fuchsia gainsboro ghostwhite
    gold goldenrod gray green greenyellow grey honeydew hotpink indianred indigo ivory khaki
    lavender lavenderblush lawngreen lemonchiffon lightblue lightcoral lightcyan
    lightgoldenrodyellow lightgray lightgreen lightgrey lightpink lightsalmon lightseagreen
    lightskyblue lightslategray lightslategrey lightsteelblue lightyellow lime limegreen linen
    magenta maroon mediumaquamarine mediumblue mediumorchid mediumpurple mediumseagreen
    mediumslateblue mediumspringgreen mediumturquoise mediumvioletred midnightblue mintcream
    mistyrose moccasin navajowhite navy oldlace olive olivedrab orange orangered orchid
    palegoldenrod palegreen paleturquoise palevioletred papayawhip peachpuff peru pink plum
    powderblue purple rebeccapurple red rosybrown royalblue saddlebrown salmon sandybrown
    seagreen seashell sienna silver skyblue slateblue slategray slategrey snow springgreen
    steelblue tan teal thistle tomato turquoise violet wheat white whitesmoke yellow
    yellowgreen transparent""".split()
)


class InvalidPageForm(ValidationFailed):
    """The form has problems; ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(
            "Some options are not valid; see the fields marked below.",
            code="invalid_billing_page_options",
        )
        self.errors = errors


@dataclasses.dataclass(frozen=True)
class PageChange:
    name: str
    billflow_id: str | None
    options: dict[str, Any]


# -- the tenant's catalog ------------------------------------------------------------------

# The catalog cache is written by the widgets package; tenants must not import it, so its
# table is named here with only the columns read (no model, no reflection).
_CATALOG = table(
    "catalog_snapshot",
    column("tenant_id", String),
    column("products", JSON),
    column("prices", JSON),
    column("refreshed_at", UTCDateTime),
)
_ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())


@dataclasses.dataclass(frozen=True)
class CatalogPlan:
    """A plan as the plan picker groups it: ``service:tier`` or a product of its own."""

    key: str
    name: str
    product_id: str
    service: str | None
    prices: tuple[str, ...]
    metadata_order: int | None
    metadata_highlight: bool


@dataclasses.dataclass(frozen=True)
class CatalogSummary:
    plans: tuple[CatalogPlan, ...] = ()
    services: tuple[str, ...] = ()
    currencies: tuple[str, ...] = ()
    product_names: Mapping[str, str] = dataclasses.field(default_factory=dict)
    refreshed_at: datetime | None = None

    @property
    def read(self) -> bool:
        return self.refreshed_at is not None


def _price_label(price: Mapping[str, Any]) -> str:
    currency = str(price.get("currency") or "").lower()
    amount = price.get("unit_amount")
    recurring = price.get("recurring") or {}
    interval = recurring.get("interval")
    count = recurring.get("interval_count") or 1
    if amount is None:
        shown = "Usage-based" if recurring.get("usage_type") == "metered" else "Tiered"
    elif currency in _ZERO_DECIMAL:
        shown = f"{int(amount):,} {currency.upper()}"
    else:
        shown = f"{int(amount) / 100:,.2f} {currency.upper()}"
    if not interval:
        return shown
    return f"{shown} / {interval}" if count == 1 else f"{shown} every {count} {interval}s"


def summarize_catalog(
    products: list[Mapping[str, Any]],
    prices: list[Mapping[str, Any]],
    refreshed_at: datetime | None = None,
) -> CatalogSummary:
    """Plans, services and currencies of a catalog snapshot, grouped as the widgets do."""
    by_product: dict[str, list[Mapping[str, Any]]] = {}
    currencies: set[str] = set()
    for price in prices:
        if price.get("active", True) and price.get("type") == "recurring":
            by_product.setdefault(str(price.get("product") or ""), []).append(price)
            currencies.add(str(price.get("currency") or "").lower())
            currencies.update(str(c).lower() for c in price.get("currency_options") or {})
    plans: dict[str, CatalogPlan] = {}
    names: dict[str, str] = {}
    services: set[str] = set()
    for product in products:
        product_id = str(product.get("id") or "")
        names[product_id] = str(product.get("name") or product_id)
        if not product.get("active", True) or product_id not in by_product:
            continue
        metadata = product.get("metadata") or {}
        service, tier = metadata.get("service"), metadata.get("tier")
        if service:
            services.add(str(service))
        key = f"{service}:{tier}" if service and tier else product_id
        if key in plans:
            continue
        order = str(metadata.get("order", "")).strip()
        plans[key] = CatalogPlan(
            key=key,
            name=names[product_id],
            product_id=product_id,
            service=str(service) if service else None,
            prices=tuple(_price_label(p) for p in by_product[product_id]),
            metadata_order=int(order) if _INTEGER.fullmatch(order) else None,
            metadata_highlight=str(metadata.get("highlight", "")).strip().lower()
            in {"1", "true", "yes", "on"},
        )
    ordered = sorted(
        plans.values(),
        key=lambda p: (p.metadata_order if p.metadata_order is not None else 1000, p.name),
    )
    return CatalogSummary(
        plans=tuple(ordered),
        services=tuple(sorted(services)),
        currencies=tuple(sorted(c for c in currencies if c)),
        product_names=names,
        refreshed_at=refreshed_at,
    )


async def load_catalog(session: AsyncSession, tenant_id: str) -> CatalogSummary:
    """The tenant's cached catalog (never Stripe): empty until the catalog was first read."""
    row = (
        await session.execute(
            select(_CATALOG.c.products, _CATALOG.c.prices, _CATALOG.c.refreshed_at).where(
                _CATALOG.c.tenant_id == tenant_id
            )
        )
    ).first()
    if row is None:
        return CatalogSummary()
    products, prices, refreshed_at = row
    return summarize_catalog(list(products or []), list(prices or []), refreshed_at)


# -- defaults ------------------------------------------------------------------------------


def sections(widget: str) -> frozenset[str]:
    return SECTIONS.get(widget, frozenset({"theme", "language"}))


def initial_options(widget: str, tenant_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """A new page's options: the switches its widget uses, as the tenant has them now.

    Starting from the tenant's values (or the documented defaults) means a new page behaves
    exactly as the widget did without it, while its form shows every switch explicitly.
    """
    inherited = dict(tenant_options or {})
    groups = sections(widget)
    options: dict[str, Any] = {}
    for group, names in SWITCHES.items():
        if group in groups:
            for name in names:
                options[name] = bool(inherited.get(name, SWITCH_DEFAULTS[name]))
    if "intervals" in groups:
        options["intervals"] = _interval_list(inherited.get("intervals")) or ["month", "year"]
    if "portal" in groups:
        options["proration_behavior"] = _choice(
            inherited.get("proration_behavior"), PRORATION, "always_invoice"
        )
        options["cancel_mode"] = _choice(
            inherited.get("cancel_mode"), CANCEL_MODES, "at_period_end"
        )
    return options


# -- options → form ------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _choice(value: Any, choices: Mapping[str, str], default: str) -> str:
    return value if isinstance(value, str) and value in choices else default


def _interval_list(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [i for i in INTERVALS if i in value]


def swatch(value: str, name: str) -> str:
    """What a colour picker can show for a theme value (#rrggbb)."""
    value = value.strip()
    if re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        return value.lower()
    if re.fullmatch(r"#[0-9a-fA-F]{3}", value):
        return "#" + "".join(c * 2 for c in value[1:]).lower()
    return THEME_DEFAULTS[name]


def form_values(
    name: str,
    billflow_id: str | None,
    options: Mapping[str, Any],
    tenant_options: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The edit form's fields for a page as stored.

    Switches, intervals and choices show what applies (the page's value, else the tenant's,
    else the documented default) and are saved explicitly; free-form fields show only the
    page's own value, and an empty one falls back to the tenant's.
    """
    inherited = dict(tenant_options or {})
    effective = {**inherited, **options}
    values: dict[str, str] = {"name": name, "billflow_id": billflow_id or ""}
    for switch_name, default in SWITCH_DEFAULTS.items():
        values[switch_name] = "on" if bool(effective.get(switch_name, default)) else ""
    for key in ("service", "currency", "cta_url", "retention_coupon", "retention_message"):
        values[key] = _text(options.get(key))
    values["trial_days"] = _text(options.get("trial_days"))
    offered = _interval_list(effective.get("intervals")) or ["month", "year"]
    for interval in INTERVALS:
        values[f"interval-{interval}"] = "on" if interval in offered else ""
    values["default_interval"] = _choice(options.get("default_interval"), INTERVALS, "")
    quantity = options.get("quantity")
    quantity = quantity if isinstance(quantity, dict) else {}
    for part in ("min", "max", "step"):
        values[f"quantity-{part}"] = _text(quantity.get(part))
    values["proration_behavior"] = _choice(
        effective.get("proration_behavior"), PRORATION, "always_invoice"
    )
    values["cancel_mode"] = _choice(effective.get("cancel_mode"), CANCEL_MODES, "at_period_end")
    values["language"] = _choice(options.get("language"), LANGUAGES, "")
    theme = options.get("theme")
    theme = theme if isinstance(theme, dict) else {}
    inherited_theme = inherited.get("theme") if isinstance(inherited.get("theme"), dict) else {}
    for colour in THEME_COLOURS:
        value = _text(theme.get(colour))
        values[f"theme-{colour}"] = value
        values[f"theme-{colour}-initial"] = value
        shown = value or _text((inherited_theme or {}).get(colour))
        values[f"theme-{colour}-picker"] = values[f"theme-{colour}-was"] = swatch(shown, colour)
    values["theme-radius"] = _text(theme.get("radius"))
    values["theme-font"] = _text(theme.get("font"))
    # Plan rows are listed by key; the template pairs them with the catalog.
    hidden = options.get("hidden_plans")
    hidden = [str(k) for k in hidden] if isinstance(hidden, list) else []
    order = options.get("plan_order")
    order = {str(k): v for k, v in order.items()} if isinstance(order, dict) else {}
    highlight = options.get("highlight")
    values["highlight"] = highlight if isinstance(highlight, str) else ""
    values["_hidden_plans"] = "\n".join(hidden)
    for key, value in order.items():
        values[f"_order:{key}"] = _text(value)
    return values


@dataclasses.dataclass(frozen=True)
class PlanRow:
    index: int
    key: str
    name: str
    detail: str
    shown: bool
    order: str
    order_hint: str
    in_catalog: bool
    metadata_highlight: bool


def plan_rows(values: Mapping[str, str], catalog: CatalogSummary) -> list[PlanRow]:
    """One row per plan of the catalog, and per plan key the options name but the catalog
    does not have (so that nothing set through the API is lost or invisible)."""
    if any(name.startswith("plan-") and name.endswith("-key") for name in values):
        return _posted_rows(values, catalog)
    hidden = set(values.get("_hidden_plans", "").split("\n")) - {""}
    ordered = {k.removeprefix("_order:"): v for k, v in values.items() if k.startswith("_order:")}
    keys = [plan.key for plan in catalog.plans]
    extra = [k for k in [*hidden, *ordered, values.get("highlight", "")] if k and k not in keys]
    keys += list(dict.fromkeys(extra))
    return [
        _row(i, key, catalog, shown=key not in hidden, order=ordered.get(key, ""))
        for i, key in enumerate(keys)
    ]


def _posted_rows(values: Mapping[str, str], catalog: CatalogSummary) -> list[PlanRow]:
    rows = []
    for i in range(_row_count(values)):
        key = values.get(f"plan-{i}-key", "")
        if key:
            rows.append(
                _row(
                    i,
                    key,
                    catalog,
                    shown=bool(values.get(f"plan-{i}-shown")),
                    order=values.get(f"plan-{i}-order", ""),
                )
            )
    return rows


def _row(index: int, key: str, catalog: CatalogSummary, *, shown: bool, order: str) -> PlanRow:
    plan = next((p for p in catalog.plans if p.key == key), None)
    if plan is not None:
        return PlanRow(
            index=index,
            key=key,
            name=plan.name,
            detail=", ".join(plan.prices),
            shown=shown,
            order=order,
            order_hint=str(plan.metadata_order) if plan.metadata_order is not None else "",
            in_catalog=True,
            metadata_highlight=plan.metadata_highlight,
        )
    product = catalog.product_names.get(key)
    return PlanRow(
        index=index,
        key=key,
        name=product or key,
        detail="Product without recurring prices" if product else "Not in the catalog",
        shown=shown,
        order=order,
        order_hint="",
        in_catalog=False,
        metadata_highlight=False,
    )


def _row_count(values: Mapping[str, str]) -> int:
    try:
        return max(0, min(int(values.get("plan-count", "0")), 1000))
    except ValueError:
        return 0


# -- form → options ------------------------------------------------------------------------


def posted_values(form: Mapping[str, Any]) -> dict[str, str]:
    """The posted form as field values (unchecked boxes are absent from a post)."""
    return {
        name: value.strip()
        for name, value in form.items()
        if isinstance(value, str) and name != "csrf_token"
    }


def _integer(
    raw: str, field: str, errors: dict[str, str], *, low: int, high: int, message: str
) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not _INTEGER.fullmatch(raw) or not low <= int(raw) <= high:
        errors[field] = message
        return None
    return int(raw)


def _colour_ok(value: str) -> bool:
    lowered = value.lower()
    return bool(
        _HEX.fullmatch(value) or _COLOUR_FUNCTION.fullmatch(lowered) or lowered in CSS_COLOUR_NAMES
    )


def _theme(values: Mapping[str, str], current: Any, errors: dict[str, str]) -> dict[str, Any]:
    theme = dict(current) if isinstance(current, dict) else {}
    for colour, label in THEME_COLOURS.items():
        field = f"theme-{colour}"
        text = values.get(field, "").strip()
        initial = values.get(f"{field}-initial", "").strip()
        picker = values.get(f"{field}-picker", "").strip().lower()
        was = values.get(f"{field}-was", "").strip().lower()
        # Two inputs per colour, without script: the text wins when it was edited, else the
        # picker when it was moved, else the value stays as it was.
        if text != initial:
            value = text
        elif picker and picker != was and _HEX.fullmatch(picker):
            value = picker
        else:
            value = initial
        if not value:
            theme.pop(colour, None)
        elif (value == initial and theme.get(colour) == initial) or _colour_ok(value):
            theme[colour] = value
        else:
            errors[field] = (
                f"{label} colour: use a hex colour like #5b21b6, rgb(91, 33, 182) "
                "or a CSS colour name."
            )
    radius = values.get("theme-radius", "").strip()
    if not radius:
        theme.pop("radius", None)
    elif _RADIUS.fullmatch(radius):
        theme["radius"] = radius
    else:
        errors["theme-radius"] = "Use a length like 8px, 0.5rem or 0."
    font = values.get("theme-font", "").strip()
    if not font:
        theme.pop("font", None)
    elif _FONT.fullmatch(font):
        theme["font"] = font
    else:
        errors["theme-font"] = (
            "Use a font list like Inter, sans-serif: letters, digits, spaces, commas, quotes "
            "and hyphens, at most 100 characters."
        )
    return theme


def _plans(values: Mapping[str, str], options: dict[str, Any], errors: dict[str, str]) -> None:
    current_hidden = options.get("hidden_plans")
    current_hidden = current_hidden if isinstance(current_hidden, list) else []
    current_order = options.get("plan_order")
    current_order = current_order if isinstance(current_order, dict) else {}
    rows: list[tuple[str, str, bool, str]] = []  # (field prefix, key, shown, order)
    for i in range(_row_count(values)):
        key = values.get(f"plan-{i}-key", "").strip()
        if key:
            rows.append(
                (
                    f"plan-{i}",
                    key,
                    bool(values.get(f"plan-{i}-shown")),
                    values.get(f"plan-{i}-order", ""),
                )
            )
    new_key = values.get("plan-new-key", "").strip()
    if new_key:
        if len(new_key) > 200 or any(c.isspace() for c in new_key):
            errors["plan-new-key"] = (
                "A plan key is service:tier or a product id (prod_…), without spaces."
            )
        else:
            rows.append(
                (
                    "plan-new",
                    new_key,
                    bool(values.get("plan-new-shown")),
                    values.get("plan-new-order", ""),
                )
            )
    listed = {key for _, key, _, _ in rows}
    hidden = [key for _, key, shown, _ in rows if not shown]
    hidden += [str(k) for k in current_hidden if str(k) not in listed and str(k) not in hidden]
    order: dict[str, Any] = {k: v for k, v in current_order.items() if str(k) not in listed}
    for prefix, key, _, raw in rows:
        number = _integer(
            raw,
            f"{prefix}-order",
            errors,
            low=-100_000,
            high=100_000,
            message="The position must be a whole number (lowest shows first).",
        )
        if number is not None:
            order[key] = number
    highlight = values.get("highlight", "").strip()
    if highlight == NEW_ROW:
        highlight = new_key
        if not new_key:
            errors["highlight"] = "Type the plan key to highlight in the last row."
    _set(options, "hidden_plans", hidden)
    _set(options, "plan_order", order)
    _set(options, "highlight", highlight)


def _set(options: dict[str, Any], key: str, value: Any) -> None:
    """Set an option, or remove it when empty (the tenant's value or the default applies)."""
    if value in (None, "", [], {}):
        options.pop(key, None)
    else:
        options[key] = value


def parse_page_form(
    widget: str, values: Mapping[str, str], current: Mapping[str, Any]
) -> PageChange:
    """The page's name, Billflow id and options from the form; ``current`` options the form
    does not show are kept. Raises InvalidPageForm with a message per field."""
    errors: dict[str, str] = {}
    options = copy.deepcopy(dict(current))
    groups = sections(widget)

    name = values.get("name", "").strip()
    if not name:
        errors["name"] = "Give the page a name, e.g. Pricing page."
    elif len(name) > 200:
        errors["name"] = "The name can have at most 200 characters."
    billflow_id = values.get("billflow_id", "").strip() or None
    if billflow_id is not None and (
        len(billflow_id) > 200 or any(c.isspace() for c in billflow_id)
    ):
        errors["billflow_id"] = "The Billflow id is the billing_page_id of your Billflow snippet."

    for group, names in SWITCHES.items():
        if group in groups:
            for switch in names:
                options[switch] = bool(values.get(switch))

    if "plans" in groups:
        service = values.get("service", "").strip()
        if len(service) > 100:
            errors["service"] = "The service can have at most 100 characters."
        _set(options, "service", service)
        _plans(values, options, errors)

    if "intervals" in groups:
        offered = [i for i in INTERVALS if values.get(f"interval-{i}")]
        if not offered:
            errors["intervals"] = "Offer at least one billing interval."
        options["intervals"] = offered
        default = values.get("default_interval", "").strip()
        if default and default not in offered:
            errors["default_interval"] = (
                "The interval selected at first must be one of the intervals offered."
            )
        _set(options, "default_interval", default)

    if "purchase" in groups or "seats" in groups:
        quantity = _quantity(values, options.get("quantity"), errors)
        _set(options, "quantity", quantity)

    if "purchase" in groups:
        currency = values.get("currency", "").strip().lower()
        if currency and not _CURRENCY.fullmatch(currency):
            errors["currency"] = "Use a three-letter currency code, like usd or eur."
        _set(options, "currency", currency)
        trial = _integer(
            values.get("trial_days", ""),
            "trial_days",
            errors,
            low=0,
            high=MAX_TRIAL_DAYS,
            message=f"Trial days must be a whole number from 0 to {MAX_TRIAL_DAYS}.",
        )
        _set(options, "trial_days", trial)

    if "cta" in groups:
        cta_url = values.get("cta_url", "").strip()
        try:
            parts = urlsplit(cta_url)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            parts = urlsplit("")
        if cta_url and (parts.scheme not in ("https", "http") or not parts.netloc):
            errors["cta_url"] = "Use a full address starting with https://."
        elif len(cta_url) > 2000:
            errors["cta_url"] = "The address can have at most 2000 characters."
        _set(options, "cta_url", cta_url)

    if "portal" in groups:
        proration = values.get("proration_behavior", "")
        if proration not in PRORATION:
            errors["proration_behavior"] = "Choose how plan changes are billed."
        options["proration_behavior"] = proration
        cancel_mode = values.get("cancel_mode", "")
        if cancel_mode not in CANCEL_MODES:
            errors["cancel_mode"] = "Choose when a cancellation takes effect."
        options["cancel_mode"] = cancel_mode
        coupon = values.get("retention_coupon", "").strip()
        if coupon and not _COUPON.fullmatch(coupon):
            errors["retention_coupon"] = "Use the id of a Stripe coupon: letters, digits, - and _."
        _set(options, "retention_coupon", coupon)
        message = values.get("retention_message", "").strip()
        if len(message) > 300:
            errors["retention_message"] = "The offer's text can have at most 300 characters."
        _set(options, "retention_message", message)

    language = values.get("language", "").strip()
    if language and language not in LANGUAGES:
        errors["language"] = "Choose one of the languages offered."
    _set(options, "language", language)
    _set(options, "theme", _theme(values, options.get("theme"), errors))

    if errors:
        raise InvalidPageForm(errors)
    return PageChange(name=name, billflow_id=billflow_id, options=options)


def _quantity(values: Mapping[str, str], current: Any, errors: dict[str, str]) -> dict[str, Any]:
    quantity = dict(current) if isinstance(current, dict) else {}
    low = _integer(
        values.get("quantity-min", ""),
        "quantity-min",
        errors,
        low=1,
        high=MAX_SEATS,
        message="The fewest seats must be a whole number of at least 1.",
    )
    high = _integer(
        values.get("quantity-max", ""),
        "quantity-max",
        errors,
        low=1,
        high=MAX_SEATS,
        message=f"The most seats must be a whole number from 1 to {MAX_SEATS:,}.",
    )
    step = _integer(
        values.get("quantity-step", ""),
        "quantity-step",
        errors,
        low=1,
        high=MAX_SEATS,
        message="The step must be a whole number of at least 1.",
    )
    if low is not None and high is not None and high < low:
        errors["quantity-max"] = f"The most seats must be at least the fewest ({low})."
    for part, number in (("min", low), ("max", high), ("step", step)):
        if number is None:
            quantity.pop(part, None)
        else:
            quantity[part] = number
    return quantity
