"""Every parser of outside input, fed hostile input by Hypothesis: each either answers or
refuses with a ``BillportError`` (a clean 4xx), never another exception (a 500).

Plain random text rarely looks like a URL, a JWT or a bracketed form name, so the
strategies here build those shapes out of their dangerous pieces.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer
from joserfc import jwt
from joserfc.jwk import OctKey

from portal.errors import BillportError, Unauthorized, ValidationFailed
from portal.identity.legacy import legacy_hash, verify_legacy_hash
from portal.identity.tokens import verify_user_token
from portal.identity.widget_session import WidgetSession, WidgetSessionSigner
from portal.sandbox.forms import FormError, decode
from tenants.dashboard.auth_routes import safe_next
from tenants.dashboard.page_options import (
    THEME_COLOURS,
    InvalidPageForm,
    form_values,
    parse_page_form,
    plan_rows,
    summarize_catalog,
)
from tenants.dashboard.session import DashboardSession, SessionCookie
from tenants.service import check_callback_url, normalize_origin
from tenants.sessions.service import check_return_url
from tests.hostile_support import XSS_PAYLOADS
from widgets.money import locale_currency, money, pick_locale
from widgets.options import effective_options
from widgets.pages import theme_css

# Each property runs with a quick number of examples, and many more in its long variant.
EXAMPLES = [100, pytest.param(800, marks=pytest.mark.long, id="long")]
KEY = "bp_pub_" + "a" * 24
SECRET = "bpts_" + "s" * 40
NOW = 1_800_000_000
WIDGETS = ["plan-picker", "checkout", "signup", "customer-portal", "invoices", "other"]

nasty_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(XSS_PAYLOADS),
    st.text(alphabet="\x00\r\n\t \\/@:#?%[].<>\"'é²٣", max_size=20),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | nasty_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty_text, inner, max_size=4),
    max_leaves=12,
)
# Smaller values, for tests that draw many of them; and the option names widgets read.
small_json = st.recursive(
    st.none() | st.booleans() | st.integers() | nasty_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty_text, inner, max_size=3),
    max_leaves=4,
)
option_names = st.sampled_from(
    ["theme", "quantity", "trial_days", "cta_url", "hidden_plans", "intervals", "plan_order"]
)


def hostile(examples: int) -> settings:
    # No example database in the work tree, no deadline (machines vary).
    return settings(
        max_examples=examples,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- user tokens and Billflow hashes -------------------------------------------------------

jwt_part = st.one_of(
    st.binary(max_size=60).map(b64),
    json_values.map(lambda v: b64(json.dumps(v).encode())),
    st.integers(1, 1500).map(lambda depth: b64(b"[" * depth + b"]" * depth)),
    st.integers(1, 3000).map(lambda depth: b64(b"[" * depth)),
    st.text(max_size=20),
)
headers = st.fixed_dictionaries(
    {"alg": st.sampled_from(["HS256", "none", "RS256", "HS512", "", "hs256"])},
    optional={"typ": nasty_text, "kid": nasty_text, "crit": json_values, "b64": json_values},
).map(lambda h: b64(json.dumps(h).encode()))


@pytest.mark.parametrize("examples", EXAMPLES)
def test_jwt_shaped_garbage_is_a_clean_refusal(examples: int) -> None:
    @hostile(examples)
    @given(header=st.one_of(headers, jwt_part), payload=jwt_part, signature=jwt_part)
    def check(header: str, payload: str, signature: str) -> None:
        with pytest.raises(BillportError) as refused:
            verify_user_token(
                f"{header}.{payload}.{signature}", publishable_key=KEY, token_secret=SECRET, now=NOW
            )
        assert refused.value.status_code in (401, 403)

    check()


@pytest.mark.parametrize("examples", EXAMPLES)
def test_signed_tokens_with_any_claims_verify_or_are_refused(examples: int) -> None:
    """Claims with any JSON, signed with the right secret, reach every claim check."""

    @hostile(examples)
    @given(
        claims=st.dictionaries(
            nasty_text
            | st.sampled_from(["aud", "exp", "iat", "nbf", "email", "customer_id", "user_id"]),
            small_json,
            max_size=6,
        )
    )
    def check(claims: dict[str, Any]) -> None:
        claims = {"aud": KEY, "exp": NOW + 60, **claims}
        token = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(SECRET))
        try:
            user = verify_user_token(token, publishable_key=KEY, token_secret=SECRET, now=NOW)
        except BillportError as refused:
            assert refused.status_code in (401, 403)
            return
        assert (user.email is None) != (user.customer_id is None)

    check()


@pytest.mark.parametrize("examples", EXAMPLES)
def test_billflow_hashes_match_or_are_refused(examples: int) -> None:
    @hostile(examples)
    @given(value=nasty_text, given_hash=nasty_text | st.text(max_size=200))
    def check(value: str, given_hash: str) -> None:
        try:
            verify_legacy_hash(value, given_hash, [SECRET, "bpts_old"], enabled=True)
        except Unauthorized as refused:
            assert refused.code == "legacy_hash_mismatch"
        else:
            assert given_hash.strip().lower() in {
                legacy_hash(value, SECRET),
                legacy_hash(value, "bpts_old"),
            }

    check()


def test_a_billflow_hash_with_non_ascii_is_a_mismatch_not_a_crash() -> None:
    with pytest.raises(Unauthorized):
        verify_legacy_hash("ada@example.com", "é" * 64, SECRET, enabled=True)


# -- widget sessions and the dashboard's cookie --------------------------------------------

signer = WidgetSessionSigner("test-secret")


@pytest.mark.parametrize("examples", EXAMPLES)
def test_widget_session_garbage_is_a_clean_refusal(examples: int) -> None:
    @hostile(examples)
    @given(value=st.one_of(st.text(max_size=300), st.binary(max_size=200).map(b64)))
    def check(value: str) -> None:
        with pytest.raises(Unauthorized) as refused:
            signer.verify(value)
        assert refused.value.code in {"widget_session_missing", "widget_session_invalid"}

    check()


@pytest.mark.parametrize("examples", EXAMPLES)
def test_widget_sessions_signed_or_altered_verify_or_are_refused(examples: int) -> None:
    """Validly signed data of any shape (a key leak, an older format), and tampered values."""

    @hostile(examples)
    @given(data=json_values, cut=st.integers(0, 200))
    def check(data: Any, cut: int) -> None:
        signed = URLSafeTimedSerializer("test-secret", salt="billport.widget-session.v1").dumps(
            data
        )
        for value in (signed, signed[:cut] + signed[cut + 1 :]):
            try:
                session = signer.verify(value)
            except Unauthorized:
                continue
            assert isinstance(session, WidgetSession)

    check()


def test_a_genuine_widget_session_still_verifies() -> None:
    session = WidgetSession(tenant_id="ten_1", widget="plan-picker", parent_origin="")
    assert signer.verify(signer.sign(session)) == session


cookie = SessionCookie("test-secret", "https://billing.example.com")


@pytest.mark.parametrize("examples", EXAMPLES)
def test_dashboard_cookie_garbage_is_an_anonymous_visitor(examples: int) -> None:
    @hostile(examples)
    @given(value=st.one_of(st.none(), st.text(max_size=300), st.binary(max_size=200).map(b64)))
    def check(value: str | None) -> None:
        assert cookie.load(value) is None

    check()


@pytest.mark.parametrize("examples", EXAMPLES)
def test_dashboard_cookies_signed_with_any_data_load_or_are_ignored(examples: int) -> None:
    @hostile(examples)
    @given(data=json_values)
    def check(data: Any) -> None:
        value = URLSafeTimedSerializer("test-secret", salt="billport-dashboard-session").dumps(data)
        loaded = cookie.load(value)
        assert loaded is None or isinstance(loaded, DashboardSession)

    check()


@pytest.mark.parametrize("examples", EXAMPLES)
def test_csrf_check_answers_yes_or_no(examples: int) -> None:
    @hostile(examples)
    @given(token=st.one_of(st.none(), nasty_text), origin=st.one_of(st.none(), nasty_text))
    def check(token: str | None, origin: str | None) -> None:
        session = DashboardSession.anonymous()
        assert (
            cookie.form_is_genuine(session, token, origin, "https://billing.example.com") is False
        )
        good = cookie.csrf_token(session)
        assert cookie.form_is_genuine(session, good, None, "http://x") is True
        # The right token from another site's form is still refused.
        foreign = origin is not None and origin not in {
            "https://billing.example.com",
            "http://x",
            "",
        }
        assert cookie.form_is_genuine(session, good, origin, "http://x") is (not foreign)

    check()


# -- URLs: origins, callback URLs, return URLs, the sign-in's next -------------------------

url_pieces = st.sampled_from(
    [
        "http://",
        "https://",
        "javascript:",
        "data:",
        "//",
        "/",
        "\\",
        "@",
        ":",
        "[",
        "]",
        "[::1]",
        "#",
        "?",
        "%2f",
        "%00",
        "\x00",
        "\t",
        "\n",
        " ",
        "app.acme.test",
        "evil.test",
        ":443",
        ":99999",
        ":-1",
        "user:pass@",
        "é",
        "xn--",
    ]
)
urls = st.lists(url_pieces, min_size=1, max_size=8).map("".join)


class _Tenant:
    allowed_origins = ["https://app.acme.test", "http://localhost:3000"]


@pytest.mark.parametrize("examples", EXAMPLES)
def test_origins_normalize_or_are_refused(examples: int) -> None:
    @hostile(examples)
    @given(url=urls | st.text(max_size=40))
    def check(url: str) -> None:
        try:
            origin = normalize_origin(url)
        except ValidationFailed as refused:
            assert refused.code == "invalid_origin"
            return
        parts = urlsplit(origin)
        assert parts.scheme in ("http", "https") and parts.hostname
        assert origin == f"{parts.scheme}://{parts.netloc}"

    check()


@pytest.mark.parametrize("examples", EXAMPLES)
def test_callback_urls_are_http_or_refused(examples: int) -> None:
    @hostile(examples)
    @given(url=urls)
    def check(url: str) -> None:
        try:
            checked = check_callback_url(url)
        except ValidationFailed as refused:
            assert refused.code == "invalid_callback_url"
            return
        assert checked is None or checked.startswith(("http://", "https://"))

    check()


@pytest.mark.parametrize("examples", EXAMPLES)
def test_return_urls_lead_only_to_allowed_origins(examples: int) -> None:
    @hostile(examples)
    @given(url=urls | st.text(max_size=40))
    def check(url: str) -> None:
        try:
            checked = check_return_url(_Tenant(), url)  # type: ignore[arg-type]
        except ValidationFailed as refused:
            assert refused.code == "invalid_return_url"
            return
        if checked is None:
            return
        # Where a browser goes: it drops tabs and newlines and reads \ as /.
        followed = urlsplit(re.sub(r"[\t\n\r]", "", checked).replace("\\", "/"))
        assert f"{followed.scheme}://{followed.netloc}" in _Tenant.allowed_origins, checked

    check()


@pytest.mark.parametrize("examples", EXAMPLES)
def test_next_after_sign_in_stays_on_the_portal(examples: int) -> None:
    @hostile(examples)
    @given(value=st.one_of(urls, st.builds("/dashboard/{}".format, urls), st.none(), json_values))
    def check(value: Any) -> None:
        target = safe_next(value)
        assert target.startswith("/dashboard/")
        followed = urljoin("https://billing.example.com/", re.sub(r"[\t\n\r]", "", target))
        assert urlsplit(followed.replace("\\", "/")).netloc == "billing.example.com"

    check()


# -- the sandbox's Stripe form encoding ----------------------------------------------------

form_names = st.text(alphabet="abc[]", min_size=1, max_size=6)
bracket_names = st.builds(
    lambda head, parts: head + "".join(f"[{p}]" for p in parts),
    st.text(alphabet="abc", min_size=1, max_size=3),
    st.lists(st.sampled_from(["0", "1", "10", "", "b", "²", "٣", "[", "]"]), max_size=6),
)


@pytest.mark.parametrize("examples", EXAMPLES)
def test_bracketed_forms_decode_or_are_refused(examples: int) -> None:
    @hostile(examples)
    @given(fields=st.lists(st.tuples(bracket_names | form_names, nasty_text), max_size=8))
    def check(fields: list[tuple[str, str]]) -> None:
        try:
            assert isinstance(decode(urlencode(fields)), dict)
        except FormError:
            pass

    check()


@pytest.mark.parametrize("depth", [19, 20, 21, 5000])
def test_deeply_nested_form_names_are_refused_not_recursed(depth: int) -> None:
    name = "a" + "[0]" * depth
    if depth < 20:
        assert decode(f"{name}=1")
    else:
        with pytest.raises(FormError):
            decode(f"{name}=1")


# -- money ---------------------------------------------------------------------------------


@pytest.mark.parametrize("examples", EXAMPLES)
def test_any_amount_in_any_currency_formats(examples: int) -> None:
    @hostile(examples)
    @given(
        minor=st.integers(min_value=-(10**60), max_value=10**60),
        currency=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC", min_size=3, max_size=3)
        | st.sampled_from(["usd", "eur", "jpy", "bhd", "clf", "xxx", "krw"]),
        locale=st.sampled_from(["en", "fr"]),
    )
    def check(minor: int, currency: str, locale: str) -> None:
        shown = money(minor, currency, locale)
        assert isinstance(shown, str) and shown
        assert "<" not in shown

    check()


@pytest.mark.parametrize("examples", EXAMPLES)
def test_accept_language_headers_pick_a_locale(examples: int) -> None:
    @hostile(examples)
    @given(header=st.one_of(st.none(), st.text(max_size=60), st.sampled_from(["en-ZZ", "fr-419"])))
    def check(header: str | None) -> None:
        assert pick_locale(header) in ("en", "fr")
        currency = locale_currency(header)
        assert currency is None or (isinstance(currency, str) and len(currency) == 3)

    check()


# -- billing page options: the dashboard's form and the widgets' reading -------------------

form_fields = st.sampled_from(
    [
        "name",
        "billflow_id",
        "service",
        "currency",
        "cta_url",
        "trial_days",
        "retention_coupon",
        "retention_message",
        "default_interval",
        "interval-month",
        "interval-year",
        "quantity-min",
        "quantity-max",
        "quantity-step",
        "proration_behavior",
        "cancel_mode",
        "language",
        "highlight",
        "plan-count",
        "plan-0-key",
        "plan-0-order",
        "plan-0-shown",
        "plan-new-key",
        "plan-new-order",
        "theme-radius",
        "theme-font",
        *[f"theme-{c}{suffix}" for c in THEME_COLOURS for suffix in ("", "-picker", "-was")],
    ]
)
form_strings = st.one_of(nasty_text, urls, st.sampled_from(["1", "-1", "99999999999", "٣", "on"]))


@pytest.mark.parametrize("examples", EXAMPLES)
def test_billing_page_forms_parse_or_list_their_problems(examples: int) -> None:
    @hostile(examples)
    @given(
        widget=st.sampled_from(WIDGETS),
        values=st.dictionaries(form_fields, form_strings, max_size=12),
        current=st.dictionaries(option_names | nasty_text, small_json, max_size=5),
    )
    def check(widget: str, values: dict[str, str], current: dict[str, Any]) -> None:
        try:
            change = parse_page_form(widget, values, current)
        except InvalidPageForm as refused:
            assert refused.errors and all(isinstance(m, str) for m in refused.errors.values())
            return
        json.dumps(change.options)
        assert theme_css(change.options).count("}") <= 1

    check()


products = st.lists(
    st.fixed_dictionaries(
        {"id": nasty_text, "name": nasty_text},
        optional={
            "active": json_values,
            "metadata": st.dictionaries(
                st.sampled_from(["service", "tier", "order", "highlight"]), nasty_text
            ),
        },
    ),
    max_size=4,
)
prices = st.lists(
    st.fixed_dictionaries(
        {
            "product": nasty_text,
            "type": st.just("recurring"),
            "currency": nasty_text,
            "unit_amount": st.none() | st.integers(-(10**12), 10**12),
        },
        optional={
            "recurring": st.fixed_dictionaries(
                {"interval": nasty_text},
                optional={"interval_count": st.integers(1, 1000), "usage_type": nasty_text},
            ),
            "currency_options": st.dictionaries(nasty_text, st.just({}), max_size=2),
        },
    ),
    max_size=4,
)


@pytest.mark.parametrize("examples", EXAMPLES)
def test_stored_options_of_any_shape_show_in_the_form(examples: int) -> None:
    @hostile(examples)
    @given(
        options=st.dictionaries(option_names | nasty_text, small_json, max_size=5),
        tenant_options=st.dictionaries(option_names | nasty_text, small_json, max_size=5),
        products=products,
        prices=prices,
    )
    def check(
        options: dict[str, Any],
        tenant_options: dict[str, Any],
        products: list[dict[str, Any]],
        prices: list[dict[str, Any]],
    ) -> None:
        values = form_values("Page", None, options, tenant_options)
        assert all(isinstance(v, str) for v in values.values())
        plan_rows(values, summarize_catalog(products, prices))

    check()


@pytest.mark.parametrize("examples", EXAMPLES)
def test_widgets_read_options_of_any_shape(examples: int) -> None:
    @hostile(examples)
    @given(
        tenant_options=st.dictionaries(option_names | nasty_text, small_json, max_size=5),
        page_options=st.dictionaries(option_names | nasty_text, small_json, max_size=5),
    )
    def check(tenant_options: dict[str, Any], page_options: dict[str, Any]) -> None:
        options = effective_options(tenant_options, page_options)
        if "cta_url" in options:
            assert urlsplit(options["cta_url"]).scheme in ("http", "https")
        if "trial_days" in options:
            assert isinstance(options["trial_days"], int)
        for key in ("hidden_plans", "intervals"):
            assert all(isinstance(item, str) for item in options.get(key, []))
        assert isinstance(options.get("quantity", {}), dict)
        theme_css(options)

    check()


# -- theme CSS: values trying to leave the style block -------------------------------------

BREAKOUTS = [
    "red;} body{display:none",
    "red</style><script>alert(1)</script>",
    "red; background: url(https://evil.test/x)",
    "url(javascript:alert(1))",
    "red\\3c /style\\3e",
    '"; } :root { --bp-primary: red',
    "red\n} * {",
    "</STYLE><img src=x onerror=alert(1)>",
    "@import 'https://evil.test/x.css'",
]


@pytest.mark.parametrize("examples", EXAMPLES)
def test_theme_values_never_leave_their_declaration(examples: int) -> None:
    @hostile(examples)
    @given(
        theme=st.dictionaries(
            st.sampled_from(
                ["primary", "text", "background", "surface", "border", "radius", "font"]
            )
            | nasty_text,
            st.sampled_from(BREAKOUTS) | nasty_text | small_json,
        )
    )
    def check(theme: dict[str, Any]) -> None:
        css = theme_css({"theme": theme})
        if not css:
            return
        assert css.startswith(":root { ") and css.endswith(" }")
        body = css[len(":root { ") : -len(" }")]
        declarations = [d for d in body.split(";") if d.strip()]
        for declaration in declarations:
            name, _, value = declaration.partition(":")
            assert re.fullmatch(r"\s*--bp-[a-z]+", name), css
            assert not set(value) & set("<>{}\\;@/:\n"), css
        assert "</" not in css

    check()


@pytest.mark.parametrize("value", BREAKOUTS)
def test_each_breakout_attempt_is_dropped(value: str) -> None:
    assert theme_css({"theme": {"primary": value, "font": value}}) == ""


def test_a_plain_theme_still_applies() -> None:
    css = theme_css({"theme": {"primary": "#5b21b6", "font": "Inter, sans-serif"}})
    assert css == ":root { --bp-primary: #5b21b6; --bp-font: Inter, sans-serif; }"
