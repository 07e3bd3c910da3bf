"""The dashboard's Callbacks, Catalog and Customers pages over HTTP, against the sandbox."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import stripe

from portal.callbacks.worker import RETRY_DELAYS
from portal.settings import Settings
from tests.callbacks_support import Clock, Receiver, queue, work
from tests.dashboard_support import DashboardClient, secrets_shown
from tests.servers import ServerThread, free_port

EVENT_LINK = re.compile(r'href="/dashboard/t/ten_\w+/callbacks/(evt_\w+)"')


# -- helpers ---------------------------------------------------------------------------------


class Tenant:
    """A signed-in owner and their tenant: its id, its secrets and its callback port."""

    def __init__(
        self, portal_url: str, sandbox_url: str, account: str, *, with_callback_url: bool = True
    ) -> None:
        self.owner = DashboardClient(portal_url)
        self.owner.sign_up()
        self.port = free_port()
        fields = {
            "name": "Acme Notes",
            "stripe_secret_key": f"sk_test_{account}",
            "stripe_api_base": sandbox_url,
            "allowed_origins": "https://app.acme.test",
        }
        if with_callback_url:
            fields["callback_url"] = f"http://127.0.0.1:{self.port}/billing/hook"
        answer = self.owner.post("/dashboard/tenants/new", fields)
        assert answer.status_code == 200, answer.text
        found = re.search(r'href="/dashboard/t/(ten_\w+)"', answer.text)
        assert found, answer.text
        self.id = found.group(1)
        self.api_key, _, self.callback_secret = secrets_shown(answer.text)
        self.base = f"/dashboard/t/{self.id}"

    def receiver(self) -> Receiver:
        return Receiver(self.callback_secret)

    def member(self, portal_url: str, role: str) -> DashboardClient:
        email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
        added = self.owner.post(
            f"{self.base}/team", {"action": "add", "email": email, "role": role}
        )
        assert added.status_code == 303, added.text
        client = DashboardClient(portal_url)
        client.sign_up(email)
        return client


@pytest.fixture
def tenants(portal_url: str, sandbox_url: str) -> Iterator[Callable[..., Tenant]]:
    made: list[Tenant] = []

    def make(account: str, **options: Any) -> Tenant:
        made.append(Tenant(portal_url, sandbox_url, account, **options))
        return made[-1]

    yield make
    for tenant in made:
        tenant.owner.close()


def shown_events(page: str) -> list[str]:
    """The delivery ids a callbacks page lists, in order (each is linked once)."""
    return list(dict.fromkeys(EVENT_LINK.findall(page)))


def plain_text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def make_plan(client: stripe.StripeClient) -> stripe.Price:
    product = client.v1.products.create(
        params={"name": "Pro", "metadata": {"service": "notes", "tier": "pro"}}
    )
    return client.v1.prices.create(
        params={
            "product": product.id,
            "currency": "usd",
            "unit_amount": 900,
            "recurring": {"interval": "month"},
        }
    )


def subscribed_customer(client: stripe.StripeClient, email: str) -> tuple[str, str]:
    """A customer paying for Pro monthly with a Visa; their id and subscription id."""
    price = make_plan(client)
    customer = client.v1.customers.create(params={"email": email, "name": "Ada Lovelace"})
    pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": pm.id}}
    )
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id, "quantity": 3}]}
    )
    return customer.id, subscription.id


# -- callbacks -------------------------------------------------------------------------------


def test_deliveries_are_listed_newest_first_with_filters_and_pages(
    tenants, portal_url: str, portal_settings: Settings, sandbox_account: str
) -> None:
    tenant = tenants(sandbox_account)
    older = queue(portal_settings, tenant.id, [("post_load", "cus_z")] * 26)
    ids = queue(portal_settings, tenant.id, [("change_plan", "cus_a")])
    with ServerThread(tenant.receiver(), port=tenant.port):
        # One customer's deliveries go out one per round, in order.
        work(portal_settings, Clock(), rounds=26)
    # Nobody listens for these: the first fails and waits, the second waits behind it.
    ids += queue(portal_settings, tenant.id, [("pay_invoice", "cus_b"), ("change_plan", "cus_b")])
    work(portal_settings, Clock())
    owner = tenant.owner
    callbacks = f"{tenant.base}/callbacks"

    first = owner.get(callbacks)
    assert first.status_code == 200
    listed = shown_events(first.text)
    assert listed[:3] == ids[::-1] and len(listed) == 25
    assert "Older" in first.text and "Stripe events" in first.text
    older_link = html.unescape(re.search(r'href="([^"]+before=[^"]+)"', first.text).group(1))
    second = owner.get(older_link)
    assert shown_events(second.text) == older[::-1][22:]
    assert "Newest" in second.text

    def only(**filters: str) -> list[str]:
        answer = owner.get(callbacks, params=filters)
        assert answer.status_code == 200, answer.text
        return shown_events(answer.text)

    assert only(event="change_plan") == [ids[2], ids[0]]
    assert only(customer="cus_b") == [ids[2], ids[1]]
    assert only(event="change_plan", customer="cus_b") == [ids[2]]
    assert set(only(status="pending")) == {ids[1], ids[2]}
    assert only(status="delivered", customer="cus_a") == [ids[0]]
    assert only(status="failed") == []
    assert (
        "No delivery matches these filters"
        in owner.get(callbacks, params={"status": "failed"}).text
    )

    # The tenant API answers the same list.
    with httpx.Client(base_url=portal_url) as api:
        answer = api.get(
            "/api/v1/callbacks",
            params={"event": "change_plan", "customer": "cus_b"},
            headers={"Authorization": f"Bearer {tenant.api_key}"},
        )
        assert answer.status_code == 200, answer.text
        assert [d["id"] for d in answer.json()["data"]] == [ids[2]]
        refused = api.get(
            "/api/v1/callbacks",
            params={"event": "Not An Event"},
            headers={"Authorization": f"Bearer {tenant.api_key}"},
        )
        assert refused.status_code == 422 and refused.json()["error"]["param"] == "event"


def test_a_failed_delivery_shows_every_attempt_and_a_retry_delivers_it(
    tenants, portal_settings: Settings, sandbox_account: str
) -> None:
    tenant = tenants(sandbox_account)
    clock = Clock()
    [event_id] = queue(portal_settings, tenant.id, [("pay_invoice", "cus_retry")])
    work(portal_settings, clock)  # nobody listens yet: a connection error
    receiver = tenant.receiver()
    receiver.script = [(500, {})] * len(RETRY_DELAYS)
    with ServerThread(receiver, port=tenant.port):
        for delay in RETRY_DELAYS:
            clock.now += delay
            work(portal_settings, clock)
        owner = tenant.owner
        page = owner.get(f"{tenant.base}/callbacks/{event_id}")
        assert page.status_code == 200
        text = plain_text(page.text)
        assert "failed" in text and "ConnectError" in text
        assert page.text.count('class="badge failed">HTTP 500<') == len(RETRY_DELAYS)
        assert page.text.count(" ms</td>") == len(RETRY_DELAYS) + 1
        assert "webhook-signature" in text and f"webhook-id {event_id}" in " ".join(text.split())
        assert '"event": "pay_invoice"' in text and '"customer": "cus_retry"' in text
        listed = owner.get(f"{tenant.base}/callbacks", params={"status": "failed"})
        assert shown_events(listed.text) == [event_id]

        retried = owner.post(
            f"{tenant.base}/callbacks/{event_id}/retry",
            {},
            page=f"{tenant.base}/callbacks/{event_id}",
        )
        assert retried.status_code == 303
        assert retried.headers["location"] == f"{tenant.base}/callbacks/{event_id}?done=retried"
        page = owner.get(retried.headers["location"])
        assert "The delivery is queued again." in page.text and "pending" in page.text
        work(portal_settings, clock)
    assert [r["id"] for r in receiver.received][-1] == event_id
    assert receiver.received[-1]["status"] == 200
    page = owner.get(f"{tenant.base}/callbacks/{event_id}").text
    assert "HTTP 200" in page and 'class="badge delivered">delivered' in page


def test_send_test_event_reaches_the_receiver_signed(
    tenants, portal_settings: Settings, sandbox_account: str
) -> None:
    tenant = tenants(sandbox_account)
    clock = Clock()
    receiver = tenant.receiver()
    # A real event about no customer, failing at first: the test must not wait behind it.
    [stuck] = queue(portal_settings, tenant.id, [("payment_failed", None)])
    receiver.script = [(503, {})]
    with ServerThread(receiver, port=tenant.port):
        work(portal_settings, clock)
        owner = tenant.owner
        sent = owner.post(f"{tenant.base}/callbacks/test", {}, page=f"{tenant.base}/callbacks")
        assert sent.status_code == 303
        page = owner.get(sent.headers["location"])
        assert "A test event is queued" in page.text
        [test_id] = [e for e in shown_events(page.text) if e != stuck]
        work(portal_settings, clock)
    [arrived] = [r for r in receiver.received if r["id"] == test_id]
    # Receiver verified it with standardwebhooks; this is the verified body.
    body = arrived["body"]
    assert body["event"] == "test" and body["customer"] is None and body["livemode"] is False
    assert body["response"]["object"] == "test" and body["response"]["message"]
    assert arrived["headers"]["webhook-id"] == test_id
    page = owner.get(f"{tenant.base}/callbacks/{test_id}").text
    assert 'class="badge delivered">delivered' in page
    listed = owner.get(f"{tenant.base}/callbacks", params={"event": "test"}).text
    assert shown_events(listed) == [test_id]
    assert 'class="badge pending">pending' in owner.get(f"{tenant.base}/callbacks/{stuck}").text


def test_missing_or_disabled_callback_urls_are_explained(
    tenants, portal_settings: Settings, sandbox_account: str
) -> None:
    unset = tenants(sandbox_account, with_callback_url=False)
    page = unset.owner.get(f"{unset.base}/callbacks")
    assert page.status_code == 200
    assert "No callback URL is set" in page.text and f'href="{unset.base}/settings"' in page.text
    refused = unset.owner.post(f"{unset.base}/callbacks/test", {}, page=f"{unset.base}/callbacks")
    assert refused.status_code == 409 and "set one in the settings" in refused.text

    gone = tenants(sandbox_account)
    receiver = gone.receiver()
    receiver.script = [(410, {})]
    queue(portal_settings, gone.id, [("change_plan", "cus_gone")])
    with ServerThread(receiver, port=gone.port):
        work(portal_settings, Clock())
    page = gone.owner.get(f"{gone.base}/callbacks")
    assert "Callbacks are disabled." in page.text and "410 Gone" in page.text
    assert f'href="{gone.base}/settings"' in page.text
    refused = gone.owner.post(f"{gone.base}/callbacks/test", {}, page=f"{gone.base}/callbacks")
    assert refused.status_code == 409 and "disabled" in refused.text


# -- catalog ---------------------------------------------------------------------------------


def test_the_catalog_page_shows_what_stripe_has_after_a_refresh(
    tenants, stripe_client: stripe.StripeClient, sandbox_account: str
) -> None:
    tenant = tenants(sandbox_account)
    owner = tenant.owner
    catalog = f"{tenant.base}/catalog"
    first = owner.get(catalog)
    assert first.status_code == 200 and "No active product" in first.text
    price = make_plan(stripe_client)
    free = stripe_client.v1.products.create(params={"name": "Starter"})
    stripe_client.v1.prices.create(
        params={
            "product": free.id,
            "currency": "eur",
            "unit_amount": 0,
            "recurring": {"interval": "year"},
        }
    )
    # The stored copy is what widgets show until it is read again.
    assert price.id not in owner.get(catalog).text

    refreshed = owner.post(f"{catalog}/refresh", {}, page=catalog)
    assert refreshed.status_code == 303 and refreshed.headers["location"].endswith("done=refreshed")
    page = owner.get(refreshed.headers["location"])
    text = " ".join(plain_text(page.text).split())
    assert "The catalog was read again from Stripe." in text
    assert "Pro" in text and "$9 / month" in text and price.id in text
    assert "service: notes" in text and "tier: pro" in text and "USD" in text
    assert "Starter" in text and "EUR" in text and "year" in text
    assert "No service and tier metadata" in text  # Starter has none


# -- customers -------------------------------------------------------------------------------


def test_support_finds_a_customer_by_email_or_id_and_sees_their_billing(
    tenants, portal_settings: Settings, stripe_client: stripe.StripeClient, sandbox_account: str
) -> None:
    tenant = tenants(sandbox_account)
    owner = tenant.owner
    email = f"ada-{uuid.uuid4().hex[:6]}@example.com"
    customer_id, subscription_id = subscribed_customer(stripe_client, email)
    [delivery] = queue(portal_settings, tenant.id, [("create_subscription", customer_id)])
    customers = f"{tenant.base}/customers"

    empty = owner.get(customers)
    assert empty.status_code == 200 and 'name="q"' in empty.text
    for query in (email, email.upper(), customer_id):
        answer = owner.get(customers, params={"q": query})
        assert answer.status_code == 200, (query, answer.text)
        assert f'href="{customers}/{customer_id}"' in answer.text, query
    nobody = owner.get(customers, params={"q": "nobody@example.com"})
    assert nobody.status_code == 200 and "No customer in your Stripe account matches" in nobody.text
    unknown = owner.get(customers, params={"q": "cus_doesnotexist"})
    assert unknown.status_code == 200 and "No customer" in unknown.text

    page = owner.get(f"{customers}/{customer_id}")
    assert page.status_code == 200, page.text
    text = " ".join(plain_text(page.text).split())
    assert "Ada Lovelace" in text and email in text and "Read only" in text
    assert subscription_id in text and "Pro" in text and "$9.00 / month" in text
    assert "active" in text and re.search(r"\b3\b", text)
    assert "Visa" in text and "•••• 4242" in text
    invoices = stripe_client.v1.invoices.list(params={"customer": customer_id}).data
    assert invoices
    for invoice in invoices:
        assert (invoice.number or invoice.id) in text
    assert "$27.00" in text and "paid" in text
    assert f'href="{tenant.base}/callbacks/{delivery}"' in page.text
    assert "create_subscription" in text


def test_customer_pages_answer_clearly_when_stripe_fails(
    tenants, sandbox_url: str, stripe_client: stripe.StripeClient, sandbox_account: str
) -> None:
    tenant = tenants(sandbox_account)
    customer = stripe_client.v1.customers.create(params={"email": "down@example.com"})
    path = f"/v1/customers/{customer.id}"
    httpx.post(f"{sandbox_url}/_sandbox/faults", json={"path": path, "status": 500, "times": 1})
    try:
        answer = tenant.owner.get(f"{tenant.base}/customers/{customer.id}")
    finally:
        httpx.delete(f"{sandbox_url}/_sandbox/faults")
    assert answer.status_code == 502
    assert "Stripe did not answer" in answer.text and "Traceback" not in answer.text
    assert tenant.owner.get(f"{tenant.base}/customers/{customer.id}").status_code == 200


# -- roles and isolation ---------------------------------------------------------------------


def test_a_viewer_reads_but_cannot_retry_send_tests_or_refresh(
    tenants, portal_url: str, portal_settings: Settings, sandbox_account: str, stripe_client
) -> None:
    tenant = tenants(sandbox_account)
    [event_id] = queue(portal_settings, tenant.id, [("change_plan", "cus_v")])
    customer_id, _ = subscribed_customer(stripe_client, f"v-{uuid.uuid4().hex[:6]}@example.com")
    viewer = tenant.member(portal_url, "viewer")
    try:
        pages = {
            "callbacks": viewer.get(f"{tenant.base}/callbacks"),
            "delivery": viewer.get(f"{tenant.base}/callbacks/{event_id}"),
            "catalog": viewer.get(f"{tenant.base}/catalog"),
            "customers": viewer.get(f"{tenant.base}/customers", params={"q": customer_id}),
            "customer": viewer.get(f"{tenant.base}/customers/{customer_id}"),
        }
        for name, answer in pages.items():
            assert answer.status_code == 200, (name, answer.text)
        assert "Send test event" not in pages["callbacks"].text
        assert "/retry" not in pages["delivery"].text
        assert "Refresh from Stripe" not in pages["catalog"].text
        token = viewer.token(f"{tenant.base}/callbacks")
        for path in (
            f"{tenant.base}/callbacks/{event_id}/retry",
            f"{tenant.base}/callbacks/test",
            f"{tenant.base}/catalog/refresh",
        ):
            answer = viewer.http.post(path, data={"csrf_token": token})
            assert answer.status_code == 403, (path, answer.status_code)
            assert "cannot do this" in answer.text
        listed = tenant.owner.get(f"{tenant.base}/callbacks").text
        assert shown_events(listed) == [event_id]  # no test event was queued
    finally:
        viewer.close()


def test_another_tenants_deliveries_and_customers_are_not_found(
    tenants, portal_settings: Settings, make_stripe_client
) -> None:
    account_a, account_b = "ta" + uuid.uuid4().hex[:12], "tb" + uuid.uuid4().hex[:12]
    alice, bob = tenants(account_a), tenants(account_b)
    [bobs_delivery] = queue(portal_settings, bob.id, [("change_plan", "cus_bob")])
    email = f"bob-{uuid.uuid4().hex[:6]}@example.com"
    bobs_customer, _ = subscribed_customer(make_stripe_client(f"sk_test_{account_b}"), email)

    owner = alice.owner
    for path in (
        f"{alice.base}/callbacks/{bobs_delivery}",
        f"{alice.base}/customers/{bobs_customer}",
    ):
        answer = owner.get(path)
        assert answer.status_code == 404, (path, answer.status_code)
        assert "Traceback" not in answer.text and "Bob" not in answer.text
    retried = owner.post(
        f"{alice.base}/callbacks/{bobs_delivery}/retry", {}, page=f"{alice.base}/callbacks"
    )
    assert retried.status_code == 404
    paged = owner.get(f"{alice.base}/callbacks", params={"before": bobs_delivery})
    assert paged.status_code == 404
    search = owner.get(f"{alice.base}/customers", params={"q": email})
    assert search.status_code == 200 and bobs_customer not in search.text
    # Bob's own pages through Alice's session: the tenant itself is not found.
    assert owner.get(f"{bob.base}/callbacks/{bobs_delivery}").status_code == 404
    assert owner.get(f"{bob.base}/customers/{bobs_customer}").status_code == 404
    assert bob.owner.get(f"{bob.base}/callbacks/{bobs_delivery}").status_code == 200


def test_bad_filters_and_ids_answer_pages_not_errors(tenants, sandbox_account: str) -> None:
    tenant = tenants(sandbox_account)
    owner = tenant.owner
    callbacks = f"{tenant.base}/callbacks"
    for params, status, message in [
        ({"status": "lost"}, 422, "status must be pending, delivered or failed"),
        ({"event": "<script>alert(1)</script>"}, 422, "event must be an event name"),
        ({"customer": "cus_1 OR 1=1"}, 422, "customer must be a Stripe customer id"),
        ({"before": "evt_nothing"}, 404, "No callback delivery"),
    ]:
        answer = owner.get(callbacks, params=params)
        assert answer.status_code == status, (params, answer.text)
        assert message in html.unescape(answer.text)
        assert "<script>alert" not in answer.text and "Traceback" not in answer.text
    for path, status in [
        (f"{callbacks}/evt_unknown", 404),
        (f"{callbacks}/{'x' * 300}", 404),
        (f"{tenant.base}/customers/not-a-customer", 404),
        (f"{tenant.base}/customers/cus_{'9' * 40}", 404),
    ]:
        answer = owner.get(path)
        assert answer.status_code == status, (path, answer.status_code)
        assert "Traceback" not in answer.text
    refused = owner.get(f"{tenant.base}/customers", params={"q": "just a name"})
    assert refused.status_code == 422 and "Search by an email address" in refused.text
    too_long = owner.get(f"{tenant.base}/customers", params={"q": "a@" + "b" * 600})
    assert too_long.status_code == 422
