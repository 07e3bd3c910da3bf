from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import stripe

from tests.servers import ServerThread


class Receiver:
    """A webhook receiver: records every POST, failing the first ``failures`` of them."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls: list[tuple[dict[str, str], bytes, int]] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        with self._lock:
            status = 500 if self.failures > 0 else 200
            self.failures -= 1
            self.calls.append((headers, body, status))
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok" if status == 200 else b"no"})

    def delivered(self) -> list[tuple[dict[str, str], bytes]]:
        with self._lock:
            return [(h, b) for h, b, status in self.calls if status == 200]

    def event_types(self) -> list[str]:
        return [json.loads(body)["type"] for _, body in self.delivered()]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    app = Receiver()
    with ServerThread(app) as server:
        yield app, server.url + "/hooks"


def test_events_arrive_signed_and_verifiable(
    stripe_client: stripe.StripeClient, receiver: tuple[Receiver, str]
) -> None:
    app, url = receiver
    endpoint = stripe_client.v1.webhook_endpoints.create(
        params={"url": url, "enabled_events": ["customer.created", "product.created"]}
    )
    assert endpoint.secret is not None and endpoint.secret.startswith("whsec_")
    assert endpoint.status == "enabled"
    customer = stripe_client.v1.customers.create(params={"email": "hook@example.com"})
    stripe_client.v1.coupons.create(params={"percent_off": 5})
    stripe_client.v1.products.create(params={"name": "Hooked"})
    wait_for(lambda: len(app.delivered()) == 2, "two deliveries")

    events = []
    for headers, body in app.delivered():
        event = stripe.Webhook.construct_event(
            body.decode(), headers["stripe-signature"], endpoint.secret
        )
        events.append(event)
    assert sorted(e.type for e in events) == ["customer.created", "product.created"]
    created = next(e for e in events if e.type == "customer.created")
    assert created.data.object.id == customer.id
    with pytest.raises(stripe.SignatureVerificationError):
        headers, body = app.delivered()[0]
        stripe.Webhook.construct_event(body.decode(), headers["stripe-signature"], "whsec_wrong")
    wait_for(
        lambda: stripe_client.v1.events.retrieve(created.id).pending_webhooks == 0,
        "the event to count as delivered",
    )


def test_failing_receiver_gets_retries(
    stripe_client: stripe.StripeClient, receiver: tuple[Receiver, str]
) -> None:
    app, url = receiver
    app.failures = 1
    endpoint = stripe_client.v1.webhook_endpoints.create(
        params={"url": url, "enabled_events": ["*"]}
    )
    customer = stripe_client.v1.customers.create(params={"name": "Retry"})
    wait_for(lambda: len(app.delivered()) == 1, "the retried delivery")
    attempts = [json.loads(body)["id"] for _, body, _ in app.calls]
    assert len(attempts) == 2 and attempts[0] == attempts[1]
    assert [status for _, _, status in app.calls] == [500, 200]
    headers, body = app.delivered()[0]
    event = stripe.Webhook.construct_event(
        body.decode(), headers["stripe-signature"], str(endpoint.secret)
    )
    assert event.data.object.id == customer.id
    wait_for(
        lambda: stripe_client.v1.events.list(params={"delivery_success": False}).data == [],
        "no event left undelivered",
    )
    assert [e.id for e in stripe_client.v1.events.list(params={"delivery_success": True})] == [
        event.id
    ]


def test_disabled_and_filtered_endpoints_receive_nothing(
    stripe_client: stripe.StripeClient, receiver: tuple[Receiver, str]
) -> None:
    app, url = receiver
    disabled = stripe_client.v1.webhook_endpoints.create(
        params={"url": url + "/off", "enabled_events": ["*"]}
    )
    stripe_client.v1.webhook_endpoints.update(disabled.id, params={"disabled": True})
    stripe_client.v1.webhook_endpoints.create(
        params={"url": url + "/coupons", "enabled_events": ["coupon.created"]}
    )
    stripe_client.v1.customers.create(params={"name": "Nobody hears"})
    stripe_client.v1.coupons.create(params={"percent_off": 5})
    wait_for(lambda: len(app.delivered()) == 1, "the coupon delivery")
    assert app.event_types() == ["coupon.created"]
    # Anything else queued would have been sent with the coupon event; nothing else came.
    assert len(app.calls) == 1


def test_webhook_endpoint_crud(stripe_client: stripe.StripeClient) -> None:
    created = stripe_client.v1.webhook_endpoints.create(
        params={
            "url": "https://example.com/hooks",
            "enabled_events": ["invoice.paid", "customer.subscription.updated"],
            "description": "billing",
            "metadata": {"env": "test"},
        }
    )
    assert created.id.startswith("we_")
    fetched = stripe_client.v1.webhook_endpoints.retrieve(created.id)
    assert "secret" not in fetched
    assert fetched.enabled_events == ["invoice.paid", "customer.subscription.updated"]
    assert (fetched.description, fetched.url) == ("billing", "https://example.com/hooks")
    updated = stripe_client.v1.webhook_endpoints.update(
        created.id,
        params={
            "url": "https://example.com/v2",
            "enabled_events": ["*"],
            "disabled": True,
            "description": "",
        },
    )
    assert (updated.url, updated.enabled_events, updated.status) == (
        "https://example.com/v2",
        ["*"],
        "disabled",
    )
    assert updated.description is None
    again = stripe_client.v1.webhook_endpoints.update(created.id, params={"disabled": False})
    assert again.status == "enabled"
    assert [e.id for e in stripe_client.v1.webhook_endpoints.list().data] == [created.id]
    deleted = stripe_client.v1.webhook_endpoints.delete(created.id)
    assert deleted.deleted is True
    missing = stripe_client.v1.webhook_endpoints.retrieve
    with pytest.raises(stripe.InvalidRequestError) as caught:
        missing(created.id)
    assert caught.value.http_status == 404 and caught.value.code == "resource_missing"


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"enabled_events": ["*"]}, "url"),
        ({"url": "ftp://example.com", "enabled_events": ["*"]}, "url"),
        ({"url": "not a url", "enabled_events": ["*"]}, "url"),
        ({"url": "https://example.com"}, "enabled_events"),
        ({"url": "https://example.com", "enabled_events": ["nothing.happened"]}, None),
    ],
)
def test_webhook_endpoint_validation(
    stripe_client: stripe.StripeClient, params: dict, param: str | None
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.webhook_endpoints.create(params=params)
    expected = param or "enabled_events[0]"
    assert caught.value.http_status == 400 and caught.value.param == expected


def test_endpoint_limit(stripe_client: stripe.StripeClient) -> None:
    for index in range(16):
        stripe_client.v1.webhook_endpoints.create(
            params={"url": f"https://example.com/{index}", "enabled_events": ["*"]}
        )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.webhook_endpoints.create(
            params={"url": "https://example.com/17", "enabled_events": ["*"]}
        )
    assert "maximum of 16" in str(caught.value.user_message)


def test_event_listing_filters(
    stripe_client: stripe.StripeClient, sandbox_url: str, sandbox_account: str
) -> None:
    customer = stripe_client.v1.customers.create(params={"name": "E"})
    stripe_client.v1.customers.update(customer.id, params={"name": "F"})
    product = stripe_client.v1.products.create(params={"name": "P"})
    stripe_client.v1.coupons.create(params={"percent_off": 5})

    def types(**filters: Any) -> list[str]:
        return [e.type for e in stripe_client.v1.events.list(params=filters).data]

    assert types() == ["coupon.created", "product.created", "customer.updated", "customer.created"]
    assert types(type="customer.*") == ["customer.updated", "customer.created"]
    assert types(type="*.created") == ["coupon.created", "product.created", "customer.created"]
    assert types(type="product.created") == ["product.created"]
    assert types(types=["coupon.created", "customer.updated"]) == [
        "coupon.created",
        "customer.updated",
    ]
    events = stripe_client.v1.events.list().data
    newest = events[0]
    assert types(created={"gte": newest.created}) == [
        e.type for e in events if e.created >= newest.created
    ]
    assert types(created={"gt": newest.created}) == []
    fetched = stripe_client.v1.events.retrieve(events[1].id)
    assert fetched.type == "product.created" and fetched.data.object.id == product.id
    assert fetched.request is not None and fetched.request.id is not None
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.events.retrieve("evt_missing")
    assert caught.value.http_status == 404
    both = httpx.get(
        f"{sandbox_url}/v1/events",
        params={"type": "customer.*", "types[]": "customer.created"},
        headers={"Authorization": f"Bearer sk_test_{sandbox_account}"},
    )
    assert both.status_code == 400 and both.json()["error"]["param"] == "types"
