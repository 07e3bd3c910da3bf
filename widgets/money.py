"""Amounts in words and numbers, per locale (Babel)."""

from __future__ import annotations

import re
from decimal import Decimal, localcontext

from babel import Locale, UnknownLocaleError
from babel.numbers import (
    format_currency,
    format_decimal,
    get_currency_precision,
    get_territory_currencies,
)

DEFAULT_LOCALE = "en"
SUPPORTED_LOCALES = ("en", "fr")


def pick_locale(wanted: str | None) -> str:
    """The best supported locale for an Accept-Language value or a page's setting."""
    for part in (wanted or "").split(","):
        tag = part.split(";")[0].strip().replace("-", "_")
        if not tag:
            continue
        try:
            language = Locale.parse(tag).language
        except (ValueError, UnknownLocaleError):
            continue
        if language in SUPPORTED_LOCALES:
            return language
    return DEFAULT_LOCALE


def locale_currency(accept_language: str | None) -> str | None:
    """The currency of the visitor's country, from a tag like ``fr-FR`` (None without one)."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().replace("-", "_")
        try:
            territory = Locale.parse(tag).territory if tag else None
        except (ValueError, UnknownLocaleError):
            continue
        if territory:
            currencies = get_territory_currencies(territory)
            return currencies[0].lower() if currencies else None
    return None


def major_units(minor: int | Decimal | str, currency: str) -> Decimal:
    """Stripe's minor units (cents, or yen for zero-decimal currencies) as an amount."""
    precision = get_currency_precision(currency.upper())
    return Decimal(str(minor)) / (Decimal(10) ** precision)


def money(minor: int | Decimal | str, currency: str, locale: str) -> str:
    """``$12``, ``$12.50``, ``$0.005``, ``12 €``: the locale's pattern, only needed decimals."""
    code = currency.upper()
    # Enough digits for any amount: the default 28 would make formatting a larger one fail.
    with localcontext() as context:
        context.prec = max(28, len(str(minor)) + 10)
        amount = major_units(minor, code)
        exponent = amount.normalize().as_tuple().exponent
        decimals = 0
        if amount != amount.to_integral_value() and isinstance(exponent, int):
            decimals = max(get_currency_precision(code), -exponent)
        standard = Locale.parse(locale).currency_formats["standard"].pattern.split(";")[0]
        pattern = re.sub(
            r"0(\.0+)?", "0" + ("." + "0" * decimals if decimals else ""), standard, count=1
        )
        return format_currency(amount, code, locale=locale, format=pattern, currency_digits=False)


def number(value: int, locale: str) -> str:
    return format_decimal(value, locale=locale)
