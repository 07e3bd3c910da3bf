from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from cryptography.fernet import Fernet

from portal.app import create_app
from portal.migrate import upgrade
from portal.sandbox import SandboxApp, create_sandbox_app
from portal.settings import Settings
from tests.databases import fresh_database, postgres_url
from tests.servers import ServerThread

ROOT = Path(__file__).resolve().parent.parent
STRIPE_FIXTURES = ROOT / "tests" / "data" / "stripe_fixtures3.json"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long variants (marker ``long``) run only with BILLPORT_TEST_LONG=1, as .ci/run sets.

    They are left out rather than skipped, so that a quick local run stays quiet.
    """
    if os.environ.get("BILLPORT_TEST_LONG") == "1":
        return
    kept = [item for item in items if item.get_closest_marker("long") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI every skip is a failure: Chromium and PostgreSQL are there."""
    if os.environ.get("BILLPORT_TEST_NO_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and exitstatus == 0:
        reporter.write_line(f"{len(skipped)} test(s) skipped under BILLPORT_TEST_NO_SKIPS=1")
        session.exitstatus = 1


@pytest.fixture(scope="session")
def sandbox_app() -> SandboxApp:
    return create_sandbox_app()


@pytest.fixture(scope="session")
def sandbox_url(sandbox_app: SandboxApp) -> Iterator[str]:
    with ServerThread(sandbox_app) as server:
        yield server.url


@pytest.fixture
def sandbox_account() -> str:
    """A fresh isolated sandbox account per test: no reset between tests is needed."""
    return "t" + uuid.uuid4().hex[:16]


@pytest.fixture
def stripe_client(sandbox_url: str, sandbox_account: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        f"sk_test_{sandbox_account}", base_addresses={"api": sandbox_url}, max_network_retries=0
    )


@pytest.fixture
def make_stripe_client(sandbox_url: str) -> Callable[[str], stripe.StripeClient]:
    def make(key: str) -> stripe.StripeClient:
        return stripe.StripeClient(key, base_addresses={"api": sandbox_url}, max_network_retries=0)

    return make


# -- the portal over HTTP, on SQLite and on PostgreSQL ------------------------------------

OPERATOR_TOKEN = "test-operator-token"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and not postgres_url():
        pytest.skip(
            "PostgreSQL tests need BILLPORT_TEST_DATABASE_URL, "
            "e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        )
    return str(request.param)


@pytest.fixture(scope="module")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(backend, tmp_path_factory.mktemp("db")) as url:
        yield url


def make_settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        public_url="http://127.0.0.1:8000",
        secret_key="test-secret-key-" + uuid.uuid4().hex,
        encryption_keys=(Fernet.generate_key().decode(),),
        env="test",
        operator_token=OPERATOR_TOKEN,
        data_dir=data_dir,
        stripe_max_network_retries=0,
        # Short, so that tests of Stripe timeouts stay quick.
        stripe_timeout=5.0,
    )


@pytest.fixture(scope="module")
def portal_settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(database_url, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def portal_url(portal_settings: Settings) -> Iterator[str]:
    upgrade(portal_settings.database_url)
    with ServerThread(create_app(portal_settings)) as server:
        yield server.url


@pytest.fixture
def api(portal_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=portal_url, timeout=30) as client:
        yield client


@pytest.fixture
def create_tenant(
    api: httpx.Client, sandbox_url: str, sandbox_account: str
) -> Callable[..., dict[str, Any]]:
    """Register a tenant on this test's sandbox account through the operator API."""

    def create(**fields: Any) -> dict[str, Any]:
        body = {
            "name": "Acme Notes",
            "stripe_secret_key": f"sk_test_{sandbox_account}",
            "stripe_api_base": sandbox_url,
            "allowed_origins": ["https://app.acme.test"],
            "callback_url": "https://app.acme.test/billing/callback",
            **fields,
        }
        answer = api.post(
            "/api/v1/tenants", json=body, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        )
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    return create
