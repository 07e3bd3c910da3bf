"""What the callback tests share: the tenant's receiver, a test clock, running the worker."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook

from portal.callbacks.outbox import enqueue
from portal.callbacks.worker import CallbackWorker
from portal.crypto import Vault
from portal.db import Database
from portal.settings import Settings
from tests.servers import run_async


class Receiver:
    """The tenant's callback endpoint: answers from a script, records what arrives."""

    def __init__(self, secret: str) -> None:
        self.webhook = Webhook(secret)
        self.received: list[dict[str, Any]] = []
        self.script: list[tuple[int, dict[str, str]]] = []
        # Requests to leave unanswered (a receiver hanging while its sender dies).
        self.hold = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        if self.hold > 0:
            self.hold -= 1
            self.received.append({"id": headers["webhook-id"], "status": None, "body": None})
            await asyncio.sleep(5)
            return
        status, extra = self.script.pop(0) if self.script else (200, {})
        verified = self.webhook.verify(body, headers)
        self.received.append(
            {
                "id": headers["webhook-id"],
                "status": status,
                "body": verified,
                "raw": body,
                "headers": headers,
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in extra.items()],
            }
        )
        await send({"type": "http.response.body", "body": b"ok"})


class Clock:
    """A clock the test moves; whole seconds, so due times compare exactly.

    It starts a minute ahead of the wall clock: what a test writes is due at its real
    creation time, and must be due for the worker however long the test has run so far.
    """

    def __init__(self) -> None:
        self.now = int(time.time()) + 60

    def __call__(self) -> float:
        return float(self.now)


def work(settings: Settings, clock: Clock, rounds: int = 1, workers: int = 1) -> int:
    """Run ``rounds`` batches with ``workers`` workers side by side; deliveries attempted."""

    async def go() -> int:
        import asyncio

        database = Database(settings.database_url)
        team = [
            CallbackWorker(database, Vault(settings.encryption_keys), clock=clock)
            for _ in range(workers)
        ]
        try:
            total = 0
            for _ in range(rounds):
                total += sum(await asyncio.gather(*(w.run_once() for w in team)))
            return total
        finally:
            for w in team:
                await w.aclose()
            await database.dispose()

    return run_async(go)


def queue(settings: Settings, tenant_id: str, events: list[tuple[str, str | None]]) -> list[str]:
    """Write ``(event, customer)`` pairs to the outbox in one transaction; their event ids."""

    async def go() -> list[str]:
        database = Database(settings.database_url)
        try:
            async with database.sessions() as session:
                rows = [
                    enqueue(
                        session,
                        tenant_id=tenant_id,
                        event=event,
                        response={"n": i},
                        customer_id=customer,
                        livemode=False,
                    )
                    for i, (event, customer) in enumerate(events)
                ]
                await session.commit()
                return [row.event_id for row in rows]
        finally:
            await database.dispose()

    return run_async(go)


# The ``billport worker`` console script installed beside this interpreter.
WORKER_COMMAND = [str(Path(sys.executable).parent / "billport"), "worker"]


def worker_env(settings: Settings, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``billport worker`` process serving the portal of ``settings``."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("BILLPORT_")},
        "BILLPORT_DATABASE_URL": settings.database_url,
        "BILLPORT_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
        "BILLPORT_SECRET_KEY": settings.secret_key,
        "BILLPORT_DATA_DIR": str(data_dir),
        **extra,
    }
