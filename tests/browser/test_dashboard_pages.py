"""A billing page's edit screen in Chromium: the live preview shows the themed widget."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import stripe
from playwright.sync_api import Page, expect

from tests.dashboard_support import PASSWORD, DashboardClient
from tests.widget_api import make_plans

TEAL = "rgb(15, 118, 110)"
SCREENSHOT = "/tmp/billport-dashboard-billing-page.png"


@pytest.fixture
def owner(portal_url: str) -> Iterator[DashboardClient]:
    client = DashboardClient(portal_url)
    client.sign_up()
    yield client
    client.close()


@pytest.fixture
def plans(stripe_client: stripe.StripeClient) -> None:
    make_plans(stripe_client, ("Free", "free", 0), ("Pro", "pro", 1200))


def test_the_preview_shows_the_plan_picker_with_the_pages_theme(
    page: Page,
    portal_url: str,
    owner: DashboardClient,
    plans: None,
    sandbox_url: str,
    sandbox_account: str,
) -> None:
    tenant_id = owner.create_tenant(sandbox_url, sandbox_account)
    pages = f"/dashboard/t/{tenant_id}/pages"
    created = owner.post(f"{pages}/new", {"widget": "plan-picker", "name": "Pricing"})
    assert created.status_code == 303, created.text
    edit = created.headers["location"].split("?")[0]
    form_page = owner.get(edit).text
    rows = dict(re.findall(r'name="(plan-\d+)-key" value="([^"]+)"', form_page))
    fields = {f"{row}-key": key for row, key in rows.items()}
    fields.update({f"{row}-shown": "on" for row in rows})
    saved = owner.post(
        edit,
        {
            "name": "Pricing",
            "plan-count": str(len(rows)),
            **fields,
            "highlight": "notes:pro",
            "interval-month": "on",
            "interval-year": "on",
            "coupon_field": "on",
            "require_card": "on",
            "theme-primary": "#0f766e",
            "theme-radius": "4px",
        },
    )
    assert saved.status_code == 303, saved.text

    # Signing in through the page, from the link to the edit screen.
    page.goto(portal_url + edit)
    expect(page).to_have_url(re.compile(r"/dashboard/login"))
    page.get_by_label("Email").fill(owner.email or "")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(portal_url + edit)
    expect(page.get_by_role("heading", name="Pricing", level=1)).to_be_visible()
    expect(page.get_by_label("Primary", exact=True)).to_have_value("#0f766e")

    preview = page.frame_locator("#page-preview")
    pro = preview.locator('.bp-plan[data-plan="notes:pro"]')
    expect(pro).to_have_class(re.compile("bp-plan-highlight"))
    choose = pro.locator(".bp-choose")
    expect(choose).to_have_text("Choose Pro")
    expect(choose).to_have_css("background-color", TEAL)
    expect(preview.locator(".bp-plan").first).to_have_css("border-top-left-radius", "4px")
    frame = page.frame(url=re.compile(r"/w/plan-picker\?"))
    assert frame is not None
    primary = frame.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--bp-primary').trim()"
    )
    assert primary == "#0f766e"
    page.set_viewport_size({"width": 1440, "height": 1000})
    page.screenshot(path=SCREENSHOT, full_page=True)

    # The snippet tabs work from the keyboard, and each has its code.
    html_tab = page.get_by_role("tab", name="HTML")
    html_tab.focus()
    page.keyboard.press("ArrowRight")
    react_tab = page.get_by_role("tab", name="React")
    expect(react_tab).to_have_attribute("aria-selected", "true")
    expect(react_tab).to_be_focused()
    expect(page.locator("#snippet-react")).to_be_visible()
    expect(page.locator("#snippet-html")).to_be_hidden()
    expect(page.locator("#snippet-react")).to_contain_text("Billport.mount")
