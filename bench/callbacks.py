"""Callback deliveries per second with 1 and with 4 ``billport worker`` processes.

A receiver runs as its own process; the outbox is filled directly in the database; workers
are real ``billport worker`` processes draining it. PostgreSQL is used when
``BILLPORT_BENCH_DATABASE_URL`` names one (the target for several workers): the benchmark
creates a database of its own on that server and drops it afterwards. SQLite otherwise.

Run alone with ``python -m bench.callbacks``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.common import BILLPORT, figure, free_port, process

DELIVERIES = 2000


async def _receiver(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers 204 to everything, after reading the body, like a tenant's endpoint."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def serve_receiver(port: int) -> None:
    import uvicorn

    uvicorn.run(_receiver, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def _fill(database_url: str, keys: str, callback_url: str, count: int) -> str:
    from portal.callbacks.outbox import enqueue
    from portal.crypto import Vault, new_key, new_webhook_secret
    from portal.db import Database
    from tenants.models import Tenant

    vault = Vault(keys.split(","))
    database = Database(database_url)
    tenant_id = new_key("ten_", 20)
    try:
        async with database.sessions() as session:
            session.add(
                Tenant(
                    id=tenant_id,
                    name="Bench",
                    publishable_key=new_key("bp_pub_", 24),
                    secret_key_hash=uuid.uuid4().hex,
                    secret_key_hint="bp_sk_…",
                    token_secret_encrypted=vault.encrypt("bpts_bench"),
                    stripe_secret_key_encrypted=vault.encrypt("sk_test_bench"),
                    stripe_secret_key_hint="sk_test_…",
                    callback_secret_encrypted=vault.encrypt(new_webhook_secret()),
                    livemode=False,
                    allowed_origins=[],
                    callback_url=callback_url,
                    legacy_hash_enabled=False,
                    widget_options={},
                )
            )
            await session.commit()
            for index in range(count):
                enqueue(
                    session,
                    tenant_id=tenant_id,
                    event="change_plan",
                    response={"id": f"sub_{index}", "object": "subscription"},
                    customer_id=f"cus_{index % 97}",
                    livemode=False,
                )
            await session.commit()
    finally:
        await database.dispose()
    return tenant_id


async def _pending(database_url: str, tenant_id: str) -> int:
    from portal.callbacks.models import DELIVERED, CallbackDelivery
    from portal.db import Database

    database = Database(database_url)
    try:
        async with database.sessions() as session:
            return int(
                await session.scalar(
                    select(func.count()).where(
                        CallbackDelivery.tenant_id == tenant_id,
                        CallbackDelivery.status != DELIVERED,
                    )
                )
                or 0
            )
    finally:
        await database.dispose()


def _drain(env: dict[str, str], receiver: str, workers: int) -> float:
    database_url = env["BILLPORT_DATABASE_URL"]
    tenant_id = asyncio.run(
        _fill(database_url, env["BILLPORT_ENCRYPTION_KEYS"], receiver, DELIVERIES)
    )
    started = time.perf_counter()
    running = [
        subprocess.Popen(
            [BILLPORT, "worker"],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    try:
        while asyncio.run(_pending(database_url, tenant_id)):
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
    finally:
        for worker in running:
            worker.send_signal(signal.SIGTERM)
        for worker in running:
            worker.wait(timeout=30)
    return DELIVERIES / elapsed


POSTGRES_ENV = "BILLPORT_BENCH_DATABASE_URL"


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``server_url``, dropped afterwards."""
    import asyncpg

    name = "bp_bench_" + uuid.uuid4().hex[:12]
    dsn = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def database_kind() -> str:
    """The database the callbacks figures are measured on."""
    return "postgresql" if os.environ.get(POSTGRES_ENV) else "sqlite"


@contextmanager
def bench_database(data: str) -> Iterator[str]:
    """PostgreSQL when ``BILLPORT_BENCH_DATABASE_URL`` names a server, else SQLite in ``data``."""
    server = os.environ.get(POSTGRES_ENV)
    if server:
        with postgres_database(server) as url:
            yield url
    else:
        yield f"sqlite+aiosqlite:///{Path(data) / 'bench.db'}"


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as data, bench_database(data) as database_url:
        env = {
            "BILLPORT_DATABASE_URL": database_url,
            "BILLPORT_DATA_DIR": data,
            "BILLPORT_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "BILLPORT_SECRET_KEY": "bench-" + uuid.uuid4().hex,
            "BILLPORT_LOG_LEVEL": "WARNING",
        }
        subprocess.run(
            [BILLPORT, "db", "upgrade"], env={**os.environ, **env}, check=True, capture_output=True
        )
        port = free_port()
        receiver = f"http://127.0.0.1:{port}/hook"
        command = [sys.executable, "-m", "bench.callbacks", "receiver", str(port)]
        with process(command, f"http://127.0.0.1:{port}/"):
            one = _drain(env, receiver, 1)
            four = _drain(env, receiver, 4)
    return [
        figure("callbacks_per_s_1_worker", one, "deliveries/s"),
        figure("callbacks_per_s_4_workers", four, "deliveries/s", baseline=one),
    ]


def main() -> None:
    if sys.argv[1:2] == ["receiver"]:
        serve_receiver(int(sys.argv[2]))
        return
    for row in run():
        print(f"{row['name']:<28} {row['value']:>10} {row['unit']:<14} ratio {row['ratio']}")


if __name__ == "__main__":
    main()
