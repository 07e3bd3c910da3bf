from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from widgets.catalog.service import Catalog
from widgets.money import money, pick_locale
from widgets.plans import build_plans, describe, intervals_of


def product(pid: str, name: str, **metadata: str) -> dict[str, Any]:
    return {
        "id": pid,
        "name": name,
        "active": True,
        "metadata": metadata,
        "marketing_features": [{"name": f"{name} feature"}],
        "unit_label": None,
    }


def price(
    pid: str, product_id: str, amount: int | None, interval: str = "month", **extra: Any
) -> dict[str, Any]:
    return {
        "id": pid,
        "product": product_id,
        "active": True,
        "currency": "usd",
        "unit_amount": amount,
        "unit_amount_decimal": None if amount is None else str(amount),
        "type": "recurring",
        "billing_scheme": "per_unit",
        "tiers": None,
        "tiers_mode": None,
        "currency_options": None,
        "lookup_key": None,
        "recurring": {
            "interval": interval,
            "interval_count": 1,
            "usage_type": "licensed",
            "trial_period_days": None,
        },
        **extra,
    }


def catalog(products: list[dict[str, Any]], prices: list[dict[str, Any]]) -> Catalog:
    return Catalog(
        products,
        prices,
        datetime.now(UTC),
        1,
        {p["id"]: p for p in products},
        {p["id"]: p for p in prices},
    )


@pytest.mark.parametrize(
    ("minor", "currency", "locale", "shown"),
    [
        (1200, "usd", "en", "$12"),
        (1250, "usd", "en", "$12.50"),
        ("0.5", "usd", "en", "$0.005"),
        (1200, "eur", "fr", "12\u00a0€"),
        (500, "jpy", "en", "¥500"),
        (123456, "usd", "en", "$1,234.56"),
    ],
)
def test_money(minor: Any, currency: str, locale: str, shown: str) -> None:
    assert money(minor, currency, locale).replace("\u202f", "\u00a0") == shown


def test_locale_negotiation() -> None:
    assert pick_locale("fr-CA,fr;q=0.9,en;q=0.5") == "fr"
    assert pick_locale("de-DE") == "en"
    assert pick_locale(None) == "en"
    assert pick_locale("x-klingon, ***") == "en"


def test_prices_in_words() -> None:
    api = product("prod_api", "API", unit="API call")
    metered_tiered = price(
        "p1",
        "prod_api",
        None,
        billing_scheme="tiered",
        tiers_mode="graduated",
        tiers=[
            {"up_to": 1000, "unit_amount": 0, "unit_amount_decimal": "0", "flat_amount": None},
            {"up_to": None, "unit_amount": 10, "unit_amount_decimal": "10", "flat_amount": None},
        ],
    )
    metered_tiered["recurring"]["usage_type"] = "metered"
    assert describe(metered_tiered, api, "usd", "en") == "$0.10 per API call after 1,000 / month"
    assert describe(price("p2", "x", 1200), product("x", "Pro"), "usd", "en") == "$12 / month"
    yearly_fr = describe(price("p3", "x", 12000, "year"), product("x", "Pro"), "usd", "fr")
    assert yearly_fr.startswith("120") and yearly_fr.endswith("$US / an")
    assert describe(price("p4", "x", 0), product("x", "Free"), "usd", "en") == "Free"
    seats = product("team", "Team")
    seats["unit_label"] = "seat"
    assert describe(price("p5", "team", 800), seats, "usd", "en") == "$8 per seat / month"
    volume = price(
        "p6",
        "x",
        None,
        billing_scheme="tiered",
        tiers_mode="volume",
        tiers=[
            {"up_to": 10, "unit_amount": 1000, "flat_amount": None},
            {"up_to": None, "unit_amount": 800, "flat_amount": None},
        ],
    )
    assert describe(volume, seats, "usd", "en") == "from $8 per seat / month"


def test_currency_options_are_used_for_the_wanted_currency() -> None:
    pro = product("prod_pro", "Pro")
    priced = price(
        "p",
        "prod_pro",
        1200,
        currency_options={
            "usd": {"unit_amount": 1200},
            "eur": {"unit_amount": 1100, "unit_amount_decimal": "1100"},
        },
    )
    assert describe(priced, pro, "eur", "en") == "€11 / month"
    plans = build_plans(catalog([pro], [priced]), currency="eur", locale="en")
    assert plans[0].prices[0].currency == "eur"
    assert (
        build_plans(catalog([pro], [price("q", "prod_pro", 5)]), currency="gbp", locale="en") == []
    )


def test_grouping_order_highlight_and_hiding() -> None:
    products = [
        product("prod_free", "Free", service="notes", tier="free"),
        product("prod_pro", "Pro", service="notes", tier="pro", highlight="true"),
        product("prod_team", "Team", service="notes", tier="team", order="1"),
        product("prod_other", "Other"),
    ]
    prices = [
        price("pf", "prod_free", 0),
        price("pp_m", "prod_pro", 1200),
        price("pp_y", "prod_pro", 12000, "year"),
        price("pt", "prod_team", 3000),
        price("one_time", "prod_other", 500, type="one_time", recurring=None),
    ]
    plans = build_plans(catalog(products, prices), currency=None, locale="en")
    assert [p.key for p in plans] == ["notes:team", "notes:free", "notes:pro"]
    assert [p.key for p in plans if p.highlight] == ["notes:pro"]
    pro = plans[-1]
    assert [x.interval for x in pro.prices] == ["month", "year"]
    assert pro.price_for("year").id == "pp_y"
    assert plans[1].free
    assert intervals_of(plans) == ["month", "year"]
    configured = build_plans(
        catalog(products, prices),
        currency=None,
        locale="en",
        options={
            "hidden_plans": ["notes:team"],
            "highlight": "notes:free",
            "plan_order": {"notes:pro": 0},
        },
    )
    assert [p.key for p in configured] == ["notes:pro", "notes:free"]
    assert [p.key for p in configured if p.highlight] == ["notes:free"]
