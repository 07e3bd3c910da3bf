"""The tenant admin dashboard over HTTP: accounts, tenants, settings, keys, team, audit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dashboard_support import DashboardClient, secrets_shown


@pytest.fixture
def admin(portal_url: str) -> Iterator[DashboardClient]:
    client = DashboardClient(portal_url)
    yield client
    client.close()


def test_a_new_admin_signs_up_and_creates_a_tenant(
    admin: DashboardClient, sandbox_url: str, sandbox_account: str
) -> None:
    assert admin.get("/dashboard/").headers["location"] == "/dashboard/login"
    admin.sign_up()
    assert admin.get("/dashboard/tenants").headers["location"] == "/dashboard/tenants/new"
    answer = admin.post(
        "/dashboard/tenants/new",
        {
            "name": "Acme Notes",
            "stripe_secret_key": f"sk_test_{sandbox_account}",
            "stripe_api_base": sandbox_url,
            "allowed_origins": "https://app.acme.test",
        },
    )
    assert answer.status_code == 200, answer.text
    shown = secrets_shown(answer.text)
    assert [s.split("_")[0] for s in shown] == ["bp", "bpts", "whsec"]
    tenant_id = answer.text.split('href="/dashboard/t/')[1].split('"')[0]
    overview = admin.get(f"/dashboard/t/{tenant_id}")
    assert overview.status_code == 200
    assert "Acme Notes" in overview.text and "Test mode" in overview.text
    for page in ("settings", "stripe", "keys", "team", "audit"):
        answer = admin.get(f"/dashboard/t/{tenant_id}/{page}")
        assert answer.status_code == 200, (page, answer.text)
        assert "Traceback" not in answer.text
