"""The sandbox's Stripe.js stand-in in a real browser, on a shop page of another origin."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import stripe
from playwright.sync_api import Page, expect

from tests.servers import ServerThread

SCREENSHOT = "/tmp/sandbox-stripejs-card-element.png"
DIALOG_NAME = "Authenticate this payment — Sandbox 3D Secure"
AUTH_FAILED = (
    "We are unable to authenticate your payment method. Please choose a different payment "
    "method and try again."
)

SHOP_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Shop checkout</title>
<script src="STRIPE_JS_URL"></script>
<style>
  body { font-family: system-ui, sans-serif; max-width: 460px; margin: 40px auto; }
  form { display: grid; gap: 16px; }
  button { font: inherit; padding: 10px; border-radius: 8px; border: 0; background: #0a7c59;
    color: white; }
</style>
</head>
<body>
<main>
  <h1>Payment details</h1>
  <form id="checkout">
    <div id="card-element"></div>
    <button type="submit">Pay and save card</button>
  </form>
  <p id="outcome" role="status"></p>
</main>
<script>
  const query = new URLSearchParams(location.search);
  const stripe = Stripe(query.get("pk"));
  const secret = query.get("secret");
  const kind = query.get("element");
  const elements = stripe.elements({
    appearance: { variables: { colorPrimary: "#0a7c59", borderRadius: "8px" } },
  });
  const element = elements.create(kind);
  element.on("ready", () => { document.body.dataset.ready = "yes"; });
  element.mount("#card-element");
  window.shop = { stripe, elements, element };
  const outcome = document.getElementById("outcome");
  document.getElementById("checkout").addEventListener("submit", async (event) => {
    event.preventDefault();
    outcome.textContent = "Working";
    const billing = { name: "Ada Lovelace" };
    const result = kind === "card"
      ? await stripe.confirmCardSetup(secret, {
          payment_method: { card: element, billing_details: billing },
        })
      : await stripe.confirmPayment({
          elements, clientSecret: secret, redirect: "if_required",
          confirmParams: { payment_method_data: { billing_details: billing } },
        });
    const intent = result.setupIntent || result.paymentIntent;
    outcome.textContent = result.error ? result.error.message : `Done: ${intent.status}`;
  });
</script>
</body>
</html>
"""


def shop_app(sandbox_url: str) -> Any:
    """A tiny ASGI app serving the shop page that loads Stripe.js from the sandbox."""
    body = SHOP_PAGE.replace("STRIPE_JS_URL", html.escape(f"{sandbox_url}/v3/")).encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


@pytest.fixture(scope="module")
def shop_url(sandbox_url: str) -> Iterator[str]:
    with ServerThread(shop_app(sandbox_url)) as server:
        yield server.url


def open_shop(page: Page, shop_url: str, account: str, secret: str, element: str) -> None:
    query = urlencode({"pk": f"pk_test_{account}", "secret": secret, "element": element})
    page.goto(f"{shop_url}/?{query}")
    expect(page.locator("body")).to_have_attribute("data-ready", "yes")


def type_card(page: Page, number: str) -> None:
    """Fill the card fields with the keyboard only, as a customer without a mouse would."""
    page.get_by_label("Card number").focus()
    page.keyboard.type(number)
    page.keyboard.press("Tab")
    page.keyboard.type("1234")
    page.keyboard.press("Tab")
    page.keyboard.type("123")


def submit(page: Page) -> None:
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Pay and save card")).to_be_focused()
    page.keyboard.press("Enter")


@pytest.fixture
def setup_intent(stripe_client: stripe.StripeClient) -> stripe.SetupIntent:
    customer = stripe_client.v1.customers.create(params={"email": "ada@example.com"})
    return stripe_client.v1.setup_intents.create(params={"customer": customer.id})


def test_card_element_saves_a_card(
    page: Page,
    shop_url: str,
    sandbox_account: str,
    stripe_client: stripe.StripeClient,
    setup_intent: stripe.SetupIntent,
) -> None:
    assert setup_intent.client_secret is not None
    open_shop(page, shop_url, sandbox_account, setup_intent.client_secret, "card")
    type_card(page, "4242424242424242")
    expect(page.get_by_label("Card number")).to_have_value("4242 4242 4242 4242")
    expect(page.get_by_label("Expiration date")).to_have_value("12 / 34")
    page.screenshot(path=SCREENSHOT, full_page=True)
    submit(page)
    expect(page.get_by_role("status")).to_have_text("Done: succeeded")

    saved = stripe_client.v1.setup_intents.retrieve(setup_intent.id)
    assert saved.status == "succeeded"
    assert isinstance(saved.payment_method, str)
    pm = stripe_client.v1.payment_methods.retrieve(saved.payment_method)
    assert pm.customer == setup_intent.customer
    assert pm.card is not None
    assert (pm.card.last4, pm.card.exp_month, pm.card.exp_year) == ("4242", 12, 2034)
    assert pm.billing_details.name == "Ada Lovelace"


def test_declined_card_shows_the_decline(
    page: Page,
    shop_url: str,
    sandbox_account: str,
    stripe_client: stripe.StripeClient,
    setup_intent: stripe.SetupIntent,
) -> None:
    assert setup_intent.client_secret is not None
    open_shop(page, shop_url, sandbox_account, setup_intent.client_secret, "card")
    type_card(page, "4000000000000002")
    submit(page)
    expect(page.get_by_role("status")).to_have_text("Your card was declined.")
    failed = stripe_client.v1.setup_intents.retrieve(setup_intent.id)
    assert failed.status == "requires_payment_method"
    assert failed.last_setup_error is not None
    assert failed.last_setup_error.code == "card_declined"


def test_incomplete_card_is_caught_in_the_browser(
    page: Page,
    shop_url: str,
    sandbox_account: str,
    stripe_client: stripe.StripeClient,
    setup_intent: stripe.SetupIntent,
) -> None:
    assert setup_intent.client_secret is not None
    open_shop(page, shop_url, sandbox_account, setup_intent.client_secret, "card")
    type_card(page, "424242")
    submit(page)
    expect(page.get_by_role("status")).to_have_text("Your card number is incomplete.")
    expect(page.get_by_label("Card number")).to_be_focused()
    expect(page.get_by_label("Card number")).to_have_attribute("aria-invalid", "true")
    assert stripe_client.v1.setup_intents.retrieve(setup_intent.id).status == (
        "requires_payment_method"
    )


def test_three_d_secure_completed(
    page: Page,
    shop_url: str,
    sandbox_account: str,
    stripe_client: stripe.StripeClient,
    setup_intent: stripe.SetupIntent,
) -> None:
    assert setup_intent.client_secret is not None
    open_shop(page, shop_url, sandbox_account, setup_intent.client_secret, "card")
    type_card(page, "4000002500003155")
    submit(page)
    dialog = page.get_by_role("dialog", name=DIALOG_NAME)
    expect(dialog).to_be_visible()
    complete = dialog.get_by_role("button", name="Complete authentication")
    expect(complete).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("Done: succeeded")
    expect(dialog).to_have_count(0)

    saved = stripe_client.v1.setup_intents.retrieve(setup_intent.id)
    assert saved.status == "succeeded"
    attached = stripe_client.v1.customers.payment_methods.list(str(setup_intent.customer))
    assert [pm.id for pm in attached.data] == [saved.payment_method]


@pytest.mark.parametrize("how", ["button", "escape"])
def test_three_d_secure_failed(
    page: Page,
    shop_url: str,
    sandbox_account: str,
    stripe_client: stripe.StripeClient,
    setup_intent: stripe.SetupIntent,
    how: str,
) -> None:
    assert setup_intent.client_secret is not None
    open_shop(page, shop_url, sandbox_account, setup_intent.client_secret, "card")
    type_card(page, "4000002500003155")
    submit(page)
    dialog = page.get_by_role("dialog", name=DIALOG_NAME)
    expect(dialog).to_be_visible()
    if how == "button":
        dialog.get_by_role("button", name="Fail authentication").click()
    else:
        page.keyboard.press("Escape")
    expect(page.get_by_role("status")).to_have_text(AUTH_FAILED)
    failed = stripe_client.v1.setup_intents.retrieve(setup_intent.id)
    assert failed.status == "requires_payment_method"
    assert failed.last_setup_error is not None
    assert failed.last_setup_error.code == "setup_intent_authentication_failure"
    assert stripe_client.v1.customers.payment_methods.list(str(setup_intent.customer)).data == []


def test_payment_element_pays_a_payment_intent(
    page: Page, shop_url: str, sandbox_account: str, stripe_client: stripe.StripeClient
) -> None:
    customer = stripe_client.v1.customers.create()
    intent = stripe_client.v1.payment_intents.create(
        params={
            "amount": 2500,
            "currency": "usd",
            "customer": customer.id,
            "setup_future_usage": "off_session",
        }
    )
    assert intent.client_secret is not None
    open_shop(page, shop_url, sandbox_account, intent.client_secret, "payment")
    expect(page.get_by_role("group", name="Card")).to_be_visible()
    type_card(page, "5555555555554444")
    submit(page)
    expect(page.get_by_role("status")).to_have_text("Done: succeeded")
    paid = stripe_client.v1.payment_intents.retrieve(intent.id)
    assert (paid.status, paid.amount_received) == ("succeeded", 2500)
    assert [
        pm.card.brand
        for pm in stripe_client.v1.customers.payment_methods.list(customer.id).data
        if pm.card
    ] == ["mastercard"]


def test_payment_method_then_card_payment_with_next_action(
    page: Page, shop_url: str, sandbox_account: str, stripe_client: stripe.StripeClient
) -> None:
    customer = stripe_client.v1.customers.create()
    intent = stripe_client.v1.payment_intents.create(
        params={"amount": 4200, "currency": "usd", "customer": customer.id}
    )
    assert intent.client_secret is not None
    open_shop(page, shop_url, sandbox_account, intent.client_secret, "card")
    type_card(page, "4000002500003155")
    first: dict[str, Any] = page.evaluate(
        """async (secret) => {
            const { stripe, element } = window.shop;
            const created = await stripe.createPaymentMethod({
                type: "card", card: element, billing_details: { name: "Ada" },
            });
            const confirmed = await stripe.confirmCardPayment(
                secret, { payment_method: created.paymentMethod.id }, { handleActions: false },
            );
            const seen = await stripe.retrievePaymentIntent(secret);
            window.pending = stripe.handleNextAction({ clientSecret: secret });
            return {
                pm: created.paymentMethod.id,
                last4: created.paymentMethod.card.last4,
                confirmed: confirmed.paymentIntent.status,
                seen: seen.paymentIntent.status,
            };
        }""",
        intent.client_secret,
    )
    assert first["pm"].startswith("pm_")
    assert (first["last4"], first["confirmed"], first["seen"]) == (
        "3155",
        "requires_action",
        "requires_action",
    )
    page.get_by_role("dialog", name=DIALOG_NAME).get_by_role(
        "button", name="Complete authentication"
    ).click()
    final = page.evaluate("async () => (await window.pending).paymentIntent.status")
    assert final == "succeeded"
    paid = stripe_client.v1.payment_intents.retrieve(intent.id)
    assert (paid.status, paid.payment_method) == ("succeeded", first["pm"])
