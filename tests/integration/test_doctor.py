"""``billport doctor`` as an operator runs it: a real process against a real installation."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import stripe

from portal.callbacks.models import FAILED, CallbackDelivery
from portal.crypto import Vault
from portal.db import Database
from portal.stripe_intake.models import StripeEvent
from tests.integration.test_cli import run
from tests.servers import ServerThread, free_port, run_async


class CallbackReceiver:
    """A tenant's callback endpoint that only takes POSTs, as most do; records every request."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        self.methods.append(scope["method"])
        status = 200 if scope["method"] == "POST" else 405
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"allow", b"POST")]}
        )
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def receiver() -> Iterator[tuple[CallbackReceiver, str]]:
    app = CallbackReceiver()
    with ServerThread(app) as server:
        yield app, f"{server.url}/billing/callback"


@pytest.fixture
def public_url() -> str:
    # Stripe (the sandbox) registers the webhook endpoint at this address; nothing needs to
    # listen there for the doctor, which compares the registered URL with it.
    return f"http://127.0.0.1:{free_port()}"


def create_tenant(
    cwd: Path, public_url: str, sandbox_url: str, account: str, *extra: str
) -> dict[str, Any]:
    created = run(
        [
            "tenants",
            "create",
            "--name",
            f"Tenant {account}",
            "--stripe-secret-key",
            f"sk_test_{account}",
            "--stripe-api-base",
            sandbox_url,
            *extra,
            "--json",
        ],
        cwd,
        BILLPORT_PUBLIC_URL=public_url,
    )
    assert created.returncode == 0, created.stderr
    tenant = dict(json.loads(created.stdout))
    listed = run(["tenants", "list", "--json"], cwd, BILLPORT_PUBLIC_URL=public_url)
    rows = {row["id"]: row for row in map(json.loads, listed.stdout.splitlines())}
    tenant["stripe_webhook_endpoint_id"] = rows[tenant["id"]]["stripe_webhook_endpoint_id"]
    return tenant


def doctor(cwd: Path, public_url: str, *args: str, **env: str) -> Any:
    return run(["doctor", *args], cwd, BILLPORT_PUBLIC_URL=public_url, **env)


def statuses(report: dict[str, Any], tenant_id: str) -> dict[str, str]:
    return {c["name"]: c["status"] for c in report["checks"] if c["tenant"] == tenant_id}


def line(output: str, status: str, tenant_id: str, check: str) -> str:
    """The one output line of ``check`` for the tenant, which must have ``status``."""
    found = [
        text
        for text in output.splitlines()
        if text.startswith(status) and f"{tenant_id} (" in text and f") {check}:" in text
    ]
    assert len(found) == 1, f"no {status} line for {tenant_id} {check} in:\n{output}"
    return found[0]


def test_a_healthy_installation_passes(
    tmp_path: Path,
    sandbox_url: str,
    sandbox_account: str,
    public_url: str,
    receiver: tuple[CallbackReceiver, str],
) -> None:
    app, callback_url = receiver
    tenant = create_tenant(
        tmp_path,
        public_url,
        sandbox_url,
        sandbox_account,
        "--allowed-origin",
        "https://app.acme.test",
        "--callback-url",
        callback_url,
    )

    result = doctor(tmp_path, public_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not [text for text in result.stdout.splitlines() if text.startswith("FAIL")]
    assert "Traceback" not in result.stderr
    for check in ("stripe key", "stripe webhook", "callback url", "allowed origins"):
        line(result.stdout, "OK", tenant["id"], check)
    assert "database schema: at the newest revision" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("0 FAIL")
    # The probe asked whether the receiver answers; it delivered nothing.
    assert app.methods and set(app.methods) == {"HEAD"}
    for secret in (tenant["secret_key"], tenant["token_secret"], tenant["callback_secret"]):
        assert secret not in result.stdout
    assert f"sk_test_{sandbox_account}" not in result.stdout

    # The portal moved: Stripe still sends to the old address.
    moved = doctor(tmp_path, "https://billing.example.com")
    assert moved.returncode == 1
    webhook = line(moved.stdout, "FAIL", tenant["id"], "stripe webhook")
    assert f"sends to {public_url}/stripe/webhooks/{tenant['id']}, not " in webhook
    assert "fix: if BILLPORT_PUBLIC_URL changed, register Billport's endpoint again" in webhook

    as_json = doctor(tmp_path, public_url, "--json")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["ok"] is True and report["summary"]["FAIL"] == 0
    assert set(statuses(report, tenant["id"]).values()) == {"OK"}
    assert {"stripe key", "stripe webhook", "callback url", "allowed origins"} <= set(
        statuses(report, tenant["id"])
    )


def test_a_misconfigured_installation_names_each_problem(
    tmp_path: Path,
    sandbox_url: str,
    sandbox_account: str,
    make_stripe_client: Any,
    public_url: str,
    receiver: tuple[CallbackReceiver, str],
) -> None:
    _, callback_url = receiver
    # Tenant A: its webhook endpoint deleted in Stripe, a callback URL nobody listens on, no
    # allowed origins.
    closed = f"http://127.0.0.1:{free_port()}/hook"
    a = create_tenant(tmp_path, public_url, sandbox_url, sandbox_account, "--callback-url", closed)
    client: stripe.StripeClient = make_stripe_client(f"sk_test_{sandbox_account}")
    client.v1.webhook_endpoints.delete(a["stripe_webhook_endpoint_id"])

    # Tenant B: its Stripe key revoked, callbacks disabled by a 410, a callback and a Stripe
    # event that failed for good.
    other = "t" + uuid.uuid4().hex[:16]
    b = create_tenant(
        tmp_path,
        public_url,
        sandbox_url,
        other,
        "--allowed-origin",
        "https://app.beta.test",
        "--callback-url",
        callback_url,
    )
    # Tenant C: its endpoint disabled in Stripe's dashboard.
    third = "t" + uuid.uuid4().hex[:16]
    c = create_tenant(tmp_path, public_url, sandbox_url, third)
    make_stripe_client(f"sk_test_{third}").v1.webhook_endpoints.update(
        c["stripe_webhook_endpoint_id"], params={"disabled": True}
    )
    keys = tuple((tmp_path / ".billport" / "encryption.keys").read_text().split(","))
    break_tenant(tmp_path / "billport.db", b["id"], Vault([k.strip() for k in keys]))

    result = doctor(tmp_path, public_url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout

    webhook = line(out, "FAIL", a["id"], "stripe webhook")
    assert f"{a['stripe_webhook_endpoint_id']} no longer exists in Stripe" in webhook
    assert "fix: register Billport's endpoint again" in webhook
    unreachable = line(out, "FAIL", a["id"], "callback url")
    assert closed in unreachable and "cannot be reached" in unreachable and "fix:" in unreachable
    origins = line(out, "WARN", a["id"], "allowed origins")
    assert "fix: add your app's origin" in origins
    line(out, "OK", a["id"], "stripe key")

    key = line(out, "FAIL", b["id"], "stripe key")
    assert "rejects the key" in key and "fix: give the tenant a working key" in key
    assert "sk_test_revoked" not in out
    line(out, "WARN", b["id"], "stripe webhook")
    disabled = line(out, "FAIL", b["id"], "callback url")
    assert "callbacks are disabled" in disabled and "410 Gone" in disabled
    assert "fix: save the callback URL again" in disabled
    failed = line(out, "WARN", b["id"], "callbacks")
    assert "1 callback(s) failed for good" in failed and "callbacks/replay" in failed
    events = line(out, "WARN", b["id"], "stripe events")
    assert "1 Stripe event(s) failed" in events and "1 given up" in events

    disabled_endpoint = line(out, "FAIL", c["id"], "stripe webhook")
    assert "is disabled in Stripe" in disabled_endpoint and "fix: enable it" in disabled_endpoint

    report = json.loads(doctor(tmp_path, public_url, "--json").stdout)
    assert report["ok"] is False
    assert statuses(report, a["id"])["stripe webhook"] == "FAIL"
    assert statuses(report, b["id"])["stripe key"] == "FAIL"
    fixes = [c for c in report["checks"] if c["status"] != "OK"]
    assert all(c["fix"] for c in fixes), fixes


def break_tenant(database_file: Path, tenant_id: str, vault: Vault) -> None:
    from tenants.models import Tenant

    async def change() -> None:
        database = Database(f"sqlite+aiosqlite:///{database_file}")
        now = datetime.now(UTC)
        try:
            async with database.sessions() as session:
                tenant = await session.get(Tenant, tenant_id)
                assert tenant is not None
                # The key rolled in Stripe's dashboard: Stripe now refuses the stored one.
                tenant.stripe_secret_key_encrypted = vault.encrypt("sk_test_revoked!")
                tenant.callbacks_disabled_at = now
                session.add(
                    CallbackDelivery(
                        event_id="evt_" + uuid.uuid4().hex,
                        tenant_id=tenant_id,
                        event="change_plan",
                        payload={"event": "change_plan"},
                        status=FAILED,
                        attempts=10,
                        last_error="HTTP 500",
                    )
                )
                event = StripeEvent(
                    tenant_id=tenant_id,
                    stripe_event_id="evt_" + uuid.uuid4().hex,
                    type="customer.subscription.updated",
                    created=int(now.timestamp()),
                    payload={},
                    status="failed",
                    error="boom",
                    attempts=10,
                )
                session.add(event)
                await session.flush()
                # Retries exhausted: the worker never takes it again.
                event.next_attempt_at = None
                await session.commit()
        finally:
            await database.dispose()

    run_async(change)


def test_encryption_keys_that_do_not_fit_are_a_failure(
    tmp_path: Path, sandbox_url: str, sandbox_account: str, public_url: str
) -> None:
    from cryptography.fernet import Fernet

    tenant = create_tenant(tmp_path, public_url, sandbox_url, sandbox_account)
    stranger = Fernet.generate_key().decode()
    result = doctor(tmp_path, public_url, BILLPORT_ENCRYPTION_KEYS=stranger)
    assert result.returncode == 1
    keys = next(t for t in result.stdout.splitlines() if "config encryption keys" in t)
    assert keys.startswith("FAIL") and tenant["id"] in keys and "stripe_secret_key" in keys
    assert "fix: add the key they were encrypted with back" in keys

    # The old key after the new one: everything reads, and the doctor says the old key is
    # still needed.
    current = (tmp_path / ".billport" / "encryption.keys").read_text().strip()
    rotated = doctor(tmp_path, public_url, BILLPORT_ENCRYPTION_KEYS=f"{stranger},{current}")
    keys = next(t for t in rotated.stdout.splitlines() if "config encryption keys" in t)
    assert keys.startswith("OK") and "still need an older key" in keys


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"BILLPORT_ENV": "production"},
            "FAIL  config settings: BILLPORT_ENV=production refuses to start without explicit "
            "secrets",
        ),
        (
            {
                "BILLPORT_ENV": "production",
                "BILLPORT_SECRET_KEY": "s" * 40,
                "BILLPORT_ENCRYPTION_KEYS": "0" * 43 + "=",
            },
            "FAIL  config public url: BILLPORT_PUBLIC_URL is http://127.0.0.1:8000; in "
            "production browsers and Stripe need https",
        ),
        (
            {"BILLPORT_DATABASE_URL": "sqlite+aiosqlite:///./missing.db"},
            "FAIL  database connection: no SQLite database at ./missing.db",
        ),
    ],
)
def test_configuration_problems_are_failures(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    result = run(["doctor"], tmp_path, **env)
    assert result.returncode == 1
    assert expected in result.stdout
    assert "fix:" in next(t for t in result.stdout.splitlines() if t.startswith(expected[:20]))
    assert "Traceback" not in result.stderr
    # The doctor only reads: no secrets generated, no database created.
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_schema_must_be_at_head(tmp_path: Path, database_url: str) -> None:
    from alembic.script import ScriptDirectory

    from portal.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config(database_url))
    head = script.get_revision("head")
    assert head is not None and isinstance(head.down_revision, str)
    env = {"BILLPORT_DATABASE_URL": database_url}
    if database_url.startswith("sqlite"):
        # An empty database file, as an operator may create before the first upgrade.
        sqlite3.connect(database_url.split(":///", 1)[1]).close()

    empty = run(["doctor"], tmp_path, **env)
    assert empty.returncode == 1
    assert "FAIL  database schema: the database has no Billport schema" in empty.stdout
    assert "fix: run `billport db upgrade`" in empty.stdout

    assert run(["db", "upgrade", head.down_revision], tmp_path, **env).returncode == 0
    behind = run(["doctor"], tmp_path, **env)
    assert behind.returncode == 1
    assert (
        f"FAIL  database schema: the schema is at {head.down_revision}; the newest revision "
        f"is {head.revision}"
    ) in behind.stdout

    assert run(["db", "upgrade"], tmp_path, **env).returncode == 0
    current = run(["doctor"], tmp_path, **env)
    assert current.returncode == 0, current.stdout
    assert f"OK    database schema: at the newest revision ({head.revision})" in current.stdout
