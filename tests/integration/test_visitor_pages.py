"""Visitors' widget pages, kept rendered: each serving has its own session, frame and framing
page, and changes show on the next visit, in every portal process."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import stripe

from portal.app import create_app
from portal.identity.widget_session import WidgetSessionSigner
from portal.settings import Settings
from tests.servers import ServerThread
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


def test_frame_and_framing_page_are_each_visits_own_and_escaped(
    api: httpx.Client,
    create_tenant,
    stripe_client: stripe.StripeClient,
    portal_settings: Settings,
) -> None:
    make_plans(stripe_client, ("Pro", "pro", 1200))
    tenant = create_tenant(allowed_origins=[ORIGIN, "https://www.acme.test"])
    signer = WidgetSessionSigner(portal_settings.secret_key)
    frames = ["bp-1", "</script><img src=x onerror=alert(1)>'\"&é", "x" * 100, "bp-1"]
    origins = [ORIGIN, ORIGIN, "https://www.acme.test", ""]
    for frame, origin in zip(frames, origins, strict=True):
        params = {"key": tenant["publishable_key"], "frame": frame}
        page = api.get("/w/plan-picker", params={**params, "origin": origin} if origin else params)
        assert page.status_code == 200
        assert "<img" not in page.text
        config = page_config(page.text)
        assert config["frame"] == frame[:64]
        assert config.get("parentOrigin", "") == origin
        assert signer.verify(config["session"]).parent_origin == origin
        assert "Choose Pro" in page.text


def test_a_change_through_one_replica_shows_on_another(
    api: httpx.Client,
    create_tenant,
    stripe_client: stripe.StripeClient,
    portal_settings: Settings,
) -> None:
    """Two portal processes on one database: each keeps visitors' pages, neither shows a
    page the other has made stale for longer than it takes to look at the change count."""
    make_plans(stripe_client, ("Pro", "pro", 1200))
    tenant = create_tenant(allowed_origins=[ORIGIN, "https://www.acme.test"])
    params = {"key": tenant["publishable_key"], "origin": "https://www.acme.test"}
    with ServerThread(create_app(portal_settings)) as other:
        with httpx.Client(base_url=other.url, timeout=30) as replica:

            def shown_on_replica(check: Callable[[httpx.Response], bool]) -> None:
                deadline = time.monotonic() + 15
                while not check(page := replica.get("/w/plan-picker", params=params)):
                    assert time.monotonic() < deadline, page.text
                    time.sleep(0.1)

            shown_on_replica(lambda page: "Choose Pro" in page.text)
            api.patch(
                "/api/v1/tenant",
                headers=auth(tenant),
                json={"widget_options": {"theme": {"primary": "#654321"}}},
            )
            shown_on_replica(lambda page: "--bp-primary: #654321;" in page.text)

            make_plans(stripe_client, ("Team", "team", 4900))
            api.post("/api/v1/catalog/refresh", headers=auth(tenant)).raise_for_status()
            shown_on_replica(lambda page: "Choose Team" in page.text)

            api.patch("/api/v1/tenant", headers=auth(tenant), json={"allowed_origins": [ORIGIN]})
            shown_on_replica(lambda page: page.status_code == 403)
            assert "not an allowed origin" in replica.get("/w/plan-picker", params=params).text
