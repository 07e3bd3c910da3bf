"""The ``billport`` command as a user runs it: a real process in an empty directory."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port

BILLPORT = str(Path(sys.executable).parent / "billport")


def run(
    args: list[str], cwd: Path, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BILLPORT_")}
    return subprocess.run(
        [BILLPORT, *args],
        cwd=cwd,
        env={**clean, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_serve_starts_in_an_empty_directory(tmp_path: Path) -> None:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BILLPORT_")}
    process = subprocess.Popen(
        [BILLPORT, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=clean,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "billport serve did not answer"
            time.sleep(0.2)
        assert httpx.get(f"{url}/readyz").json() == {"status": "ok"}
        assert "billport_http_requests_total" in httpx.get(f"{url}/metrics").text
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert (tmp_path / "billport.db").exists()
    assert (tmp_path / ".billport" / "encryption.keys").exists()
    # Logs are JSON lines.
    lines = [line for line in stderr.splitlines() if line.startswith("{")]
    assert lines and all(json.loads(line)["level"] for line in lines)


def test_tenants_create_prints_the_contract_object(
    tmp_path: Path, sandbox_url: str, sandbox_account: str
) -> None:
    key = f"sk_test_{sandbox_account}"
    created = run(
        [
            "tenants",
            "create",
            "--name",
            "Acme Notes",
            "--stripe-secret-key",
            key,
            "--stripe-api-base",
            sandbox_url,
            "--allowed-origin",
            "https://app.acme.test",
            "--callback-url",
            "https://app.acme.test/hook",
            "--json",
        ],
        tmp_path,
    )
    assert created.returncode == 0, created.stderr
    tenant = json.loads(created.stdout)
    assert list(tenant) == [
        "id",
        "name",
        "publishable_key",
        "secret_key",
        "token_secret",
        "callback_secret",
        "livemode",
    ]
    assert tenant["livemode"] is False

    listed = run(["tenants", "list", "--json"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [row["id"] for row in rows] == [tenant["id"]]
    assert rows[0]["allowed_origins"] == ["https://app.acme.test"]
    for secret in (tenant["secret_key"], tenant["token_secret"], tenant["callback_secret"], key):
        assert secret not in listed.stdout

    # Nothing usable in the database file, its WAL, or a SQL dump of it.
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("billport.db*"))
    with sqlite3.connect(tmp_path / "billport.db") as db:
        dump = "\n".join(db.iterdump())
    for secret in (tenant["secret_key"], tenant["token_secret"], tenant["callback_secret"], key):
        assert secret.encode() not in raw
        assert secret not in dump


@pytest.mark.parametrize(
    ("args", "env", "status", "message"),
    [
        (
            ["tenants", "create", "--stripe-secret-key", "sk_test_x"],
            {},
            2,
            "the following arguments are required: --name",
        ),
        (
            ["tenants", "create", "--name", "A", "--stripe-secret-key", "nope"],
            {},
            1,
            "A Stripe secret key starts with sk_test_",
        ),
        (
            [
                "tenants",
                "create",
                "--name",
                "A",
                "--stripe-secret-key",
                "sk_test_x",
                "--allowed-origin",
                "not-an-origin",
            ],
            {},
            1,
            "is not an origin",
        ),
        (
            [
                "tenants",
                "create",
                "--name",
                "A",
                "--stripe-secret-key",
                "sk_test_x",
                "--stripe-api-base",
                "http://127.0.0.1:9",
            ],
            {},
            1,
            "Stripe could not be reached",
        ),
        (["tenants", "frobnicate"], {}, 2, "invalid choice"),
        (["serve", "--port", "eighty"], {}, 2, "invalid int value"),
        (
            ["serve"],
            {"BILLPORT_ENV": "production"},
            1,
            "refuses to start without explicit secrets: set BILLPORT_SECRET_KEY and "
            "BILLPORT_ENCRYPTION_KEYS",
        ),
        (
            ["serve"],
            {
                "BILLPORT_ENV": "production",
                "BILLPORT_SECRET_KEY": "s" * 40,
                "BILLPORT_ENCRYPTION_KEYS": "not-a-key",
            },
            1,
            "must be comma-separated Fernet",
        ),
        (["tenants", "list"], {"BILLPORT_ENV": "staging"}, 1, "BILLPORT_ENV must be"),
    ],
)
def test_bad_command_input_is_explained(
    tmp_path: Path, args: list[str], env: dict[str, str], status: int, message: str
) -> None:
    result = run(args, tmp_path, **env)
    assert result.returncode == status
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_tenants_create_with_a_rejected_key_json_error(tmp_path: Path, sandbox_url: str) -> None:
    result = run(
        [
            "tenants",
            "create",
            "--name",
            "A",
            "--stripe-secret-key",
            "sk_test_bad!",
            "--stripe-api-base",
            sandbox_url,
            "--json",
        ],
        tmp_path,
    )
    assert result.returncode == 1
    assert json.loads(result.stderr)["error"]["code"] == "stripe_key_rejected"
    assert result.stdout == ""


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    result = run(["db", "upgrade"], tmp_path, BILLPORT_DATABASE_URL="sqlite+aiosqlite:///./x.db")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "x.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"tenant", "alembic_version"} <= tables
    again = run(["db", "upgrade"], tmp_path, BILLPORT_DATABASE_URL="sqlite+aiosqlite:///./x.db")
    assert again.returncode == 0


def test_admin_create_user_makes_an_owner_who_can_sign_in(
    tmp_path: Path, sandbox_url: str, sandbox_account: str
) -> None:
    from portal.app import create_app
    from portal.settings import load_settings
    from tests.dashboard_support import DashboardClient
    from tests.servers import ServerThread

    created = run(
        [
            "tenants",
            "create",
            "--name",
            "Acme Notes",
            "--stripe-secret-key",
            f"sk_test_{sandbox_account}",
            "--stripe-api-base",
            sandbox_url,
            "--json",
        ],
        tmp_path,
    )
    tenant_id = json.loads(created.stdout)["id"]
    password = "a long enough password"
    make = [
        "admin",
        "create-user",
        "--email",
        "Ops@Example.com",
        "--password-stdin",
        "--tenant",
        tenant_id,
    ]
    made = run(make, tmp_path, stdin=password + "\n")
    assert made.returncode == 0, made.stderr
    assert "ops@example.com" in made.stdout and password not in made.stdout + made.stderr
    again = run(make, tmp_path, stdin=password + "\n")
    assert again.returncode == 1 and "exists already" in again.stderr
    unknown = run(
        ["admin", "create-user", "--email", "x@example.com", "--password-stdin"], tmp_path
    )
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr

    settings = load_settings(
        {
            "BILLPORT_DATA_DIR": str(tmp_path / ".billport"),
            "BILLPORT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'billport.db'}",
        }
    )
    with ServerThread(create_app(settings)) as server:
        client = DashboardClient(server.url)
        try:
            assert client.sign_in("ops@example.com", password).status_code == 303
            overview = client.get(f"/dashboard/t/{tenant_id}")
            assert overview.status_code == 200 and "you are owner" in overview.text
        finally:
            client.close()
