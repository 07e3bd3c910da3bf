"""The portal as the benchmarks run it: its own process, plus bare comparison routes.

``/bench/bare/{name}`` answers stored bytes (with the stored content type and status) to GET,
and to POST after reading the request body, doing nothing else: Litestar, uvicorn and the
portal's own request wrapper, without the work of a real route. The benchmark stores a real
route's answer there (``PUT``) and compares the two under the same load.

This module also holds what several benchmarks share: starting the portal and a sandbox,
registering a tenant through the API, putting a catalog into a sandbox account, inserting
many tenants straight into the database.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from litestar import Request, Response, get, post, put

from bench.common import free_port, process, sandbox_process

OPERATOR_TOKEN = "bench-operator-token"
ORIGIN = "https://app.bench.test"

_STORED: dict[str, tuple[bytes, str, int]] = {}


def _stored(name: str) -> Response[bytes]:
    body, media_type, status = _STORED[name]
    return Response(body, media_type=media_type, status_code=status)


@get("/bench/bare/{name:str}", include_in_schema=False, sync_to_thread=False)
def bare_get(name: str) -> Response[bytes]:
    """Litestar answering stored bytes, doing nothing else."""
    return _stored(name)


@post("/bench/bare/{name:str}", include_in_schema=False)
async def bare_post(name: str, request: Request[Any, Any, Any]) -> Response[bytes]:
    """Litestar reading the request body and answering stored bytes, doing nothing else."""
    await request.body()
    return _stored(name)


@put("/bench/bare/{name:str}", include_in_schema=False, status_code=204)
async def keep(name: str, request: Request[Any, Any, Any]) -> None:
    status = int(request.query_params.get("status", "200"))
    media_type = request.headers.get("content-type", "application/octet-stream")
    _STORED[name] = (await request.body(), media_type, status)


def serve(port: int) -> None:
    """The portal with the bare comparison routes (run in the server process)."""
    import uvicorn

    # The handlers of ``bench.server`` as imported, however this process was started (``-m``,
    # under a profiler): Litestar resolves their annotations in their module's namespace.
    from bench import server
    from portal.app import create_app
    from portal.logs import configure_logging
    from portal.migrate import upgrade
    from portal.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level)
    upgrade(settings.database_url)
    app = create_app(settings)
    for handler in (server.bare_get, server.bare_post, server.keep):
        app.register(handler)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@dataclass
class Portal:
    url: str
    pid: int
    database_url: str
    encryption_keys: str
    secret_key: str

    def bare(self, name: str, answer: httpx.Response) -> str:
        """Store ``answer`` as the bare route ``name``; its path."""
        path = f"/bench/bare/{name}"
        httpx.put(
            f"{self.url}{path}",
            params={"status": answer.status_code},
            headers={"Content-Type": answer.headers.get("content-type", "")},
            content=answer.content,
        ).raise_for_status()
        return path


@contextmanager
def portal_process(data_dir: Path | None = None) -> Iterator[Portal]:
    """The portal (with bare routes) on SQLite in ``data_dir`` or a temporary directory."""
    with ExitStack() as stack:
        data = data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        portal = Portal(
            url=url,
            pid=0,
            database_url=f"sqlite+aiosqlite:///{data / 'bench.db'}",
            encryption_keys=Fernet.generate_key().decode(),
            secret_key="bench-" + uuid.uuid4().hex + uuid.uuid4().hex,
        )
        env = {
            "BILLPORT_DATABASE_URL": portal.database_url,
            "BILLPORT_DATA_DIR": str(data),
            "BILLPORT_ENCRYPTION_KEYS": portal.encryption_keys,
            "BILLPORT_SECRET_KEY": portal.secret_key,
            "BILLPORT_OPERATOR_TOKEN": OPERATOR_TOKEN,
            "BILLPORT_PUBLIC_URL": url,
            "BILLPORT_LOG_LEVEL": "WARNING",
        }
        command = [sys.executable, "-m", "bench.server", "serve", str(port)]
        server = stack.enter_context(process(command, f"{url}/healthz", env))
        portal.pid = server.pid
        yield portal


def create_tenant(portal: str, sandbox: str, account: str) -> dict[str, Any]:
    """A tenant registered through the API, on sandbox account ``account``."""
    answer = httpx.post(
        f"{portal}/api/v1/tenants",
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
        json={
            "name": "Bench",
            "stripe_secret_key": f"sk_test_{account}",
            "stripe_api_base": sandbox,
            "allowed_origins": [ORIGIN],
        },
        timeout=30,
    )
    answer.raise_for_status()
    return dict(answer.json())


# The plan picker's usual catalog: four tiers, monthly and yearly (8 prices).
TIERS = (("free", 0), ("starter", 900), ("pro", 2900), ("team", 9900))
# The bigger one: five tiers, monthly and yearly, in dollars and euros (20 prices).
TIERS_20 = (*TIERS, ("business", 19900))


def make_catalog(
    sandbox: str, account: str, tiers: tuple[tuple[str, int], ...] = TIERS, euros: bool = False
) -> dict[str, str]:
    """Products and recurring prices in a sandbox account; price ids by ``tier_interval``."""
    headers = {"Authorization": f"Bearer sk_test_{account}"}
    prices: dict[str, str] = {}
    with httpx.Client(base_url=sandbox, headers=headers, timeout=30) as client:
        for tier, amount in tiers:
            product = client.post(
                "/v1/products",
                data={
                    "name": tier.title(),
                    "description": f"The {tier} plan of Notes",
                    "metadata[service]": "notes",
                    "metadata[tier]": tier,
                    "marketing_features[0][name]": "Everything you need",
                    "marketing_features[1][name]": "Email support",
                },
            ).json()
            for currency in ("usd", "eur") if euros else ("usd",):
                for interval, factor in (("month", 1), ("year", 10)):
                    answer = client.post(
                        "/v1/prices",
                        data={
                            "product": product["id"],
                            "currency": currency,
                            "unit_amount": str(amount * factor),
                            "recurring[interval]": interval,
                        },
                    )
                    answer.raise_for_status()
                    prices[f"{tier}_{interval}_{currency}"] = answer.json()["id"]
    return prices


@contextmanager
def portal_with_tenant(
    tiers: tuple[tuple[str, int], ...] = TIERS,
) -> Iterator[tuple[Portal, str, dict[str, Any], dict[str, str]]]:
    """Sandbox, portal, a tenant registered through the API and its catalog in the sandbox.

    Yields the portal, the sandbox URL, the tenant (with its secrets) and the price ids.
    """
    with sandbox_process() as sandbox, portal_process() as portal:
        account = "bench" + uuid.uuid4().hex[:8]
        prices = make_catalog(sandbox, account, tiers)
        tenant = create_tenant(portal.url, sandbox, account)
        tenant["account"] = account
        yield portal, sandbox, tenant, prices


CONFIG = re.compile(r'<script type="application/json" id="billport-config">(.*?)</script>')


def page_config(html: str) -> dict[str, Any]:
    """The configuration a widget page hands its script."""
    found = CONFIG.search(html)
    if found is None:
        raise RuntimeError(f"no widget configuration in the page: {html[:500]}")
    return dict(json.loads(found.group(1)))


# -- many tenants, straight into the database ------------------------------------------------


def catalog_rows(portal: Portal, tenant: dict[str, Any]) -> dict[str, Any]:
    """A tenant's catalog as the API shows it: ``products`` and ``prices``."""
    answer = httpx.get(
        f"{portal.url}/api/v1/catalog",
        headers={"Authorization": f"Bearer {tenant['secret_key']}"},
        timeout=30,
    )
    answer.raise_for_status()
    return dict(answer.json())


async def _insert_tenants(
    portal: Portal, count: int, catalog: dict[str, Any], sandbox: str
) -> list[str]:
    from sqlalchemy import insert

    from portal.crypto import Vault, new_key, new_webhook_secret
    from portal.db import Database, utcnow
    from tenants.models import Tenant
    from widgets.catalog.models import CatalogSnapshot

    vault = Vault(portal.encryption_keys.split(","))
    # Every tenant gets its own copy of the catalog (own ids), as its own Stripe account would.
    template = json.dumps({"products": catalog["products"], "prices": catalog["prices"]})
    now = utcnow()
    # A refresh is due only after the catalog's TTL: none happens while benchmarks run.
    refreshed_at = now - timedelta(seconds=5)
    # One ciphertext for every tenant: Fernet is the slow part, and nothing reads them here.
    token_secret = vault.encrypt("bpts_bench")
    stripe_key = vault.encrypt("sk_test_bench")
    callback_secret = vault.encrypt(new_webhook_secret())
    database = Database(portal.database_url)
    keys: list[str] = []
    try:
        for start in range(0, count, 1000):
            tenants: list[dict[str, Any]] = []
            snapshots: list[dict[str, Any]] = []
            for number in range(start, min(count, start + 1000)):
                tenant_id = new_key("ten_", 20)
                keys.append(new_key("bp_pub_", 24))
                tenants.append(
                    {
                        "id": tenant_id,
                        "name": f"Bench {number}",
                        "publishable_key": keys[-1],
                        "secret_key_hash": uuid.uuid4().hex,
                        "secret_key_hint": "bp_sk_…",
                        "token_secret_encrypted": token_secret,
                        "stripe_secret_key_encrypted": stripe_key,
                        "stripe_secret_key_hint": "sk_test_…",
                        "callback_secret_encrypted": callback_secret,
                        "stripe_api_base": sandbox,
                        "livemode": False,
                        "allowed_origins": [ORIGIN],
                        "legacy_hash_enabled": False,
                        "widget_options": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                own = json.loads(
                    template.replace('"prod_', f'"prod_{number}x').replace(
                        '"price_', f'"price_{number}x'
                    )
                )
                snapshots.append(
                    {
                        "tenant_id": tenant_id,
                        "products": own["products"],
                        "prices": own["prices"],
                        "refreshed_at": refreshed_at,
                        "version": 1,
                    }
                )
            async with database.sessions() as session:
                await session.execute(insert(Tenant), tenants)
                await session.execute(insert(CatalogSnapshot), snapshots)
                await session.commit()
    finally:
        await database.dispose()
    return keys


def insert_tenants(portal: Portal, count: int, catalog: dict[str, Any], sandbox: str) -> list[str]:
    """``count`` tenants with a copy of ``catalog`` each, inserted through the ORM models.

    Registering through the API checks every Stripe key, far too slow for thousands; the rows
    are the same. Answers their publishable keys.
    """
    return asyncio.run(_insert_tenants(portal, count, catalog, sandbox))


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]))
        return
    raise SystemExit("usage: python -m bench.server serve PORT")


if __name__ == "__main__":
    main()
