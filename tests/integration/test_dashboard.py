"""The tenant admin dashboard over HTTP: accounts, tenants, settings, keys, team, audit."""

from __future__ import annotations

import html
import json
import logging
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
import stripe
from sqlalchemy import text

from portal.db import create_engine
from tests.dashboard_support import PASSWORD, DashboardClient, secrets_shown
from tests.servers import run_async


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
        # The policy allows no inline script or style: the page must not need them.
        csp = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert ' style="' not in answer.text and "<script>" not in answer.text


# -- helpers ---------------------------------------------------------------------------------


def new_admin(portal_url: str) -> DashboardClient:
    client = DashboardClient(portal_url)
    client.sign_up()
    return client


def owned_tenant(
    portal_url: str, sandbox_url: str, account: str
) -> tuple[DashboardClient, str, list[str]]:
    """A signed-in owner, their tenant's id and its secrets [api key, token, callback]."""
    owner = new_admin(portal_url)
    answer = owner.post(
        "/dashboard/tenants/new",
        {
            "name": "Acme Notes",
            "stripe_secret_key": f"sk_test_{account}",
            "stripe_api_base": sandbox_url,
            "allowed_origins": "https://app.acme.test",
        },
    )
    assert answer.status_code == 200, answer.text
    tenant_id = re.search(r'href="/dashboard/t/(ten_\w+)"', answer.text).group(1)
    return owner, tenant_id, secrets_shown(answer.text)


def member(owner: DashboardClient, tenant_id: str, portal_url: str, role: str) -> DashboardClient:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    team = f"/dashboard/t/{tenant_id}/team"
    added = owner.post(team, {"action": "add", "email": email, "role": role})
    assert added.status_code == 303, added.text
    client = DashboardClient(portal_url)
    client.sign_up(email)
    return client


def settings_form(client: DashboardClient, tenant_id: str, **changes: str) -> dict[str, str]:
    page = client.get(f"/dashboard/t/{tenant_id}/settings").text
    form = {
        "name": re.search(r'id="f-name" name="name" type="text" value="([^"]*)"', page).group(1),
        "allowed_origins": re.search(r'name="allowed_origins"[^>]*>([^<]*)<', page).group(1),
        "callback_url": re.search(r'name="callback_url" type="url" value="([^"]*)"', page).group(1),
        "widget_options": html.unescape(
            re.search(r'name="widget_options"[^>]*>([^<]*)<', page).group(1)
        ),
    }
    if 'name="legacy_hash_enabled" checked' in page:
        form["legacy_hash_enabled"] = "on"
    return {k: html.unescape(v) for k, v in {**form, **changes}.items()}


def api_auth(secret_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret_key}"}


# -- accounts ----------------------------------------------------------------------------------


def test_sign_up_refuses_bad_input_next_to_the_field(admin: DashboardClient) -> None:
    for email, password, expected in [
        ("not-an-email", "long enough password", "valid email"),
        ("short@example.com", "short", "at least 10 characters"),
    ]:
        answer = admin.post("/dashboard/signup", {"email": email, "password": password})
        assert answer.status_code == 422 and expected in answer.text
        assert 'aria-invalid="true"' in answer.text
    admin.sign_up("taken@example.com")
    other = DashboardClient(str(admin.http.base_url))
    taken = other.post(
        "/dashboard/signup", {"email": "Taken@Example.com", "password": "another long one"}
    )
    assert taken.status_code == 409 and "exists already" in taken.text
    assert other.get("/dashboard/tenants").status_code == 303
    other.close()


def test_passwords_are_hashed_and_never_logged(
    admin: DashboardClient, portal_settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "Sup3r secret passphrase!"
    admin.sign_up("hash@example.com", password)
    wrong = DashboardClient(str(admin.http.base_url))
    assert wrong.sign_in("hash@example.com", password + "x").status_code == 401
    assert wrong.sign_in("hash@example.com", password).status_code == 303
    wrong.close()

    async def stored() -> str:
        engine = create_engine(portal_settings.database_url)
        async with engine.connect() as conn:
            value = await conn.scalar(
                text("SELECT password_hash FROM dashboard_user WHERE email = 'hash@example.com'")
            )
        await engine.dispose()
        return str(value)

    hashed = run_async(stored)
    assert hashed.startswith("$argon2id$") and password not in hashed
    assert password not in caplog.text


def test_sign_in_is_rate_limited_per_account(portal_url: str) -> None:
    owner = new_admin(portal_url)
    email = owner.email
    attacker = DashboardClient(portal_url)
    for _ in range(5):
        answer = attacker.sign_in(email, "wrong password!")
        assert answer.status_code == 401 and "wrong" in answer.text
    blocked = attacker.sign_in(email, PASSWORD)
    assert blocked.status_code == 429 and "Too many failed sign-ins" in blocked.text
    assert attacker.get("/dashboard/tenants").status_code == 303
    attacker.close()
    owner.close()


def test_sign_out_everywhere_ends_every_session(portal_url: str) -> None:
    laptop = new_admin(portal_url)
    phone = DashboardClient(portal_url)
    assert phone.sign_in(laptop.email).status_code == 303
    assert phone.get("/dashboard/tenants").status_code in (200, 303)
    assert phone.get("/dashboard/tenants/new").status_code == 200
    answer = laptop.post("/dashboard/logout-everywhere", {}, page="/dashboard/tenants/new")
    assert answer.status_code == 303
    for client in (laptop, phone):
        gone = client.get("/dashboard/tenants/new")
        assert gone.status_code == 303 and gone.headers["location"].startswith("/dashboard/login")
    laptop.close()
    phone.close()


# -- CSRF ----------------------------------------------------------------------------------------


def test_cross_site_forms_are_rejected(
    portal_url: str, sandbox_url: str, sandbox_account: str
) -> None:
    owner, tenant_id, _ = owned_tenant(portal_url, sandbox_url, sandbox_account)
    path = f"/dashboard/t/{tenant_id}/settings"
    form = settings_form(owner, tenant_id, name="Hijacked")
    # A page on another site posting the form: the browser sends the cookie, not the token.
    forged = owner.http.post(path, data=form, headers={"Origin": "https://evil.test"})
    assert forged.status_code == 403 and "another site" in forged.text
    # With the right token but from another origin.
    token = owner.token(path)
    elsewhere = owner.http.post(
        path, data={**form, "csrf_token": token}, headers={"Origin": "https://evil.test"}
    )
    assert elsewhere.status_code == 403
    # A token from another visitor's session.
    stranger = DashboardClient(portal_url)
    foreign = owner.http.post(path, data={**form, "csrf_token": stranger.token()})
    assert foreign.status_code == 403
    stranger.close()
    assert "Hijacked" not in owner.get(path).text
    # The genuine form works.
    assert owner.post(path, form).status_code == 303
    assert "Hijacked" in owner.get(path).text
    owner.close()


# -- roles and tenants -----------------------------------------------------------------------------


def test_a_viewer_reads_but_cannot_change_or_reveal(
    portal_url: str, sandbox_url: str, sandbox_account: str
) -> None:
    owner, tenant_id, secrets = owned_tenant(portal_url, sandbox_url, sandbox_account)
    viewer = member(owner, tenant_id, portal_url, "viewer")
    base = f"/dashboard/t/{tenant_id}"
    for page in ("", "/settings", "/stripe", "/keys", "/team", "/audit"):
        answer = viewer.get(base + page)
        assert answer.status_code == 200, page
        assert not any(secret in answer.text for secret in secrets)
    keys = viewer.get(f"{base}/keys").text
    assert "/rotate" not in keys and "Only admins and owners can rotate keys" in keys
    token = viewer.token(f"{base}/settings")
    for path, data in [
        (f"{base}/settings", settings_form(viewer, tenant_id, name="Viewer was here")),
        (f"{base}/keys/secret_key/rotate", {"overlap_seconds": "0"}),
        (f"{base}/keys/token_secret/rotate", {"overlap_seconds": "0"}),
        (f"{base}/stripe", {"action": "register"}),
        (f"{base}/team", {"action": "add", "email": "x@example.com", "role": "owner"}),
    ]:
        answer = viewer.http.post(path, data={**data, "csrf_token": token})
        assert answer.status_code == 403, (path, answer.status_code)
        assert "cannot do this" in answer.text and not secrets_shown(answer.text)
    # Nothing changed: the old API key still works alone, the name is unchanged.
    assert "Viewer was here" not in owner.get(f"{base}/settings").text
    with httpx.Client(base_url=portal_url) as api:
        assert api.get("/api/v1/tenant", headers=api_auth(secrets[0])).status_code == 200
    owner.close()
    viewer.close()


def test_admins_manage_but_only_owners_make_owners(
    portal_url: str, sandbox_url: str, sandbox_account: str
) -> None:
    owner, tenant_id, _ = owned_tenant(portal_url, sandbox_url, sandbox_account)
    admin = member(owner, tenant_id, portal_url, "admin")
    team = f"/dashboard/t/{tenant_id}/team"
    assert (
        admin.post(team, {"action": "add", "email": "v@example.com", "role": "viewer"}).status_code
        == 303
    )
    refused = admin.post(team, {"action": "add", "email": "o@example.com", "role": "owner"})
    assert refused.status_code == 403 and "Only an owner" in refused.text
    rotated = admin.post(
        f"/dashboard/t/{tenant_id}/keys/callback_secret/rotate",
        {"overlap_seconds": "3600"},
        page=f"/dashboard/t/{tenant_id}/keys",
    )
    assert rotated.status_code == 200 and secrets_shown(rotated.text)[0].startswith("whsec_")
    # The last owner cannot be demoted or removed.
    page = owner.get(team).text
    owner_id = re.search(
        r'name="member_id" value="(\d+)">\s*<label class="visually-hidden" for="r-\d+">Role of '
        + re.escape(owner.email),
        page,
    ).group(1)
    last = owner.post(team, {"action": "role", "member_id": owner_id, "role": "viewer"})
    assert last.status_code == 409 and "at least one owner" in last.text
    owner.close()
    admin.close()


def test_nobody_reaches_another_tenant_by_editing_urls_or_form_ids(
    portal_url: str, portal_settings, sandbox_url: str, sandbox_account: str
) -> None:
    from portal.app import create_app

    alice, tenant_a, _ = owned_tenant(portal_url, sandbox_url, sandbox_account)
    bob, tenant_b, _ = owned_tenant(portal_url, sandbox_url, sandbox_account)
    bob_team = bob.get(f"/dashboard/t/{tenant_b}/team").text
    bob_member = re.search(r'name="member_id" value="(\d+)"', bob_team).group(1)
    fillers = {
        "tenant_id": tenant_b,
        "member_id": bob_member,
        "name": "secret_key",
    }
    token = alice.token("/dashboard/tenants/new")
    tried = 0
    for route in create_app(portal_settings).routes:
        if not route.path.startswith("/dashboard/t/{tenant_id"):
            continue
        path = re.sub(
            r"\{(\w+):\w+\}", lambda m: fillers.get(m.group(1), "x_" + m.group(1)), route.path
        )
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            answer = alice.http.request(
                method, path, data={"csrf_token": token} if method == "POST" else None
            )
            assert answer.status_code == 404, (method, path, answer.status_code)
            assert "Acme Notes" not in answer.text and tenant_b not in answer.text
            tried += 1
    assert tried >= 10
    # Bob's member id through Alice's own tenant: not found, and Bob keeps his owner.
    team_a = f"/dashboard/t/{tenant_a}/team"
    for action in ("remove", "role"):
        answer = alice.post(team_a, {"action": action, "member_id": bob_member, "role": "viewer"})
        assert answer.status_code == 404
    assert bob.get(f"/dashboard/t/{tenant_b}/team").status_code == 200
    assert "owner" in bob.get(f"/dashboard/t/{tenant_b}").text
    alice.close()
    bob.close()


# -- the dashboard and the tenant API agree ------------------------------------------------------


def test_every_dashboard_setting_is_the_tenant_apis(
    portal_url: str, sandbox_url: str, sandbox_account: str
) -> None:
    owner, tenant_id, secrets = owned_tenant(portal_url, sandbox_url, sandbox_account)
    api = httpx.Client(base_url=portal_url, headers=api_auth(secrets[0]))
    saved = owner.post(
        f"/dashboard/t/{tenant_id}/settings",
        settings_form(
            owner,
            tenant_id,
            name="Acme Billing",
            allowed_origins="https://App.Acme.test/\nhttp://localhost:3000",
            callback_url="https://app.acme.test/hooks/billing",
            legacy_hash_enabled="on",
            widget_options='{"theme": {"primary": "#0f766e"}, "trial_days": 14}',
        ),
    )
    assert saved.status_code == 303, saved.text
    read = api.get("/api/v1/tenant").json()
    assert read["name"] == "Acme Billing"
    assert read["allowed_origins"] == ["https://app.acme.test", "http://localhost:3000"]
    assert read["callback_url"] == "https://app.acme.test/hooks/billing"
    assert read["legacy_hash_enabled"] is True
    assert read["widget_options"] == {"theme": {"primary": "#0f766e"}, "trial_days": 14}

    changed = api.patch(
        "/api/v1/tenant",
        json={
            "name": "Acme API",
            "allowed_origins": ["https://billing.acme.test"],
            "callback_url": None,
            "legacy_hash_enabled": False,
            "widget_options": {"language": "fr"},
        },
    )
    assert changed.status_code == 200, changed.text
    form = settings_form(owner, tenant_id)
    assert form["name"] == "Acme API"
    assert form["allowed_origins"] == "https://billing.acme.test"
    assert form["callback_url"] == ""
    assert "legacy_hash_enabled" not in form
    assert json.loads(form["widget_options"]) == {"language": "fr"}

    # A bad value is refused the same way by both, next to the field in the dashboard.
    bad = owner.post(
        f"/dashboard/t/{tenant_id}/settings",
        settings_form(owner, tenant_id, allowed_origins="ftp://nope"),
    )
    assert bad.status_code == 422 and "is not an origin" in bad.text
    assert api.patch("/api/v1/tenant", json={"allowed_origins": ["ftp://nope"]}).status_code == 422

    # Keys rotated in the dashboard: the API answers to the new key.
    rotated = owner.post(
        f"/dashboard/t/{tenant_id}/keys/secret_key/rotate",
        {"overlap_seconds": "0"},
        page=f"/dashboard/t/{tenant_id}/keys",
    )
    [new_key] = secrets_shown(rotated.text)
    assert api.get("/api/v1/tenant").status_code == 401
    api.headers.update(api_auth(new_key))
    assert api.get("/api/v1/tenant").json()["secret_key_hint"].endswith(new_key[-4:])

    # The audit log names who changed what, through either door, and holds no secret.
    log = api.get("/api/v1/audit").json()["data"]
    actions = [(entry["actor"], entry["action"]) for entry in log]
    assert (owner.email, "key.rotated") in actions
    assert any(a.startswith("API key bp_sk_") and act == "settings.updated" for a, act in actions)
    assert (owner.email, "settings.updated") in actions
    assert (owner.email, "tenant.created") in actions
    assert not any(secret in json.dumps(log) for secret in [*secrets, new_key])
    page = owner.get(f"/dashboard/t/{tenant_id}/audit").text
    assert page.count("settings.updated") == 2 and "Acme API" in page
    api.close()
    owner.close()


def test_test_and_live_tenants_of_a_product_side_by_side(
    portal_url: str, sandbox_url: str, sandbox_account: str
) -> None:
    owner, tenant_id, _ = owned_tenant(portal_url, sandbox_url, sandbox_account)
    listing = owner.get("/dashboard/tenants").text
    row = listing.split("Acme Notes", 1)[1].split("</tr>", 1)[0]
    assert f"/dashboard/t/{tenant_id}" in row
    assert "/dashboard/tenants/new?name=Acme%20Notes&amp;mode=live" in row
    form = owner.get("/dashboard/tenants/new", params={"name": "Acme Notes", "mode": "live"})
    assert "Add live mode" in form.text and 'value="Acme Notes"' in form.text
    assert "sk_live_" in form.text
    # The sandbox is test mode only: a live key is refused by "Stripe", clearly, keeping input.
    refused = owner.post(
        "/dashboard/tenants/new",
        {"name": "Acme Notes", "stripe_secret_key": "sk_live_nope", "stripe_api_base": sandbox_url},
    )
    assert refused.status_code == 422, refused.text
    assert (
        "Stripe rejected this secret key" in refused.text and 'value="Acme Notes"' in refused.text
    )
    assert "sk_live_nope" not in refused.text
    owner.close()


def test_the_team_the_test_event_and_stripe_registration_through_the_api(
    portal_url: str, sandbox_url: str, sandbox_account: str
) -> None:
    owner, tenant_id, secrets = owned_tenant(portal_url, sandbox_url, sandbox_account)
    api = httpx.Client(base_url=portal_url, headers=api_auth(secrets[0]))
    [me] = api.get("/api/v1/members").json()
    assert (me["email"], me["role"], me["active"]) == (owner.email, "owner", True)
    added = api.post("/api/v1/members", json={"email": "Ops@Example.com", "role": "admin"})
    assert added.status_code == 201, added.text
    member = added.json()
    assert (member["email"], member["active"]) == ("ops@example.com", False)
    assert "ops@example.com" in owner.get(f"/dashboard/t/{tenant_id}/team").text
    changed = api.patch(f"/api/v1/members/{member['id']}", json={"role": "viewer"})
    assert changed.json()["role"] == "viewer"
    # The invited email signs up and sees the tenant with that role.
    ops = DashboardClient(portal_url)
    ops.sign_up("ops@example.com")
    assert "you are viewer" in ops.get(f"/dashboard/t/{tenant_id}").text
    for bad, status in [
        ({"email": "nope", "role": "admin"}, 422),
        ({"email": "x@example.com", "role": "god"}, 422),
        ({"email": "ops@example.com"}, 409),
    ]:
        answer = api.post("/api/v1/members", json=bad)
        assert answer.status_code == status and set(answer.json()) == {"error"}, answer.text
    last = api.patch(f"/api/v1/members/{me['id']}", json={"role": "viewer"})
    assert last.status_code == 409 and last.json()["error"]["code"] == "last_owner"
    assert api.delete(f"/api/v1/members/{member['id']}").json() == {
        "id": member["id"],
        "removed": True,
    }
    assert ops.get(f"/dashboard/t/{tenant_id}").status_code == 404

    # Another tenant's member ids are not found through this key.
    other_owner, _, other_secrets = owned_tenant(portal_url, sandbox_url, sandbox_account)
    theirs = httpx.get(f"{portal_url}/api/v1/members", headers=api_auth(other_secrets[0])).json()[0]
    assert api.delete(f"/api/v1/members/{theirs['id']}").status_code == 404
    assert api.patch(f"/api/v1/members/{theirs['id']}", json={"role": "viewer"}).status_code == 404

    # No callback URL yet: a test event is refused clearly; with one, it is queued.
    refused = api.post("/api/v1/callbacks/test")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "callback_url_missing"
    api.patch("/api/v1/tenant", json={"callback_url": "https://app.acme.test/hook"})
    queued = api.post("/api/v1/callbacks/test")
    assert queued.status_code == 201 and queued.json()["event"] == "test"

    # Registering Billport's endpoint again replaces the one Stripe had.
    before = api.get("/api/v1/tenant").json()["stripe_webhook_endpoint_id"]
    registered = api.post("/api/v1/tenant/stripe_webhook")
    assert registered.status_code == 200, registered.text
    after = registered.json()["stripe_webhook_endpoint_id"]
    assert after and after != before
    client = stripe.StripeClient(f"sk_test_{sandbox_account}", base_addresses={"api": sandbox_url})
    endpoints = {e.id for e in client.v1.webhook_endpoints.list().data}
    assert after in endpoints and before not in endpoints
    actions = [e["action"] for e in api.get("/api/v1/audit").json()["data"]]
    for action in (
        "member.added",
        "member.role_changed",
        "member.removed",
        "stripe_webhook.registered",
    ):
        assert action in actions
    for client_ in (api, ops, owner, other_owner):
        client_.close()
