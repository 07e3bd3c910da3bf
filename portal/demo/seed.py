"""The demo's data: a catalog in the sandbox, a tenant, a dashboard admin and demo users.

Seeding happens once; what it created is remembered in ``demo.json`` in the data directory,
so a second run reuses the same tenant, keys and Stripe objects.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import stripe

ACCOUNT = "acme_demo"
SECRET_KEY = f"sk_test_{ACCOUNT}"
PUBLISHABLE_KEY = f"pk_test_{ACCOUNT}"
ADMIN_EMAIL = "admin@acme.test"
COUPON = "LAUNCH20"

# Acme Notes' plans: product name, tier, order, monthly and yearly price in cents, features.
PLANS: list[tuple[str, str, int, int, int | None, list[str]]] = [
    ("Free", "free", 1, 0, None, ["3 notebooks", "Sync on 2 devices"]),
    (
        "Starter",
        "starter",
        2,
        900,
        9000,
        ["Unlimited notebooks", "Sync everywhere", "Email support"],
    ),
    (
        "Pro",
        "pro",
        3,
        2900,
        29000,
        ["Everything in Starter", "Version history", "Priority support"],
    ),
]
TEAM_SEAT = 1200
# Demo users of the sample site: who they are in Acme Notes, and their billing.
USERS = [
    ("ada@acme.test", "Ada Lovelace", "pro"),
    ("grace@acme.test", "Grace Hopper", "free"),
]


@dataclass
class DemoState:
    tenant_id: str
    publishable_key: str
    secret_key: str
    token_secret: str
    callback_secret: str
    admin_email: str
    admin_password: str

    @classmethod
    def load(cls, path: Path) -> DemoState | None:
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        # Secrets of a local demo, but secrets nonetheless: readable by the owner only.
        os.chmod(tmp, 0o600)
        tmp.replace(path)


def seed_catalog(client: stripe.StripeClient) -> dict[str, Any]:
    """Acme Notes' catalog in the sandbox, once: Free, Starter, Pro, Team and metered API."""
    existing = client.v1.products.list(params={"limit": 100}).data
    if any((p.to_dict().get("metadata") or {}).get("demo") == "acme" for p in existing):
        return {}
    prices: dict[str, Any] = {}
    for name, tier, order, monthly, yearly, features in PLANS:
        product = client.v1.products.create(
            params={
                "name": name,
                "description": f"Acme Notes {name}",
                "metadata": {
                    "service": "notes",
                    "tier": tier,
                    "order": str(order),
                    "demo": "acme",
                    **({"highlight": "true"} if tier == "pro" else {}),
                },
                "marketing_features": [{"name": feature} for feature in features],
            }
        )
        intervals = [("month", monthly)] + ([("year", yearly)] if yearly else [])
        for interval, amount in intervals:
            price = client.v1.prices.create(
                params={
                    "product": product.id,
                    "currency": "usd",
                    "unit_amount": amount,
                    "recurring": {"interval": interval},
                    "lookup_key": f"{tier}_{interval}",
                }
            )
            prices[f"{tier}_{interval}"] = price.id
    team = client.v1.products.create(
        params={
            "name": "Team",
            "description": "Acme Notes for teams, per seat",
            "unit_label": "seat",
            "metadata": {"service": "notes", "tier": "team", "order": "4", "demo": "acme"},
            "marketing_features": [{"name": "Shared notebooks"}, {"name": "Admin controls"}],
        }
    )
    prices["team_month"] = client.v1.prices.create(
        params={
            "product": team.id,
            "currency": "usd",
            "unit_amount": TEAM_SEAT,
            "recurring": {"interval": "month"},
            "lookup_key": "team_month",
        }
    ).id
    meter = client.v1.billing.meters.create(
        params={
            "display_name": "API calls",
            "event_name": "acme_api_calls",
            "default_aggregation": {"formula": "sum"},
        }
    )
    api = client.v1.products.create(
        params={
            "name": "API",
            "description": "The Acme Notes API, billed by use",
            "metadata": {"service": "api", "tier": "usage", "unit": "API call", "demo": "acme"},
        }
    )
    prices["api_usage"] = client.v1.prices.create(
        params={
            "product": api.id,
            "currency": "usd",
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": [{"up_to": 1000, "unit_amount": 0}, {"up_to": "inf", "unit_amount": 1}],
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
        }
    ).id
    coupon = client.v1.coupons.create(
        params={
            "percent_off": 20,
            "duration": "repeating",
            "duration_in_months": 3,
            "name": "Launch",
        }
    )
    client.v1.promotion_codes.create(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": COUPON}
    )
    _seed_users(client, prices)
    return prices


def _seed_users(client: stripe.StripeClient, prices: dict[str, Any]) -> None:
    """Ada pays for Pro (and uses the API); Grace is on the free plan."""
    for email, name, tier in USERS:
        customer = client.v1.customers.create(
            params={"email": email, "name": name, "metadata": {"billport_user_id": email}}
        )
        items: list[dict[str, Any]] = [{"price": prices[f"{tier}_month"]}]
        if tier == "pro":
            card = client.v1.payment_methods.attach(
                "pm_card_visa", params={"customer": customer.id}
            )
            client.v1.customers.update(
                customer.id, params={"invoice_settings": {"default_payment_method": card.id}}
            )
            items.append({"price": prices["api_usage"]})
        params: Any = {
            "customer": customer.id,
            "items": items,
            "metadata": {"service": "notes", "tier": tier},
        }
        client.v1.subscriptions.create(params=params)


def new_admin_password() -> str:
    return "demo-" + secrets.token_urlsafe(9)
