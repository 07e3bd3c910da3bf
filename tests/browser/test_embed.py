"""embed.js and the widget channel in Chromium.

A tenant's app is played by a tiny site on 127.0.0.1 (an allowed origin); the same site
reached as ``localhost`` is a foreign origin. Everything else is the real portal over HTTP,
the Stripe sandbox, and the protocol of docs/embed-protocol.md.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import html
import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stripe
from playwright.sync_api import ConsoleMessage, Frame, Page, expect

from tests.browser.host import RECORDER, HostSite, embed_script
from tests.servers import ServerThread
from tests.tokens import mint_user_token

SCREENSHOT = "/tmp/billport-embed-host-page.png"
INITIAL_HEIGHT = 150
# The accessible name embed.js gives each iframe.
TITLE = "Billing \N{EN DASH} {}"
EMBED_JS_GZIP_LIMIT = 6 * 1024


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[HostSite, str, str]]:
    """The host site, its allowed origin (127.0.0.1) and a foreign origin (localhost)."""
    app = HostSite()
    with ServerThread(app) as server:
        yield app, server.url, f"http://localhost:{server.port}"


@pytest.fixture
def tenant(create_tenant: Callable[..., dict[str, Any]], site: Any) -> dict[str, Any]:
    return create_tenant(allowed_origins=[site[1]])


@pytest.fixture
def email(stripe_client: stripe.StripeClient) -> str:
    """A user of the tenant's app who already is a customer in Stripe."""
    address = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    stripe_client.v1.customers.create(params={"email": address, "name": "Ada Lovelace"})
    return address


@pytest.fixture
def billport_errors(page: Page) -> list[str]:
    """What embed.js logged: nothing on a page that uses it correctly."""
    logged: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if message.type == "error" and message.text.startswith("Billport:"):
            logged.append(message.text)

    page.on("console", record)
    return logged


def user_token(tenant: dict[str, Any], email: str) -> str:
    return mint_user_token(tenant, lifetime=600, email=email)


def widget_div(widget: str, key: str, token: str | None = None, element_id: str = "") -> str:
    attributes = {"data-billport": widget, "data-key": key, "id": element_id}
    if token:
        attributes["data-token"] = token
    rendered = " ".join(f'{name}="{html.escape(value)}"' for name, value in attributes.items())
    return f"<div {rendered}></div>"


def wait_for_event(page: Page, channel: str, event: str, count: int = 1) -> None:
    page.wait_for_function(
        "([channel, event, count]) =>"
        " seen[channel].filter((p) => p.event === event).length >= count",
        arg=[channel, event, count],
    )


def payloads(page: Page, channel: str, event: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        "([channel, event]) => seen[channel].filter((p) => p.event === event)", [channel, event]
    )
    return found


def frame_of(page: Page, iframe: str) -> Frame:
    """The document inside the iframe that `iframe` selects, once loaded."""
    handle = page.locator(iframe).element_handle()
    frame = handle.content_frame()
    assert frame is not None
    frame.wait_for_load_state()
    return frame


def frame_id(page: Page, selector: str) -> str:
    src = page.locator(f"{selector} iframe").get_attribute("src") or ""
    return parse_qs(urlsplit(src).query)["frame"][0]


def content_height(frame: Frame) -> int:
    height: int = frame.evaluate(
        "Math.ceil(document.documentElement.getBoundingClientRect().height)"
    )
    return height


def set_gate(page: Page, handler: str) -> None:
    """What billportSettings.handleResponse answers from now on (a JS function's source)."""
    page.evaluate(f"() => {{ window.gate = {handler}; }}")


def mount_with_handler(page: Page, selector: str, options: dict[str, Any]) -> None:
    """Billport.mount with a handleResponse of its own that records into seen.mount."""
    page.wait_for_function("window.Billport !== undefined")
    page.evaluate(
        """([selector, options]) => {
            window.handle = Billport.mount(document.querySelector(selector), {
                ...options,
                handleResponse: (payload) => { seen.mount.push(payload); },
            });
        }""",
        [selector, options],
    )


# -- the happy path ------------------------------------------------------------------------


def test_widget_mounts_resizes_and_reports_its_events(
    page: Page, portal_url: str, site: Any, tenant: dict[str, Any], email: str, billport_errors
) -> None:
    app, allowed, _ = site
    path = app.add(
        '<main><h1>Your account</h1><p>Plan and payment details.</p><div id="billing"></div>'
        "</main>",
        head=RECORDER + embed_script(portal_url),
    )
    page.goto(allowed + path)
    options = {
        "widget": "customer-portal",
        "key": tenant["publishable_key"],
        "token": user_token(tenant, email),
    }
    mount_with_handler(page, "#billing", options)

    iframe = page.get_by_title(TITLE.format("Customer portal"))
    expect(iframe).to_have_count(1)
    expect(iframe).to_have_attribute("allow", "payment")
    widget = page.frame_locator("#billing iframe")
    expect(widget.locator(".bp-identity")).to_have_text(f"Signed in as {email}")

    # post_load reaches the mount's handler, billportSettings and the DOM event alike.
    for channel in ("mount", "settings", "dom"):
        wait_for_event(page, channel, "post_load")
        (loaded,) = payloads(page, channel, "post_load")
        assert loaded["response"]["widget"] == "customer-portal"
        assert loaded["response"]["frame"] == frame_id(page, "#billing")
        assert loaded["extras"] == {}
    assert [p["response"]["widget"] for p in payloads(page, "settings", "pre_load")] == [
        "customer-portal"
    ]

    # The iframe takes its content's height, and follows it when the content grows.
    frame = frame_of(page, "#billing iframe")
    height = content_height(frame)
    assert height != INITIAL_HEIGHT
    expect(iframe).to_have_css("height", f"{height}px")
    page.screenshot(path=SCREENSHOT, full_page=True)
    frame.evaluate(
        """() => {
            const more = document.createElement("div");
            more.style.height = "420px";
            document.getElementById("bp-main").append(more);
        }"""
    )
    grown = content_height(frame)
    assert grown > 420
    expect(iframe).to_have_css("height", f"{grown}px")
    expect(iframe).to_have_css("border-top-width", "0px")

    # An event the widget emits reaches all three.
    frame.evaluate(
        "BillportChannel.emit('select_plan', {id: 'price_pro', object: 'price'}, {tier: 'pro'})"
    )
    for channel in ("mount", "settings", "dom"):
        wait_for_event(page, channel, "select_plan")
        assert payloads(page, channel, "select_plan") == [
            {
                "event": "select_plan",
                "response": {"id": "price_pro", "object": "price"},
                "extras": {"tier": "pro"},
            }
        ]

    # The widget calls Billport with its session; errors arrive as {code, message}.
    outcome = """(path) => BillportChannel.fetch(path).then(
        (body) => ({ body }), (e) => ({ code: e.code, message: e.message, status: e.status }))"""
    me = frame.evaluate(outcome, "/w/api/session")["body"]
    assert (me["widget"], me["email"], me["parent_origin"]) == ("customer-portal", email, allowed)
    assert me["customer_id"].startswith("cus_")
    missing = frame.evaluate(outcome, "/static/widgets/missing.js")
    assert missing["status"] == 404
    assert missing["code"] and "missing.js" in missing["message"]
    elsewhere = frame.evaluate(outcome, f"{allowed}/w/api/session")
    assert elsewhere["code"] == "cross_origin"
    assert billport_errors == []


def test_pre_events_wait_for_the_page_and_can_be_refused(
    page: Page, portal_url: str, site: Any, tenant: dict[str, Any]
) -> None:
    app, allowed, _ = site
    key = tenant["publishable_key"]
    path = app.add(
        widget_div("plan-picker", key, element_id="plans"),
        head=RECORDER + embed_script(portal_url),
    )
    page.goto(allowed + path)
    wait_for_event(page, "settings", "post_load")
    frame = frame_of(page, "#plans iframe")
    ask = "BillportChannel.ask('pre_subscribe', {price: 'price_pro'}, {quantity: 2})"

    assert frame.evaluate(ask) == {"proceed": True, "message": None}
    (asked,) = payloads(page, "settings", "pre_subscribe")
    assert asked == {
        "event": "pre_subscribe",
        "response": {"price": "price_pro"},
        "extras": {"quantity": 2},
    }
    assert payloads(page, "dom", "pre_subscribe") == [asked]

    # An async handler is waited for.
    set_gate(page, "() => new Promise((resolve) => setTimeout(() => resolve('ok'), 300))")
    assert frame.evaluate(ask) == {"proceed": True, "message": None}

    set_gate(page, "() => { throw new Error('Please accept the terms of service first.'); }")
    assert frame.evaluate(ask) == {
        "proceed": False,
        "message": "Please accept the terms of service first.",
    }

    set_gate(page, "() => Promise.reject(new Error('Your team has no seats left.'))")
    assert frame.evaluate(ask) == {"proceed": False, "message": "Your team has no seats left."}

    set_gate(page, "async () => { throw 'Not today.'; }")
    assert frame.evaluate(ask) == {"proceed": False, "message": "Not today."}


def test_pre_load_that_throws_keeps_the_widget_out(
    page: Page, portal_url: str, site: Any, tenant: dict[str, Any], email: str
) -> None:
    app, allowed, _ = site
    key = tenant["publishable_key"]
    refuse = """<script>
      window.gate = ({ event, response }) => {
        if (event === "pre_load" && response.widget === "customer-portal") {
          throw new Error("Billing opens after onboarding.");
        }
      };
    </script>"""
    path = app.add(
        widget_div("customer-portal", key, user_token(tenant, email), element_id="portal")
        + widget_div("plan-picker", key, element_id="plans"),
        head=RECORDER + refuse + embed_script(portal_url),
    )
    page.goto(allowed + path)
    wait_for_event(page, "settings", "post_load")
    expect(page.locator("#plans iframe")).to_have_count(1)
    expect(page.locator("#portal iframe")).to_have_count(0)
    widgets = [p["response"]["widget"] for p in payloads(page, "settings", "pre_load")]
    assert sorted(widgets) == ["customer-portal", "plan-picker"]
    assert [p["response"]["widget"] for p in payloads(page, "settings", "post_load")] == [
        "plan-picker"
    ]


def test_without_embed_js_nobody_is_asked(
    page: Page, portal_url: str, site: Any, tenant: dict[str, Any]
) -> None:
    app, allowed, _ = site
    query = f"key={tenant['publishable_key']}&origin={allowed}&frame=bpf_handmade"
    path = app.add(f'<iframe src="{html.escape(portal_url)}/w/plan-picker?{query}"></iframe>')
    page.goto(allowed + path)
    frame = frame_of(page, "iframe")
    assert frame.evaluate("BillportChannel.config.parentOrigin") == allowed
    assert frame.evaluate("BillportChannel.ask('pre_subscribe', {})") == {
        "proceed": True,
        "message": None,
    }
    assert frame.evaluate("BillportChannel.ready") is False


# -- origins ---------------------------------------------------------------------------------


def test_foreign_origin_cannot_frame_a_widget(
    page: Page, portal_url: str, site: Any, tenant: dict[str, Any]
) -> None:
    app, allowed, foreign = site
    key = tenant["publishable_key"]
    direct = f"{portal_url}/w/plan-picker?key={key}"
    path = app.add(f'<iframe src="{html.escape(direct)}" title="Plans"></iframe>')

    # Framed directly by the allowed origin: the widget renders, and messaging is off.
    page.goto(allowed + path)
    framed = page.frame_locator("iframe")
    expect(framed.locator("#bp-heading")).to_have_text("Plans")
    frame = frame_of(page, "iframe")
    assert frame.evaluate("BillportChannel.config.parentOrigin") == ""
    assert frame.evaluate("BillportChannel.ask('pre_subscribe', {})") == {
        "proceed": True,
        "message": None,
    }
    assert frame.evaluate("BillportChannel.ready") is False

    # The same page on a foreign origin: Chromium refuses to render the widget.
    with page.expect_console_message(lambda m: "frame-ancestors" in m.text) as refusal:
        page.goto(foreign + path)
    assert portal_url in refusal.value.text
    # The tenant's origins and the portal's own (for dashboard previews), in Chromium's order.
    directive = refusal.value.text.split('"frame-ancestors ')[1].split('"')[0]
    assert sorted(directive.split()) == sorted([allowed, "'self'"])
    frame = frame_of(page, "iframe")
    assert not frame.url.startswith(portal_url)
    expect(page.frame_locator("iframe").locator("#bp-main")).to_have_count(0)
    assert "Billing" not in frame.content()

    # Through embed.js the foreign origin gets the explanation instead.
    path = app.add(
        widget_div("plan-picker", key, element_id="plans"), head=embed_script(portal_url)
    )
    page.goto(foreign + path)
    alert = page.frame_locator("#plans iframe").get_by_role("alert")
    expect(alert).to_contain_text(f"{foreign} is not an allowed origin")


def test_messages_from_other_windows_are_ignored(
    page: Page, portal_url: str, site: Any, tenant: dict[str, Any]
) -> None:
    app, allowed, foreign = site
    key = tenant["publishable_key"]
    other = app.add("<p>Another part of the page</p>")
    path = app.add(
        widget_div("plan-picker", key, element_id="first")
        + widget_div("plan-picker", key, element_id="second")
        + f'<iframe id="ad" src="{foreign}{other}" title="Advertisement"></iframe>'
        + f'<iframe id="chat" src="{allowed}{other}" title="Chat"></iframe>',
        head=RECORDER + embed_script(portal_url),
    )
    page.goto(allowed + path)
    wait_for_event(page, "settings", "post_load", count=2)
    first, second = frame_of(page, "#first iframe"), frame_of(page, "#second iframe")
    advert, chat = frame_of(page, "#ad"), frame_of(page, "#chat")
    target = frame_id(page, "#first")

    # Forged events for the first widget: from a foreign origin, and from a sibling Billport
    # iframe (right origin, wrong window).
    forged = {"billport": 1, "frame": target, "response": {}, "extras": {}}
    advert.evaluate(
        """(forged) => {
            parent.postMessage({ ...forged, type: "event", event: "forged_foreign" }, "*");
            parent.postMessage({ ...forged, type: "resize", height: 7 }, "*");
            parent.postMessage({ ...forged, type: "ready" }, "*");
        }""",
        forged,
    )
    second.evaluate(
        """(forged) => {
            const to = BillportChannel.config.parentOrigin;
            parent.postMessage({ ...forged, type: "event", event: "forged_sibling" }, to);
            parent.postMessage({ ...forged, type: "resize", height: 9 }, to);
        }""",
        forged,
    )
    # The page's own listener runs after embed.js's: once it saw them, embed.js has too.
    page.wait_for_function(
        "seen.messages.filter((m) => m.data && [7, 9].includes(m.data.height)).length === 2"
    )
    for channel in ("settings", "dom"):
        events = page.evaluate(f"seen.{channel}.map((p) => p.event)")
        assert "forged_foreign" not in events and "forged_sibling" not in events
        assert events.count("post_load") == 2
    assert page.locator("#first iframe").evaluate("(el) => el.style.height") not in {"7px", "9px"}

    # Forged answers to the widget's question, from a foreign origin, from a sibling Billport
    # iframe, and from another window of the page's own origin: the page's answer counts.
    set_gate(
        page,
        """({ event }) => event === "pre_subscribe"
            ? new Promise((_, reject) => { window.refuse = reject; }) : undefined""",
    )
    first.evaluate(
        """() => {
            window.heard = [];
            addEventListener("message", (e) => heard.push(e.origin));
            window.asking = BillportChannel.ask("pre_subscribe", { price: "price_pro" });
        }"""
    )
    wait_for_event(page, "settings", "pre_subscribe")
    answer = {"billport": 1, "frame": target, "type": "answer", "id": 1, "proceed": True}
    hello = {"billport": 1, "frame": target, "type": "hello", "version": 1}
    spread = """([answer, hello]) => {
        for (let i = 0; i < parent.frames.length; i++) {
            parent.frames[i].postMessage(answer, "*");
            parent.frames[i].postMessage(hello, "*");
        }
    }"""
    for sender in (advert, second, chat):
        sender.evaluate(spread, [answer, hello])
    first.wait_for_function(
        "(origins) => origins.every((origin) => heard.includes(origin))",
        arg=[foreign, portal_url, allowed],
    )
    page.evaluate("refuse(new Error('Only the owner can subscribe.'))")
    assert first.evaluate("window.asking") == {
        "proceed": False,
        "message": "Only the owner can subscribe.",
    }


# -- the JavaScript API and late elements -------------------------------------------------------


def test_mount_unmount_and_elements_added_later(
    page: Page, portal_url: str, site: Any, tenant: dict[str, Any], billport_errors
) -> None:
    app, allowed, _ = site
    key = tenant["publishable_key"]
    path = app.add('<div id="spa"></div>', head=RECORDER + embed_script(portal_url))
    page.goto(allowed + path)

    mount_with_handler(page, "#spa", {"widget": "plan-picker", "key": key})
    wait_for_event(page, "mount", "post_load")
    expect(page.frame_locator("#spa iframe").locator("#bp-heading")).to_have_text("Plans")
    page.evaluate("handle.unmount()")
    expect(page.locator("#spa iframe")).to_have_count(0)

    page.evaluate("(key) => Billport.mount('#spa', {widget: 'plan-picker', key})", key)
    wait_for_event(page, "settings", "post_load", count=2)
    expect(page.locator("#spa iframe")).to_have_count(1)
    page.evaluate("Billport.unmount(document.getElementById('spa'))")
    expect(page.locator("#spa iframe")).to_have_count(0)

    page.evaluate(
        """(key) => {
            const late = document.createElement("section");
            late.innerHTML = '<div id="late" data-billport="plan-picker"></div>';
            late.firstChild.dataset.key = key;
            document.body.append(late);
        }""",
        key,
    )
    expect(page.get_by_title(TITLE.format("Plans"))).to_have_count(1)
    expect(page.frame_locator("#late iframe").locator("#bp-heading")).to_have_text("Plans")
    wait_for_event(page, "settings", "post_load", count=3)
    assert billport_errors == []

    # Mistakes are reported on the console, never thrown into the page.
    with page.expect_console_message(lambda m: m.text.startswith("Billport:")) as logged:
        page.evaluate("Billport.mount('#nowhere', {widget: 'plan-picker'}).unmount()")
    assert "needs an element" in logged.value.text


# -- Billflow's snippet, unchanged ---------------------------------------------------------------


def test_billflow_snippet_mounts_the_billing_page(
    page: Page,
    api: httpx.Client,
    portal_url: str,
    site: Any,
    tenant: dict[str, Any],
    email: str,
) -> None:
    app, allowed, _ = site
    auth = {"Authorization": f"Bearer {tenant['secret_key']}"}
    created = api.post(
        "/api/v1/billing_pages",
        headers=auth,
        json={"widget": "customer-portal", "name": "Account", "billflow_id": "bf_123"},
    )
    assert created.status_code == 201, created.text
    enabled = api.patch("/api/v1/tenant", headers=auth, json={"legacy_hash_enabled": True})
    assert enabled.status_code == 200, enabled.text

    digest = hmac.new(tenant["token_secret"].encode(), email.encode(), hashlib.sha256)
    settings = {"billing_page_id": "bf_123", "email": email, "hash": digest.hexdigest()}
    snippet = f"""<div id="billflow-embed"></div>
<script>
  window.seen = {{ billflow: [] }};
  window.billflowSettings = {{
    ...{json.dumps(settings)},
    handleResponse: (payload) => {{ seen.billflow.push(payload); }},
  }};
</script>
{embed_script(portal_url)}"""
    page.goto(allowed + app.add(snippet))

    widget = page.frame_locator("#billflow-embed iframe")
    expect(widget.locator(".bp-identity")).to_have_text(f"Signed in as {email}")
    expect(page.get_by_title(TITLE.format("Customer portal"))).to_have_count(1)
    wait_for_event(page, "billflow", "post_load")
    src = page.locator("#billflow-embed iframe").get_attribute("src") or ""
    assert parse_qs(urlsplit(src).query)["billing_page"] == [created.json()["id"]]


# -- tokens from other languages, and the script itself ---------------------------------------

NODE_JWT = """
const crypto = require("crypto");
const encode = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
const now = Math.floor(Date.now() / 1000);
const body = encode({ alg: "HS256", typ: "JWT" }) + "." + encode({
  aud: process.env.AUD, email: process.env.EMAIL, iat: now, exp: now + 600,
});
const signature = crypto.createHmac("sha256", process.env.SECRET).update(body).digest("base64url");
process.stdout.write(body + "." + signature);
"""


def test_a_token_signed_by_node_is_accepted(
    api: httpx.Client, tenant: dict[str, Any], email: str
) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: it signs the token of this test")
    environment = {"AUD": tenant["publishable_key"], "EMAIL": email}
    token = subprocess.run(
        [node, "-e", NODE_JWT],
        env={**environment, "SECRET": tenant["token_secret"]},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}
    opened = api.get(
        "/w/customer-portal", params={"key": tenant["publishable_key"], "token": token}
    )
    assert opened.status_code == 200, opened.text
    assert re.search(rf"Signed in as\s*<strong>{re.escape(email)}</strong>", opened.text)


def test_embed_js_is_small_and_cacheable(api: httpx.Client) -> None:
    first = api.get("/embed.js")
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/javascript")
    assert len(gzip.compress(first.content, 9)) <= EMBED_JS_GZIP_LIMIT
    etag = first.headers["etag"]
    again = api.get("/embed.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
