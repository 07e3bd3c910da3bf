"""Billing pages in the dashboard, over HTTP: what the form writes is what the API reads."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
import stripe

from portal.identity.tokens import verify_user_token
from tenants.dashboard.page_options import LANGUAGES, parse_page_form, summarize_catalog
from tests.dashboard_support import DashboardClient, secrets_shown
from widgets.i18n import MESSAGES

# -- helpers ---------------------------------------------------------------------------------


class FormReader(HTMLParser):
    """What a browser would submit from the form posting to ``action``, untouched."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.fields: dict[str, str] = {}
        self.select: str | None = None
        self.select_first: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields[name] = a.get("value") or "on"
            elif kind != "submit":
                self.fields[name] = a.get("value", "")
        elif tag == "select" and name:
            self.select, self.select_first = name, None
        elif tag == "option" and self.select:
            value = a.get("value", "")
            if self.select_first is None:
                self.select_first = value
                self.fields.setdefault(self.select, value)
            if "selected" in a:
                self.fields[self.select] = value
        elif tag == "textarea" and name:
            self.textarea = name
            self.fields[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.fields[self.textarea] += data


def form_of(page_html: str, action: str) -> dict[str, str]:
    reader = FormReader(action)
    reader.feed(page_html)
    reader.fields.pop("csrf_token", None)
    return reader.fields


def field_error(page_html: str, name: str) -> str:
    found = re.search(rf'id="e-{re.escape(name)}" role="alert">([^<]*)<', page_html)
    assert found, f"no error shown next to {name}"
    return html.unescape(found.group(1))


def code_block(page_html: str, element_id: str) -> str:
    found = re.search(rf'<pre class="code" id="{element_id}">(.*?)</pre>', page_html, flags=re.S)
    assert found, f"no code block {element_id}"
    return html.unescape(found.group(1))


def row_index(form: dict[str, str], key: str) -> int:
    return next(
        int(name.split("-")[1])
        for name, value in form.items()
        if name.startswith("plan-") and name.endswith("-key") and value == key
    )


class Tenant:
    """An owner signed in to the dashboard, their tenant, and its API secret key."""

    def __init__(self, portal_url: str, sandbox_url: str, account: str) -> None:
        self.owner = DashboardClient(portal_url)
        self.owner.sign_up()
        answer = self.owner.post(
            "/dashboard/tenants/new",
            {
                "name": "Acme Notes",
                "stripe_secret_key": f"sk_test_{account}",
                "stripe_api_base": sandbox_url,
                "allowed_origins": "https://app.acme.test",
            },
        )
        assert answer.status_code == 200, answer.text
        found = re.search(r'href="/dashboard/t/(ten_\w+)"', answer.text)
        assert found, answer.text
        self.id = found.group(1)
        self.secret_key, self.token_secret, _ = secrets_shown(answer.text)
        self.api = httpx.Client(
            base_url=portal_url,
            timeout=30,
            headers={"Authorization": f"Bearer {self.secret_key}"},
        )
        self.publishable_key = self.api.get("/api/v1/tenant").json()["publishable_key"]
        self.pages = f"/dashboard/t/{self.id}/pages"

    def close(self) -> None:
        self.owner.close()
        self.api.close()

    def new_page(self, widget: str, name: str) -> str:
        answer = self.owner.post(
            f"{self.pages}/new", {"widget": widget, "name": name}, page=f"{self.pages}/new"
        )
        assert answer.status_code == 303, answer.text
        found = re.fullmatch(rf"{self.pages}/(bpg_\w+)\?done=created", answer.headers["location"])
        assert found, answer.headers["location"]
        return found.group(1)

    def edit_form(self, page_id: str) -> dict[str, str]:
        answer = self.owner.get(f"{self.pages}/{page_id}")
        assert answer.status_code == 200, answer.text
        return form_of(answer.text, f"{self.pages}/{page_id}")

    def save(self, page_id: str, form: dict[str, str]) -> httpx.Response:
        return self.owner.post(f"{self.pages}/{page_id}", form)

    def options(self, page_id: str) -> dict[str, Any]:
        answer = self.api.get(f"/api/v1/billing_pages/{page_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["options"])


@pytest.fixture
def catalog(stripe_client: stripe.StripeClient) -> dict[str, str]:
    """Free, Pro and Team plans of the "notes" service, monthly and yearly."""

    def product(name: str, tier: str) -> str:
        params = {"name": name, "metadata": {"service": "notes", "tier": tier}}
        return str(stripe_client.v1.products.create(params=params).id)

    def price(product_id: str, amount: int, interval: str) -> None:
        stripe_client.v1.prices.create(
            params={
                "product": product_id,
                "currency": "usd",
                "unit_amount": amount,
                "recurring": {"interval": interval},
            }
        )

    ids = {tier: product(tier.title(), tier) for tier in ("free", "pro", "team")}
    price(ids["free"], 0, "month")
    for tier, amount in (("pro", 1200), ("team", 3000)):
        price(ids[tier], amount, "month")
        price(ids[tier], amount * 10, "year")
    return ids


@pytest.fixture
def tenant(portal_url: str, sandbox_url: str, sandbox_account: str) -> Iterator[Tenant]:
    made = Tenant(portal_url, sandbox_url, sandbox_account)
    yield made
    made.close()


# -- the form and the API agree --------------------------------------------------------------


def test_a_themed_plan_picker_made_in_the_dashboard_is_what_the_api_reads(
    tenant: Tenant, catalog: dict[str, str]
) -> None:
    assert tenant.api.get("/api/v1/catalog").status_code == 200  # cached, as widgets read it
    listing = tenant.owner.get(tenant.pages)
    assert listing.status_code == 200 and "No billing pages yet" in listing.text
    page_id = tenant.new_page("plan-picker", "Pricing")
    created = tenant.options(page_id)
    assert created == {"coupon_field": True, "require_card": True, "intervals": ["month", "year"]}

    form = tenant.edit_form(page_id)
    # Every plan of the cached catalog is offered, shown by default.
    plan_keys = {value for name, value in form.items() if re.fullmatch(r"plan-\d+-key", name)}
    assert plan_keys == {"notes:free", "notes:pro", "notes:team"}
    team, pro = row_index(form, "notes:team"), row_index(form, "notes:pro")
    del form[f"plan-{team}-shown"]
    form.pop("coupon_field", None)
    form.pop("require_card", None)
    form.pop("interval-month", None)
    form.update(
        {
            "name": "Pricing (annual first)",
            "service": "notes",
            f"plan-{pro}-order": "1",
            "highlight": "notes:pro",
            "interval-year": "on",
            "default_interval": "year",
            "currency": "USD",
            "quantity-min": "1",
            "quantity-max": "50",
            "quantity-step": "1",
            "trial_days": "14",
            "cta_url": "https://app.acme.test/signup",
            "theme-primary": "#0f766e",
            "theme-text": "#111827",
            "theme-radius": "6px",
            "theme-font": "Inter, sans-serif",
            "language": "fr",
        }
    )
    saved = tenant.save(page_id, form)
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"{tenant.pages}/{page_id}?done=saved"

    assert tenant.options(page_id) == {
        "coupon_field": False,
        "require_card": False,
        "service": "notes",
        "hidden_plans": ["notes:team"],
        "plan_order": {"notes:pro": 1},
        "highlight": "notes:pro",
        "intervals": ["year"],
        "default_interval": "year",
        "currency": "usd",
        "quantity": {"min": 1, "max": 50, "step": 1},
        "trial_days": 14,
        "cta_url": "https://app.acme.test/signup",
        "theme": {
            "primary": "#0f766e",
            "text": "#111827",
            "radius": "6px",
            "font": "Inter, sans-serif",
        },
        "language": "fr",
    }
    read = tenant.api.get(f"/api/v1/billing_pages/{page_id}").json()
    assert read["name"] == "Pricing (annual first)" and read["widget"] == "plan-picker"

    # Saving the form untouched changes nothing.
    again = tenant.save(page_id, tenant.edit_form(page_id))
    assert again.status_code == 303
    assert tenant.options(page_id)["theme"]["primary"] == "#0f766e"
    assert tenant.options(page_id)["hidden_plans"] == ["notes:team"]

    listing = tenant.owner.get(tenant.pages).text
    assert page_id in listing and "Pricing (annual first)" in listing and "Plan picker" in listing


def test_a_colour_picked_with_the_picker_is_saved(tenant: Tenant) -> None:
    page_id = tenant.new_page("signup", "Trial signup")
    form = tenant.edit_form(page_id)
    assert form["theme-primary"] == "" and form["theme-primary-picker"] == "#4f46e5"
    form["theme-border"] = ""
    form["theme-primary-picker"] = "#be123c"
    assert tenant.save(page_id, form).status_code == 303
    assert tenant.options(page_id)["theme"] == {"primary": "#be123c"}
    form = tenant.edit_form(page_id)
    assert form["theme-primary"] == "#be123c"
    # Emptying the text field returns to Billport's colour, even though the picker still
    # shows the old one.
    form["theme-primary"] = ""
    assert tenant.save(page_id, form).status_code == 303
    assert "theme" not in tenant.options(page_id)


def test_changes_made_through_the_api_show_in_the_form_and_survive_it(tenant: Tenant) -> None:
    page_id = tenant.new_page("customer-portal", "Account billing")
    changed = tenant.api.patch(
        f"/api/v1/billing_pages/{page_id}",
        json={
            "name": "Account billing",
            "billflow_id": f"bf_{uuid.uuid4().hex[:8]}",
            "options": {
                "allow_cancel": False,
                "cancel_mode": "immediately",
                "proration_behavior": "create_prorations",
                "retention_coupon": "STAY20",
                "retention_message": "Stay & save 20%",
                "theme": {"primary": "rebeccapurple", "shadow": "none"},
                "quantity": {"min": 2, "max": 20},
                "coupon_field": False,
                "custom_flag": {"kept": True},
            },
        },
    )
    assert changed.status_code == 200, changed.text
    billflow_id = changed.json()["billflow_id"]

    page = tenant.owner.get(f"{tenant.pages}/{page_id}")
    form = form_of(page.text, f"{tenant.pages}/{page_id}")
    assert "allow_cancel" not in form and form["allow_plan_change"] == "on"
    assert form["cancel_mode"] == "immediately"
    assert form["proration_behavior"] == "create_prorations"
    assert form["retention_coupon"] == "STAY20"
    assert form["retention_message"] == "Stay & save 20%"
    assert form["theme-primary"] == "rebeccapurple"
    assert form["quantity-min"] == "2" and form["quantity-max"] == "20"
    assert form["billflow_id"] == billflow_id
    # Options of other widgets are not offered for a customer portal.
    assert "coupon_field" not in page.text and "plan-count" not in form
    # The Billflow snippet uses the Billflow id.
    assert f'billing_page_id: "{billflow_id}"' in code_block(page.text, "snippet-billflow")

    form["allow_resubscribe"] = ""
    del form["allow_resubscribe"]
    assert tenant.save(page_id, form).status_code == 303
    options = tenant.options(page_id)
    assert options["allow_resubscribe"] is False and options["allow_cancel"] is False
    # What the form does not show is kept as the API wrote it.
    assert options["custom_flag"] == {"kept": True}
    assert options["coupon_field"] is False
    assert options["theme"] == {"primary": "rebeccapurple", "shadow": "none"}
    assert options["quantity"] == {"min": 2, "max": 20}


def test_odd_options_written_through_the_api_never_break_the_form(tenant: Tenant) -> None:
    page_id = tenant.new_page("plan-picker", "Pricing")
    odd = {
        "intervals": "month",
        "quantity": 5,
        "theme": "dark",
        "hidden_plans": "notes:free",
        "plan_order": ["notes:pro"],
        "highlight": 3,
        "trial_days": "soon",
        "language": "de",
    }
    patched = tenant.api.patch(f"/api/v1/billing_pages/{page_id}", json={"options": odd})
    assert patched.status_code == 200, patched.text
    page = tenant.owner.get(f"{tenant.pages}/{page_id}")
    assert page.status_code == 200, page.text
    assert "locale=" not in page.text  # an unsupported language is not passed on
    form = form_of(page.text, f"{tenant.pages}/{page_id}")
    assert form["interval-month"] == "on" and form["interval-year"] == "on"
    assert form["trial_days"] == "soon" and form["language"] == ""
    answer = tenant.save(page_id, form)
    assert answer.status_code == 422
    assert "whole number" in field_error(answer.text, "trial_days")
    assert tenant.save(page_id, {**form, "trial_days": ""}).status_code == 303
    options = tenant.options(page_id)
    assert options["intervals"] == ["month", "year"] and "theme" not in options
    assert "trial_days" not in options and "language" not in options


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("theme-primary", "#12345g", "hex colour"),
        ("theme-primary", "red; background: url(x)", "hex colour"),
        ("trial_days", "-3", "from 0 to 730"),
        ("quantity-max", "2", "at least the fewest (5)"),
        ("currency", "dollars", "three-letter"),
        ("cta_url", "javascript:alert(1)", "https://"),
        ("theme-radius", "big", "8px"),
        ("name", "", "name"),
    ],
)
def test_invalid_options_are_shown_next_to_their_field_and_nothing_is_saved(
    tenant: Tenant, field: str, value: str, message: str
) -> None:
    page_id = tenant.new_page("plan-picker", "Pricing")
    before = tenant.api.get(f"/api/v1/billing_pages/{page_id}").json()
    form = tenant.edit_form(page_id)
    form.update({"trial_days": "7", "quantity-min": "5", "quantity-max": "10", field: value})
    answer = tenant.save(page_id, form)
    assert answer.status_code == 422, answer.text
    assert message in field_error(answer.text, field)
    assert "see the fields marked below" in answer.text
    # The form comes back as it was sent, for the user to correct.
    assert form_of(answer.text, f"{tenant.pages}/{page_id}")[field] == value
    assert tenant.api.get(f"/api/v1/billing_pages/{page_id}").json() == before


def test_a_billflow_id_taken_by_another_page_is_refused_next_to_the_field(tenant: Tenant) -> None:
    first, second = tenant.new_page("invoices", "A"), tenant.new_page("invoices", "B")
    billflow_id = f"bf_{uuid.uuid4().hex[:8]}"
    form = tenant.edit_form(first)
    assert tenant.save(first, {**form, "billflow_id": billflow_id}).status_code == 303
    form = tenant.edit_form(second)
    answer = tenant.save(second, {**form, "billflow_id": billflow_id})
    assert answer.status_code == 409
    assert "already answers to the Billflow id" in field_error(answer.text, "billflow_id")
    assert tenant.api.get(f"/api/v1/billing_pages/{second}").json()["billflow_id"] is None


def test_new_pages_need_a_widget_and_a_name(tenant: Tenant) -> None:
    new = f"{tenant.pages}/new"
    answer = tenant.owner.post(new, {"widget": "pricing-table", "name": ""})
    assert answer.status_code == 422
    assert "Choose the widget" in field_error(answer.text, "widget")
    assert "name" in field_error(answer.text, "name")
    assert tenant.api.get("/api/v1/billing_pages").json() == []


def test_deleting_a_page(tenant: Tenant) -> None:
    page_id = tenant.new_page("checkout", "Checkout")
    deleted = tenant.owner.post(
        f"{tenant.pages}/{page_id}/delete", {}, page=f"{tenant.pages}/{page_id}"
    )
    assert deleted.status_code == 303
    assert deleted.headers["location"] == f"{tenant.pages}?done=deleted"
    assert tenant.api.get(f"/api/v1/billing_pages/{page_id}").status_code == 404
    assert page_id not in tenant.owner.get(tenant.pages).text
    assert tenant.owner.get(f"{tenant.pages}/{page_id}").status_code == 404


# -- who may see and change what -------------------------------------------------------------


def test_a_viewer_reads_pages_but_cannot_change_them(tenant: Tenant, portal_url: str) -> None:
    page_id = tenant.new_page("plan-picker", "Pricing")
    email = f"viewer-{uuid.uuid4().hex[:8]}@example.com"
    added = tenant.owner.post(
        f"/dashboard/t/{tenant.id}/team", {"action": "add", "email": email, "role": "viewer"}
    )
    assert added.status_code == 303, added.text
    viewer = DashboardClient(portal_url)
    try:
        viewer.sign_up(email)
        listing = viewer.get(tenant.pages)
        assert listing.status_code == 200 and page_id in listing.text
        assert "New billing page" not in listing.text and "/delete" not in listing.text
        page = viewer.get(f"{tenant.pages}/{page_id}")
        assert page.status_code == 200
        assert '<fieldset class="plain" disabled>' in page.text
        assert "Save options" not in page.text and "Delete billing page" not in page.text
        assert 'id="snippet-html"' in page.text  # snippets are for everyone
        assert viewer.get(f"{tenant.pages}/new").status_code == 403

        token = viewer.token(f"{tenant.pages}/{page_id}")
        form = {**tenant.edit_form(page_id), "name": "Viewer was here", "csrf_token": token}
        for path, data in (
            (f"{tenant.pages}/{page_id}", form),
            (f"{tenant.pages}/{page_id}/delete", {"csrf_token": token}),
            (f"{tenant.pages}/new", {"widget": "signup", "name": "X", "csrf_token": token}),
        ):
            answer = viewer.http.post(path, data=data)
            assert answer.status_code == 403, (path, answer.text)
            assert "cannot do this" in answer.text
    finally:
        viewer.close()
    read = tenant.api.get(f"/api/v1/billing_pages/{page_id}").json()
    assert read["name"] == "Pricing"
    assert [p["name"] for p in tenant.api.get("/api/v1/billing_pages").json()] == ["Pricing"]


def test_another_tenants_page_is_not_found(
    tenant: Tenant, portal_url: str, sandbox_url: str
) -> None:
    other = Tenant(portal_url, sandbox_url, "t" + uuid.uuid4().hex[:16])
    try:
        theirs = other.new_page("plan-picker", "Theirs")
        mine = f"{tenant.pages}/{theirs}"
        assert tenant.owner.get(mine).status_code == 404
        form = {**other.edit_form(theirs), "name": "Hijacked"}
        assert tenant.owner.post(mine, form, page=tenant.pages).status_code == 404
        assert tenant.owner.post(f"{mine}/delete", {}, page=tenant.pages).status_code == 404
        # Nor is another tenant reachable at all.
        assert tenant.owner.get(f"/dashboard/t/{other.id}/pages").status_code == 404
        assert other.api.get(f"/api/v1/billing_pages/{theirs}").json()["name"] == "Theirs"
    finally:
        other.close()


# -- preview, snippets, token examples --------------------------------------------------------


def test_the_preview_and_snippets_name_the_key_and_the_page(tenant: Tenant) -> None:
    page_id = tenant.new_page("plan-picker", "Pricing")
    form = tenant.edit_form(page_id)
    assert tenant.save(page_id, {**form, "language": "fr"}).status_code == 303
    page = tenant.owner.get(f"{tenant.pages}/{page_id}")
    csp = page.headers["content-security-policy"]
    assert "frame-src 'self'" in csp and "unsafe-inline" not in csp
    assert ' style="' not in page.text and "<script>" not in page.text

    found = re.search(r'<iframe class="preview" id="page-preview" src="([^"]+)"', page.text)
    assert found
    src = html.unescape(found.group(1))
    assert src == f"/w/plan-picker?key={tenant.publishable_key}&billing_page={page_id}&locale=fr"
    preview = tenant.owner.get(src)
    assert preview.status_code == 200, preview.text
    # The widget may be framed by the portal's own pages, after the tenant's origins.
    assert (
        "frame-ancestors https://app.acme.test 'self'" in preview.headers["content-security-policy"]
    )

    plain = code_block(page.text, "snippet-html")
    assert '<script src="http://127.0.0.1:8000/embed.js" async></script>' in plain
    assert f'data-key="{tenant.publishable_key}"' in plain
    assert f'data-billing-page="{page_id}"' in plain
    assert 'data-billport="plan-picker"' in plain and 'data-locale="fr"' in plain
    assert "data-token=" in plain
    react = code_block(page.text, "snippet-react")
    assert "Billport.mount(element.current" in react and "handle.unmount()" in react
    assert f'key: "{tenant.publishable_key}"' in react and f'billingPage: "{page_id}"' in react
    billflow = code_block(page.text, "snippet-billflow")
    assert '<div id="billflow-embed"></div>' in billflow
    assert "window.billflowSettings" in billflow and f'billing_page_id: "{page_id}"' in billflow
    assert "legacy_hash_enabled" in page.text
    for language in ("python", "node", "ruby", "php", "go"):
        assert tenant.publishable_key in code_block(page.text, f"token-{language}")
    # The token secret is never written into the page.
    assert tenant.token_secret not in page.text and tenant.secret_key not in page.text


def test_widgets_that_need_a_user_show_a_note_instead_of_a_preview(tenant: Tenant) -> None:
    for widget in ("customer-portal", "invoices", "checkout"):
        page_id = tenant.new_page(widget, widget)
        page = tenant.owner.get(f"{tenant.pages}/{page_id}").text
        assert "<iframe" not in page
        assert "needs a signed-in user" in page
        assert f'data-billport="{widget}"' in html.unescape(page)


def test_the_python_token_example_mints_tokens_the_portal_accepts(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    page_id = tenant.new_page("customer-portal", "Account")
    source = code_block(tenant.owner.get(f"{tenant.pages}/{page_id}").text, "token-python")
    monkeypatch.setenv("BILLPORT_TOKEN_SECRET", tenant.token_secret)
    namespace: dict[str, Any] = {}
    exec(compile(source, "token-python", "exec"), namespace)
    user = verify_user_token(
        namespace["token"], publishable_key=tenant.publishable_key, token_secret=tenant.token_secret
    )
    assert user.email == "ada@example.com" and user.user_id == "u_42"
    by_customer = namespace["billport_token"](customer_id="cus_Q1w2E3r4T5y6U7")
    user = verify_user_token(
        by_customer, publishable_key=tenant.publishable_key, token_secret=tenant.token_secret
    )
    assert user.customer_id == "cus_Q1w2E3r4T5y6U7" and user.email is None
    with pytest.raises(ValueError, match="exactly one"):
        namespace["billport_token"](email="a@example.com", customer_id="cus_1")
    # A token opens the widget for that user.
    opened = tenant.api.get(
        "/w/customer-portal",
        params={"key": tenant.publishable_key, "token": namespace["token"]},
        headers={"Authorization": ""},
    )
    assert opened.status_code == 200, opened.text


def test_the_node_token_example_mints_tokens_the_portal_accepts(tenant: Tenant) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: it runs the Node.js example")
    page_id = tenant.new_page("invoices", "Invoices")
    source = code_block(tenant.owner.get(f"{tenant.pages}/{page_id}").text, "token-node")
    program = source + (
        '\nprocess.stdout.write(billportToken({ email: "ada@example.com", userId: "u_7" }));\n'
    )
    token = subprocess.run(
        [node, "-e", program],
        env={"PATH": os.environ.get("PATH", ""), "BILLPORT_TOKEN_SECRET": tenant.token_secret},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    user = verify_user_token(
        token, publishable_key=tenant.publishable_key, token_secret=tenant.token_secret
    )
    assert user.email == "ada@example.com" and user.user_id == "u_7"


# -- the options module on its own ------------------------------------------------------------


def test_the_languages_offered_are_the_widgets_languages() -> None:
    assert set(LANGUAGES) == set(MESSAGES)


def test_catalog_plans_are_grouped_as_the_widgets_group_them() -> None:
    products = [
        {"id": "prod_a", "name": "Pro", "metadata": {"service": "notes", "tier": "pro"}},
        {"id": "prod_b", "name": "Pro (EU)", "metadata": {"service": "notes", "tier": "pro"}},
        {"id": "prod_c", "name": "Add-on", "metadata": {"order": "2"}},
        {"id": "prod_d", "name": "One-off", "metadata": {}},
    ]
    recurring = {"type": "recurring", "recurring": {"interval": "month"}}
    prices = [
        {"product": "prod_a", "currency": "usd", "unit_amount": 1200, **recurring},
        {"product": "prod_b", "currency": "eur", "unit_amount": 1100, **recurring},
        {"product": "prod_c", "currency": "jpy", "unit_amount": 500, **recurring},
        {"product": "prod_d", "currency": "usd", "unit_amount": 500, "type": "one_time"},
    ]
    summary = summarize_catalog(products, prices)
    assert [(p.key, p.name) for p in summary.plans] == [("prod_c", "Add-on"), ("notes:pro", "Pro")]
    assert summary.plans[0].prices == ("500 JPY / month",)
    assert summary.plans[1].prices == ("12.00 USD / month",)
    assert summary.currencies == ("eur", "jpy", "usd") and summary.services == ("notes",)


def test_options_of_other_widgets_and_unknown_keys_are_kept() -> None:
    current = {"theme": {"primary": "#000000", "shadow": "none"}, "x": 1, "coupon_field": False}
    change = parse_page_form(
        "invoices",
        {
            "name": "Invoices",
            "show_all_invoices": "on",
            "theme-primary": "#000000",
            "theme-primary-initial": "#000000",
        },
        current,
    )
    assert change.options == {
        "theme": {"primary": "#000000", "shadow": "none"},
        "x": 1,
        "coupon_field": False,
        "show_all_invoices": True,
    }
    assert current["theme"] == {"primary": "#000000", "shadow": "none"}  # not mutated
