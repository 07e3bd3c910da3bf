"""The catalog: read from Stripe once, then served from the database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import stripe


def auth(tenant: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant['secret_key']}"}


def stripe_calls(sandbox_url: str, account: str) -> list[tuple[str, str]]:
    log = httpx.get(f"{sandbox_url}/_sandbox/requests", params={"account": account}).json()
    return [(r["method"], r["path"]) for r in log["requests"]]


def test_catalog_is_cached_and_refreshed_on_demand(
    api: httpx.Client,
    create_tenant,
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
) -> None:
    pro = stripe_client.v1.products.create(
        params={
            "name": "Pro",
            "metadata": {"service": "notes", "tier": "pro"},
            "marketing_features": [{"name": "Unlimited notes"}],
        }
    )
    monthly = stripe_client.v1.prices.create(
        params={
            "product": pro.id,
            "currency": "usd",
            "unit_amount": 1200,
            "recurring": {"interval": "month"},
            "lookup_key": "pro_monthly",
        }
    )
    tenant = create_tenant()

    first = api.get("/api/v1/catalog", headers=auth(tenant))
    assert first.status_code == 200, first.text
    catalog = first.json()
    assert [p["name"] for p in catalog["products"]] == ["Pro"]
    assert catalog["products"][0]["marketing_features"] == [{"name": "Unlimited notes"}]
    assert [p["id"] for p in catalog["prices"]] == [monthly.id]
    assert catalog["prices"][0]["lookup_key"] == "pro_monthly"

    httpx.delete(f"{sandbox_url}/_sandbox/requests")
    again = api.get("/api/v1/catalog", headers=auth(tenant))
    assert again.json() == catalog
    assert stripe_calls(sandbox_url, sandbox_account) == []

    stripe_client.v1.products.create(params={"name": "Team"})
    assert len(api.get("/api/v1/catalog", headers=auth(tenant)).json()["products"]) == 1
    refreshed = api.post("/api/v1/catalog/refresh", headers=auth(tenant))
    assert refreshed.status_code == 200
    assert sorted(p["name"] for p in refreshed.json()["products"]) == ["Pro", "Team"]
    assert ("GET", "/v1/products") in stripe_calls(sandbox_url, sandbox_account)
    assert len(api.get("/api/v1/catalog", headers=auth(tenant)).json()["products"]) == 2


def test_catalog_needs_the_secret_key(api: httpx.Client) -> None:
    assert api.get("/api/v1/catalog").status_code == 401
    assert api.post("/api/v1/catalog/refresh").status_code == 401


def test_concurrent_first_reads_share_one_snapshot(
    api: httpx.Client, create_tenant, sandbox_url: str
) -> None:
    tenant = create_tenant()
    # Slow Stripe down so that every first read is still fetching when the others arrive.
    slow = {"method": "GET", "path": "/v1/products", "status": None, "latency_ms": 400}
    httpx.post(f"{sandbox_url}/_sandbox/faults", json=slow)

    def read(_: int) -> int:
        with httpx.Client(base_url=str(api.base_url), timeout=30) as client:
            return client.get("/api/v1/catalog", headers=auth(tenant)).status_code

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(read, range(8)))
    finally:
        httpx.delete(f"{sandbox_url}/_sandbox/faults")
    assert statuses == [200] * 8
