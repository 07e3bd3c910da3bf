"""Checkout: subscribing through the widget API, against the sandbox's own cost of it.

Every subscribe is a new user: the benchmark mints a user token, opens the checkout page with
it (as the iframe would) and keeps the widget session the page hands its script; the load
generator then sends ``POST /w/api/subscribe`` with a card, once per session. Behind each, the
portal makes five Stripe calls (find the customer by email, create it, list its
subscriptions, attach the card, create the subscription) and stores the callback.

The baseline is the sandbox alone: the same five calls with the same parameters, made
directly by an asyncio client in a process of its own, with as many users at once as the
load generator has connections. The figure ``checkout_subscribe_vs_sandbox`` is subscribes per
second through the portal as a ratio of the sandbox's: the share of the sandbox's own pace
the portal keeps. The tenant's webhook endpoint is disabled for both, so that the sandbox
does not spend the run delivering events.

Run alone with ``python -m bench.checkout``.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import OctKey

from bench.common import (
    CONNECTIONS,
    RUN_SECONDS,
    RUNS,
    WARMUP_SECONDS,
    Call,
    Run,
    figure,
    fresh_run,
    load_run,
    post_json,
)
from bench.server import ORIGIN, Portal, page_config, portal_with_tenant

FIRST_BATCH = 150


def user_token(tenant: dict[str, Any], email: str, user_id: str) -> str:
    """A user token as the tenant's server signs it."""
    now = int(time.time())
    claims = {
        "aud": tenant["publishable_key"],
        "iat": now,
        "exp": now + 3600,
        "email": email,
        "user_id": user_id,
    }
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(tenant["token_secret"]))


async def _open_checkouts(
    portal: Portal, tenant: dict[str, Any], price: str, count: int
) -> list[Call]:
    """``count`` new users' checkout pages opened; their subscribe requests."""
    gate = asyncio.Semaphore(8)
    limits = httpx.Limits(max_connections=8)
    async with httpx.AsyncClient(base_url=portal.url, limits=limits, timeout=60) as client:

        async def one() -> Call:
            user = uuid.uuid4().hex[:12]
            token = user_token(tenant, f"buyer-{user}@example.com", f"u-{user}")
            params = {
                "key": tenant["publishable_key"],
                "token": token,
                "origin": ORIGIN,
                "price": price,
            }
            async with gate:
                page = await client.get("/w/checkout", params=params)
            if page.status_code != 200:
                raise RuntimeError(f"GET /w/checkout answered {page.status_code}: {page.text}")
            config = page_config(page.text)
            body = {"price": price, "action_id": uuid.uuid4().hex, "payment_method": "pm_card_visa"}
            headers = {config["sessionHeader"]: config["session"]}
            return post_json("/w/api/subscribe", json.dumps(body).encode(), headers)

        return list(await asyncio.gather(*(one() for _ in range(count))))


# -- the same Stripe calls, straight to the sandbox (run in a process of its own) -------------


async def _direct(
    sandbox: str, account: str, price: str, connections: int, seconds: float
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer sk_test_{account}"}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    done = 0
    async with httpx.AsyncClient(
        base_url=sandbox, headers=headers, limits=limits, timeout=60
    ) as client:

        async def call(method: str, path: str, key: str | None = None, **data: str) -> Any:
            extra = {"Idempotency-Key": key} if key else {}
            if method == "GET":
                answer = await client.get(path, params=data)
            else:
                answer = await client.post(path, data=data, headers=extra)
            if answer.status_code != 200:
                raise RuntimeError(f"{method} {path} answered {answer.status_code}: {answer.text}")
            return answer.json()

        async def subscribe() -> None:
            user = uuid.uuid4().hex[:12]
            email = f"direct-{user}@example.com"
            await call("GET", "/v1/customers", email=email, limit="1")
            customer = await call(
                "POST",
                "/v1/customers",
                f"bp-c-{user}",
                email=email,
                **{"metadata[billport_user_id]": f"u-{user}"},
            )
            await call(
                "GET", "/v1/subscriptions", customer=customer["id"], status="all", limit="20"
            )
            card = await call(
                "POST",
                "/v1/payment_methods/pm_card_visa/attach",
                f"bp-a-{user}",
                customer=customer["id"],
            )
            subscription = await call(
                "POST",
                "/v1/subscriptions",
                f"bp-s-{user}",
                **{
                    "customer": customer["id"],
                    "items[0][price]": price,
                    "items[0][quantity]": "1",
                    "metadata[service]": "notes",
                    "metadata[tier]": "starter",
                    "metadata[billport_user_id]": f"u-{user}",
                    "metadata[billport_action]": uuid.uuid4().hex,
                    "payment_behavior": "allow_incomplete",
                    "expand[0]": "latest_invoice.payments",
                    "default_payment_method": card["id"],
                },
            )
            if subscription["status"] != "active":
                raise RuntimeError(f"direct subscription is {subscription['status']}")

        began = time.perf_counter()
        stop = began + seconds

        async def user() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                await subscribe()
                if time.perf_counter() <= stop:
                    done += 1

        await asyncio.gather(*(user() for _ in range(connections)))
    return {"requests": done, "seconds": seconds}


def direct_run(sandbox: str, account: str, price: str, seconds: int) -> float:
    """Subscribes/second of one run of the same calls made straight to the sandbox."""
    command = [sys.executable, "-m", "bench.checkout", "direct", sandbox, account, price]
    command += [str(CONNECTIONS), str(seconds)]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"direct sandbox run failed: {finished.stderr[-2000:]}")
    summary = json.loads(finished.stdout.splitlines()[-1])
    return float(summary["requests"]) / float(summary["seconds"])


# The calls one subscribe makes, as the sandbox logs them (ids replaced), to check that the
# direct baseline still makes the portal's calls.
_ID = re.compile(r"/[a-z]+_(?=[a-z]*[A-Z0-9])[A-Za-z0-9]{6,}(?=/|$)")


def logged_calls(sandbox: str, account: str) -> list[str]:
    answer = httpx.get(f"{sandbox}/_sandbox/requests", params={"account": account}, timeout=30)
    answer.raise_for_status()
    return [f"{r['method']} {_ID.sub('/{id}', r['path'])}" for r in answer.json()["requests"]]


EXPECTED = [
    "GET /v1/customers",
    "POST /v1/customers",
    "GET /v1/subscriptions",
    "POST /v1/payment_methods/pm_card_visa/attach",
    "POST /v1/subscriptions",
]


def run() -> list[dict[str, Any]]:
    with portal_with_tenant() as (portal, sandbox, tenant, prices):
        account, price = tenant["account"], prices["starter_month_usd"]
        auth = {"Authorization": f"Bearer {tenant['secret_key']}"}
        settings = httpx.get(f"{portal.url}/api/v1/tenant", headers=auth, timeout=30).json()
        httpx.post(
            f"{sandbox}/v1/webhook_endpoints/{settings['stripe_webhook_endpoint_id']}",
            headers={"Authorization": f"Bearer sk_test_{account}"},
            data={"disabled": "true"},
        ).raise_for_status()

        def checkouts(count: int) -> list[Call]:
            return asyncio.run(_open_checkouts(portal, tenant, price, count))

        first = checkouts(1)[0]
        httpx.delete(f"{sandbox}/_sandbox/requests").raise_for_status()
        answer = httpx.post(
            f"{portal.url}{first.path}", content=first.body, headers=first.headers, timeout=60
        )
        if answer.status_code != 200 or answer.json()["subscription"]["status"] != "active":
            raise RuntimeError(f"POST /w/api/subscribe answered {answer.status_code}")
        made = logged_calls(sandbox, account)
        if made != EXPECTED:
            raise RuntimeError(f"a subscribe now makes {made}, the baseline makes {EXPECTED}")

        load_run(portal.url, checkouts(FIRST_BATCH), seconds=WARMUP_SECONDS)
        direct_run(sandbox, account, price, WARMUP_SECONDS)
        portal_runs: list[Run] = []
        direct_rates: list[float] = []
        for _ in range(RUNS):
            fastest = max((r.rate for r in portal_runs), default=FIRST_BATCH / RUN_SECONDS)
            count = max(FIRST_BATCH, int(2 * fastest * RUN_SECONDS))
            portal_runs.append(fresh_run(portal.url, checkouts, count))
            direct_rates.append(direct_run(sandbox, account, price, RUN_SECONDS))
    through_portal = statistics.median(r.rate for r in portal_runs)
    direct = statistics.median(direct_rates)
    return [
        figure("checkout_subscribe_vs_sandbox", through_portal, "subscribes/s", baseline=direct)
    ]


def main() -> None:
    if sys.argv[1:2] == ["direct"]:
        sandbox, account, price, connections, seconds = sys.argv[2:7]
        summary = asyncio.run(_direct(sandbox, account, price, int(connections), float(seconds)))
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    for row in run():
        print(f"{row['name']:<30} {row['value']:>10} {row['unit']:<12} ratio {row['ratio']}")


if __name__ == "__main__":
    main()
