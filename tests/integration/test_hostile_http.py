"""Hostile HTTP against the real portal: oversized bodies, path traversal, header injection,
open redirects, clickjacking, reflected markup, and widget options of any shape."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.app import MAX_BODY_BYTES
from tests.dashboard_support import PASSWORD, DashboardClient
from tests.hostile_support import (
    ORIGIN,
    XSS_PAYLOADS,
    raw_get,
    register_tenant,
    stripe_for,
)
from tests.tokens import mint_user_token
from tests.widget_api import page_config

WIDGETS = ("plan-picker", "checkout", "signup", "customer-portal", "invoices")
OVERSIZED = MAX_BODY_BYTES + 1024


@pytest.fixture(scope="module")
def tenant(portal_url: str, sandbox_url: str) -> dict[str, Any]:
    """A tenant with two allowed origins and one plan in its catalog."""
    tenant = register_tenant(
        portal_url, sandbox_url, allowed_origins=[ORIGIN, "http://localhost:3000"]
    )
    client = stripe_for(tenant, sandbox_url)
    product = client.v1.products.create(
        params={"name": "Pro", "metadata": {"service": "notes", "tier": "pro"}}
    )
    price = client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 1200,
            "recurring": {"interval": "month"},
        }
    )
    tenant["price"] = price.id
    auth = {"Authorization": f"Bearer {tenant['secret_key']}"}
    assert httpx.post(f"{portal_url}/api/v1/catalog/refresh", headers=auth).status_code == 200
    return tenant


def auth(tenant: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant['secret_key']}"}


@pytest.fixture
def dashboard(portal_url: str) -> Iterator[DashboardClient]:
    client = DashboardClient(portal_url)
    yield client
    client.close()


def widget_session(api: httpx.Client, tenant: dict[str, Any]) -> dict[str, str]:
    page = api.get("/w/plan-picker", params={"key": tenant["publishable_key"], "origin": ORIGIN})
    config = page_config(page.text)
    return {config["sessionHeader"]: config["session"]}


def assert_contract_error(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["error"]["code"] == code
    assert "Traceback" not in answer.text


# -- oversized bodies ----------------------------------------------------------------------


def test_oversized_json_bodies_are_413_in_the_contract_shape(
    api: httpx.Client, tenant: dict[str, Any]
) -> None:
    big = json.dumps({"email": "a" * OVERSIZED}).encode()
    json_type = {"Content-Type": "application/json"}
    targets = [
        ("/api/v1/sessions", auth(tenant)),
        ("/api/v1/billing_pages", auth(tenant)),
        (f"/stripe/webhooks/{tenant['id']}", {"Stripe-Signature": "t=1,v1=00"}),
        ("/w/api/subscribe", widget_session(api, tenant)),
    ]
    for path, headers in targets:
        answer = api.post(path, content=big, headers={**json_type, **headers})
        assert_contract_error(answer, 413, "payload_too_large")

        def chunks() -> Iterator[bytes]:
            for _ in range(OVERSIZED // 65536 + 1):
                yield b" " * 65536

        # Without a Content-Length, the body is counted as it streams in.
        streamed = api.post(path, content=chunks(), headers={**json_type, **headers})
        assert_contract_error(streamed, 413, "payload_too_large")


def test_oversized_dashboard_forms_are_413_pages(dashboard: DashboardClient) -> None:
    token = dashboard.token()
    body = f"csrf_token={token}&email=".encode() + b"a" * OVERSIZED
    answer = dashboard.http.post(
        "/dashboard/login",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 413
    assert answer.headers["content-type"].startswith("text/html")
    assert "too large" in answer.text


def test_a_declared_oversized_body_is_refused_before_it_is_sent(
    portal_url: str, api: httpx.Client, tenant: dict[str, Any]
) -> None:
    """The answer comes back while the client has sent 100 bytes of a 2 MiB body."""
    session = widget_session(api, tenant)
    json_type = {"Content-Type": "application/json"}
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    targets = [
        ("/api/v1/sessions", {**auth(tenant), **json_type}),
        (f"/stripe/webhooks/{tenant['id']}", json_type),
        ("/w/api/subscribe", {**session, **json_type}),
        ("/dashboard/login", form_type),
    ]
    host = urlsplit(portal_url)
    for path, headers in targets:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\n{head}Content-Length: {2 * MAX_BODY_BYTES}\r\n\r\n"
        ).encode() + b"x" * 100
        with socket.create_connection((host.hostname, host.port), timeout=5) as sock:
            sock.sendall(request)
            started = time.monotonic()
            first = sock.recv(256)
        assert first.startswith(b"HTTP/1.1 413"), (path, first)
        assert time.monotonic() - started < 5


# -- path traversal ------------------------------------------------------------------------

TRAVERSALS = [
    "/static/widgets/../../etc/passwd",
    "/static/widgets/..%2f..%2f..%2fetc%2fpasswd",
    "/static/widgets/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/widgets/%2e%2e%2f%2e%2e%2fportal%2fsettings.py",
    "/static/widgets/..%252f..%252fetc%252fpasswd",
    "/static/widgets/..%5c..%5c..%5cetc%5cpasswd",
    "/static/widgets/..\\..\\portal\\settings.py",
    "/static/widgets/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "/static/widgets/....//....//etc/passwd",
    "/static/widgets/%00../../etc/passwd",
    "/static/widgets/..",
    "/static/widgets/../routes.py",
    "/static/widgets/..%2froutes.py",
    "/dashboard/static/..%2f..%2f..%2fetc%2fpasswd",
    "/dashboard/static/..%2fsession.py",
    "/dashboard/static/../rendering.py",
    "/dashboard/static/%2e%2e%2frendering.py",
    "/embed.js/../../etc/passwd",
    "/w/..%2f..%2fetc%2fpasswd",
    "//etc/passwd",
    "/static/widgets//etc/passwd",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_path_traversal_never_reads_a_file(portal_url: str, target: str) -> None:
    answer = raw_get(portal_url, target)
    # Not found, or a request so malformed the server refuses to parse it.
    assert answer.status in (400, 404), (target, answer.status, answer.body[:200])
    assert b"root:" not in answer.body
    assert b"import " not in answer.body and b"def " not in answer.body


def test_static_files_are_served_by_name_only(portal_url: str) -> None:
    """The control: the names the pages use are served, so the 404s above are meaningful."""
    assert raw_get(portal_url, "/static/widgets/widgets.js").status == 200
    assert raw_get(portal_url, "/dashboard/static/dashboard.css").status == 200


# -- header injection ----------------------------------------------------------------------

INJECTED = "%0d%0aSet-Cookie:%20injected=1%0d%0aX-Injected:%201"


def assert_not_split(answer: Any) -> None:
    headers = answer.headers if isinstance(answer.headers, list) else answer.headers.multi_items()
    for name, value in headers:
        assert name.lower() != "x-injected", headers
        assert "\r" not in value and "\n" not in value, headers
        if name.lower() == "set-cookie":
            assert not value.startswith("injected"), headers


@pytest.mark.parametrize(
    "request_id",
    [
        "abc\rX-Injected: 1",
        "abc\x00def",
        "abc\x7f",
        "é" * 10,
        "x" * 500,
        "abc%0d%0aX-Injected:%201",
        " spaced value ",
    ],
)
def test_request_ids_never_split_the_answer(portal_url: str, request_id: str) -> None:
    header = f"X-Request-ID: {request_id}\r\n"
    answer = raw_get(portal_url, "/healthz", header)
    # A raw CR or NUL in a header may be refused by the server itself (400): also fine.
    assert answer.status in (200, 400), answer
    assert_not_split(answer)
    echoed = answer.header("x-request-id")
    if answer.status == 200:
        assert len(echoed) == 1
        assert echoed[0].isprintable() and len(echoed[0]) <= 64


def test_redirect_targets_never_split_the_answer(portal_url: str) -> None:
    # The sign-in redirect carries the page asked for.
    answer = raw_get(portal_url, f"/dashboard/tenants/{INJECTED}")
    assert answer.status in (303, 404), answer
    assert_not_split(answer)
    answer = raw_get(portal_url, f"/dashboard/t/ten_x{INJECTED}/settings")
    assert answer.status == 303
    assert_not_split(answer)
    assert answer.header("location")[0].startswith("/dashboard/login?next=")


def test_next_after_sign_in_never_splits_the_answer(
    portal_url: str, dashboard: DashboardClient
) -> None:
    dashboard.sign_up()
    cookie = dashboard.http.cookies.get("billport_dashboard")
    for next_path in (f"/dashboard/tenants{INJECTED}", f"/dashboard/{INJECTED}"):
        answer = raw_get(
            portal_url,
            f"/dashboard/login?next={next_path}",
            f"Cookie: billport_dashboard={cookie}\r\n",
        )
        assert answer.status == 303, answer
        assert_not_split(answer)
        assert answer.header("location")[0].startswith("/dashboard/")


def test_widget_query_parameters_never_reach_a_header(
    portal_url: str, tenant: dict[str, Any]
) -> None:
    key = tenant["publishable_key"]
    for query in (
        f"origin={quote(ORIGIN)}{INJECTED}",
        f"origin={quote(ORIGIN)}&frame=f1{INJECTED}",
        f"origin={quote(ORIGIN)}&locale=en{INJECTED}&currency=usd{INJECTED}",
    ):
        answer = raw_get(portal_url, f"/w/plan-picker?key={key}&{query}")
        assert answer.status in (200, 403), answer
        assert_not_split(answer)
        policy = answer.header("content-security-policy")[0]
        assert "Set-Cookie" not in policy and "injected" not in policy


# -- open redirects ------------------------------------------------------------------------

FOREIGN_TARGETS = [
    "//evil.test",
    "//evil.test/dashboard/",
    "https://evil.test",
    "https://evil.test/dashboard/",
    "http:evil.test",
    "/\\evil.test",
    "\\\\evil.test",
    "/dashboard/\\..\\..\\\\evil.test",
    "/dashboard//evil.test",
    "/dashboard/..//evil.test",
    "/dashboard/%2F%2Fevil.test/..//x",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "\t//evil.test",
    " //evil.test",
    "/\t/evil.test",
    "///evil.test",
    "/dashboard/\x00//evil.test",
]


def assert_same_site(location: str, portal_url: str) -> None:
    """Where a browser would go from ``location``: the portal itself, never elsewhere."""
    assert location.startswith("/") and not location.startswith(("//", "/\\")), location
    # Browsers ignore tabs and newlines inside URLs and read \ as / in http(s) URLs.
    cleaned = re.sub(r"[\t\r\n]", "", location).replace("\\", "/")
    resolved = httpx.URL(portal_url).join(cleaned)
    assert resolved.host == urlsplit(portal_url).hostname, location
    assert resolved.port == urlsplit(portal_url).port, location


def test_sign_in_never_redirects_to_another_site(
    portal_url: str, dashboard: DashboardClient
) -> None:
    dashboard.sign_up()
    email = str(dashboard.email)
    for target in FOREIGN_TARGETS:
        # Signed in, the sign-in page sends the visitor on at once.
        again = dashboard.get("/dashboard/login", params={"next": target})
        assert again.status_code == 303, target
        assert_same_site(again.headers["location"], portal_url)
    # Posting the sign-in form checks a password (argon2, slow on purpose): a few suffice,
    # the same check decides both ways.
    for target in FOREIGN_TARGETS[:6]:
        dashboard.http.cookies.clear()
        answer = dashboard.post(
            "/dashboard/login", {"email": email, "password": PASSWORD, "next": target}
        )
        assert answer.status_code == 303, answer.text[:300]
        assert_same_site(answer.headers["location"], portal_url)


def test_a_dashboard_path_is_still_a_valid_next(dashboard: DashboardClient) -> None:
    dashboard.sign_up()
    answer = dashboard.get("/dashboard/login", params={"next": "/dashboard/tenants/new"})
    assert answer.headers["location"] == "/dashboard/tenants/new"


RETURN_URLS = [
    "https://evil.test/account",
    "//evil.test/account",
    "/account",
    "javascript:alert(1)",
    "data:text/html,hi",
    "http://app.acme.test/account",
    "https://app.acme.test:8443/account",
    "https://app.acme.test@evil.test/",
    "https://app.acme.test.evil.test/",
    "https://evil.test#@app.acme.test",
    "https://evil.test?@app.acme.test",
    "https://evil.test\\@app.acme.test",
    "https://app.acme.test\\@evil.test",
    "https://user:pass@app.acme.test/",
    "https:app.acme.test",
    "https:/app.acme.test",
    "https://app.acme.test%2f@evil.test",
    "\x00https://app.acme.test/",
]


def test_session_return_urls_stay_on_the_tenants_origins(
    api: httpx.Client, tenant: dict[str, Any]
) -> None:
    for url in RETURN_URLS:
        answer = api.post(
            "/api/v1/sessions",
            json={"email": "ada@example.com", "return_url": url},
            headers=auth(tenant),
        )
        assert_contract_error(answer, 422, "invalid_return_url")
        assert answer.json()["error"]["param"] == "return_url"


def test_the_full_page_portal_links_back_only_where_the_tenant_said(
    api: httpx.Client, tenant: dict[str, Any]
) -> None:
    created = api.post(
        "/api/v1/sessions",
        json={"email": "ada@example.com", "return_url": f"{ORIGIN}/account?tab=billing"},
        headers=auth(tenant),
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    # A return_url in the page's own query is ignored: only the session's counts.
    page = api.get("/portal", params={"session": token, "return_url": "https://evil.test/"})
    assert page.status_code == 200
    assert "evil.test" not in page.text
    links = re.findall(r'class="bp-return" href="([^"]*)"', page.text)
    assert links == [f"{ORIGIN}/account?tab=billing"]
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]


# -- clickjacking --------------------------------------------------------------------------


def frame_ancestors(answer: httpx.Response) -> list[str]:
    policy = answer.headers["content-security-policy"]
    found = [p.strip() for p in policy.split(";") if p.strip().startswith("frame-ancestors")]
    assert len(found) == 1, policy
    return found[0].split()[1:]


def test_widget_pages_are_framed_only_by_the_tenants_origins(
    api: httpx.Client, tenant: dict[str, Any]
) -> None:
    expected = [ORIGIN, "http://localhost:3000", "'self'"]
    token = mint_user_token(tenant, email="ada@example.com")
    key = tenant["publishable_key"]
    for widget in WIDGETS:
        params = {"key": key, "token": token, "origin": ORIGIN, "price": tenant["price"]}
        page = api.get(f"/w/{widget}", params=params)
        assert page.status_code == 200, (widget, page.text[:300])
        assert frame_ancestors(page) == expected, widget
    # Refusals once the tenant is known: the same list, so only the tenant sees them.
    refusals = [
        ("customer-portal", {"origin": ORIGIN}),
        ("plan-picker", {"origin": ORIGIN, "token": "garbage"}),
        ("plan-picker", {"origin": ORIGIN, "billing_page": "bpg_missing"}),
    ]
    for widget, params in refusals:
        page = api.get(f"/w/{widget}", params={"key": key, **params})
        assert page.status_code in (401, 404), page.text[:300]
        assert frame_ancestors(page) == expected


def test_error_pages_without_a_tenant_hold_nothing_worth_framing(
    api: httpx.Client, tenant: dict[str, Any]
) -> None:
    """Unknown keys and refused origins may be framed anywhere (the developer embedding the
    widget must see why it fails), so they carry no session, no form and no button."""
    for widget, params in [
        ("plan-picker", {"key": "bp_pub_unknown"}),
        ("nope", {"key": tenant["publishable_key"]}),
        ("plan-picker", {"key": tenant["publishable_key"], "origin": "https://evil.test"}),
    ]:
        page = api.get(f"/w/{widget}", params=params)
        assert page.status_code in (403, 404)
        assert frame_ancestors(page) == ["*", "'self'"]
        config = page_config(page.text)
        assert "session" not in config and "parentOrigin" not in config
        assert "<form" not in page.text and "<button" not in page.text


def test_dashboard_pages_are_never_framed(
    portal_url: str, dashboard: DashboardClient, sandbox_url: str
) -> None:
    pages = ["/dashboard/login", "/dashboard/signup", "/dashboard/nope", "/dashboard/t/x/y/z"]
    anonymous = [dashboard.get(path) for path in pages]
    dashboard.sign_up()
    tenant_id = dashboard.create_tenant(sandbox_url, "h" + str(time.time_ns()))
    base = f"/dashboard/t/{tenant_id}"
    signed_in = [
        dashboard.get(path)
        for path in (
            "/dashboard/tenants",
            "/dashboard/tenants/new",
            base,
            f"{base}/settings",
            f"{base}/stripe",
            f"{base}/keys",
            f"{base}/team",
            f"{base}/audit",
            f"{base}/callbacks",
            f"{base}/catalog",
            f"{base}/customers",
            f"{base}/pages",
            f"{base}/pages/new",
            "/dashboard/t/ten_someone_else",
        )
    ]
    refused_form = dashboard.http.post(f"{base}/settings", data={"csrf_token": "forged"})
    assert refused_form.status_code == 403
    for answer in [*anonymous, *signed_in, refused_form]:
        assert answer.status_code in (200, 403, 404), (answer.url, answer.status_code)
        assert frame_ancestors(answer) == ["'none'"], answer.url
        assert answer.headers["x-frame-options"] == "DENY", answer.url


# -- reflected markup ----------------------------------------------------------------------


def test_query_and_path_values_come_back_escaped(
    api: httpx.Client, tenant: dict[str, Any], dashboard: DashboardClient
) -> None:
    key = tenant["publishable_key"]
    for payload in XSS_PAYLOADS:
        answers = [
            api.get(f"/w/{quote(payload, safe='')}", params={"key": key}),
            api.get("/w/plan-picker", params={"key": payload}),
            api.get(
                "/w/plan-picker",
                params={
                    "key": key,
                    "origin": ORIGIN,
                    "frame": payload,
                    "locale": payload,
                    "currency": payload,
                    "price": payload,
                },
            ),
            api.get("/w/plan-picker", params={"key": key, "origin": payload}),
            api.get("/w/plan-picker", params={"key": key, "billing_page": payload}),
            api.get("/portal", params={"session": payload}),
            dashboard.get("/dashboard/login", params={"next": payload, "done": payload}),
            dashboard.get(f"/dashboard/{quote(payload, safe='')}"),
        ]
        for answer in answers:
            assert answer.status_code < 500, (answer.url, answer.text[:300])
            if answer.headers["content-type"].startswith("text/html"):
                if "<" in payload:
                    assert payload not in answer.text, answer.url
                assert "<script>alert" not in answer.text, answer.url
            else:
                # Only ever an error in JSON, which no browser renders as a page.
                assert answer.headers["content-type"].startswith("application/json")


# -- NUL characters ------------------------------------------------------------------------


def test_nul_characters_are_refused_not_a_server_error(
    api: httpx.Client, tenant: dict[str, Any], dashboard: DashboardClient
) -> None:
    """PostgreSQL cannot store U+0000: everywhere text reaches the database, 422."""
    nul = "a\x00b"
    answers = [
        api.patch("/api/v1/tenant", json={"name": nul}, headers=auth(tenant)),
        api.post(
            "/api/v1/billing_pages",
            json={"widget": "plan-picker", "name": nul},
            headers=auth(tenant),
        ),
        api.post("/api/v1/members", json={"email": f"{nul}@x.test"}, headers=auth(tenant)),
        api.get("/api/v1/billing_pages/bpg_%00", headers=auth(tenant)),
        api.delete("/api/v1/sessions/bps_%00", headers=auth(tenant)),
    ]
    for answer in answers:
        assert_contract_error(answer, 422, "validation_error")
    page = api.get("/w/plan-picker", params={"key": tenant["publishable_key"], "billing_page": nul})
    assert page.status_code == 422 and "Traceback" not in page.text
    signed_out = dashboard.post("/dashboard/login", {"email": f"{nul}@x.test", "password": nul})
    assert signed_out.status_code < 500


# -- widget options of any shape -----------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
OPTION_KEYS = [
    "service",
    "hidden_plans",
    "disabled_plans",
    "plan_order",
    "highlight",
    "intervals",
    "default_interval",
    "currency",
    "quantity",
    "coupon_field",
    "trial_days",
    "require_card",
    "password_field",
    "cta_url",
    "theme",
    "language",
    "allow_plan_change",
    "proration_behavior",
    "allow_cancel",
    "cancel_mode",
    "retention_coupon",
    "retention_message",
    "allow_resubscribe",
    "change_canceled",
    "show_all_invoices",
]
options_strategy = st.dictionaries(
    st.sampled_from(OPTION_KEYS),
    json_values
    | st.sampled_from(["month", "year", "usd", "eur", "notes", "notes:pro", "fr"])
    | st.fixed_dictionaries({"min": json_values, "max": json_values, "step": json_values}),
    max_size=8,
)


def widget_options_never_break_a_page(
    api: httpx.Client, tenant: dict[str, Any], dashboard: DashboardClient, examples: int
) -> None:
    token = mint_user_token(tenant, email="ada@example.com")
    page_id = api.post(
        "/api/v1/billing_pages",
        json={"widget": "plan-picker", "name": "Fuzzed"},
        headers=auth(tenant),
    ).json()["id"]
    dashboard.sign_up()
    added = api.post(
        "/api/v1/members", json={"email": dashboard.email, "role": "owner"}, headers=auth(tenant)
    )
    assert added.status_code == 201, added.text

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(tenant_options=options_strategy, page_options=options_strategy)
    def check(tenant_options: dict[str, Any], page_options: dict[str, Any]) -> None:
        saved = api.patch(
            "/api/v1/tenant", json={"widget_options": tenant_options}, headers=auth(tenant)
        )
        assert saved.status_code == 200, saved.text
        saved = api.patch(
            f"/api/v1/billing_pages/{page_id}",
            json={"options": page_options},
            headers=auth(tenant),
        )
        assert saved.status_code == 200, saved.text
        key = tenant["publishable_key"]
        for widget in WIDGETS:
            params = {"key": key, "token": token, "origin": ORIGIN, "price": tenant["price"]}
            page = api.get(f"/w/{widget}", params=params)
            assert page.status_code == 200, (widget, page.text[:500])
        page = api.get("/w/plan-picker", params={"key": key, "billing_page": page_id})
        assert page.status_code == 200, page.text[:500]
        base = f"/dashboard/t/{tenant['id']}"
        for path in (f"{base}/pages/{page_id}", f"{base}/catalog", f"{base}/settings"):
            shown = dashboard.get(path)
            assert shown.status_code == 200, (path, shown.text[:500])

    check()


def test_widget_options_of_any_shape_never_break_a_page(
    api: httpx.Client, tenant: dict[str, Any], dashboard: DashboardClient
) -> None:
    widget_options_never_break_a_page(api, tenant, dashboard, examples=8)


@pytest.mark.long
def test_widget_options_of_any_shape_never_break_a_page_long(
    api: httpx.Client, tenant: dict[str, Any], dashboard: DashboardClient
) -> None:
    widget_options_never_break_a_page(api, tenant, dashboard, examples=60)
