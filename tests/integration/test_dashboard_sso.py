"""Dashboard single sign-on through an OpenID Connect provider, over HTTP like a browser."""

from __future__ import annotations

import html
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from portal.app import create_app
from portal.migrate import upgrade
from portal.settings import ConfigurationError, Settings, load_settings
from tenants.dashboard.sso import FLOW_COOKIE, FLOW_SALT, OidcProvider
from tests.dashboard_support import DashboardClient
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, IdpUser, LocalOidcProvider
from tests.servers import ServerThread, free_port, run_async

PROVIDER_NAME = "Acme ID"


@pytest.fixture(scope="module")
def identity_provider() -> Iterator[LocalOidcProvider]:
    port = free_port()
    provider = LocalOidcProvider(f"http://127.0.0.1:{port}")
    with ServerThread(provider.app, port=port):
        yield provider


@pytest.fixture
def idp(identity_provider: LocalOidcProvider) -> LocalOidcProvider:
    identity_provider.reset()
    return identity_provider


def serve_with_sso(settings: Settings, issuer: str) -> tuple[ServerThread, Settings]:
    port = free_port()
    settings = settings.with_changes(
        public_url=f"http://127.0.0.1:{port}",
        oidc_issuer=issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_name=PROVIDER_NAME,
    )
    upgrade(settings.database_url)
    return ServerThread(create_app(settings), port=port), settings


@pytest.fixture(scope="module")
def sso_portal(
    portal_settings: Settings, identity_provider: LocalOidcProvider
) -> Iterator[Settings]:
    server, settings = serve_with_sso(portal_settings, identity_provider.issuer)
    identity_provider.redirect_uris.add(f"{settings.public_url}/dashboard/sso/callback")
    with server:
        yield settings


@pytest.fixture(scope="module")
def sso_portal_url(sso_portal: Settings) -> str:
    return sso_portal.public_url


@pytest.fixture(scope="module")
def unreachable_sso_portal_url(portal_settings: Settings) -> Iterator[str]:
    # Nothing listens on this port: the provider is down from the start.
    server, settings = serve_with_sso(portal_settings, f"http://127.0.0.1:{free_port()}")
    with server:
        yield settings.public_url


@pytest.fixture
def browser(sso_portal_url: str) -> Iterator[DashboardClient]:
    client = DashboardClient(sso_portal_url)
    yield client
    client.close()


# -- driving the flow -----------------------------------------------------------------------


def start(browser: DashboardClient, next_path: str | None = None) -> httpx.Response:
    """The portal's answer to the "Sign in with …" button."""
    query = f"?{urlencode({'next': next_path})}" if next_path else ""
    return browser.get(f"/dashboard/sso/login{query}")


def at_provider(browser: DashboardClient, next_path: str | None = None) -> str:
    """Leave for the provider, which approves at once: the callback URL it sends us back to."""
    answer = start(browser, next_path)
    assert answer.status_code == 303, answer.text
    approved = browser.http.get(answer.headers["location"])
    assert approved.status_code == 302, approved.text
    return str(approved.headers["location"])


def sso_sign_in(browser: DashboardClient, next_path: str | None = None) -> httpx.Response:
    """The whole round trip; the portal's answer to the callback."""
    return browser.http.get(at_provider(browser, next_path))


def land(browser: DashboardClient, answer: httpx.Response) -> httpx.Response:
    """Follow the portal's redirects to the page the browser ends on."""
    for _ in range(5):
        if answer.status_code not in (302, 303):
            return answer
        answer = browser.get(answer.headers["location"])
    raise AssertionError("too many redirects")


def signed_in_as(browser: DashboardClient) -> str | None:
    page = browser.get("/dashboard/tenants")
    if page.status_code == 303 and page.headers["location"].startswith("/dashboard/login"):
        return None
    page = land(browser, page)
    assert page.status_code == 200, page.text
    return page.text.split('<span title="Signed in">')[1].split("<")[0]


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    return urlunsplit(parts._replace(query=urlencode({**query, **changes})))


def assert_error_page(answer: httpx.Response, status: int, text: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert text in html.unescape(answer.text), answer.text
    assert "Traceback" not in answer.text


# -- signing in -----------------------------------------------------------------------------


def test_the_sign_in_pages_offer_the_provider(browser: DashboardClient) -> None:
    login = browser.get("/dashboard/login?next=/dashboard/tenants")
    assert f"Sign in with {PROVIDER_NAME}" in login.text
    assert 'href="/dashboard/sso/login?next=/dashboard/tenants"' in login.text
    assert PROVIDER_NAME in browser.get("/dashboard/signup").text


def test_the_redirect_to_the_provider_asks_for_a_code_with_pkce(
    browser: DashboardClient, idp: LocalOidcProvider, sso_portal_url: str
) -> None:
    answer = start(browser)
    assert answer.status_code == 303
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{idp.issuer}/authorize"
    query = {key: values[0] for key, values in parse_qs(location.query).items()}
    assert query["client_id"] == CLIENT_ID
    assert query["response_type"] == "code"
    assert query["redirect_uri"] == f"{sso_portal_url}/dashboard/sso/callback"
    assert query["scope"].split() == ["openid", "email", "profile"]
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 20 and len(query["nonce"]) >= 20
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{FLOW_COOKIE}=")
    for attribute in ("HttpOnly", "Path=/dashboard/sso", "SameSite=lax", "Max-Age=600"):
        assert attribute.lower() in cookie.lower(), cookie
    # Nothing secret in the URL: the verifier stays in the (signed) cookie.
    assert "code_verifier" not in answer.headers["location"]


def test_a_first_sign_in_creates_the_account_and_signs_in(
    browser: DashboardClient, idp: LocalOidcProvider
) -> None:
    answer = sso_sign_in(browser)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/dashboard/"
    # The one-time flow cookie is spent.
    assert any(
        c.startswith(f"{FLOW_COOKIE}=") and "max-age=0" in c.lower()
        for c in answer.headers.get_list("set-cookie")
    )
    page = land(browser, answer)
    assert page.status_code == 200 and page.url.path == "/dashboard/tenants/new"
    assert signed_in_as(browser) == idp.user.email
    [token_request] = idp.token_requests
    assert token_request["grant_type"] == "authorization_code"
    assert token_request["client_auth"] == "client_secret_basic"
    assert len(token_request["code_verifier"]) >= 43


def test_a_second_sign_in_finds_the_same_account(
    sso_portal_url: str, idp: LocalOidcProvider
) -> None:
    first_email = idp.user.email
    for _ in range(2):
        client = DashboardClient(sso_portal_url)
        try:
            assert sso_sign_in(client).status_code == 303
            assert signed_in_as(client) == first_email
        finally:
            client.close()
        # The account is the provider's subject: a new address there changes nothing here.
        idp.user.email = "renamed-" + first_email


def test_an_existing_password_account_with_the_verified_email_is_linked(
    sso_portal_url: str, idp: LocalOidcProvider
) -> None:
    owner = DashboardClient(sso_portal_url)
    try:
        owner.sign_up()
        assert owner.email is not None
        email = owner.email
    finally:
        owner.close()
    idp.user = IdpUser(sub="idp|linked-" + email, email=email.upper(), email_verified=True)
    client = DashboardClient(sso_portal_url)
    try:
        assert sso_sign_in(client).status_code == 303
        assert signed_in_as(client) == email
    finally:
        client.close()
    # The password still works too.
    again = DashboardClient(sso_portal_url)
    try:
        assert again.sign_in(email).status_code == 303
        assert signed_in_as(again) == email
    finally:
        again.close()
    # Another identity of the provider with the same email does not take the account over.
    idp.user = IdpUser(sub="idp|other-" + email, email=email, email_verified=True)
    intruder = DashboardClient(sso_portal_url)
    try:
        answer = sso_sign_in(intruder)
        assert_error_page(answer, 401, "linked to another single sign-on identity")
        assert signed_in_as(intruder) is None
    finally:
        intruder.close()


def test_the_next_page_is_kept_and_other_sites_are_not_followed(
    sso_portal_url: str, idp: LocalOidcProvider
) -> None:
    for asked, expected in [
        ("/dashboard/tenants/new", "/dashboard/tenants/new"),
        ("https://evil.example/dashboard/", "/dashboard/"),
        ("//evil.example/", "/dashboard/"),
    ]:
        client = DashboardClient(sso_portal_url)
        try:
            answer = sso_sign_in(client, asked)
            assert answer.headers["location"] == expected
        finally:
            client.close()


def test_the_email_may_come_from_userinfo(browser: DashboardClient, idp: LocalOidcProvider) -> None:
    idp.email_in_id_token = False
    assert sso_sign_in(browser).status_code == 303
    assert signed_in_as(browser) == idp.user.email


def test_the_client_secret_goes_in_the_body_when_the_provider_asks(
    idp: LocalOidcProvider, sso_portal: Settings
) -> None:
    idp.auth_methods = ["client_secret_post"]
    provider = OidcProvider.from_settings(sso_portal)
    assert provider is not None

    async def sign_in() -> Any:
        url, flow = await provider.start("/dashboard/tenants")
        async with httpx.AsyncClient() as http:
            approved = await http.get(url)
        params = dict(parse_qsl(urlsplit(approved.headers["location"]).query))
        return await provider.finish(flow, params)

    # Browser tests keep an event loop running in this thread: the flow gets one of its own.
    identity = run_async(sign_in)
    assert (identity.email, identity.email_verified) == (idp.user.email, True)
    assert (identity.subject, identity.next_path) == (idp.user.sub, "/dashboard/tenants")
    assert [r["client_auth"] for r in idp.token_requests] == ["client_secret_post"]


def test_a_signed_in_admin_is_sent_on(browser: DashboardClient, idp: LocalOidcProvider) -> None:
    sso_sign_in(browser)
    answer = start(browser, "/dashboard/tenants")
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/tenants"


# -- what is refused ------------------------------------------------------------------------


def test_an_unverified_email_is_refused(
    sso_portal_url: str, browser: DashboardClient, idp: LocalOidcProvider
) -> None:
    idp.user = IdpUser.fresh(email_verified=False)
    answer = sso_sign_in(browser)
    assert_error_page(answer, 401, "did not confirm your email address")
    assert signed_in_as(browser) is None


def test_an_unverified_email_never_takes_over_a_password_account(
    sso_portal_url: str, idp: LocalOidcProvider
) -> None:
    owner = DashboardClient(sso_portal_url)
    try:
        owner.sign_up()
        assert owner.email is not None
        email = owner.email
    finally:
        owner.close()
    idp.user = IdpUser(sub="idp|intruder", email=email, email_verified=False)
    intruder = DashboardClient(sso_portal_url)
    try:
        assert_error_page(sso_sign_in(intruder), 401, "did not confirm your email address")
        assert signed_in_as(intruder) is None
    finally:
        intruder.close()


def test_a_tampered_state_is_refused(browser: DashboardClient, idp: LocalOidcProvider) -> None:
    callback = at_provider(browser)
    answer = browser.http.get(with_query(callback, state="forged-state-value"))
    assert_error_page(answer, 400, "does not belong to the sign-in this browser started")
    assert signed_in_as(browser) is None


def test_a_callback_in_another_browser_is_refused(
    sso_portal_url: str, browser: DashboardClient, idp: LocalOidcProvider
) -> None:
    callback = at_provider(browser)
    other = DashboardClient(sso_portal_url)
    try:
        answer = other.http.get(callback)
        assert_error_page(answer, 400, "expired or was started in another browser")
        assert signed_in_as(other) is None
    finally:
        other.close()


def test_an_expired_sign_in_is_refused(
    sso_portal: Settings, browser: DashboardClient, idp: LocalOidcProvider
) -> None:
    callback = at_provider(browser)
    current = browser.http.cookies[FLOW_COOKIE]
    payload = URLSafeTimedSerializer(sso_portal.secret_key, salt=FLOW_SALT).loads(current)

    class ElevenMinutesAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 660

    old = URLSafeTimedSerializer(
        sso_portal.secret_key, salt=FLOW_SALT, signer=ElevenMinutesAgo
    ).dumps(payload)
    browser.http.cookies.clear()
    browser.http.cookies.set(FLOW_COOKIE, old, domain="127.0.0.1", path="/dashboard/sso")
    answer = browser.http.get(callback)
    assert_error_page(answer, 400, "expired or was started in another browser")
    assert signed_in_as(browser) is None


def test_a_code_works_once(browser: DashboardClient, idp: LocalOidcProvider) -> None:
    callback = at_provider(browser)
    flow_cookie = browser.http.cookies[FLOW_COOKIE]
    assert browser.http.get(callback).status_code == 303
    browser.http.cookies.clear()
    browser.http.cookies.set(FLOW_COOKIE, flow_cookie, domain="127.0.0.1", path="/dashboard/sso")
    answer = browser.http.get(callback)
    assert_error_page(answer, 400, "did not accept this sign-in")
    assert signed_in_as(browser) is None


@pytest.mark.parametrize(
    ("misbehave", "message"),
    [
        ("nonce", "it does not belong to this sign-in"),
        ("key", "its signature does not match the provider's keys"),
        ("kid", "its signature does not match the provider's keys"),
        ("expired", "it has expired"),
        ("audience", "it was issued for another application"),
    ],
)
def test_an_id_token_that_does_not_verify_is_refused(
    browser: DashboardClient, idp: LocalOidcProvider, misbehave: str, message: str
) -> None:
    if misbehave == "nonce":
        idp.nonce = "a-nonce-from-another-sign-in"
    elif misbehave == "key":
        idp.signing_key = idp.rogue_key(same_kid=True)
    elif misbehave == "kid":
        idp.signing_key = idp.rogue_key(same_kid=False)
    elif misbehave == "expired":
        idp.lifetime = -300
    else:
        idp.audience = "another-application"
    answer = sso_sign_in(browser)
    assert_error_page(answer, 401, message)
    assert f"The sign-in from {PROVIDER_NAME} could not be verified" in answer.text
    assert signed_in_as(browser) is None


def test_a_refusal_at_the_provider_is_shown(
    browser: DashboardClient, idp: LocalOidcProvider
) -> None:
    idp.deny = True
    answer = sso_sign_in(browser)
    assert_error_page(answer, 403, f"Signing in with {PROVIDER_NAME} was cancelled or refused")
    assert signed_in_as(browser) is None


def test_a_provider_that_goes_down_mid_sign_in_is_a_clear_error(
    browser: DashboardClient, idp: LocalOidcProvider
) -> None:
    callback = at_provider(browser)
    idp.down_status = 503
    answer = browser.http.get(callback)
    assert_error_page(answer, 503, f"{PROVIDER_NAME} could not be reached")
    assert signed_in_as(browser) is None
    idp.down_status = None
    assert sso_sign_in(browser).status_code == 303


def test_refused_client_credentials_are_a_clear_error_and_stay_unlogged(
    browser: DashboardClient, idp: LocalOidcProvider, caplog: pytest.LogCaptureFixture
) -> None:
    idp.client_secret = "a-rotated-secret-billport-does-not-know"
    try:
        answer = sso_sign_in(browser)
    finally:
        idp.client_secret = CLIENT_SECRET
    assert_error_page(answer, 503, f"Signing in with {PROVIDER_NAME} is not set up correctly")
    assert signed_in_as(browser) is None
    assert "refused Billport's client credentials" in caplog.text
    assert CLIENT_SECRET not in caplog.text


def test_an_unreachable_provider_is_a_clear_error(unreachable_sso_portal_url: str) -> None:
    client = DashboardClient(unreachable_sso_portal_url)
    try:
        assert PROVIDER_NAME in client.get("/dashboard/login").text
        answer = start(client)
        assert_error_page(answer, 503, f"{PROVIDER_NAME} could not be reached")
        assert "sign in with your email and password" in answer.text
        assert signed_in_as(client) is None
    finally:
        client.close()


def test_without_configuration_there_is_no_single_sign_on(portal_url: str) -> None:
    client = DashboardClient(portal_url)
    try:
        for path in ("/dashboard/sso/login", "/dashboard/sso/callback?code=x&state=y"):
            assert_error_page(client.get(path), 404, "There is no such page")
        assert "/dashboard/sso/" not in client.get("/dashboard/login").text
        assert "/dashboard/sso/" not in client.get("/dashboard/signup").text
    finally:
        client.close()


# -- configuration --------------------------------------------------------------------------

OIDC_ENV = {
    "BILLPORT_OIDC_ISSUER": "https://id.example.com",
    "BILLPORT_OIDC_CLIENT_ID": "billport",
    "BILLPORT_OIDC_CLIENT_SECRET": "a-client-secret",
}


def test_single_sign_on_is_configured_from_the_environment(tmp_path: Path) -> None:
    off = load_settings({"BILLPORT_DATA_DIR": str(tmp_path)})
    assert off.oidc_issuer is None
    on = load_settings(
        {"BILLPORT_DATA_DIR": str(tmp_path), **OIDC_ENV, "BILLPORT_OIDC_NAME": "Okta"}
    )
    assert (on.oidc_issuer, on.oidc_client_id, on.oidc_client_secret) == (
        "https://id.example.com",
        "billport",
        "a-client-secret",
    )
    assert on.oidc_name == "Okta" and on.oidc_scopes == "openid email profile"
    assert "a-client-secret" not in repr(on)


@pytest.mark.parametrize("left_out", sorted(OIDC_ENV))
def test_partial_single_sign_on_configuration_is_refused(tmp_path: Path, left_out: str) -> None:
    env = {k: v for k, v in OIDC_ENV.items() if k != left_out}
    with pytest.raises(ConfigurationError, match=f"set {left_out}$"):
        load_settings({"BILLPORT_DATA_DIR": str(tmp_path), **env})


def test_scopes_must_include_openid(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="openid"):
        load_settings(
            {"BILLPORT_DATA_DIR": str(tmp_path), **OIDC_ENV, "BILLPORT_OIDC_SCOPES": "email"}
        )
