"""Callbacks: signed, retried on the CONTRACT schedule, in order per customer, never lost."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
from sqlalchemy import select

from portal.callbacks.models import CallbackAttempt, CallbackDelivery
from portal.callbacks.worker import RETRY_DELAYS, CallbackWorker
from portal.crypto import Vault
from portal.db import Database
from portal.settings import Settings
from tests.callbacks_support import WORKER_COMMAND, Clock, Receiver, queue, work, worker_env
from tests.servers import ServerThread, run_async
from tests.tokens import mint_user_token


def deliveries(
    settings: Settings, event_ids: list[str]
) -> list[tuple[CallbackDelivery, list[CallbackAttempt]]]:
    async def go() -> list[Any]:
        database = Database(settings.database_url)
        try:
            async with database.sessions() as session:
                found = []
                for event_id in event_ids:
                    row = await session.scalar(
                        select(CallbackDelivery).where(CallbackDelivery.event_id == event_id)
                    )
                    attempts = list(
                        await session.scalars(
                            select(CallbackAttempt)
                            .where(CallbackAttempt.delivery_id == row.id)
                            .order_by(CallbackAttempt.id)
                        )
                    )
                    found.append((row, attempts))
                return found
        finally:
            await database.dispose()

    return run_async(go)


def test_a_checkout_reaches_the_tenant_signed(
    api: httpx.Client, tenant, receiver: Receiver, portal_settings: Settings, stripe_client
) -> None:
    product = stripe_client.v1.products.create(
        params={"name": "Pro", "metadata": {"service": "notes", "tier": "pro"}}
    )
    price = stripe_client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 900,
            "recurring": {"interval": "month"},
        }
    )
    token = mint_user_token(tenant, email="cb@example.com")
    page = api.get("/w/checkout", params={"key": tenant["publishable_key"], "token": token})
    config = json.loads(re.search(r'id="billport-config">(.*?)</script>', page.text).group(1))
    body = {"price": price.id, "action_id": uuid.uuid4().hex, "payment_method": "pm_card_visa"}
    headers = {config["sessionHeader"]: config["session"]}
    answer = api.post("/w/api/subscribe", headers=headers, json=body)
    assert answer.status_code == 200, answer.text
    # The same action sent again (a double click, a retry) is reported once.
    again = api.post("/w/api/subscribe", headers=headers, json=body)
    assert again.json()["subscription"]["id"] == answer.json()["subscription"]["id"]
    subscription = answer.json()["subscription"]

    assert work(portal_settings, Clock()) >= 1
    [delivered] = [r for r in receiver.received if r["body"]["event"] == "create_subscription"]
    body = delivered["body"]
    assert set(body) == {"id", "event", "response", "created", "livemode", "customer"}
    assert body["id"] == delivered["id"] and body["id"].startswith("evt_")
    assert body["response"]["id"] == subscription["id"]
    assert body["response"]["metadata"]["tier"] == "pro"
    assert body["customer"] == subscription["customer"]
    assert body["livemode"] is False
    assert work(portal_settings, Clock()) == 0
    assert len(receiver.received) == 1


def test_retries_follow_the_schedule_until_the_receiver_is_back(
    tenant, portal_settings: Settings, receiver_port: int
) -> None:
    clock = Clock()
    [event_id] = queue(portal_settings, tenant["id"], [("change_plan", "cus_1")])
    assert work(portal_settings, clock) == 1  # nothing listens: connection refused
    app = Receiver(tenant["callback_secret"])
    app.script = [(500, {}), (503, {"Retry-After": "1200"})]
    with ServerThread(app, port=receiver_port):
        assert work(portal_settings, clock) == 0  # not due yet
        clock.now += RETRY_DELAYS[0]
        assert work(portal_settings, clock) == 1  # 500
        clock.now += RETRY_DELAYS[1]
        assert work(portal_settings, clock) == 1  # 503 asking for 20 minutes
        clock.now += RETRY_DELAYS[2] - 1
        assert work(portal_settings, clock) == 0  # the schedule's 30 min beat the 20 asked
        clock.now += 1
        assert work(portal_settings, clock) == 1  # 200
    [(row, attempts)] = deliveries(portal_settings, [event_id])
    assert row.status == "delivered" and row.attempts == 4
    assert [a.status_code for a in attempts] == [None, 500, 503, 200]
    assert "ConnectError" in (attempts[0].error or "")
    assert {r["id"] for r in app.received} == {event_id}


def test_retry_after_longer_than_the_schedule_is_honoured(
    tenant, receiver: Receiver, portal_settings: Settings
) -> None:
    clock = Clock()
    receiver.script = [(429, {"Retry-After": "3600"})]
    [event_id] = queue(portal_settings, tenant["id"], [("pay_invoice", "cus_2")])
    work(portal_settings, clock)
    clock.now += RETRY_DELAYS[0]
    assert work(portal_settings, clock) == 0
    clock.now += 3600
    assert work(portal_settings, clock) == 1
    assert deliveries(portal_settings, [event_id])[0][0].status == "delivered"


def test_one_customers_events_arrive_in_order(
    tenant, receiver: Receiver, portal_settings: Settings
) -> None:
    clock = Clock()
    receiver.script = [(500, {})]
    first, second, other = queue(
        portal_settings,
        tenant["id"],
        [
            ("create_subscription", "cus_a"),
            ("change_plan", "cus_a"),
            ("create_subscription", "cus_b"),
        ],
    )
    work(portal_settings, clock)
    arrived = [r["id"] for r in receiver.received]
    assert first in arrived and other in arrived and second not in arrived
    clock.now += RETRY_DELAYS[0]
    # The later event becomes claimable once the earlier one is delivered.
    work(portal_settings, clock, rounds=2)
    order = [r["id"] for r in receiver.received if r["id"] in (first, second)]
    assert order == [first, first, second]


def test_gone_disables_callbacks_until_a_url_is_set_again(
    api: httpx.Client, tenant, receiver: Receiver, portal_settings: Settings, receiver_port: int
) -> None:
    clock = Clock()
    receiver.script = [(410, {})]
    [gone] = queue(portal_settings, tenant["id"], [("change_plan", "c1")])
    work(portal_settings, clock)
    [after] = queue(portal_settings, tenant["id"], [("change_plan", "c2")])
    work(portal_settings, clock)
    found = {
        row.event_id: (row, tries) for row, tries in deliveries(portal_settings, [gone, after])
    }
    assert found[gone][0].status == "failed" and "410" in found[gone][0].last_error
    # Later events wait on the retry schedule rather than being dropped.
    assert found[after][0].status == "pending"
    assert found[after][1][0].error == "no callback URL is configured"
    assert len(receiver.received) == 1
    api.patch(
        "/api/v1/tenant",
        headers={"Authorization": f"Bearer {tenant['secret_key']}"},
        json={"callback_url": f"http://127.0.0.1:{receiver_port}/billing/hook"},
    )
    [again] = queue(portal_settings, tenant["id"], [("change_plan", "c3")])
    clock.now += RETRY_DELAYS[0]
    work(portal_settings, clock)
    rows = deliveries(portal_settings, [after, again])
    assert [row.status for row, _ in rows] == ["delivered", "delivered"]


def test_four_workers_deliver_each_event_exactly_once(
    tenant, receiver: Receiver, portal_settings: Settings
) -> None:
    events = [("change_plan", f"cus_{i % 17}") for i in range(200)]
    ids = queue(portal_settings, tenant["id"], events)
    work(portal_settings, Clock(), rounds=12, workers=4)
    received = [r["id"] for r in receiver.received]
    assert sorted(received) == sorted(ids)
    for customer in {c for _, c in events}:
        theirs = [eid for eid, (_, c) in zip(ids, events, strict=True) if c == customer]
        assert [r for r in received if r in theirs] == theirs


def auth(tenant: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant['secret_key']}"}


def test_the_api_lists_retries_and_replays_deliveries(
    api: httpx.Client, create_tenant, tenant, receiver: Receiver, portal_settings: Settings
) -> None:
    clock = Clock()
    receiver.script = [(500, {})] * 2 * (len(RETRY_DELAYS) + 1)
    failing, other = queue(
        portal_settings, tenant["id"], [("pay_invoice", "x"), ("pay_invoice", "y")]
    )
    for delay in (0, *RETRY_DELAYS):
        clock.now += delay
        work(portal_settings, clock)
    listed = api.get("/api/v1/callbacks", headers=auth(tenant), params={"status": "failed"})
    assert listed.status_code == 200, listed.text
    rows = {row["id"]: row for row in listed.json()["data"]}
    assert set(rows) == {failing, other}
    assert len(rows[failing]["attempts"]) == len(RETRY_DELAYS) + 1
    assert rows[failing]["attempts"][0]["status_code"] == 500
    assert rows[failing]["payload"]["event"] == "pay_invoice"

    retried = api.post(f"/api/v1/callbacks/{failing}/retry", headers=auth(tenant))
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    work(portal_settings, clock)
    assert (
        api.get("/api/v1/callbacks", headers=auth(tenant), params={"status": "delivered"}).json()[
            "data"
        ][0]["id"]
        == failing
    )

    replayed = api.post(
        "/api/v1/callbacks/replay", headers=auth(tenant), json={"since": "2020-01-01T00:00:00Z"}
    )
    assert replayed.json() == {"replayed": 1}
    work(portal_settings, clock)
    assert [r["id"] for r in receiver.received].count(other) == len(RETRY_DELAYS) + 2

    stranger = create_tenant(name="Stranger")
    assert api.post(f"/api/v1/callbacks/{failing}/retry", headers=auth(stranger)).status_code == 404
    assert api.get("/api/v1/callbacks", headers=auth(stranger)).json()["data"] == []
    bad = api.get("/api/v1/callbacks", headers=auth(tenant), params={"status": "lost"})
    assert bad.status_code in {400, 422} and set(bad.json()) == {"error"}
    page = api.get("/api/v1/callbacks", headers=auth(tenant), params={"limit": 1})
    assert page.json()["has_more"] is True


def test_a_stopping_worker_hands_its_claims_back(tenant, portal_settings: Settings) -> None:
    [event_id] = queue(portal_settings, tenant["id"], [("change_plan", "z")])

    async def claim_then_stop() -> list[int]:
        import asyncio

        database = Database(portal_settings.database_url)
        worker = CallbackWorker(database, Vault(portal_settings.encryption_keys), clock=Clock())
        claimed = await worker.claim()
        stop = asyncio.Event()
        stop.set()
        await worker.run(stop)
        await database.dispose()
        return claimed

    assert len(run_async(claim_then_stop)) == 1
    [(row, attempts)] = deliveries(portal_settings, [event_id])
    assert row.claimed_until is None and row.status == "pending" and attempts == []


def test_a_killed_worker_loses_nothing(
    tenant, receiver: Receiver, portal_settings: Settings, tmp_path
) -> None:
    import signal
    import subprocess
    import time

    receiver.hold = 1
    [event_id] = queue(portal_settings, tenant["id"], [("create_subscription", "cus_k")])
    env = worker_env(portal_settings, tmp_path, BILLPORT_CALLBACK_LEASE="2")
    worker = WORKER_COMMAND

    def wait_for(condition: Any, what: str) -> None:
        deadline = time.monotonic() + 60
        while not condition():
            assert time.monotonic() < deadline, what
            time.sleep(0.1)

    first = subprocess.Popen(worker, env=env, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: receiver.received, "the first worker never sent the callback")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    second = subprocess.Popen(worker, env=env, stderr=subprocess.DEVNULL)
    try:
        wait_for(
            lambda: deliveries(portal_settings, [event_id])[0][0].status == "delivered",
            "the delivery was not taken over after the killed worker's lease",
        )
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    [(row, _)] = deliveries(portal_settings, [event_id])
    assert row.claimed_until is None
    # The retry carries the same webhook-id: the receiver can tell it is the same event.
    assert {r["id"] for r in receiver.received} == {event_id}
    assert [r["status"] for r in receiver.received] == [None, 200]
