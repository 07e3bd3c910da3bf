"""Stripe webhook intake: registered with the tenant, verified, stored once, processed in order."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import select

from portal.callbacks.models import CallbackDelivery
from portal.callbacks.worker import RETRY_DELAYS, CallbackWorker
from portal.crypto import Vault
from portal.db import Database
from portal.settings import Settings
from portal.stripe_gateway import StripeGateway
from portal.stripe_intake.models import StripeEvent
from portal.stripe_intake.processor import CALLBACK_EVENTS, ENABLED_EVENTS, StripeEventProcessor
from tenants.models import Tenant
from tests.callbacks_support import Clock, Receiver, work
from tests.integration.sandbox.billing_support import DAY, advance, make_customer
from tests.servers import run_async

CALLBACK_KEYS = {"id", "event", "response", "created", "livemode", "customer"}


def auth(tenant: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant['secret_key']}"}


# -- reading the portal's database ---------------------------------------------------------


def read(settings: Settings, query: Callable[[Any], Any]) -> Any:
    async def go() -> Any:
        database = Database(settings.database_url)
        try:
            async with database.sessions() as session:
                return await query(session)
        finally:
            await database.dispose()

    return run_async(go)


def stored(settings: Settings, tenant_id: str) -> list[StripeEvent]:
    async def query(session: Any) -> list[StripeEvent]:
        statement = select(StripeEvent).where(StripeEvent.tenant_id == tenant_id)
        return list(await session.scalars(statement.order_by(StripeEvent.id)))

    return list(read(settings, query))


def stored_anywhere(settings: Settings, stripe_event_id: str) -> list[StripeEvent]:
    async def query(session: Any) -> list[StripeEvent]:
        statement = select(StripeEvent).where(StripeEvent.stripe_event_id == stripe_event_id)
        return list(await session.scalars(statement))

    return list(read(settings, query))


def tenant_row(settings: Settings, tenant_id: str) -> Tenant:
    async def query(session: Any) -> Tenant:
        return await session.get_one(Tenant, tenant_id)

    row = read(settings, query)
    assert isinstance(row, Tenant)
    return row


def webhook_secret(settings: Settings, tenant_id: str) -> str:
    encrypted = tenant_row(settings, tenant_id).stripe_webhook_secret_encrypted
    assert encrypted is not None
    return Vault(settings.encryption_keys).decrypt(encrypted)


def wait_stored(
    settings: Settings, tenant_id: str, stripe_event_ids: set[str], timeout: float = 30.0
) -> dict[str, StripeEvent]:
    """Wait until the sandbox's deliveries of these events reached the portal."""
    deadline = time.monotonic() + timeout
    while True:
        found = {row.stripe_event_id: row for row in stored(settings, tenant_id)}
        if stripe_event_ids <= set(found):
            return found
        if time.monotonic() > deadline:
            missing = sorted(stripe_event_ids - set(found))
            raise AssertionError(f"gave up waiting for Stripe events {missing}")
        time.sleep(0.05)


# -- running the worker ----------------------------------------------------------------------


def process(settings: Settings, clock: Callable[[], float] = time.time) -> int:
    """Process stored events (of every tenant in the database) until none is due."""

    async def go() -> int:
        database = Database(settings.database_url)
        gateway = StripeGateway(settings)
        processor = StripeEventProcessor(
            database, Vault(settings.encryption_keys), gateway, clock=clock
        )
        try:
            total = 0
            while taken := await processor.run_once():
                total += taken
            return total
        finally:
            await gateway.aclose()
            await database.dispose()

    return run_async(go)


def run_worker_until(settings: Settings, done: Callable[[], bool], timeout: float = 30.0) -> None:
    """The worker loop of ``billport worker``: Stripe events, then callbacks, until ``done``."""

    async def go() -> None:
        database = Database(settings.database_url)
        gateway = StripeGateway(settings)
        vault = Vault(settings.encryption_keys)
        processor = StripeEventProcessor(database, vault, gateway)
        worker = CallbackWorker(database, vault, extra=[processor.run_once])
        stop = asyncio.Event()
        loop = asyncio.create_task(worker.run(stop, idle=0.05))
        try:
            deadline = time.monotonic() + timeout
            while not done():
                if time.monotonic() > deadline or loop.done():
                    raise AssertionError("the worker did not finish the work")
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await loop
            await gateway.aclose()
            await database.dispose()

    run_async(go)


# -- talking to the intake like Stripe does --------------------------------------------------


def signed_post(
    api: httpx.Client, tenant_id: str, body: bytes, secret: str, timestamp: int | None = None
) -> httpx.Response:
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp)
    return api.post(
        f"/stripe/webhooks/{tenant_id}",
        content=body,
        headers={"Stripe-Signature": header, "Content-Type": "application/json; charset=utf-8"},
    )


def raw_event(sandbox_url: str, account: str, event_id: str) -> bytes:
    """The event exactly as the sandbox serves it."""
    key = {"Authorization": f"Bearer sk_test_{account}"}
    answer = httpx.get(f"{sandbox_url}/v1/events/{event_id}", headers=key)
    answer.raise_for_status()
    return answer.content


def sandbox_events(client: stripe.StripeClient, types: list[str]) -> list[stripe.Event]:
    found = client.v1.events.list(params={"types": types, "limit": 100}).auto_paging_iter()
    return list(found)[::-1]


def make_price(client: stripe.StripeClient, name: str = "Pro") -> stripe.Price:
    product = client.v1.products.create(
        params={"name": name, "metadata": {"service": "notes", "tier": name.lower()}}
    )
    return client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 2000,
            "recurring": {"interval": "month"},
        }
    )


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def endpoint(tenant: dict[str, Any], stripe_client: stripe.StripeClient) -> stripe.WebhookEndpoint:
    [registered] = stripe_client.v1.webhook_endpoints.list().data
    return registered


@pytest.fixture
def hooked(
    tenant: dict[str, Any],
    endpoint: stripe.WebhookEndpoint,
    stripe_client: stripe.StripeClient,
    portal_url: str,
) -> dict[str, Any]:
    """The tenant, with the sandbox delivering to this test's portal (on its random port)."""
    stripe_client.v1.webhook_endpoints.update(
        endpoint.id, params={"url": f"{portal_url}/stripe/webhooks/{tenant['id']}"}
    )
    return tenant


@pytest.fixture
def quiet(
    tenant: dict[str, Any], endpoint: stripe.WebhookEndpoint, stripe_client: stripe.StripeClient
) -> dict[str, Any]:
    """The tenant, with the sandbox delivering nothing: the test posts events itself."""
    stripe_client.v1.webhook_endpoints.update(endpoint.id, params={"disabled": True})
    return tenant


# -- tests ---------------------------------------------------------------------------------


def test_a_new_tenant_registers_its_intake_endpoint_in_stripe(
    api: httpx.Client,
    tenant: dict[str, Any],
    endpoint: stripe.WebhookEndpoint,
    portal_settings: Settings,
) -> None:
    assert endpoint.url == f"{portal_settings.public_url}/stripe/webhooks/{tenant['id']}"
    assert set(endpoint.enabled_events) == set(ENABLED_EVENTS)
    assert endpoint.status == "enabled"
    row = tenant_row(portal_settings, tenant["id"])
    assert row.stripe_webhook_endpoint_id == endpoint.id
    assert webhook_secret(portal_settings, tenant["id"]).startswith("whsec_")
    assert "whsec_" not in (row.stripe_webhook_secret_encrypted or "")
    settings = api.get("/api/v1/tenant", headers=auth(tenant)).json()
    assert settings["stripe_webhook_endpoint_id"] == endpoint.id
    assert settings["stripe_webhook_configured"] is True


def test_stripe_events_reach_the_tenant_as_callbacks(
    hooked: dict[str, Any],
    receiver: Receiver,
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
    portal_settings: Settings,
) -> None:
    price = make_price(stripe_client)
    paying = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": paying.id, "items": [{"price": price.id}]}
    )
    stripe_client.v1.subscriptions.update(subscription.id, params={"metadata": {"seats": "5"}})
    stripe_client.v1.subscriptions.cancel(subscription.id)
    failing = make_customer(stripe_client, "pm_card_chargeCustomerFail")
    trial = stripe_client.v1.subscriptions.create(
        params={"customer": failing.id, "items": [{"price": price.id}], "trial_period_days": 5}
    )
    advance(sandbox_url, sandbox_account, 2 * DAY + 60)  # three days before the trial ends
    advance(sandbox_url, sandbox_account, 3 * DAY)  # the trial ends; the first charge fails

    expected = sandbox_events(stripe_client, list(CALLBACK_EVENTS))
    assert set(CALLBACK_EVENTS) == {e.type for e in expected}
    rows = wait_stored(portal_settings, hooked["id"], {e.id for e in expected})
    run_worker_until(portal_settings, lambda: len(receiver.received) >= len(expected))

    bodies = [r["body"] for r in receiver.received]
    assert len(bodies) == len(expected)
    assert {b["event"] for b in bodies} == set(CALLBACK_EVENTS.values())
    for event in expected:
        payload = rows[event.id].payload
        [body] = [
            b
            for b in bodies
            if b["event"] == CALLBACK_EVENTS[event.type]
            and b["response"] == payload["data"]["object"]
        ]
        assert set(body) == CALLBACK_KEYS
        assert body["response"]["id"] == event.data.object.id
        assert body["customer"] == event.data.object.customer
        assert body["livemode"] is False
    outcome = {e.type: e.status for e in stored(portal_settings, hooked["id"])}
    # These subscriptions were not a widget's checkout: their creation needs no callback.
    assert outcome.pop("customer.subscription.created") == "skipped"
    assert set(outcome.values()) == {"processed"}

    def only(name: str) -> dict[str, Any]:
        [body] = [b for b in bodies if b["event"] == name]
        return body

    deleted = only("subscription_deleted")
    assert deleted["response"]["id"] == subscription.id
    assert deleted["response"]["status"] == "canceled"
    assert deleted["customer"] == paying.id
    notice = only("trial_will_end")
    assert notice["response"]["id"] == trial.id
    assert notice["response"]["status"] == "trialing"
    failed = only("payment_failed")
    assert failed["response"]["object"] == "invoice"
    assert failed["response"]["status"] == "open"
    assert failed["customer"] == failing.id
    succeeded = [b for b in bodies if b["event"] == "payment_succeeded"]
    assert any(b["customer"] == paying.id and b["response"]["status"] == "paid" for b in succeeded)
    updated = [b for b in bodies if b["event"] == "subscription_updated"]
    assert any(b["response"]["metadata"].get("seats") == "5" for b in updated)
    assert any(b["response"]["status"] == "past_due" for b in updated)


def test_a_product_change_refreshes_the_catalog(
    api: httpx.Client,
    hooked: dict[str, Any],
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
    portal_settings: Settings,
) -> None:
    price = make_price(stripe_client, "Pro")
    created = sandbox_events(stripe_client, ["product.created", "price.created"])
    wait_stored(portal_settings, hooked["id"], {e.id for e in created})
    process(portal_settings)
    catalog = api.get("/api/v1/catalog", headers=auth(hooked)).json()
    assert [p["name"] for p in catalog["products"]] == ["Pro"]
    assert [p["id"] for p in catalog["prices"]] == [price.id]

    stripe_client.v1.products.update(str(price.product), params={"name": "Pro Plus"})
    [renamed] = sandbox_events(stripe_client, ["product.updated"])
    wait_stored(portal_settings, hooked["id"], {renamed.id})
    process(portal_settings)
    [row] = stored_anywhere(portal_settings, renamed.id)
    assert row.status == "processed"
    httpx.delete(f"{sandbox_url}/_sandbox/requests")
    catalog = api.get("/api/v1/catalog", headers=auth(hooked)).json()
    assert [p["name"] for p in catalog["products"]] == ["Pro Plus"]
    log = httpx.get(f"{sandbox_url}/_sandbox/requests", params={"account": sandbox_account})
    assert log.json()["requests"] == []


def test_the_same_event_three_times_is_stored_and_processed_once(
    api: httpx.Client,
    hooked: dict[str, Any],
    receiver: Receiver,
    stripe_client: stripe.StripeClient,
    portal_settings: Settings,
) -> None:
    price = make_price(stripe_client)
    customer = make_customer(stripe_client)
    stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    [paid] = sandbox_events(stripe_client, ["invoice.payment_succeeded"])
    row = wait_stored(portal_settings, hooked["id"], {paid.id})[paid.id]
    body = json.dumps(row.payload).encode()
    secret = webhook_secret(portal_settings, hooked["id"])
    for _ in range(3):
        answer = signed_post(api, hooked["id"], body, secret)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"received": True}
    assert len(stored_anywhere(portal_settings, paid.id)) == 1

    process(portal_settings)
    assert signed_post(api, hooked["id"], body, secret).status_code == 200
    process(portal_settings)
    work(portal_settings, Clock(), rounds=2)
    [again] = stored_anywhere(portal_settings, paid.id)
    assert again.status == "processed"
    invoice_id = paid.data.object.id
    callbacks = [
        r["body"]
        for r in receiver.received
        if r["body"]["event"] == "payment_succeeded" and r["body"]["response"]["id"] == invoice_id
    ]
    assert len(callbacks) == 1


def test_an_older_event_arriving_late_never_overwrites_newer_state(
    api: httpx.Client,
    quiet: dict[str, Any],
    receiver: Receiver,
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
    portal_settings: Settings,
) -> None:
    price = make_price(stripe_client)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    for step in ("one", "two", "three", "four"):
        stripe_client.v1.subscriptions.update(subscription.id, params={"metadata": {"step": step}})
        advance(sandbox_url, sandbox_account, 120)
    one, two, three, four = [
        raw_event(sandbox_url, sandbox_account, e.id)
        for e in sandbox_events(stripe_client, ["customer.subscription.updated"])
    ]
    secret = webhook_secret(portal_settings, quiet["id"])

    # The newer event arrives and is processed before the older one arrives.
    assert signed_post(api, quiet["id"], two, secret).status_code == 200
    process(portal_settings)
    assert signed_post(api, quiet["id"], one, secret).status_code == 200
    process(portal_settings)
    # Both arrive, newer first, before the worker runs: they are processed oldest first.
    assert signed_post(api, quiet["id"], four, secret).status_code == 200
    assert signed_post(api, quiet["id"], three, secret).status_code == 200
    process(portal_settings)
    work(portal_settings, Clock(), rounds=3)

    steps = [r["body"]["response"]["metadata"]["step"] for r in receiver.received]
    assert steps == ["two", "three", "four"]
    outcome = {row.stripe_event_id: row.status for row in stored(portal_settings, quiet["id"])}
    assert [outcome[json.loads(raw)["id"]] for raw in (one, two, three, four)] == [
        "skipped",
        "processed",
        "processed",
        "processed",
    ]


def test_bad_signatures_old_timestamps_and_unknown_tenants_store_nothing(
    api: httpx.Client,
    quiet: dict[str, Any],
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
    portal_settings: Settings,
) -> None:
    make_price(stripe_client)
    [event] = sandbox_events(stripe_client, ["product.created"])
    body = raw_event(sandbox_url, sandbox_account, event.id)
    secret = webhook_secret(portal_settings, quiet["id"])
    wrong = "whsec_" + uuid.uuid4().hex

    def error(answer: httpx.Response, status: int, code: str) -> None:
        assert answer.status_code == status, answer.text
        assert set(answer.json()) == {"error"}
        assert answer.json()["error"]["code"] == code
        assert answer.json()["error"]["message"]

    error(signed_post(api, quiet["id"], body, wrong), 400, "invalid_signature")
    stale = int(time.time()) - 301
    error(signed_post(api, quiet["id"], body, secret, stale), 400, "signature_timestamp_too_old")
    tampered = json.dumps({**json.loads(body), "livemode": True}).encode()
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret)
    url = f"/stripe/webhooks/{quiet['id']}"
    forged = api.post(url, content=tampered, headers={"Stripe-Signature": header})
    error(forged, 400, "invalid_signature")
    error(api.post(url, content=body), 400, "missing_signature")
    error(signed_post(api, "ten_" + "x" * 20, body, secret), 404, "tenant_not_found")
    assert stored_anywhere(portal_settings, event.id) == []

    assert signed_post(api, quiet["id"], body, secret).status_code == 200
    assert [row.stripe_event_id for row in stored(portal_settings, quiet["id"])] == [event.id]


def test_a_tenant_stripe_cannot_reach_pastes_its_signing_secret(
    api: httpx.Client,
    create_tenant,
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
    portal_settings: Settings,
) -> None:
    refuse = {"method": "POST", "path": "/v1/webhook_endpoints", "status": 400, "times": 1}
    assert httpx.post(f"{sandbox_url}/_sandbox/faults", json=refuse).status_code == 200
    try:
        tenant = create_tenant()
    finally:
        httpx.delete(f"{sandbox_url}/_sandbox/faults")
    settings = api.get("/api/v1/tenant", headers=auth(tenant)).json()
    assert settings["stripe_webhook_endpoint_id"] is None
    assert settings["stripe_webhook_configured"] is False
    assert stripe_client.v1.webhook_endpoints.list().data == []

    make_price(stripe_client)
    [event] = sandbox_events(stripe_client, ["product.created"])
    body = raw_event(sandbox_url, sandbox_account, event.id)
    secret = "whsec_" + uuid.uuid4().hex
    refused = signed_post(api, tenant["id"], body, secret)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "stripe_webhook_secret_missing"

    bad = api.patch("/api/v1/tenant", headers=auth(tenant), json={"stripe_webhook_secret": "sk_1"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_stripe_webhook_secret"
    pasted = api.patch(
        "/api/v1/tenant", headers=auth(tenant), json={"stripe_webhook_secret": secret}
    )
    assert pasted.status_code == 200, pasted.text
    assert pasted.json()["stripe_webhook_configured"] is True
    assert secret not in pasted.text
    assert webhook_secret(portal_settings, tenant["id"]) == secret
    assert signed_post(api, tenant["id"], body, secret).status_code == 200
    assert [row.stripe_event_id for row in stored(portal_settings, tenant["id"])] == [event.id]


def test_a_failed_processing_is_recorded_and_retried(
    api: httpx.Client,
    hooked: dict[str, Any],
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
    portal_settings: Settings,
) -> None:
    product = stripe_client.v1.products.create(params={"name": "Solo"})
    [event] = sandbox_events(stripe_client, ["product.created"])
    wait_stored(portal_settings, hooked["id"], {event.id})
    clock = Clock()
    outage = {"method": "GET", "path": "/v1/products", "status": 500}
    assert httpx.post(f"{sandbox_url}/_sandbox/faults", json=outage).status_code == 200
    try:
        process(portal_settings, clock)
    finally:
        httpx.delete(f"{sandbox_url}/_sandbox/faults")
    [row] = stored_anywhere(portal_settings, event.id)
    assert row.status == "failed" and row.attempts == 1
    assert row.error == "Stripe had a problem completing the request; please try again."

    process(portal_settings, clock)
    [row] = stored_anywhere(portal_settings, event.id)
    assert row.status == "failed" and row.attempts == 1  # not due yet
    clock.now += RETRY_DELAYS[0]
    process(portal_settings, clock)
    [row] = stored_anywhere(portal_settings, event.id)
    assert row.status == "processed" and row.attempts == 2
    catalog = api.get("/api/v1/catalog", headers=auth(hooked)).json()
    assert [p["id"] for p in catalog["products"]] == [product.id]


def test_workers_side_by_side_take_each_event_once_in_order_per_object(
    api: httpx.Client,
    quiet: dict[str, Any],
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
    portal_settings: Settings,
) -> None:
    price = make_price(stripe_client)
    customer = make_customer(stripe_client)
    subscription = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    stripe_client.v1.subscriptions.update(subscription.id, params={"metadata": {"n": "0"}})
    [real] = sandbox_events(stripe_client, ["customer.subscription.updated"])
    template = json.loads(raw_event(sandbox_url, sandbox_account, real.id))
    secret = webhook_secret(portal_settings, quiet["id"])
    events = []
    for n in range(48):
        obj = {**template["data"]["object"], "id": f"sub_side{n % 6}", "metadata": {"n": n}}
        events.append(
            {
                **template,
                "id": f"evt_{uuid.uuid4().hex}",
                "created": template["created"] + n,
                "data": {"object": obj},
            }
        )
    # They arrive in an order unrelated to when they happened.
    for event in sorted(events, key=lambda e: e["id"]):
        answer = signed_post(api, quiet["id"], json.dumps(event).encode(), secret)
        assert answer.status_code == 200, answer.text

    async def side_by_side() -> None:
        database = Database(portal_settings.database_url)
        gateway = StripeGateway(portal_settings)
        vault = Vault(portal_settings.encryption_keys)
        team = [StripeEventProcessor(database, vault, gateway, batch=5) for _ in range(4)]
        try:
            while sum(await asyncio.gather(*(p.run_once() for p in team))):
                pass
        finally:
            await gateway.aclose()
            await database.dispose()

    run_async(side_by_side)

    ours = {e["id"] for e in events}
    rows = [row for row in stored(portal_settings, quiet["id"]) if row.stripe_event_id in ours]
    assert len(rows) == len(events)
    assert {row.status for row in rows} == {"processed"}

    async def outbox(session: Any) -> list[dict[str, Any]]:
        statement = select(CallbackDelivery).where(CallbackDelivery.tenant_id == quiet["id"])
        return [row.payload for row in await session.scalars(statement.order_by("id"))]

    callbacks = [
        p for p in read(portal_settings, outbox) if p["response"]["id"].startswith("sub_side")
    ]
    assert sorted(p["response"]["metadata"]["n"] for p in callbacks) == list(range(48))
    for k in range(6):
        ns = [
            p["response"]["metadata"]["n"]
            for p in callbacks
            if p["response"]["id"] == f"sub_side{k}"
        ]
        assert ns == sorted(ns)


def created_subscriptions(portal_settings: Settings, tenant_id: str, count: int) -> None:
    """Wait for ``count`` subscription creations to reach the intake, and process them."""
    deadline = time.monotonic() + 30
    while True:
        rows = stored(portal_settings, tenant_id)
        created = [r for r in rows if r.type == "customer.subscription.created"]
        if len(created) >= count:
            break
        assert time.monotonic() < deadline, "the creations never reached the intake"
        time.sleep(0.05)


def test_a_checkout_the_portal_stopped_before_reporting_reaches_the_tenant_from_stripe(
    hooked: dict[str, Any],
    receiver: Receiver,
    stripe_client: stripe.StripeClient,
    portal_settings: Settings,
) -> None:
    price = make_price(stripe_client)
    buyer = make_customer(stripe_client)
    # What a widget's checkout leaves in Stripe when the portal stops right after Stripe
    # answered, before it wrote the callback: a marked subscription and an empty outbox.
    checkout = stripe_client.v1.subscriptions.create(
        params={
            "customer": buyer.id,
            "items": [{"price": price.id}],
            "metadata": {"tier": "pro", "billport_action": uuid.uuid4().hex},
        }
    )
    # A subscription the tenant made itself is not a checkout.
    stripe_client.v1.subscriptions.create(
        params={"customer": make_customer(stripe_client).id, "items": [{"price": price.id}]}
    )
    created_subscriptions(portal_settings, hooked["id"], 2)
    run_worker_until(
        portal_settings,
        lambda: any(r["body"]["event"] == "create_subscription" for r in receiver.received),
    )
    work(portal_settings, Clock(), rounds=2)

    [reported] = [
        r["body"] for r in receiver.received if r["body"]["event"] == "create_subscription"
    ]
    assert set(reported) == CALLBACK_KEYS
    assert reported["response"]["id"] == checkout.id
    assert reported["response"]["status"] == "active"
    assert reported["response"]["metadata"]["tier"] == "pro"
    assert reported["customer"] == buyer.id


def test_a_reported_checkout_is_not_reported_again_from_stripe(
    api: httpx.Client,
    hooked: dict[str, Any],
    receiver: Receiver,
    stripe_client: stripe.StripeClient,
    portal_settings: Settings,
) -> None:
    import re

    from tests.tokens import mint_user_token

    price = make_price(stripe_client)
    token = mint_user_token(hooked, email="once@example.com")
    page = api.get("/w/checkout", params={"key": hooked["publishable_key"], "token": token})
    config = json.loads(re.search(r'id="billport-config">(.*?)</script>', page.text).group(1))
    answer = api.post(
        "/w/api/subscribe",
        headers={config["sessionHeader"]: config["session"]},
        json={"price": price.id, "action_id": uuid.uuid4().hex, "payment_method": "pm_card_visa"},
    )
    assert answer.status_code == 200, answer.text
    created_subscriptions(portal_settings, hooked["id"], 1)
    process(portal_settings)
    work(portal_settings, Clock(), rounds=2)

    reported = [r["body"] for r in receiver.received if r["body"]["event"] == "create_subscription"]
    assert [body["response"]["id"] for body in reported] == [answer.json()["subscription"]["id"]]
    rows = stored(portal_settings, hooked["id"])
    created = [r for r in rows if r.type == "customer.subscription.created"]
    assert [row.status for row in created] == ["processed"]
