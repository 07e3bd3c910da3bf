"""Markup and script in every field that reaches a page, rendered by Chromium.

A tenant whose every name, option and Stripe object carries XSS payloads: the widgets, the
full-page portal and the dashboard show each payload as text, no dialog ever opens, no
element the payloads describe exists, and theme values cannot leave their style block.
The pages' CSP would block inline script anyway; these tests check that nothing gets as far
as the DOM, which is the first line of defence.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Frame, FrameLocator, Locator, Page, expect

from portal.callbacks.outbox import enqueue
from portal.db import Database
from portal.settings import Settings
from tests.browser.host import HostSite, open_page, widget_div
from tests.callbacks_support import Clock, work
from tests.dashboard_support import PASSWORD, DashboardClient
from tests.databases import postgres_url
from tests.hostile_support import register_tenant, stripe_for
from tests.servers import ServerThread, free_port, run_async
from tests.tokens import mint_user_token

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = '"><script>alert(2)</script>'
SVG = "'><svg onload=alert(3)>"
CLOSE = "</script><script>alert(4)</script>"
TEMPLATE = "{{7*7}} ${7*7}"
EVERYTHING = f"{IMG} {SCRIPT} {SVG} {CLOSE} {TEMPLATE}"
BREAKOUT = "red;}</style><img src=x onerror=alert(5)><style>"

# Elements or attributes only the payloads would create; the portal's pages have no inline
# script at all (the test's host page has one of its own).
INJECTED = "img[src='x'], svg[onload], [onerror], [onload]"
INLINE_SCRIPT = "script:not([src]):not([type='application/json'])"


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.long])],
)
def backend(request: pytest.FixtureRequest) -> str:
    """Escaping does not depend on the database: PostgreSQL only in the long run."""
    if request.param == "postgres" and not postgres_url():
        pytest.skip("PostgreSQL tests need BILLPORT_TEST_DATABASE_URL")
    return str(request.param)


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[HostSite, str]]:
    app = HostSite()
    with ServerThread(app) as server:
        yield app, server.url


class EvilReceiver:
    """The tenant's callback endpoint, answering every delivery with markup."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        while (await receive()).get("more_body"):
            pass
        headers = [(b"content-type", b"text/html")]
        await send({"type": "http.response.start", "status": 500, "headers": headers})
        await send({"type": "http.response.body", "body": EVERYTHING.encode()})


@pytest.fixture(scope="module")
def poisoned(
    portal_url: str, sandbox_url: str, site: tuple[HostSite, str], portal_settings: Settings
) -> Iterator[dict[str, Any]]:
    """A tenant with a payload in every field a page shows."""
    port = free_port()
    tenant = register_tenant(
        portal_url,
        sandbox_url,
        name=f"Acme {EVERYTHING}",
        allowed_origins=[site[1]],
        callback_url=f"http://127.0.0.1:{port}/hook/{quote(IMG)}?x={quote(SCRIPT)}",
    )
    auth = {"Authorization": f"Bearer {tenant['secret_key']}"}
    stripe = stripe_for(tenant, sandbox_url)
    product = stripe.v1.products.create(
        params={
            "name": f"Pro {IMG}",
            "description": f"Described {SCRIPT}",
            "marketing_features": [{"name": f"Feature {SVG}"}, {"name": f"More {CLOSE}"}],
            "metadata": {"service": "notes", "tier": f"pro{IMG}", "highlight": "true"},
            "unit_label": f"seat{IMG}",
        }
    )
    price = stripe.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 1200,
            "recurring": {"interval": "month"},
            "nickname": f"Nick {IMG}",
        }
    )
    customer = stripe.v1.customers.create(
        params={
            "email": f"{IMG}@x.test",
            "name": f"Ada {SCRIPT}",
            "address": {"line1": f"1 {SVG} Street", "city": TEMPLATE, "country": "US"},
            "metadata": {"note": EVERYTHING},
        }
    )
    card = stripe.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    stripe.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": card.id}}
    )
    stripe.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id}],
            "description": f"Sub {IMG}",
            "metadata": {"service": "notes", "tier": SCRIPT},
        }
    )
    stripe.v1.invoices.create(
        params={
            "customer": customer.id,
            "description": f"Invoice {SCRIPT}",
            "footer": f"Footer {IMG}",
            "custom_fields": [{"name": f"PO {SVG}", "value": CLOSE}],
        }
    )
    assert httpx.post(f"{portal_url}/api/v1/catalog/refresh", headers=auth).status_code == 200

    options = {
        "theme": {"primary": BREAKOUT, "font": f"Inter{BREAKOUT}", "radius": "4px"},
        "retention_message": f"Stay {IMG}",
        "cta_url": "javascript:alert(6)//",
        "highlight": IMG,
        "service": "notes",
    }
    page = httpx.post(
        f"{portal_url}/api/v1/billing_pages",
        json={"widget": "plan-picker", "name": f"Pricing {EVERYTHING}", "options": options},
        headers=auth,
    )
    assert page.status_code == 201, page.text
    saved = httpx.patch(
        f"{portal_url}/api/v1/tenant", json={"widget_options": options}, headers=auth
    )
    assert saved.status_code == 200, saved.text
    session = httpx.post(
        f"{portal_url}/api/v1/sessions",
        json={"customer_id": customer.id, "return_url": f"{site[1]}/back?x={quote(SCRIPT)}"},
        headers=auth,
    )
    assert session.status_code == 201, session.text

    member = httpx.post(
        f"{portal_url}/api/v1/members",
        json={"email": f"{TEMPLATE.replace(' ', '')}@x.test", "role": "viewer"},
        headers=auth,
    )
    assert member.status_code == 201, member.text
    owner = DashboardClient(portal_url)
    owner.sign_up()
    added = httpx.post(
        f"{portal_url}/api/v1/members", json={"email": owner.email, "role": "owner"}, headers=auth
    )
    assert added.status_code == 201, added.text

    # A delivery whose payload carries markup, sent once to an endpoint answering markup.
    async def queue() -> str:
        database = Database(portal_settings.database_url)
        try:
            async with database.sessions() as db:
                row = enqueue(
                    db,
                    tenant_id=tenant["id"],
                    event="subscription_updated",
                    response={"object": "subscription", "metadata": {"tier": EVERYTHING}},
                    customer_id=customer.id,
                    livemode=False,
                    extras={"note": IMG},
                )
                await db.commit()
                return row.event_id
        finally:
            await database.dispose()

    event_id = run_async(queue)
    with ServerThread(EvilReceiver(), port=port):
        assert work(portal_settings, Clock()) >= 1

    yield {
        **tenant,
        "customer": customer.id,
        "page_id": page.json()["id"],
        "session_url": session.json()["url"].replace("http://127.0.0.1:8000", portal_url),
        "event_id": event_id,
        "owner": owner,
    }
    owner.close()


@pytest.fixture
def dialogs(page: Page) -> list[str]:
    """Every dialog any frame of the page opens (each one is a failure)."""
    opened: list[str] = []

    def record(dialog: Any) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    return opened


def assert_inert(page: Page, dialogs: list[str], portal_url: str) -> None:
    """No frame of the page holds an element the payloads describe; no dialog opened."""
    page.wait_for_timeout(300)
    for frame in page.frames:
        ours = frame.url.startswith(portal_url)
        found = frame.evaluate(
            "(selector) => [...document.querySelectorAll(selector)].map((e) => e.outerHTML)",
            f"{INJECTED}, {INLINE_SCRIPT}" if ours else INJECTED,
        )
        assert found == [], (frame.url, found)
        assert_style_intact(frame)
    assert dialogs == []


def assert_style_intact(frame: Frame) -> None:
    """Inline style blocks hold only the theme's custom properties."""
    styles = frame.evaluate("[...document.querySelectorAll('style')].map((s) => s.textContent)")
    for style in styles:
        assert "<" not in style and "}" not in style.rstrip().removesuffix("}"), style


def shown(where: Page | FrameLocator | Locator, text: str) -> None:
    """``text`` appears as text (escaped, not interpreted) in a page, a frame or an element."""
    expect(where if isinstance(where, Locator) else where.locator("body")).to_contain_text(text)


def test_widgets_show_every_payload_as_text(
    page: Page,
    dialogs: list[str],
    portal_url: str,
    site: tuple[HostSite, str],
    poisoned: dict[str, Any],
) -> None:
    key = poisoned["publishable_key"]
    picker = open_page(
        page, site, portal_url, widget_div("plan-picker", key, billing_page=poisoned["page_id"])
    )
    expect(picker.locator(".bp-plan")).to_have_count(1)
    shown(picker, f"Pro {IMG}")
    shown(picker, f"Feature {SVG}")
    shown(picker, f"More {CLOSE}")
    # The javascript: cta_url is never followed, in the widget or the host page.
    picker.locator(".bp-choose").first.click()
    assert_inert(page, dialogs, portal_url)
    assert page.url.startswith(site[1])
    widget_frame = page.frame(url=lambda url: "/w/plan-picker" in url)
    assert widget_frame is not None
    primary = widget_frame.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--bp-primary').trim()"
    )
    assert "alert" not in primary and "<" not in primary

    token = mint_user_token(poisoned, customer_id=poisoned["customer"])
    portal = open_page(page, site, portal_url, widget_div("customer-portal", key, token))
    shown(portal, f"Pro {IMG}")
    for tab, text in (("Invoices", "Paid"), ("Payment methods", "4242")):
        portal.get_by_role("tab", name=tab).click()
        shown(portal.locator(f"#bp-panel-{tab.lower().replace(' ', '-')}"), text)
        assert_inert(page, dialogs, portal_url)
    # Billing details are form fields: the payloads are their values.
    portal.get_by_role("tab", name="Billing details").click()
    fields = portal.locator("#bp-panel-details input")
    expect(fields.first).to_be_visible()
    values = fields.evaluate_all("(inputs) => inputs.map((input) => input.value)")
    assert f"Ada {SCRIPT}" in values and f"1 {SVG} Street" in values, values
    assert_inert(page, dialogs, portal_url)

    invoices = open_page(page, site, portal_url, widget_div("invoices", key, token))
    expect(invoices.locator("table")).to_be_visible()
    assert_inert(page, dialogs, portal_url)


def test_the_full_page_portal_shows_the_tenant_name_and_return_link_as_text(
    page: Page,
    dialogs: list[str],
    portal_url: str,
    poisoned: dict[str, Any],
    site: tuple[HostSite, str],
) -> None:
    page.goto(poisoned["session_url"])
    back = page.locator("a.bp-return")
    expect(back).to_contain_text(f"Acme {IMG}")
    href = back.get_attribute("href") or ""
    assert href.startswith(f"{site[1]}/back?x=")
    assert_inert(page, dialogs, portal_url)
    assert IMG in page.title()


def test_dashboard_pages_show_every_payload_as_text(
    page: Page, dialogs: list[str], portal_url: str, poisoned: dict[str, Any]
) -> None:
    owner: DashboardClient = poisoned["owner"]
    page.goto(f"{portal_url}/dashboard/login")
    page.get_by_label("Email").fill(owner.email or "")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{portal_url}/dashboard/tenants")
    shown(page, f"Acme {IMG}")
    assert_inert(page, dialogs, portal_url)

    base = f"{portal_url}/dashboard/t/{poisoned['id']}"
    visits = [
        (base, f"Acme {EVERYTHING}"),
        (f"{base}/settings", IMG),
        (f"{base}/team", "{{7*7}}"),
        (f"{base}/audit", f"Pricing {IMG}"),
        (f"{base}/catalog", f"Pro {IMG}"),
        (f"{base}/pages", f"Pricing {EVERYTHING}"),
        (f"{base}/pages/{poisoned['page_id']}", f"Pricing {EVERYTHING}"),
        (f"{base}/callbacks", "subscription_updated"),
        (f"{base}/callbacks/{poisoned['event_id']}", EVERYTHING),
        (f"{base}/customers/{poisoned['customer']}", f"Ada {SCRIPT}"),
    ]
    for url, text in visits:
        answer = page.goto(url)
        assert answer is not None and answer.status == 200, url
        shown(page, text)
        assert_inert(page, dialogs, portal_url)
    # The billing page's edit screen previews the widget in a frame: it too stays inert.
    page.goto(f"{base}/pages/{poisoned['page_id']}")
    preview = page.frame_locator("#page-preview")
    expect(preview.locator(".bp-plan")).to_have_count(1)
    shown(preview, f"Pro {IMG}")
    assert_inert(page, dialogs, portal_url)
