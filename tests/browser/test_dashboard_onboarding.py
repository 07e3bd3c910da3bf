"""A new admin's first session in Chromium, from sign-up to a themed widget on their own site."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from playwright.sync_api import Page, expect

from portal.settings import Settings
from tests.browser.host import HostSite
from tests.servers import ServerThread
from tests.tokens import mint_user_token
from tests.widget_api import make_plans


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[HostSite, str]]:
    app = HostSite()
    with ServerThread(app) as server:
        yield app, server.url


@pytest.fixture
def plans(stripe_client: stripe.StripeClient) -> None:
    make_plans(stripe_client, ("Starter", "starter", 900), ("Pro", "pro", 2900))


def theme_primary(page: Page) -> str:
    """The primary colour the plan picker's frame on this page was given."""
    frame = page.frame(url=re.compile(r"/w/plan-picker\?"))
    assert frame is not None
    value = frame.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--bp-primary').trim()"
    )
    return str(value)


def test_sign_up_to_a_themed_widget_on_the_tenants_site(
    page: Page,
    portal_url: str,
    portal_settings: Settings,
    site: tuple[HostSite, str],
    plans: None,
    sandbox_url: str,
    sandbox_account: str,
) -> None:
    host, origin = site
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal_url)

    # Sign up.
    page.goto(f"{portal_url}/dashboard/")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Work email").fill(f"founder-{uuid.uuid4().hex[:6]}@example.com")
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_role("button", name="Create account").click()

    # Connect the (sandbox) Stripe account.
    expect(page.get_by_role("heading", name="Connect a Stripe account")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("Acme Notes")
    page.get_by_label("Stripe secret key").fill(f"sk_test_{sandbox_account}")
    page.get_by_text("Advanced").click()
    page.get_by_label("Stripe API address").fill(sandbox_url)
    page.get_by_role("button", name="Connect and create").click()
    expect(page.get_by_role("heading", name="Your tenant is ready")).to_be_visible()
    shown = page.locator("[data-secret]").all_inner_texts()
    token_secret = next(secret for secret in shown if secret.startswith("bpts_"))
    page.get_by_role("link", name="I have saved them, continue").click()
    expect(page.get_by_text("1 of 6 done").or_(page.get_by_text("2 of 6 done"))).to_be_visible()

    # Allow the site's origin and set a callback URL.
    nav = page.get_by_role("navigation", name="Tenant")
    nav.get_by_role("link", name="Settings").click()
    page.get_by_label("Allowed origins").fill(origin)
    page.get_by_label("Callback URL").fill(f"{origin}/billing/callback")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    nav.get_by_role("link", name="Overview").click()
    expect(page.get_by_text("4 of 6 done")).to_be_visible()

    # A plan-picker billing page with a theme.
    nav.get_by_role("link", name="Billing pages").click()
    page.get_by_role("link", name=re.compile("billing page")).first.click()
    page.get_by_label(re.compile("Plan picker")).check()
    page.get_by_label("Name").fill("Pricing")
    page.get_by_role("button", name="Create billing page").click()
    expect(page.get_by_role("heading", name="Pricing", level=1)).to_be_visible()
    page.get_by_label("Primary", exact=True).fill("#b91c1c")
    page.get_by_role("button", name="Save options").click()
    expect(page.get_by_role("status").first).to_contain_text("Saved")
    preview = page.frame_locator("#page-preview")
    expect(preview.get_by_role("button", name="Choose Pro")).to_be_visible()
    assert theme_primary(page) == "#b91c1c"

    # Copy the snippet, and paste it into a page of the tenant's site.
    page.get_by_role("tab", name="HTML").click()
    page.locator("[data-copy='snippet-html']").click()
    snippet: str = page.evaluate("navigator.clipboard.readText()")
    assert "/embed.js" in snippet and 'data-billport="plan-picker"' in snippet
    tenant: dict[str, Any] = {
        "publishable_key": re.search(r'data-key="(bp_pub_\w+)"', snippet).group(1),
        "token_secret": token_secret,
    }
    # The tenant's server renders the token where the snippet says.
    rendered = re.sub(
        r"\{\{ billport_token\(.*?\) \}\}",
        mint_user_token(tenant, email="reader@example.com"),
        snippet,
    )
    # The test portal listens on a free port, not on the public URL its snippets name.
    rendered = rendered.replace(portal_settings.public_url, portal_url)
    page.goto(origin + host.add(rendered))
    widget = page.frame_locator("[data-billport] iframe")
    expect(widget.get_by_text("$29 / month")).to_be_visible()
    assert theme_primary(page) == "#b91c1c"
