"""Operations endpoints, and readiness following the database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from portal.app import create_app
from portal.migrate import upgrade
from tests.conftest import make_settings
from tests.databases import fresh_database, postgres_url
from tests.servers import ServerThread
from tests.tcp_proxy import TCPProxy


def test_health_ready_and_metrics(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok"}
    api.get("/api/v1/tenant")  # one counted request with a known route
    metrics = api.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "# TYPE billport_http_requests_total counter" in metrics.text
    assert 'route="/api/v1/tenant"' in metrics.text
    assert "billport_callbacks_pending " in metrics.text
    assert "billport_callback_oldest_pending_seconds " in metrics.text
    assert "billport_stripe_intake_lag_seconds " in metrics.text
    assert "billport_callback_attempts_total" in metrics.text


def test_every_answer_carries_a_request_id(api: httpx.Client) -> None:
    assert api.get("/healthz").headers["x-request-id"].startswith("req_")
    echoed = api.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"


@pytest.fixture
def portal_behind_proxy(tmp_path: Path) -> Iterator[tuple[str, TCPProxy]]:
    """A portal whose PostgreSQL server can be stopped and started (through a proxy)."""
    if not postgres_url():
        pytest.skip("stopping the database needs PostgreSQL: set BILLPORT_TEST_DATABASE_URL")
    with fresh_database("postgres", tmp_path) as database_url:
        url = make_url(database_url)
        with TCPProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
            proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(
                hide_password=False
            )
            upgrade(proxied)
            with ServerThread(create_app(make_settings(proxied, tmp_path))) as server:
                yield server.url, proxy


def test_readyz_follows_the_database(portal_behind_proxy: tuple[str, TCPProxy]) -> None:
    url, proxy = portal_behind_proxy
    assert httpx.get(f"{url}/readyz").status_code == 200
    proxy.stop()
    down = httpx.get(f"{url}/readyz", timeout=30)
    assert down.status_code == 503
    assert down.json()["status"] == "unavailable"
    assert httpx.get(f"{url}/healthz").status_code == 200
    # An API call needing the database fails cleanly, without a stack trace.
    failing = httpx.get(f"{url}/api/v1/tenant", headers={"Authorization": "Bearer bp_sk_x"})
    assert failing.status_code == 503
    assert "Traceback" not in failing.text
    assert set(failing.json()) == {"error"}
    assert failing.json()["error"]["retryable"] is True
    proxy.start()
    assert httpx.get(f"{url}/readyz", timeout=30).status_code == 200


def test_stripe_calls_are_counted_by_route_and_outcome(api: httpx.Client, create_tenant) -> None:
    # Creating a tenant calls Stripe: the key check and the webhook endpoint registration.
    create_tenant()
    text = api.get("/metrics").text
    assert 'billport_stripe_calls_total{method="GET",outcome="2xx",route="/v1/customers"}' in text
    assert 'route="/v1/webhook_endpoints"' in text
    assert 'billport_stripe_call_seconds_count{method="GET",route="/v1/customers"}' in text


@pytest.mark.parametrize(
    ("url", "route"),
    [
        (
            "https://api.stripe.com/v1/subscriptions/sub_1QxYzABCDEFGHIJ/items",
            "/v1/subscriptions/{id}/items",
        ),
        (
            "http://127.0.0.1:12111/v1/customers/cus_NfkxJAM2rhVvDY/payment_methods",
            "/v1/customers/{id}/payment_methods",
        ),
        ("https://api.stripe.com/v1/subscription_schedules", "/v1/subscription_schedules"),
        ("https://api.stripe.com/v1/billing/meter_events", "/v1/billing/meter_events"),
        (
            "https://api.stripe.com/v1/webhook_endpoints/we_R73ucEZ73snw9iG9quJoEWJu",
            "/v1/webhook_endpoints/{id}",
        ),
    ],
)
def test_stripe_routes_keep_few_labels(url: str, route: str) -> None:
    from portal.stripe_gateway import stripe_route

    assert stripe_route(url) == route
