"""Four ``billport worker`` processes on PostgreSQL drain 10,000 callbacks: once each, in order."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from portal.callbacks.models import DELIVERED, CallbackAttempt, CallbackDelivery
from portal.db import Database
from portal.settings import Settings
from tests.callbacks_support import WORKER_COMMAND, Receiver, queue, worker_env
from tests.servers import run_async

# Several workers claiming side by side is what PostgreSQL (FOR UPDATE SKIP LOCKED) is for;
# this overrides the module's backends so that SQLite is not even collected.
pytestmark = pytest.mark.parametrize(
    "backend",
    [pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
    scope="module",
)

DELIVERIES = 10_000
CUSTOMERS = 200
WORKERS = 4
DRAIN_SECONDS = 240
# A worker sends a batch of up to 50 at once, each holding a connection of its pool
# (portal.db: 10, and 10 more under load).
CONNECTIONS_PER_WORKER = 20


def worker_log(logs: list[Path]) -> list[tuple[str, str]]:
    """``(level, line)`` of every line the workers wrote, an exception cut to its message."""
    lines = []
    for log in logs:
        for line in log.read_text().splitlines():
            if not line.startswith("{"):
                level = "info" if line.startswith("Billport worker running") else "error"
                lines.append((level, f"{log.name}: {line}"))
                continue
            entry = json.loads(line)
            # The exception's own line, not its traceback, SQL or link to SQLAlchemy's docs.
            causes = [
                cause
                for cause in entry.get("exception", "").splitlines()
                if cause and cause[0] not in " ([" and not cause.startswith(("Traceback", "The "))
            ]
            lines.append((entry["level"], f"{log.name}: {entry['message']} {causes[-1:]}"))
    return lines


def tail(logs: list[Path]) -> str:
    return "\n".join(line for _, line in worker_log(logs)[-20:])


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_connections(settings: Settings) -> int:
    async def go() -> int:
        database = Database(settings.database_url)
        try:
            async with database.engine.connect() as conn:
                free = await conn.scalar(
                    text(
                        "SELECT current_setting('max_connections')::int"
                        " - current_setting('superuser_reserved_connections')::int"
                        " - (SELECT count(*) FROM pg_stat_activity)"
                    )
                )
                return int(free or 0)
        finally:
            await database.dispose()

    return run_async(go)


def wait_until_delivered(
    settings: Settings, tenant_id: str, workers: list[subprocess.Popen[bytes]], logs: list[Path]
) -> None:
    """Poll the outbox until every delivery is delivered; fail fast on any failed attempt."""

    async def go() -> None:
        database = Database(settings.database_url)
        deadline = time.monotonic() + DRAIN_SECONDS
        try:
            while True:
                async with database.sessions() as session:
                    delivered = await session.scalar(
                        select(func.count()).where(
                            CallbackDelivery.tenant_id == tenant_id,
                            CallbackDelivery.status == DELIVERED,
                        )
                    )
                    failed = list(
                        await session.execute(
                            select(CallbackAttempt.status_code, CallbackAttempt.error)
                            .join(CallbackDelivery)
                            .where(
                                CallbackDelivery.tenant_id == tenant_id,
                                (CallbackAttempt.status_code.is_(None))
                                | (CallbackAttempt.status_code >= 300),
                            )
                            .limit(5)
                        )
                    )
                assert not failed, f"attempts failed: {failed}\n{tail(logs)}"
                if delivered == DELIVERIES:
                    return
                exited = [worker.returncode for worker in workers if worker.poll() is not None]
                assert not exited, f"workers exited with {exited}\n{tail(logs)}"
                assert time.monotonic() < deadline, (
                    f"{delivered} of {DELIVERIES} delivered after {DRAIN_SECONDS} s\n{tail(logs)}"
                )
                await asyncio.sleep(0.25)
        finally:
            await database.dispose()

    run_async(go)


def outbox_summary(settings: Settings, tenant_id: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        database = Database(settings.database_url)
        try:
            async with database.sessions() as session:
                of_tenant = CallbackDelivery.tenant_id == tenant_id
                state = (
                    CallbackDelivery.status,
                    CallbackDelivery.attempts,
                    CallbackDelivery.claimed_until.is_(None),
                )
                by_state = await session.execute(
                    select(*state, func.count()).where(of_tenant).group_by(*state)
                )
                attempts = await session.execute(
                    select(CallbackAttempt.status_code, func.count())
                    .join(CallbackDelivery)
                    .where(of_tenant)
                    .group_by(CallbackAttempt.status_code)
                )
                attempted = await session.scalar(
                    select(func.count(func.distinct(CallbackAttempt.delivery_id)))
                    .join(CallbackDelivery)
                    .where(of_tenant)
                )
                return {
                    "deliveries": {
                        (status, tries, unclaimed): count
                        for status, tries, unclaimed, count in by_state
                    },
                    "attempts": {code: count for code, count in attempts},
                    "deliveries_attempted": attempted,
                }
        finally:
            await database.dispose()

    return run_async(go)


def test_four_worker_processes_deliver_each_callback_once_in_order_per_customer(
    tenant: dict[str, Any], receiver: Receiver, portal_settings: Settings, tmp_path: Path
) -> None:
    needed = WORKERS * CONNECTIONS_PER_WORKER
    # Another suite on the same server may be finishing: give its connections time to close.
    deadline = time.monotonic() + 120
    while (free := free_connections(portal_settings)) < needed and time.monotonic() < deadline:
        time.sleep(2)
    assert free >= needed, (
        f"PostgreSQL has {free} connections free; {WORKERS} workers need {needed}"
    )

    began = time.monotonic()
    # Every customer has the same number of events, interleaved irregularly.
    customers = [f"cus_{i % CUSTOMERS:03d}" for i in range(DELIVERIES)]
    random.Random(DELIVERIES).shuffle(customers)
    event_ids = queue(portal_settings, tenant["id"], [("change_plan", c) for c in customers])
    queued = time.monotonic()

    logs = [tmp_path / f"worker-{n}.log" for n in range(WORKERS)]
    env = worker_env(portal_settings, tmp_path, BILLPORT_LOG_LEVEL="WARNING")
    workers: list[subprocess.Popen[bytes]] = []
    with ExitStack() as files:
        try:
            for log in logs:
                stderr = files.enter_context(log.open("wb"))
                workers.append(
                    subprocess.Popen(
                        WORKER_COMMAND, env=env, stdout=subprocess.DEVNULL, stderr=stderr
                    )
                )
            wait_until_delivered(portal_settings, tenant["id"], workers, logs)
            drained = time.monotonic()
            busy = [cpu_seconds(worker.pid) for worker in workers]
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            exit_codes = []
            for worker in workers:
                try:
                    exit_codes.append(worker.wait(timeout=30))
                except subprocess.TimeoutExpired:
                    worker.kill()
                    exit_codes.append(worker.wait())
    stopped = time.monotonic()
    assert exit_codes == [0] * WORKERS, tail(logs)
    errors = [line for level, line in worker_log(logs) if level not in {"info", "warning"}]
    # Every worker took a share: none sat idle while the others drained the outbox.
    assert min(busy) > max(busy) / 4, busy

    # The receiver verified every request's signature before recording it.
    arrived = [request["id"] for request in receiver.received]
    repeated = {eid: n for eid, n in Counter(arrived).items() if n > 1}
    assert not repeated, (
        f"{len(repeated)} callbacks arrived more than once: {list(repeated)[:5]}\n"
        + "\n".join(errors[:20])
    )
    assert len(arrived) == DELIVERIES
    assert set(arrived) == set(event_ids)
    assert all(request["body"]["id"] == request["id"] for request in receiver.received)

    customer_of = dict(zip(event_ids, customers, strict=True))
    expected: dict[str, list[str]] = {}
    for event_id in event_ids:
        expected.setdefault(customer_of[event_id], []).append(event_id)
    seen: dict[str, list[str]] = {}
    for request in receiver.received:
        assert request["body"]["customer"] == customer_of[request["id"]]
        seen.setdefault(request["body"]["customer"], []).append(request["id"])
    out_of_order = [c for c in expected if seen.get(c) != expected[c]]
    assert not out_of_order, f"{len(out_of_order)} customers saw events out of order"
    assert len(expected) == CUSTOMERS

    summary = outbox_summary(portal_settings, tenant["id"])
    assert summary == {
        "deliveries": {(DELIVERED, 1, True): DELIVERIES},
        "attempts": {200: DELIVERIES},
        "deliveries_attempted": DELIVERIES,
    }
    assert not errors, "\n".join(errors[:20])
    print(
        f"\nqueued {DELIVERIES} in {queued - began:.1f} s; {WORKERS} workers drained them in "
        f"{drained - queued:.1f} s ({DELIVERIES / (drained - queued):.0f}/s); "
        f"stopped in {stopped - drained:.1f} s; checked in {time.monotonic() - stopped:.1f} s; "
        f"worker CPU seconds {[round(b, 1) for b in busy]}"
    )
