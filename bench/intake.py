"""Stripe webhook intake against a bare route that only reads the body, in one server.

The portal runs as its own process with the bare routes of ``bench.server``; load comes from
wrk (or ``bench.loadgen``) over loopback. Both routes get the same requests: a real
``customer.subscription.updated`` event from the sandbox, signed with the tenant's signing
secret, with a new event id each time. The bare route reads the body and answers the
intake's own answer. The figure is intake events/second as a ratio of the bare route's
requests/second: what verifying, parsing and storing each event costs on top of Litestar
itself. Events are only stored here (no worker runs), as Stripe's requests are answered
before processing.

Run alone with ``python -m bench.intake``.
"""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import httpx
import stripe

from bench.common import Call, figure, measure_together, post_json
from bench.server import portal_with_tenant

BARE_EVENTS = 1000


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
    with portal_with_tenant() as (portal, sandbox, tenant, _prices):
        account = tenant["account"]
        # The benchmark signs its own events: it sets the secret, and the sandbox's endpoint
        # stops delivering.
        secret = "whsec_" + uuid.uuid4().hex
        auth = {"Authorization": f"Bearer {tenant['secret_key']}"}
        settings = httpx.patch(
            f"{portal.url}/api/v1/tenant", headers=auth, json={"stripe_webhook_secret": secret}
        ).json()
        httpx.post(
            f"{sandbox}/v1/webhook_endpoints/{settings['stripe_webhook_endpoint_id']}",
            headers={"Authorization": f"Bearer sk_test_{account}"},
            data={"disabled": "true"},
        ).raise_for_status()
        event = _subscription_event(sandbox, account)
        numbers = itertools.count()
        intake = f"/stripe/webhooks/{tenant['id']}"

        def signed_event() -> tuple[bytes, dict[str, str]]:
            event["id"] = f"evt_bench{next(numbers):012d}"
            body = json.dumps(event)
            signature = stripe.WebhookSignature.generate_signature_header(body, secret)
            return body.encode(), {"Stripe-Signature": signature}

        def events(path: str) -> Any:
            def make(count: int) -> list[Call]:
                return [post_json(path, *signed_event()) for _ in range(count)]

            return make

        first = events(intake)(1)[0]
        answer = httpx.post(
            f"{portal.url}{intake}", content=first.body, headers=first.headers, timeout=30
        )
        answer.raise_for_status()
        bare_path = portal.bare("intake", answer)
        # The bare route keeps no event: the same signed events may go round again.
        bare, intake_measured = measure_together(
            portal.url, [events(bare_path)(BARE_EVENTS), events(intake)]
        )
    return [
        figure("intake_bare_route_rps", bare.rate, "requests/s"),
        figure("intake_events_per_s", intake_measured.rate, "events/s"),
        figure("intake_vs_bare", intake_measured.rate, "events/s", baseline=bare.rate),
    ]


def main() -> None:
    for row in run():
        print(f"{row['name']:<24} {row['value']:>10} {row['unit']:<12} ratio {row['ratio']}")


if __name__ == "__main__":
    main()
