"""The tenant API over HTTP, on SQLite and PostgreSQL, against the Stripe sandbox."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import inspect, text

from portal.db import create_engine
from tests.conftest import OPERATOR_TOKEN
from tests.servers import run_async

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def auth(tenant: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant['secret_key']}"}


def test_operator_creates_a_tenant_with_the_contract_answer(create_tenant) -> None:
    tenant = create_tenant()
    assert set(tenant) == {
        "id",
        "name",
        "publishable_key",
        "secret_key",
        "token_secret",
        "callback_secret",
        "livemode",
    }
    assert tenant["publishable_key"].startswith("bp_pub_")
    assert tenant["secret_key"].startswith("bp_sk_")
    assert tenant["token_secret"].startswith("bpts_")
    assert tenant["callback_secret"].startswith("whsec_")
    assert tenant["livemode"] is False


def test_tenant_reads_and_changes_its_settings(api: httpx.Client, create_tenant) -> None:
    tenant = create_tenant()
    settings = api.get("/api/v1/tenant", headers=auth(tenant)).json()
    assert settings["name"] == "Acme Notes"
    assert settings["allowed_origins"] == ["https://app.acme.test"]
    assert settings["callback_url"] == "https://app.acme.test/billing/callback"
    assert settings["legacy_hash_enabled"] is False
    assert not any("secret" in key and "hint" not in key for key in settings)
    assert tenant["secret_key"] not in str(settings)

    changed = api.patch(
        "/api/v1/tenant",
        headers=auth(tenant),
        json={
            "allowed_origins": ["https://Billing.Acme.test/", "http://localhost:3000"],
            "callback_url": None,
            "legacy_hash_enabled": True,
            "widget_options": {"theme": {"primary": "#5b21b6"}},
        },
    )
    assert changed.status_code == 200, changed.text
    again = api.get("/api/v1/tenant", headers=auth(tenant)).json()
    assert again["allowed_origins"] == ["https://billing.acme.test", "http://localhost:3000"]
    assert again["callback_url"] is None
    assert again["legacy_hash_enabled"] is True
    assert again["widget_options"] == {"theme": {"primary": "#5b21b6"}}
    assert again["name"] == "Acme Notes"


def test_tenants_cannot_see_each_other(api: httpx.Client, create_tenant) -> None:
    first, second = create_tenant(name="First"), create_tenant(name="Second")
    assert api.get("/api/v1/tenant", headers=auth(first)).json()["name"] == "First"
    assert api.get("/api/v1/tenant", headers=auth(second)).json()["name"] == "Second"


def test_rejected_stripe_key_creates_nothing(api: httpx.Client, sandbox_url: str) -> None:
    answer = api.post(
        "/api/v1/tenants",
        headers=OPERATOR,
        json={
            "name": "Bad",
            "stripe_secret_key": "sk_test_bad-key!",
            "stripe_api_base": sandbox_url,
        },
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "stripe_key_rejected"
    assert "Stripe rejected this secret key" in answer.json()["error"]["message"]


def test_unreachable_stripe_is_a_clear_503(api: httpx.Client) -> None:
    answer = api.post(
        "/api/v1/tenants",
        headers=OPERATOR,
        json={
            "name": "Offline",
            "stripe_secret_key": "sk_test_offline",
            "stripe_api_base": "http://127.0.0.1:9",
        },
    )
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "stripe_unreachable"
    assert answer.json()["error"]["retryable"] is True


def _error(answer: httpx.Response, status: int, code: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in answer.text
    if code:
        assert body["error"]["code"] == code


def test_bad_input_everywhere_gets_the_contract_error_shape(
    api: httpx.Client, create_tenant, sandbox_url: str
) -> None:
    tenant = create_tenant()
    good = {"name": "X", "stripe_secret_key": "sk_test_x", "stripe_api_base": sandbox_url}
    cases: list[tuple[str, str, dict[str, Any], Any, int, str | None]] = [
        # method, path, headers, body, status, code
        ("GET", "/api/v1/tenant", {}, None, 401, "missing_api_key"),
        (
            "GET",
            "/api/v1/tenant",
            {"Authorization": "Bearer bp_sk_nope"},
            None,
            401,
            "invalid_api_key",
        ),
        (
            "GET",
            "/api/v1/tenant",
            {"Authorization": f"Bearer {tenant['publishable_key']}"},
            None,
            401,
            "invalid_api_key",
        ),
        ("GET", "/api/v1/tenant", {"Authorization": "Basic abc"}, None, 401, "missing_api_key"),
        ("PATCH", "/api/v1/tenant", {}, {"name": "x"}, 401, "missing_api_key"),
        ("PATCH", "/api/v1/tenant", auth(tenant), {"name": ""}, 422, "validation_error"),
        ("PATCH", "/api/v1/tenant", auth(tenant), {"name": 5}, 422, "validation_error"),
        ("PATCH", "/api/v1/tenant", auth(tenant), {"colour": "red"}, 422, "validation_error"),
        (
            "PATCH",
            "/api/v1/tenant",
            auth(tenant),
            {"allowed_origins": "x"},
            422,
            "validation_error",
        ),
        (
            "PATCH",
            "/api/v1/tenant",
            auth(tenant),
            {"allowed_origins": ["ftp://x"]},
            422,
            "invalid_origin",
        ),
        (
            "PATCH",
            "/api/v1/tenant",
            auth(tenant),
            {"allowed_origins": ["https://a.test/path"]},
            422,
            "invalid_origin",
        ),
        (
            "PATCH",
            "/api/v1/tenant",
            auth(tenant),
            {"callback_url": "javascript:alert(1)"},
            422,
            "invalid_callback_url",
        ),
        (
            "PATCH",
            "/api/v1/tenant",
            auth(tenant),
            {"widget_options": {"x": "y" * 20000}},
            422,
            "validation_error",
        ),
        ("PATCH", "/api/v1/tenant", auth(tenant), [1, 2], 422, "validation_error"),
        ("POST", "/api/v1/tenants", {}, good, 401, "missing_api_key"),
        (
            "POST",
            "/api/v1/tenants",
            {"Authorization": "Bearer wrong"},
            good,
            401,
            "invalid_operator_token",
        ),
        (
            "POST",
            "/api/v1/tenants",
            {"Authorization": f"Bearer {tenant['secret_key']}"},
            good,
            401,
            "invalid_operator_token",
        ),
        ("POST", "/api/v1/tenants", OPERATOR, {}, 422, "validation_error"),
        ("POST", "/api/v1/tenants", OPERATOR, {**good, "name": None}, 422, "validation_error"),
        (
            "POST",
            "/api/v1/tenants",
            OPERATOR,
            {**good, "stripe_secret_key": "pk_test_x"},
            422,
            "stripe_key_invalid",
        ),
        (
            "POST",
            "/api/v1/tenants",
            OPERATOR,
            {**good, "stripe_api_base": "file:///etc"},
            422,
            "stripe_api_base_invalid",
        ),
        (
            "POST",
            "/api/v1/tenants",
            OPERATOR,
            {**good, "stripe_publishable_key": "pk_live_x"},
            422,
            "stripe_keys_mismatch",
        ),
        (
            "POST",
            "/api/v1/tenants",
            OPERATOR,
            {**good, "allowed_origins": ["not a url"]},
            422,
            "invalid_origin",
        ),
        (
            "POST",
            "/api/v1/tenants",
            OPERATOR,
            {**good, "callback_url": "mailto:x@y"},
            422,
            "invalid_callback_url",
        ),
        ("GET", "/api/v1/tenants", OPERATOR, None, 405, "method_not_allowed"),
        ("DELETE", "/api/v1/tenant", auth(tenant), None, 405, "method_not_allowed"),
        ("GET", "/api/v1/nothing", {}, None, 404, "not_found"),
        ("GET", "/../../etc/passwd", {}, None, 404, "not_found"),
    ]
    for method, path, headers, body, status, code in cases:
        answer = api.request(method, path, headers=headers, json=body)
        _error(answer, status, code)

    malformed = api.patch(
        "/api/v1/tenant",
        headers={**auth(tenant), "Content-Type": "application/json"},
        content=b"{not json",
    )
    _error(malformed, 400)
    oversized = api.patch(
        "/api/v1/tenant",
        headers={**auth(tenant), "Content-Type": "application/json"},
        content=b'{"name": "' + b"x" * 2_000_000 + b'"}',
    )
    _error(oversized, 413)


def test_database_holds_no_usable_secret(
    create_tenant, sandbox_account: str, database_url: str
) -> None:
    tenant = create_tenant()
    stripe_key = f"sk_test_{sandbox_account}"

    async def dump() -> str:
        engine = create_engine(database_url)
        rows: list[str] = []
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            for table in tables:
                result = await conn.execute(text(f'SELECT * FROM "{table}"'))
                rows.extend(repr(tuple(row)) for row in result)
        await engine.dispose()
        return "\n".join(rows)

    dumped = run_async(dump)
    assert tenant["id"] in dumped
    for secret in (
        stripe_key,
        tenant["secret_key"],
        tenant["token_secret"],
        tenant["callback_secret"],
        tenant["callback_secret"][6:],
    ):
        assert secret not in dumped


@pytest.mark.parametrize("path", ["/api/schema/openapi.json"])
def test_openapi_document_describes_the_tenant_api(api: httpx.Client, path: str) -> None:
    document = api.get(path).json()
    assert {"/api/v1/tenant", "/api/v1/tenants"} <= set(document["paths"])


@pytest.mark.parametrize(
    ("stripe_status", "status", "code"),
    [(500, 502, "stripe_error"), (429, 429, "stripe_rate_limited"), (503, 502, "stripe_error")],
)
def test_stripe_failures_become_clear_retryable_errors(
    api: httpx.Client,
    sandbox_url: str,
    sandbox_account: str,
    stripe_status: int,
    status: int,
    code: str,
) -> None:
    fault = {"method": "GET", "path": "/v1/customers", "status": stripe_status, "times": 1}
    assert httpx.post(f"{sandbox_url}/_sandbox/faults", json=fault).status_code == 200
    try:
        answer = api.post(
            "/api/v1/tenants",
            headers=OPERATOR,
            json={
                "name": "Flaky",
                "stripe_secret_key": f"sk_test_{sandbox_account}",
                "stripe_api_base": sandbox_url,
            },
        )
    finally:
        httpx.delete(f"{sandbox_url}/_sandbox/faults")
    _error(answer, status, code)
    assert answer.json()["error"]["retryable"] is True
