"""Stripe webhook intake against a bare route that only reads the body, in one server.

The portal runs as its own process with one extra route, ``POST /bench/bare``, that reads the
request body and answers what the intake answers; load comes from this process over
loopback. Both routes get the same requests: a real ``customer.subscription.updated`` event
from the sandbox, signed with the tenant's signing secret, with a new event id each time.
The figure is intake events/second as a ratio of the bare route's requests/second: what
verifying, parsing and storing each event costs on top of Litestar itself. Events are only
stored here (no worker runs), as Stripe's requests are answered before processing.

Run alone with ``python -m bench.intake``.
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
import uuid
from typing import Any

import httpx
import stripe
from litestar import Request, post

from bench.common import figure, free_port, process, requests_per_second, sandbox_process

OPERATOR_TOKEN = "bench-operator-token"


@post("/bench/bare", include_in_schema=False, status_code=200)
async def bare(request: Request[Any, Any, Any]) -> dict[str, bool]:
    """Litestar reading the body and answering like the intake, doing nothing else."""
    await request.body()
    return {"received": True}


def serve(port: int) -> None:
    """The portal with the bare comparison route (run in the server process)."""
    import uvicorn

    from portal.app import create_app
    from portal.migrate import upgrade
    from portal.settings import load_settings

    settings = load_settings()
    upgrade(settings.database_url)
    app = create_app(settings)
    app.register(bare)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _subscription_event(sandbox: str, account: str) -> dict[str, Any]:
    """A real subscription update event of the sandbox account, as Stripe would send it."""
    headers = {"Authorization": f"Bearer sk_test_{account}"}
    with httpx.Client(base_url=sandbox, headers=headers, timeout=30) as client:

        def call(path: str, **data: str) -> dict[str, Any]:
            answer = client.post(path, data=data)
            answer.raise_for_status()
            return dict(answer.json())

        product = call("/v1/products", name="Pro", **{"metadata[tier]": "pro"})
        price = call(
            "/v1/prices",
            product=product["id"],
            currency="usd",
            unit_amount="2900",
            **{"recurring[interval]": "month"},
        )
        customer = call("/v1/customers", email="bench@example.com")
        card = call("/v1/payment_methods/pm_card_visa/attach", customer=customer["id"])
        call(
            f"/v1/customers/{customer['id']}",
            **{"invoice_settings[default_payment_method]": card["id"]},
        )
        subscription = call(
            "/v1/subscriptions", customer=customer["id"], **{"items[0][price]": price["id"]}
        )
        call(f"/v1/subscriptions/{subscription['id']}", **{"metadata[seats]": "5"})
        events = client.get("/v1/events", params={"type": "customer.subscription.updated"})
        return dict(events.json()["data"][0])


def run() -> list[dict[str, Any]]:
    with sandbox_process() as sandbox, tempfile.TemporaryDirectory() as data:
        port = free_port()
        portal = f"http://127.0.0.1:{port}"
        env = {
            "BILLPORT_DATABASE_URL": f"sqlite+aiosqlite:///{data}/bench.db",
            "BILLPORT_DATA_DIR": data,
            "BILLPORT_OPERATOR_TOKEN": OPERATOR_TOKEN,
            "BILLPORT_PUBLIC_URL": portal,
            "BILLPORT_LOG_LEVEL": "WARNING",
        }
        command = [sys.executable, "-m", "bench.intake", "serve", str(port)]
        with process(command, f"{portal}/healthz", env):
            account = "bench" + uuid.uuid4().hex[:8]
            tenant = httpx.post(
                f"{portal}/api/v1/tenants",
                headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
                json={
                    "name": "Bench",
                    "stripe_secret_key": f"sk_test_{account}",
                    "stripe_api_base": sandbox,
                },
                timeout=30,
            ).json()
            # The benchmark signs its own events: it sets the secret, and the sandbox's
            # endpoint stops delivering.
            secret = "whsec_" + uuid.uuid4().hex
            auth = {"Authorization": f"Bearer {tenant['secret_key']}"}
            settings = httpx.patch(
                f"{portal}/api/v1/tenant", headers=auth, json={"stripe_webhook_secret": secret}
            ).json()
            httpx.post(
                f"{sandbox}/v1/webhook_endpoints/{settings['stripe_webhook_endpoint_id']}",
                headers={"Authorization": f"Bearer sk_test_{account}"},
                data={"disabled": "true"},
            ).raise_for_status()
            event = _subscription_event(sandbox, account)
            numbers = itertools.count()

            def signed_event() -> tuple[bytes, dict[str, str]]:
                event["id"] = f"evt_bench{next(numbers):012d}"
                body = json.dumps(event)
                return body.encode(), {
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": stripe.WebhookSignature.generate_signature_header(
                        body, secret
                    ),
                }

            bare_rate, _ = requests_per_second(f"{portal}/bench/bare", post=signed_event)
            intake = f"{portal}/stripe/webhooks/{tenant['id']}"
            intake_rate, _ = requests_per_second(intake, post=signed_event)
    return [
        figure("intake_bare_route_rps", bare_rate, "requests/s"),
        figure("intake_events_per_s", intake_rate, "events/s"),
        figure("intake_vs_bare", intake_rate, "events/s", baseline=bare_rate),
    ]


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]))
        return
    for row in run():
        print(f"{row['name']:<24} {row['value']:>10} {row['unit']:<12} ratio {row['ratio']}")


if __name__ == "__main__":
    main()
