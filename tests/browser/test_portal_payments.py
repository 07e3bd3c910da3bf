"""The portal's cards, invoices and billing details in Chromium, against the sandbox."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import stripe
from playwright.sync_api import FrameLocator, Page, expect

from tests.browser.host import HostSite, events, fill_card, open_page, payload, widget_div
from tests.servers import ServerThread
from tests.tokens import mint_user_token

LOADED = ["pre_load", "post_load"]


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[HostSite, str]]:
    app = HostSite()
    with ServerThread(app) as server:
        yield app, server.url


@pytest.fixture
def tenant(create_tenant, site) -> dict[str, Any]:
    return create_tenant(allowed_origins=[site[1]])


@pytest.fixture
def price(stripe_client: stripe.StripeClient) -> str:
    product = stripe_client.v1.products.create(
        params={"name": "Pro", "metadata": {"service": "notes", "tier": "pro"}}
    )
    params = {
        "product": product.id,
        "currency": "usd",
        "unit_amount": 2000,
        "recurring": {"interval": "month"},
    }
    return str(stripe_client.v1.prices.create(params=params).id)


@dataclass
class Subscriber:
    customer: str
    subscription: str
    card: str


@pytest.fixture
def subscriber(stripe_client: stripe.StripeClient, price: str) -> Subscriber:
    """A customer paying Pro with a Mastercard (•••• 4444)."""
    customer = stripe_client.v1.customers.create(
        params={"email": f"pay-{uuid.uuid4().hex[:8]}@example.com", "name": "Ada"}
    )
    card = attach(stripe_client, customer.id, "pm_card_mastercard")
    stripe_client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": card}}
    )
    sub = stripe_client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price}]}
    )
    assert sub.status == "active"
    return Subscriber(str(customer.id), str(sub.id), card)


def attach(client: stripe.StripeClient, customer: str, test_card: str) -> str:
    return str(client.v1.payment_methods.attach(test_card, params={"customer": customer}).id)


def fail_renewal(
    client: stripe.StripeClient, who: Subscriber, sandbox_url: str, account: str
) -> str:
    """The next renewal is declined (the card fails once charged): answers the open invoice."""
    failing = attach(client, who.customer, "pm_card_chargeCustomerFail")
    client.v1.customers.update(
        who.customer, params={"invoice_settings": {"default_payment_method": failing}}
    )
    client.v1.subscriptions.update(who.subscription, params={"default_payment_method": failing})
    answer = httpx.post(
        f"{sandbox_url}/_sandbox/clock/advance",
        json={"account": account, "seconds": 32 * 86400},
    )
    assert answer.status_code == 200, answer.text
    assert client.v1.subscriptions.retrieve(who.subscription).status == "past_due"
    invoices = client.v1.invoices.list(
        params={"subscription": who.subscription, "status": "open"}
    ).data
    assert len(invoices) == 1
    return str(invoices[0].id)


def set_options(api: httpx.Client, tenant: dict[str, Any], **options: Any) -> None:
    answer = api.patch(
        "/api/v1/tenant",
        headers={"Authorization": f"Bearer {tenant['secret_key']}"},
        json={"widget_options": options},
    )
    assert answer.status_code == 200, answer.text


def open_widget(
    page: Page, site, portal_url: str, tenant: dict[str, Any], customer: str, widget: str
) -> FrameLocator:
    token = mint_user_token(tenant, customer_id=customer)
    return open_page(page, site, portal_url, widget_div(widget, tenant["publishable_key"], token))


def open_tab(
    page: Page, site, portal_url: str, tenant: dict[str, Any], customer: str, tab: str
) -> FrameLocator:
    frame = open_widget(page, site, portal_url, tenant, customer, "customer-portal")
    frame.get_by_role("tab", name=tab).click()
    expect(frame.get_by_role("tab", name=tab)).to_have_attribute("aria-selected", "true")
    return frame


def card_item(frame: FrameLocator, name: str):
    return frame.get_by_role("listitem").filter(has_text=name)


def default_card(client: stripe.StripeClient, customer: str) -> str | None:
    found = client.v1.customers.retrieve(customer).invoice_settings.default_payment_method
    return str(found) if found else None


def test_add_a_card_with_3d_secure_and_make_it_default(
    page: Page, portal_url: str, site, tenant, subscriber, stripe_client: stripe.StripeClient
) -> None:
    frame = open_tab(page, site, portal_url, tenant, subscriber.customer, "Payment methods")
    mastercard = card_item(frame, "Mastercard •••• 4444")
    expect(mastercard.get_by_text("Default", exact=True)).to_be_visible()
    expect(mastercard.get_by_role("button", name="Remove")).to_have_count(0)

    frame.get_by_role("button", name="Add a card").click()
    expect(frame.get_by_role("heading", name="Add a card")).to_be_focused()
    fill_card(frame, "4000002500003155")
    frame.get_by_role("button", name="Save card").click()
    frame.get_by_role("button", name="Complete authentication").click()
    expect(frame.get_by_text("Visa •••• 3155 was added.")).to_be_visible()
    visa = card_item(frame, "Visa •••• 3155")
    expect(visa.get_by_text("Expires 12/2034")).to_be_visible()
    assert events(page) == LOADED

    visa.get_by_role("button", name="Make default").click()
    expect(frame.get_by_text("Visa •••• 3155 is now your default card.")).to_be_visible()
    expect(card_item(frame, "Visa •••• 3155").get_by_text("Default", exact=True)).to_be_visible()
    expect(
        card_item(frame, "Mastercard •••• 4444").get_by_role("button", name="Remove")
    ).to_be_visible()

    assert events(page) == [*LOADED, "update_payment_method"]
    event = payload(page, "update_payment_method")
    new_card = event["response"]["id"]
    assert event["response"]["card"]["last4"] == "3155"
    assert event["extras"] == {"subscriptions": [subscriber.subscription]}
    assert default_card(stripe_client, subscriber.customer) == new_card
    sub = stripe_client.v1.subscriptions.retrieve(subscriber.subscription)
    assert sub.default_payment_method == new_card


def test_a_failed_load_offers_to_try_again(
    page: Page, portal_url: str, site, tenant, subscriber, sandbox_url: str
) -> None:
    path = f"/v1/customers/{subscriber.customer}/payment_methods"
    fault = {"method": "GET", "path": path, "status": 500, "times": 1}
    assert httpx.post(f"{sandbox_url}/_sandbox/faults", json=fault).status_code == 200
    try:
        frame = open_tab(page, site, portal_url, tenant, subscriber.customer, "Payment methods")
        expect(frame.get_by_role("alert")).to_contain_text("try again")
        frame.get_by_role("button", name="Try again").click()
        expect(card_item(frame, "Mastercard •••• 4444")).to_be_visible()
        expect(frame.get_by_role("alert")).to_have_count(0)
    finally:
        httpx.delete(f"{sandbox_url}/_sandbox/faults")
    assert events(page) == LOADED


def test_remove_a_card_after_confirming(
    page: Page, portal_url: str, site, tenant, subscriber, stripe_client: stripe.StripeClient
) -> None:
    spare = attach(stripe_client, subscriber.customer, "pm_card_visa")
    frame = open_tab(page, site, portal_url, tenant, subscriber.customer, "Payment methods")
    visa = card_item(frame, "Visa •••• 4242")
    visa.get_by_role("button", name="Remove").click()
    expect(visa.get_by_text("Remove Visa •••• 4242? You can add it again later.")).to_be_focused()
    visa.get_by_role("button", name="Keep card").click()
    expect(visa.get_by_role("button", name="Make default")).to_be_visible()
    assert stripe_client.v1.payment_methods.retrieve(spare).customer == subscriber.customer

    visa.get_by_role("button", name="Remove").click()
    visa.get_by_role("button", name="Remove card").click()
    expect(frame.get_by_text("Visa •••• 4242 was removed.")).to_be_visible()
    expect(card_item(frame, "Visa •••• 4242")).to_have_count(0)
    expect(card_item(frame, "Mastercard •••• 4444")).to_be_visible()

    assert stripe_client.v1.payment_methods.retrieve(spare).customer is None
    assert default_card(stripe_client, subscriber.customer) == subscriber.card
    # Removing a spare card changes nothing the tenant tracks: no event.
    assert events(page) == LOADED


def test_pay_a_past_due_invoice_with_a_new_card(
    page: Page,
    portal_url: str,
    site,
    tenant,
    subscriber,
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
) -> None:
    invoice = fail_renewal(stripe_client, subscriber, sandbox_url, sandbox_account)
    number = stripe_client.v1.invoices.retrieve(invoice).number
    frame = open_tab(page, site, portal_url, tenant, subscriber.customer, "Payment methods")
    frame.get_by_role("button", name="Add a card").click()
    fill_card(frame, "4242424242424242")
    frame.get_by_role("button", name="Save card").click()
    expect(frame.get_by_text("Visa •••• 4242 was added.")).to_be_visible()
    expect(frame.get_by_text(f"Invoice {number} for $20.00 is still unpaid.")).to_be_visible()
    frame.get_by_role("button", name="Pay the open invoice now with this card").click()
    expect(frame.get_by_text(f"Invoice {number} is paid. Thank you!")).to_be_visible()

    assert events(page) == [*LOADED, "pay_invoice"]
    paid = payload(page, "pay_invoice")
    assert paid["response"]["id"] == invoice
    assert paid["response"]["status"] == "paid"
    assert paid["extras"] == {"subscription": subscriber.subscription}
    assert stripe_client.v1.invoices.retrieve(invoice).status == "paid"
    assert stripe_client.v1.subscriptions.retrieve(subscriber.subscription).status == "active"

    frame.get_by_role("tab", name="Invoices").click()
    row = frame.get_by_role("row").filter(has_text=number)
    expect(row.get_by_text("Paid", exact=True)).to_be_visible()
    expect(row.get_by_role("button", name="Pay")).to_have_count(0)


def test_invoices_listed_with_working_links_and_paid_in_place(
    page: Page,
    portal_url: str,
    site,
    tenant,
    subscriber,
    api: httpx.Client,
    stripe_client: stripe.StripeClient,
) -> None:
    set_options(api, tenant, show_all_invoices=True)
    stripe_client.v1.invoice_items.create(
        params={
            "customer": subscriber.customer,
            "amount": 1500,
            "currency": "usd",
            "description": "Onboarding",
        }
    )
    one_off = stripe_client.v1.invoices.create(
        params={"customer": subscriber.customer, "pending_invoice_items_behavior": "include"}
    )
    one_off = stripe_client.v1.invoices.finalize_invoice(one_off.id, params={"auto_advance": False})
    first = stripe_client.v1.invoices.list(params={"subscription": subscriber.subscription}).data[0]

    frame = open_tab(page, site, portal_url, tenant, subscriber.customer, "Invoices")
    table = frame.get_by_role("table", name="Your invoices, newest first")
    for header in ("Number", "Date", "Amount", "Status"):
        expect(table.get_by_role("columnheader", name=header)).to_be_visible()
    expect(table.get_by_role("row")).to_have_count(3)
    paid_row = table.get_by_role("row").filter(has_text=first.number)
    expect(paid_row.get_by_text("$20.00")).to_be_visible()
    expect(paid_row.get_by_text("Paid", exact=True)).to_be_visible()
    view = paid_row.get_by_role("link", name="View")
    expect(view).to_have_attribute("target", "_blank")
    expect(view).to_have_attribute("rel", "noopener")
    pdf = paid_row.get_by_role("link", name="PDF")
    document = httpx.get(pdf.get_attribute("href") or "")
    assert document.status_code == 200
    assert document.content.startswith(b"%PDF")
    assert httpx.get(view.get_attribute("href") or "").status_code == 200

    open_row = table.get_by_role("row").filter(has_text=one_off.number)
    expect(open_row.get_by_text("Due", exact=True)).to_be_visible()
    open_row.get_by_role("button", name="Pay").click()
    expect(frame.get_by_text(f"Invoice {one_off.number} is paid. Thank you!")).to_be_visible()
    expect(
        frame.get_by_role("row").filter(has_text=one_off.number).get_by_text("Paid", exact=True)
    ).to_be_visible()

    assert events(page) == [*LOADED, "pay_invoice"]
    event = payload(page, "pay_invoice")
    assert event["response"]["id"] == one_off.id
    assert event["extras"] == {"subscription": None}
    assert stripe_client.v1.invoices.retrieve(one_off.id).status == "paid"


def test_the_invoices_widget_alone_pays_with_3d_secure(
    page: Page,
    portal_url: str,
    site,
    tenant,
    subscriber,
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
) -> None:
    invoice = fail_renewal(stripe_client, subscriber, sandbox_url, sandbox_account)
    number = stripe_client.v1.invoices.retrieve(invoice).number
    secure = attach(stripe_client, subscriber.customer, "pm_card_authenticationRequired")
    stripe_client.v1.subscriptions.update(
        subscriber.subscription, params={"default_payment_method": secure}
    )

    frame = open_widget(page, site, portal_url, tenant, subscriber.customer, "invoices")
    expect(frame.get_by_role("heading", name="Invoices")).to_be_visible()
    expect(frame.get_by_role("tab")).to_have_count(0)
    row = frame.get_by_role("row").filter(has_text=number)
    expect(row.get_by_text("Due", exact=True)).to_be_visible()
    row.get_by_role("button", name="Pay").click()
    frame.get_by_role("button", name="Complete authentication").click()
    expect(frame.get_by_text(f"Invoice {number} is paid. Thank you!")).to_be_visible()
    expect(
        frame.get_by_role("row").filter(has_text=number).get_by_text("Paid", exact=True)
    ).to_be_visible()

    assert events(page) == [*LOADED, "pay_invoice"]
    assert payload(page, "pay_invoice")["response"]["status"] == "paid"
    assert stripe_client.v1.invoices.retrieve(invoice).status == "paid"
    assert stripe_client.v1.subscriptions.retrieve(subscriber.subscription).status == "active"


def test_a_declined_payment_is_explained_and_the_invoice_stays_open(
    page: Page,
    portal_url: str,
    site,
    tenant,
    subscriber,
    stripe_client: stripe.StripeClient,
    sandbox_url: str,
    sandbox_account: str,
) -> None:
    invoice = fail_renewal(stripe_client, subscriber, sandbox_url, sandbox_account)
    number = stripe_client.v1.invoices.retrieve(invoice).number
    frame = open_widget(page, site, portal_url, tenant, subscriber.customer, "invoices")
    frame.get_by_role("row").filter(has_text=number).get_by_role("button", name="Pay").click()
    expect(frame.get_by_role("alert")).to_contain_text("declined")
    expect(frame.get_by_role("button", name="Pay")).to_be_enabled()
    assert events(page) == LOADED
    assert stripe_client.v1.invoices.retrieve(invoice).status == "open"


def test_billing_details_are_saved_and_a_bad_tax_id_is_explained(
    page: Page, portal_url: str, site, tenant, subscriber, stripe_client: stripe.StripeClient
) -> None:
    frame = open_tab(page, site, portal_url, tenant, subscriber.customer, "Billing details")
    expect(frame.get_by_label("Name", exact=True)).to_have_value("Ada")
    frame.get_by_label("Name", exact=True).fill("Ada Lovelace Ltd")
    frame.get_by_label("Address line 1").fill("12 St James's Square")
    frame.get_by_label("City").fill("London")
    frame.get_by_label("Postal code").fill("SW1Y 4JH")
    frame.get_by_label("Country").select_option(label="United Kingdom")
    frame.get_by_label("Tax ID type").select_option(label="EU VAT number")
    expect(frame.get_by_text("For example DE123456789")).to_be_visible()
    tax_number = frame.get_by_label("Tax ID number")
    tax_number.fill("DE12")
    frame.get_by_role("button", name="Save billing details").click()

    expect(tax_number).to_have_attribute("aria-invalid", "true")
    expect(tax_number).to_be_focused()
    expect(tax_number).to_have_accessible_description(
        re.compile("This is not a valid EU VAT number; it looks like DE123456789.")
    )
    unchanged = stripe_client.v1.customers.retrieve(subscriber.customer)
    assert unchanged.name == "Ada" and unchanged.address is None

    frame.get_by_label("Tax ID type").select_option(label="No tax ID")
    tax_number.fill("")
    frame.get_by_role("button", name="Save billing details").click()
    expect(frame.get_by_text("Billing details saved.")).to_be_visible()
    expect(tax_number).not_to_have_attribute("aria-invalid", "true")

    customer = stripe_client.v1.customers.retrieve(subscriber.customer)
    assert customer.name == "Ada Lovelace Ltd"
    assert customer.address.line1 == "12 St James's Square"
    assert customer.address.city == "London"
    assert customer.address.postal_code == "SW1Y 4JH"
    assert customer.address.country == "GB"

    frame.get_by_label("Tax ID type").select_option(label="UK VAT number")
    tax_number.fill("GB123456789")
    frame.get_by_role("button", name="Save billing details").click()
    expect(frame.get_by_text("Billing details saved.")).to_be_visible()
    tax_ids = stripe_client.v1.customers.tax_ids.list(subscriber.customer).data
    assert [(t.type, t.value) for t in tax_ids] == [("gb_vat", "GB123456789")]
    # Billing details are not one of the events a tenant hears.
    assert events(page) == LOADED


def test_billing_details_say_what_is_missing(
    page: Page, portal_url: str, site, tenant, subscriber, stripe_client: stripe.StripeClient
) -> None:
    frame = open_tab(page, site, portal_url, tenant, subscriber.customer, "Billing details")
    frame.get_by_label("City").fill("Paris")
    frame.get_by_role("button", name="Save billing details").click()
    line1 = frame.get_by_label("Address line 1")
    expect(line1).to_be_focused()
    expect(line1).to_have_accessible_description("Address line 1 is required.")
    assert stripe_client.v1.customers.retrieve(subscriber.customer).address is None
