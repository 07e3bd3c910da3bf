"""Widget options as the widgets read them: the tenant's, then the billing page's, checked.

The tenant API stores ``widget_options`` and billing page ``options`` as free JSON objects
(docs/widgets.md lists the keys), so a stored value may have any type. A value of the wrong
type is left out here, as if it were not set, so that a typo in a tenant's options falls back
to the default instead of breaking every page that reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

# The limits the dashboard's form enforces (Stripe's own for trial days).
MAX_TRIAL_DAYS = 730
MAX_SEATS = 100_000


_DROP = object()


def _text(value: Any) -> Any:
    return value if isinstance(value, str) else _DROP


def _texts(value: Any) -> Any:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return _DROP


def _whole(value: Any) -> int | None:
    """A whole number, also written as digits in a string (as form posts and hand-written
    JSON often have it); None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip()) if len(value.strip()) < 10 else None
    return None


def _trial_days(value: Any) -> Any:
    days = _whole(value)
    return days if days is not None and 0 <= days <= MAX_TRIAL_DAYS else _DROP


def _quantity(value: Any) -> Any:
    if not isinstance(value, dict):
        return _DROP
    limits = {**value}
    for part in ("min", "max", "step"):
        if part in limits:
            number = _whole(limits.pop(part))
            if number is not None and 1 <= number <= MAX_SEATS:
                limits[part] = number
    return limits


def _mapping(value: Any) -> Any:
    return value if isinstance(value, dict) else _DROP


def _web_address(value: Any) -> Any:
    """An http(s) address: a ``javascript:`` or ``data:`` URL must never become a link."""
    if not isinstance(value, str) or len(value) > 2000:
        return _DROP
    try:
        parts = urlsplit(value.strip())
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return _DROP
    return value.strip() if parts.scheme in ("http", "https") and parts.netloc else _DROP


# Switches are read with bool() and take any value; the others must have their type.
CHECKS: dict[str, Callable[[Any], Any]] = {
    "service": _text,
    "hidden_plans": _texts,
    "disabled_plans": _texts,
    "plan_order": _mapping,
    "highlight": _text,
    "intervals": _texts,
    "default_interval": _text,
    "currency": _text,
    "quantity": _quantity,
    "trial_days": _trial_days,
    "cta_url": _web_address,
    "theme": _mapping,
    "language": _text,
    "proration_behavior": _text,
    "cancel_mode": _text,
    "retention_coupon": _text,
    "retention_message": _text,
}


def effective_options(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """The layers merged (later ones win), without values of the wrong type.

    A value that fails its check is dropped from its layer only, so an earlier layer's good
    value (the tenant's) still applies under a billing page's bad one. Unknown keys are kept.
    """
    merged: dict[str, Any] = {}
    for layer in layers:
        if not isinstance(layer, Mapping):
            continue
        for key, value in layer.items():
            check = CHECKS.get(key)
            checked = value if check is None else check(value)
            if checked is not _DROP:
                merged[key] = checked
    return merged
