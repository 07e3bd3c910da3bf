"""The scale-out topology without containers: 2 portal processes, 2 workers, one PostgreSQL.

Users' widget actions go to either portal at random (stateless portals: a widget session
opened on one is honoured by the other), and every callback reaches the tenant exactly once
whichever worker sends it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import func, select

from portal.callbacks.models import CallbackDelivery
from portal.db import Database
from portal.migrate import upgrade
from portal.settings import Settings
from tests.callbacks_support import Receiver
from tests.conftest import OPERATOR_TOKEN
from tests.servers import ServerThread, free_port, run_async
from tests.tokens import mint_user_token
from tests.widget_api import ORIGIN, Widget, action, make_plans, page_config

BILLPORT = str(Path(sys.executable).parent / "billport")
USERS = 24


@pytest.fixture(scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    # The topology is PostgreSQL's: several processes writing at once.
    if not os.environ.get("BILLPORT_TEST_DATABASE_URL"):
        pytest.skip("BILLPORT_TEST_DATABASE_URL is not set: no PostgreSQL to run against")
    return "postgres"


class Topology:
    def __init__(self, settings: Settings, folder: Path) -> None:
        self.ports = [free_port(), free_port()]
        self.urls = [f"http://127.0.0.1:{port}" for port in self.ports]
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BILLPORT_")},
            "BILLPORT_DATABASE_URL": settings.database_url,
            "BILLPORT_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
            "BILLPORT_SECRET_KEY": settings.secret_key,
            "BILLPORT_PUBLIC_URL": self.urls[0],
            "BILLPORT_OPERATOR_TOKEN": OPERATOR_TOKEN,
            "BILLPORT_DATA_DIR": str(folder),
            "BILLPORT_LOG_LEVEL": "WARNING",
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        for port in self.ports:
            self._spawn("serve", "--no-worker", "--port", str(port))
        for _ in range(2):
            self._spawn("worker")
        deadline = time.monotonic() + 60
        for url in self.urls:
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"{url} did not start"
                time.sleep(0.2)

    def _spawn(self, *args: str) -> None:
        self.processes.append(
            subprocess.Popen(
                [BILLPORT, *args], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        )

    def stop(self) -> list[int]:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        return [process.wait(timeout=60) for process in self.processes]


@pytest.fixture(scope="module")
def topology(
    portal_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Topology]:
    upgrade(portal_settings.database_url)
    running = Topology(portal_settings, tmp_path_factory.mktemp("topology"))
    running.start()
    yield running
    codes = running.stop()
    # uvicorn re-raises SIGTERM once it has shut down gracefully; workers exit 0.
    assert codes[:2] == [-signal.SIGTERM] * 2 and codes[2:] == [0, 0], [
        p.stderr.read() if p.stderr else b"" for p in running.processes
    ]


def delivered(settings: Settings, tenant_id: str) -> dict[str, int]:
    async def go() -> dict[str, int]:
        database = Database(settings.database_url)
        try:
            async with database.sessions() as session:
                rows = await session.execute(
                    select(CallbackDelivery.status, func.count())
                    .where(CallbackDelivery.tenant_id == tenant_id)
                    .group_by(CallbackDelivery.status)
                )
                return {status: count for status, count in rows}
        finally:
            await database.dispose()

    return run_async(go)


def test_any_portal_serves_any_request_and_callbacks_arrive_once(
    topology: Topology,
    portal_settings: Settings,
    sandbox_url: str,
    sandbox_account: str,
    stripe_client: stripe.StripeClient,
) -> None:
    receiver_port = free_port()
    created = httpx.post(
        f"{topology.urls[1]}/api/v1/tenants",
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
        json={
            "name": "Acme Notes",
            "stripe_secret_key": f"sk_test_{sandbox_account}",
            "stripe_api_base": sandbox_url,
            "allowed_origins": [ORIGIN],
            "callback_url": f"http://127.0.0.1:{receiver_port}/hook",
        },
        timeout=30,
    )
    assert created.status_code == 201, created.text
    tenant = created.json()
    prices = make_plans(stripe_client, ("Pro", "pro", 1000), ("Pro Plus", "pro_plus", 2000))
    # The catalog is cached per tenant: refreshed through one portal, seen by both.
    refreshed = httpx.post(
        f"{topology.urls[0]}/api/v1/catalog/refresh",
        headers={"Authorization": f"Bearer {tenant['secret_key']}"},
        timeout=30,
    )
    assert refreshed.status_code == 200, refreshed.text
    app = Receiver(tenant["callback_secret"])
    rng = random.Random(7)

    def journey(n: int) -> dict[str, Any]:
        """Open checkout on one portal, subscribe and change plan on whichever comes."""
        email = f"user{n}-{action()[:6]}@example.com"
        token = mint_user_token(tenant, email=email)
        first, *rest = [rng.choice(topology.urls) for _ in range(3)]
        with httpx.Client(timeout=60) as client:
            page = client.get(
                f"{first}/w/checkout",
                params={"key": tenant["publishable_key"], "token": token, "origin": ORIGIN},
            )
            assert page.status_code == 200, page.text
            widget = Widget(client, page_config(page.text), base=rest[0])
            subscribed = widget.call(
                "POST",
                "/w/api/subscribe",
                {"price": prices[0], "action_id": action(), "payment_method": "pm_card_visa"},
            )
            assert subscribed.status_code == 200, subscribed.text
            sub = subscribed.json()["subscription"]
            widget.base = rest[1]
            changed = widget.call(
                "POST",
                f"/w/api/subscriptions/{sub['id']}/change",
                {"price": prices[1], "action_id": action()},
            )
            assert changed.status_code == 200, changed.text
            return {"email": email, "subscription": sub["id"], "customer": sub["customer"]}

    with ServerThread(app, port=receiver_port), ThreadPoolExecutor(8) as pool:
        users = list(pool.map(journey, range(USERS)))
        deadline = time.monotonic() + 120
        while True:
            counts = delivered(portal_settings, tenant["id"])
            browser = Counter(r["body"]["event"] for r in app.received)
            if (
                counts.get("pending", 0) == 0
                and browser["create_subscription"] >= USERS
                and browser["change_plan"] >= USERS
            ):
                break
            assert time.monotonic() < deadline, (counts, browser)
            time.sleep(0.5)

    ids = [r["id"] for r in app.received]
    assert len(ids) == len(set(ids)), "a callback arrived twice"
    assert counts == {"delivered": len(ids)}
    subscriptions = {user["subscription"] for user in users}
    for event in ("create_subscription", "change_plan"):
        about = [r["body"]["response"]["id"] for r in app.received if r["body"]["event"] == event]
        assert sorted(about) == sorted(subscriptions), event
    # Stripe's own events reached the intake on one portal and were processed by the workers.
    assert {r["body"]["event"] for r in app.received} >= {
        "subscription_updated",
        "payment_succeeded",
    }
    for user in users:
        [sub] = stripe_client.v1.subscriptions.list(params={"customer": user["customer"]}).data
        assert sub["items"]["data"][0]["price"]["id"] == prices[1]
