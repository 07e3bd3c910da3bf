"""Who a widget acts for, over HTTP: tokens, sessions, the Billflow hash, across tenants."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
import stripe

from portal.identity.legacy import legacy_hash
from tests.tokens import mint_user_token

ORIGIN = "https://app.acme.test"


def auth(tenant: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant['secret_key']}"}


def page_config(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="billport-config">(.*?)</script>', html)
    assert found, html
    return dict(json.loads(found.group(1)))


def requests_of(sandbox_url: str, account: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{sandbox_url}/_sandbox/requests", params={"account": account})
    return list(answer.json()["requests"])


def open_widget(
    api: httpx.Client, widget: str, tenant: dict[str, Any], **params: str
) -> httpx.Response:
    return api.get(f"/w/{widget}", params={"key": tenant["publishable_key"], **params})


def test_a_user_token_opens_the_widget_for_that_customer(
    api: httpx.Client, create_tenant, stripe_client: stripe.StripeClient
) -> None:
    tenant = create_tenant()
    customer = stripe_client.v1.customers.create(params={"email": "ada@example.com"})
    token = mint_user_token(tenant, email="ada@example.com", user_id="u_1")
    page = open_widget(api, "customer-portal", tenant, token=token, origin=ORIGIN, frame="f1")
    assert page.status_code == 200, page.text
    assert "Signed in as <strong>ada@example.com</strong>" in page.text
    csp = page.headers["content-security-policy"]
    assert f"frame-ancestors {ORIGIN}" in csp
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"

    config = page_config(page.text)
    assert config["parentOrigin"] == ORIGIN
    assert config["frame"] == "f1"
    who = api.get("/w/api/session", headers={config["sessionHeader"]: config["session"]})
    assert who.status_code == 200
    assert who.json()["customer_id"] == customer.id
    assert who.json()["email"] == "ada@example.com"


def test_email_without_a_customer_yet_is_fine(api: httpx.Client, create_tenant) -> None:
    tenant = create_tenant()
    token = mint_user_token(tenant, email="new@example.com")
    page = open_widget(api, "plan-picker", tenant, token=token, origin=ORIGIN)
    assert page.status_code == 200
    config = page_config(page.text)
    who = api.get("/w/api/session", headers={config["sessionHeader"]: config["session"]}).json()
    assert who["customer_id"] is None and who["email"] == "new@example.com"


def test_widget_session_header_is_required_and_tamper_proof(
    api: httpx.Client, create_tenant
) -> None:
    tenant = create_tenant()
    config = page_config(open_widget(api, "plan-picker", tenant, origin=ORIGIN).text)
    assert api.get("/w/api/session").json()["error"]["code"] == "widget_session_missing"
    forged = config["session"][:-3] + "abc"
    answer = api.get("/w/api/session", headers={config["sessionHeader"]: forged})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "widget_session_invalid"


def test_anonymous_visitors_only_see_public_widgets(api: httpx.Client, create_tenant) -> None:
    tenant = create_tenant()
    assert open_widget(api, "plan-picker", tenant).status_code == 200
    assert open_widget(api, "signup", tenant).status_code == 200
    for widget in ("customer-portal", "invoices", "checkout"):
        page = open_widget(api, widget, tenant)
        assert page.status_code == 401
        assert "needs to know who the user is" in page.text


@pytest.mark.parametrize(
    ("params", "status", "text"),
    [
        ({"origin": "https://evil.test"}, 403, "https://evil.test is not an allowed origin"),
        ({"token": "garbage"}, 401, "not a JWT"),
        ({"billing_page": "bpg_missing"}, 404, "no billing page bpg_missing"),
        ({"email": "a@x.test", "hash": "00"}, 403, "legacy_hash_enabled"),
    ],
)
def test_refusals_are_explained_on_the_page(
    api: httpx.Client, create_tenant, params: dict[str, str], status: int, text: str
) -> None:
    tenant = create_tenant()
    page = open_widget(api, "plan-picker", tenant, **params)
    assert page.status_code == status
    assert text in page.text
    assert "Traceback" not in page.text
    assert page_config(page.text)["error"]["message"]


def test_unknown_key_and_widget(api: httpx.Client) -> None:
    assert api.get("/w/plan-picker", params={"key": "bp_pub_x"}).status_code == 404
    assert api.get("/w/plan-picker").status_code == 404
    assert "no widget called" in api.get("/w/admin", params={"key": "x"}).text


def test_a_token_of_tenant_a_with_tenant_b_key_is_403_and_reads_nothing(
    api: httpx.Client, create_tenant, sandbox_url: str, sandbox_account: str
) -> None:
    tenant_a = create_tenant(name="A")
    tenant_b = create_tenant(name="B")
    httpx.delete(f"{sandbox_url}/_sandbox/requests")
    token = mint_user_token(tenant_a, email="ada@example.com")
    page = open_widget(api, "customer-portal", tenant_b, token=token, origin=ORIGIN)
    assert page.status_code == 403
    assert "issued for another Billport tenant" in page.text
    assert requests_of(sandbox_url, sandbox_account) == []


def test_a_customer_of_another_stripe_account_is_403_and_reads_nothing_there(
    api: httpx.Client, create_tenant, sandbox_url: str, sandbox_account: str, make_stripe_client
) -> None:
    tenant = create_tenant()
    other_account = sandbox_account + "other"
    stranger = make_stripe_client(f"sk_test_{other_account}").v1.customers.create(
        params={"email": "stranger@example.com"}
    )
    httpx.delete(f"{sandbox_url}/_sandbox/requests")
    token = mint_user_token(tenant, customer_id=stranger.id)
    page = open_widget(api, "customer-portal", tenant, token=token, origin=ORIGIN)
    assert page.status_code == 403
    assert f"Customer {stranger.id} is not a customer of this tenant" in page.text
    assert requests_of(sandbox_url, other_account) == []
    asked = requests_of(sandbox_url, sandbox_account)
    assert [(r["method"], r["path"], r["status"]) for r in asked] == [
        ("GET", f"/v1/customers/{stranger.id}", 404)
    ]


def test_billflow_hash_identity(api: httpx.Client, create_tenant, stripe_client) -> None:
    tenant = create_tenant()
    stripe_client.v1.customers.create(params={"email": "bf@example.com"})
    digest = legacy_hash("bf@example.com", tenant["token_secret"])
    refused = open_widget(api, "invoices", tenant, email="bf@example.com", hash=digest)
    assert refused.status_code == 403
    api.patch("/api/v1/tenant", headers=auth(tenant), json={"legacy_hash_enabled": True})
    page = open_widget(api, "invoices", tenant, email="bf@example.com", hash=digest)
    assert page.status_code == 200
    assert "bf@example.com" in page.text
    wrong = open_widget(api, "invoices", tenant, email="other@example.com", hash=digest)
    assert wrong.status_code == 401
    assert "hash does not match" in wrong.text


def test_session_tokens_open_the_portal_until_revoked(
    api: httpx.Client, create_tenant, stripe_client: stripe.StripeClient
) -> None:
    tenant = create_tenant()
    customer = stripe_client.v1.customers.create(params={"email": "s@example.com"})
    created = api.post(
        "/api/v1/sessions",
        headers=auth(tenant),
        json={"customer_id": customer.id, "ttl_seconds": 600, "return_url": f"{ORIGIN}/account"},
    )
    assert created.status_code == 201, created.text
    session = created.json()
    assert session["token"].startswith("bpst_")
    assert session["url"].startswith("http://127.0.0.1:8000/portal?session=bpst_")
    assert session["expires_at"]

    full_page = api.get("/portal", params={"session": session["token"]})
    assert full_page.status_code == 200
    assert f'href="{ORIGIN}/account"' in full_page.text
    # Framed by nobody but the portal's own pages.
    assert "frame-ancestors 'self'" in full_page.headers["content-security-policy"]
    in_widget = open_widget(api, "invoices", tenant, token=session["token"], origin=ORIGIN)
    assert in_widget.status_code == 200

    revoked = api.delete(f"/api/v1/sessions/{session['id']}", headers=auth(tenant))
    assert revoked.json() == {"id": session["id"], "revoked": True}
    assert api.get("/portal", params={"session": session["token"]}).status_code == 401
    other = create_tenant(name="Other")
    assert api.delete(f"/api/v1/sessions/{session['id']}", headers=auth(other)).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 422, "validation_error"),
        ({"email": "a@x.test", "customer_id": "cus_1"}, 422, "validation_error"),
        ({"email": "nope"}, 422, "validation_error"),
        ({"email": "a@x.test", "ttl_seconds": 10}, 422, "validation_error"),
        ({"email": "a@x.test", "ttl_seconds": 86401}, 422, "validation_error"),
        ({"email": "a@x.test", "return_url": "https://evil.test/"}, 422, "invalid_return_url"),
        ({"customer_id": "cus_doesnotexist"}, 403, "customer_not_in_account"),
    ],
)
def test_session_creation_rejects_bad_input(
    api: httpx.Client, create_tenant, body: dict[str, Any], status: int, code: str
) -> None:
    tenant = create_tenant()
    answer = api.post("/api/v1/sessions", headers=auth(tenant), json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code


def test_billing_pages_crud_and_billflow_ids(api: httpx.Client, create_tenant) -> None:
    tenant = create_tenant()
    created = api.post(
        "/api/v1/billing_pages",
        headers=auth(tenant),
        json={"widget": "plan-picker", "name": "Pricing", "billflow_id": "bf_pricing"},
    )
    assert created.status_code == 201, created.text
    page = created.json()
    assert page["id"].startswith("bpg_")
    target = api.get("/embed/billing-pages/bf_pricing")
    assert target.json() == {
        "id": page["id"],
        "widget": "plan-picker",
        "key": tenant["publishable_key"],
    }
    assert target.headers["access-control-allow-origin"] == "*"
    assert api.get(f"/embed/billing-pages/{page['id']}").json()["id"] == page["id"]

    clash = api.post(
        "/api/v1/billing_pages",
        headers=auth(create_tenant(name="Other")),
        json={"widget": "checkout", "name": "X", "billflow_id": "bf_pricing"},
    )
    assert clash.status_code == 409
    renamed = api.patch(
        f"/api/v1/billing_pages/{page['id']}", headers=auth(tenant), json={"name": "Plans"}
    )
    assert renamed.json()["name"] == "Plans"
    assert [p["id"] for p in api.get("/api/v1/billing_pages", headers=auth(tenant)).json()] == [
        page["id"]
    ]
    mismatch = open_widget(api, "checkout", tenant, billing_page=page["id"])
    assert mismatch.status_code == 422
    assert open_widget(api, "plan-picker", tenant, billing_page=page["id"]).status_code == 200
    bad = api.post("/api/v1/billing_pages", headers=auth(tenant), json={"widget": "x", "name": "y"})
    assert bad.status_code == 422
    deleted = api.delete(f"/api/v1/billing_pages/{page['id']}", headers=auth(tenant))
    assert deleted.json() == {"id": page["id"], "deleted": True}
    assert api.get("/embed/billing-pages/bf_pricing").status_code == 404


def test_refusals_on_the_tenants_own_page_can_resize_and_report(
    api: httpx.Client, create_tenant
) -> None:
    tenant = create_tenant()
    page = open_widget(api, "invoices", tenant, origin=ORIGIN, frame="f9")
    assert page.status_code == 401
    config = page_config(page.text)
    assert config["parentOrigin"] == ORIGIN and config["frame"] == "f9"
    assert f"frame-ancestors {ORIGIN}" in page.headers["content-security-policy"]
    stranger = open_widget(api, "invoices", tenant, origin="https://evil.test", frame="f9")
    assert "parentOrigin" not in page_config(stranger.text)
    assert "frame-ancestors *" in stranger.headers["content-security-policy"]


def test_embed_js_revalidates_with_any_matching_etag(api: httpx.Client) -> None:
    etag = api.get("/embed.js").headers["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        assert api.get("/embed.js", headers={"If-None-Match": header}).status_code == 304
    assert api.get("/embed.js", headers={"If-None-Match": '"other"'}).status_code == 200


def test_pages_and_files_name_their_character_set_once(
    api: httpx.Client, create_tenant, stripe_client: stripe.StripeClient
) -> None:
    tenant = create_tenant()
    token = mint_user_token(tenant, email="ada@example.com")
    answers = {
        "visitor's page": api.get("/w/plan-picker", params={"key": tenant["publishable_key"]}),
        "user's page": api.get(
            "/w/plan-picker", params={"key": tenant["publishable_key"], "token": token}
        ),
        "error page": api.get("/w/plan-picker", params={"key": "bp_pub_unknown"}),
        "dashboard": api.get("/dashboard/login"),
        "embed.js": api.get("/embed.js"),
        "stylesheet": api.get("/static/widgets/widget.css"),
    }
    types = {name: answer.headers["content-type"] for name, answer in answers.items()}
    assert types == {
        "visitor's page": "text/html; charset=utf-8",
        "user's page": "text/html; charset=utf-8",
        "error page": "text/html; charset=utf-8",
        "dashboard": "text/html; charset=utf-8",
        "embed.js": "text/javascript; charset=utf-8",
        "stylesheet": "text/css; charset=utf-8",
    }
