"""Visitors' widget pages: each serving has its own session, and changes show on the next visit."""

from __future__ import annotations

import re
from typing import Any

import httpx
import stripe

from portal.identity.widget_session import WidgetSessionSigner
from portal.settings import Settings
from tests.tokens import mint_user_token
from tests.widget_api import ORIGIN, make_plans, page_config


def auth(tenant: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant['secret_key']}"}


def test_each_visit_has_its_own_session_and_changes_show_at_once(
    api: httpx.Client,
    create_tenant,
    stripe_client: stripe.StripeClient,
    portal_settings: Settings,
) -> None:
    make_plans(stripe_client, ("Pro", "pro", 1200))
    tenant = create_tenant()
    params = {"key": tenant["publishable_key"], "origin": ORIGIN}
    first = api.get("/w/plan-picker", params=params)
    second = api.get("/w/plan-picker", params=params)
    assert first.status_code == second.status_code == 200
    sessions = [page_config(page.text)["session"] for page in (first, second)]
    signer = WidgetSessionSigner(portal_settings.secret_key)
    assert [signer.verify(s).tenant_id for s in sessions] == [tenant["id"]] * 2
    # Everything but the session is the same page, with the same security headers.
    assert first.text.replace(sessions[0], "") == second.text.replace(sessions[1], "")
    assert first.headers["content-security-policy"] == second.headers["content-security-policy"]
    assert second.headers["content-type"].startswith("text/html")

    # A change through the API shows on the next visit.
    api.patch(
        "/api/v1/tenant",
        headers=auth(tenant),
        json={"widget_options": {"theme": {"primary": "#123456"}}},
    )
    themed = api.get("/w/plan-picker", params=params)
    assert "--bp-primary: #123456;" in themed.text
    page = api.post(
        "/api/v1/billing_pages",
        headers=auth(tenant),
        json={"widget": "plan-picker", "name": "Tarifs", "options": {"language": "fr"}},
    ).json()
    assert (
        "Choisir Pro"
        in api.get("/w/plan-picker", params={**params, "billing_page": page["id"]}).text
    )
    api.patch(
        f"/api/v1/billing_pages/{page['id']}",
        headers=auth(tenant),
        json={"options": {"language": "en"}},
    )
    assert (
        "Choose Pro"
        in api.get("/w/plan-picker", params={**params, "billing_page": page["id"]}).text
    )


def test_pages_naming_a_user_carry_that_user(
    api: httpx.Client,
    create_tenant,
    stripe_client: stripe.StripeClient,
    portal_settings: Settings,
) -> None:
    make_plans(stripe_client, ("Pro", "pro", 1200))
    tenant = create_tenant()
    for email in ("ada@example.com", "grace@example.com"):
        token = mint_user_token(tenant, email=email)
        page = api.get("/w/plan-picker", params={"key": tenant["publishable_key"], "token": token})
        assert page.status_code == 200
        session = WidgetSessionSigner(portal_settings.secret_key).verify(
            page_config(page.text)["session"]
        )
        assert session.email == email
    # A refused page stays refused.
    refused = api.get(
        "/w/plan-picker", params={"key": tenant["publishable_key"], "origin": "https://evil.test"}
    )
    assert refused.status_code == 403
    again = api.get(
        "/w/plan-picker", params={"key": tenant["publishable_key"], "origin": "https://evil.test"}
    )
    assert again.status_code == 403 and re.search("not an allowed origin", again.text)
