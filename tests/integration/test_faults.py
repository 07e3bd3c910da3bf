"""Faults: Stripe failing under a journey, the database going away, a portal killed mid-checkout.

Every user either succeeds or sees a clear error it can retry, and a retry of the same action
(the same ``action_id``, as the widget scripts send it) finishes what was started: no second
customer, no second subscription, no callback queued twice.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import stripe
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from portal.app import create_app
from portal.callbacks.models import CallbackDelivery
from portal.crypto import Vault
from portal.db import Database
from portal.migrate import upgrade
from portal.sandbox import create_sandbox_app
from portal.settings import Settings
from portal.stripe_gateway import StripeGateway
from portal.stripe_intake.models import StripeEvent
from portal.stripe_intake.processor import StripeEventProcessor
from tests.conftest import OPERATOR_TOKEN, make_settings
from tests.databases import fresh_database, postgres_url
from tests.servers import ServerThread, free_port, run_async
from tests.tcp_proxy import TCPProxy
from tests.tokens import mint_user_token
from tests.widget_api import ORIGIN, PORTAL_API, Widget, action, make_plans, page_config

BILLPORT = str(Path(sys.executable).parent / "billport")
# The portal gives up on a Stripe call after this long; an injected "timeout" outlasts it.
STRIPE_TIMEOUT = 1.0
TIMEOUT_LATENCY_MS = 1400
# What a Stripe failure becomes for the user: retryable, and never a bare 500.
UPSTREAM_CODES = {"stripe_error", "stripe_unreachable", "stripe_rate_limited"}
UPSTREAM_STATUSES = {429, 502, 503}
# How often a user tries one step while Stripe is failing before leaving it for later.
TRIES_UNDER_FAULTS = 6
# Where Stripe creates, changes and cancels subscriptions: where answers get lost here.
SUBSCRIPTIONS = "/v1/subscriptions"


def wait_for(condition: Callable[[], bool], what: str, within: float = 30) -> None:
    """Until ``condition`` holds; fails with ``what`` if it does not within ``within`` s."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


# -- a sandbox of this module's own, so that its faults reach no other test ----------------


@pytest.fixture(scope="module")
def fault_sandbox() -> Iterator[str]:
    with ServerThread(create_sandbox_app()) as server:
        yield server.url


class Faults:
    """The sandbox's fault injection (``/_sandbox/faults``)."""

    def __init__(self, sandbox_url: str) -> None:
        self.url = f"{sandbox_url}/_sandbox/faults"

    def add(self, **fault: Any) -> None:
        answer = httpx.post(self.url, json=fault)
        assert answer.status_code == 200, answer.text

    def listed(self) -> list[dict[str, Any]]:
        return list(httpx.get(self.url).json()["faults"])

    def clear(self) -> None:
        assert httpx.delete(self.url).status_code == 200

    def wait_until_used(self, what: str) -> None:
        """Until every counted fault has met its requests: those requests are now in flight."""
        wait_for(lambda: not any(f["times"] for f in self.listed()), what, within=60)

    @contextmanager
    def injected(self, *faults: dict[str, Any]) -> Iterator[None]:
        for fault in faults:
            self.add(**fault)
        try:
            yield
        finally:
            self.clear()


def stripe_for(sandbox_url: str, account: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        f"sk_test_{account}", base_addresses={"api": sandbox_url}, max_network_retries=0
    )


def register_tenant(portal_url: str, sandbox_url: str, account: str) -> dict[str, Any]:
    answer = httpx.post(
        f"{portal_url}/api/v1/tenants",
        json={
            "name": "Acme Notes",
            "stripe_secret_key": f"sk_test_{account}",
            "stripe_api_base": sandbox_url,
            "allowed_origins": [ORIGIN],
            "callback_url": "https://app.acme.test/billing/callback",
        },
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


# -- what the user sees -----------------------------------------------------------------


def error_of(answer: httpx.Response) -> dict[str, Any]:
    """The error an answer carries, checked to be one a user can read; asserts it is clear.

    A widget page fails with an error page whose configuration holds the error; the widget
    API with ``{"error": {"code", "message"}}`` and nothing else. Neither is ever a 500 or
    shows a stack trace.
    """
    assert answer.status_code >= 400, answer.text
    assert answer.status_code != 500, answer.text
    assert "Traceback" not in answer.text and 'File "' not in answer.text, answer.text
    if answer.headers.get("content-type", "").startswith("text/html"):
        error = page_config(answer.text)["error"]
    else:
        body = answer.json()
        assert set(body) == {"error"}, body
        error = body["error"]
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    return dict(error)


def assert_upstream_error(answer: httpx.Response) -> None:
    """Stripe failed: the user is told so, and that trying again may help."""
    error = error_of(answer)
    where = (answer.request.method, answer.request.url.path, answer.status_code, error)
    assert answer.status_code in UPSTREAM_STATUSES, where
    assert error["code"] in UPSTREAM_CODES, where
    if not answer.headers.get("content-type", "").startswith("text/html"):
        # The widget script offers to try again when the API marks an error retryable.
        assert error.get("retryable") is True, where


def assert_unavailable(answer: httpx.Response) -> None:
    """The database failed: a 503 the user may retry."""
    error = error_of(answer)
    assert answer.status_code == 503, (answer.status_code, error)
    assert error.get("retryable") is True, error


# -- one user's journey -----------------------------------------------------------------

STEPS = ("open_checkout", "subscribe", "open_portal", "overview", "change", "cancel", "resume")


class Journey:
    """One user's whole journey over HTTP, as the widget scripts make it.

    Each step that changes something has its own action id, kept across retries of that
    step; the widget session is the one the page handed out until an answer brings a new one.
    The checkout knows the user by email; the customer portal, for every other user, by the
    Stripe customer the tenant stored from the checkout's answer.
    """

    def __init__(
        self,
        portal_url: str,
        tenant: dict[str, Any],
        prices: dict[str, str],
        n: int,
        *,
        cancel_now: bool = False,
    ) -> None:
        self.client = httpx.Client(base_url=portal_url, timeout=30)
        self.tenant = tenant
        self.prices = prices
        self.n = n
        self.email = f"user{n}-{uuid.uuid4().hex[:6]}@example.com"
        self.token = mint_user_token(tenant, email=self.email, user_id=f"u-{n}")
        self.actions = {step: action() for step in STEPS}
        self.step = 0
        self.errors: list[tuple[str, int, str]] = []
        self.checkout: Widget | None = None
        self.portal: Widget | None = None
        self.subscription: str | None = None
        self.customer: str | None = None
        # With the tenant's cancel_mode "immediately", resuming subscribes again.
        self.cancel_now = cancel_now
        self.resubscribed: str | None = None

    @property
    def done(self) -> bool:
        return self.step == len(STEPS)

    def _open(self, widget: str, **params: str) -> httpx.Response:
        return self.client.get(
            f"/w/{widget}",
            params={
                "key": self.tenant["publishable_key"],
                "origin": ORIGIN,
                "token": self.token,
                **params,
            },
        )

    def attempt(self) -> httpx.Response:
        """Try the current step once; move on when it succeeded."""
        name = STEPS[self.step]
        answer = getattr(self, f"_{name}")()
        if answer.status_code == 200:
            self.step += 1
        else:
            self.errors.append((name, answer.status_code, answer.text))
        return answer

    def _open_checkout(self) -> httpx.Response:
        answer = self._open("checkout", price=self.prices["pro"])
        if answer.status_code == 200:
            self.checkout = Widget(self.client, page_config(answer.text))
        return answer

    def _subscribe(self) -> httpx.Response:
        assert self.checkout is not None
        body = {
            "price": self.prices["pro"],
            "action_id": self.actions["subscribe"],
            "payment_method": "pm_card_visa",
        }
        answer = self.checkout.call("POST", "/w/api/subscribe", body)
        if answer.status_code == 200:
            subscription = answer.json()["subscription"]
            if self.subscription is not None:
                assert subscription["id"] == self.subscription
            self.subscription = subscription["id"]
            self.customer = subscription["customer"]
            assert subscription["status"] == "active"
        return answer

    def _open_portal(self) -> httpx.Response:
        # Half the tenants' sites know the user by the Stripe customer they stored at checkout.
        if self.n % 2 == 0:
            token = mint_user_token(self.tenant, customer_id=self.customer, user_id=f"u-{self.n}")
            answer = self._open("customer-portal", token=token)
        else:
            answer = self._open("customer-portal")
        if answer.status_code == 200:
            self.portal = Widget(self.client, page_config(answer.text))
            assert self.portal.config.get("session")
        return answer

    def _overview(self) -> httpx.Response:
        assert self.portal is not None
        answer = self.portal.call("GET", f"{PORTAL_API}/subscriptions")
        if answer.status_code == 200:
            listed = [s["id"] for s in answer.json()["subscriptions"]]
            assert listed == [self.subscription], listed
        return answer

    def _portal_action(self, verb: str, body: dict[str, Any]) -> httpx.Response:
        assert self.portal is not None
        return self.portal.call(
            "POST", f"{PORTAL_API}/subscriptions/{self.subscription}/{verb}", body
        )

    def _change(self) -> httpx.Response:
        answer = self._portal_action(
            "change",
            {"price": self.prices["team"], "quantity": 1, "action_id": self.actions["change"]},
        )
        if answer.status_code == 200:
            sub = answer.json()["subscription"]
            assert sub["items"]["data"][0]["price"]["id"] == self.prices["team"]
        return answer

    def _cancel(self) -> httpx.Response:
        answer = self._portal_action(
            "cancel", {"action_id": self.actions["cancel"], "reason": "too_expensive"}
        )
        if answer.status_code == 200:
            sub = answer.json()["subscription"]
            assert sub["id"] == self.subscription
            if self.cancel_now:
                assert sub["status"] == "canceled"
            else:
                assert sub["cancel_at_period_end"] is True
        return answer

    def _resume(self) -> httpx.Response:
        answer = self._portal_action("resume", {"action_id": self.actions["resume"]})
        if answer.status_code == 200:
            sub = answer.json()["subscription"]
            assert sub["status"] == "active" and sub["cancel_at_period_end"] is False
            if self.cancel_now:
                assert sub["id"] != self.subscription
                assert self.resubscribed in (None, sub["id"])
                self.resubscribed = sub["id"]
            else:
                assert sub["id"] == self.subscription
        return answer

    def under_faults(self, tries: int) -> None:
        """Go as far as Stripe lets: each step retried up to ``tries`` times, then left."""
        while not self.done:
            for _ in range(tries):
                answer = self.attempt()
                if answer.status_code == 200:
                    break
                assert_upstream_error(answer)
                time.sleep(random.uniform(0.02, 0.1))
            else:
                return

    def finish(self) -> None:
        """With Stripe healthy again, every remaining step succeeds at its first try."""
        while not self.done:
            name = STEPS[self.step]
            answer = self.attempt()
            assert answer.status_code == 200, (self.email, name, answer.text)


def outbox(settings: Settings, tenant_id: str) -> list[CallbackDelivery]:
    async def go() -> list[CallbackDelivery]:
        database = Database(settings.database_url)
        try:
            async with database.sessions() as session:
                return list(
                    await session.scalars(
                        select(CallbackDelivery).where(CallbackDelivery.tenant_id == tenant_id)
                    )
                )
        finally:
            await database.dispose()

    return run_async(go)


# The callbacks of the widgets' actions (the others come from Stripe's own events).
ACTION_EVENTS = {"create_subscription", "change_plan", "cancel_subscription", "resubscribe"}


def callbacks_by_subscription(settings: Settings, tenant_id: str) -> Counter[tuple[str, str]]:
    """How many callbacks of each action are queued about each subscription."""
    return Counter(
        (row.event, str(row.payload["response"].get("id")))
        for row in outbox(settings, tenant_id)
        if row.event in ACTION_EVENTS
    )


def process_stripe_events(settings: Settings, tenant_id: str, subscriptions: set[str]) -> None:
    """Once Stripe's ``customer.subscription.created`` of each subscription has arrived, act
    on every stored Stripe event as the worker does (queuing a missed checkout's callback)."""

    async def arrived(database: Database) -> set[str]:
        async with database.sessions() as session:
            found = await session.scalars(
                select(StripeEvent.object_id).where(
                    StripeEvent.tenant_id == tenant_id,
                    StripeEvent.type == "customer.subscription.created",
                )
            )
            return set(found)

    async def go() -> None:
        database = Database(settings.database_url)
        gateway = StripeGateway(settings)
        try:
            deadline = time.monotonic() + 60
            while not subscriptions <= await arrived(database):
                assert time.monotonic() < deadline, "Stripe's events never reached the portal"
                await asyncio.sleep(0.1)
            processor = StripeEventProcessor(database, Vault(settings.encryption_keys), gateway)
            while await processor.run_once():
                pass
        finally:
            await gateway.aclose()
            await database.dispose()

    run_async(go)


def subscriptions_of(client: stripe.StripeClient, email: str) -> list[str]:
    """The ids of every subscription of every customer with this email."""
    return [
        sub.id
        for customer in client.v1.customers.list(params={"email": email}).data
        for sub in client.v1.subscriptions.list(
            params={"customer": customer.id, "status": "all"}
        ).data
    ]


def assert_one_of_each(
    client: stripe.StripeClient, email: str, price: str | None = None
) -> stripe.Subscription:
    """The user has exactly one customer and one subscription in Stripe; answers it."""
    customers = client.v1.customers.list(params={"email": email}).data
    assert len(customers) == 1, (email, [c.id for c in customers])
    subs = client.v1.subscriptions.list(params={"customer": customers[0].id, "status": "all"}).data
    assert len(subs) == 1, (email, [(s.id, s.status) for s in subs])
    if price is not None:
        assert subs[0]["items"].data[0].price.id == price
    return subs[0]


# -- 1. Stripe failing at 20% through whole journeys -------------------------------------


@pytest.fixture(scope="module")
def impatient_portal(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """A portal giving up on Stripe after STRIPE_TIMEOUT, hearing its tenants' Stripe events."""
    port = free_port()
    settings = make_settings(database_url, tmp_path_factory.mktemp("data")).with_changes(
        public_url=f"http://127.0.0.1:{port}", stripe_timeout=STRIPE_TIMEOUT
    )
    upgrade(database_url)
    with ServerThread(create_app(settings), port=port):
        yield settings


def stripe_failing(rate: float, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    """Faults on every Stripe route such that ``rate`` of the calls fail, split among kinds."""
    each = 1 - (1 - rate) ** (1 / len(kinds))
    shapes = {
        "500": {"status": 500},
        "429": {"status": 429},
        "timeout": {"status": None, "latency_ms": TIMEOUT_LATENCY_MS},
    }
    return [{"path": "/v1/", "rate": each, **shapes[kind]} for kind in kinds]


def run_journeys_under_stripe_faults(
    settings: Settings, sandbox_url: str, users: int, kinds: tuple[str, ...]
) -> None:
    account = "f" + uuid.uuid4().hex[:16]
    client = stripe_for(sandbox_url, account)
    pro, team = make_plans(client, ("Pro", "pro", 1200), ("Team", "team", 3000))
    tenant = register_tenant(settings.public_url, sandbox_url, account)
    journeys = [
        Journey(settings.public_url, tenant, {"pro": pro, "team": team}, n) for n in range(users)
    ]
    faults = Faults(sandbox_url)
    try:
        with faults.injected(*stripe_failing(0.2, kinds)), ThreadPoolExecutor(users) as pool:
            for finished in [pool.submit(j.under_faults, TRIES_UNDER_FAULTS) for j in journeys]:
                finished.result()
        seen = [error for j in journeys for error in j.errors]
        assert seen, "no Stripe call failed: the faults were not injected"
        for journey in journeys:
            journey.finish()
    finally:
        for journey in journeys:
            journey.client.close()

    subscriptions = {}
    for journey in journeys:
        sub = assert_one_of_each(client, journey.email, team)
        assert sub.id == journey.subscription
        assert sub.status == "active" and not sub.cancel_at_period_end
        assert sub.metadata["tier"] == "team"
        subscriptions[journey.email] = sub.id
    # Stripe's events of the same subscriptions queue no second create_subscription.
    process_stripe_events(settings, tenant["id"], set(subscriptions.values()))
    assert callbacks_by_subscription(settings, tenant["id"]) == Counter(
        {(event, sub): 1 for sub in subscriptions.values() for event in ACTION_EVENTS}
    )


def test_journeys_through_stripe_failing_one_call_in_five(
    impatient_portal: Settings, fault_sandbox: str
) -> None:
    run_journeys_under_stripe_faults(
        impatient_portal, fault_sandbox, users=6, kinds=("500", "429", "timeout")
    )


@pytest.mark.long
@pytest.mark.parametrize(
    "kinds", [("500",), ("429",), ("timeout",), ("500", "429", "timeout")], ids="+".join
)
def test_many_journeys_through_each_kind_of_stripe_failure(
    impatient_portal: Settings, fault_sandbox: str, kinds: tuple[str, ...]
) -> None:
    run_journeys_under_stripe_faults(impatient_portal, fault_sandbox, users=30, kinds=kinds)


def test_opening_a_widget_while_stripe_fails_is_a_clear_error(
    impatient_portal: Settings, fault_sandbox: str
) -> None:
    """The user known by email or by Stripe customer: each failure kind, on the page load."""
    account = "f" + uuid.uuid4().hex[:16]
    client = stripe_for(fault_sandbox, account)
    customer = client.v1.customers.create(params={"email": "known@example.com"})
    tenant = register_tenant(impatient_portal.public_url, fault_sandbox, account)
    tokens = [
        mint_user_token(tenant, email="known@example.com"),
        mint_user_token(tenant, customer_id=customer.id),
    ]
    faults = Faults(fault_sandbox)
    with httpx.Client(base_url=impatient_portal.public_url, timeout=30) as browser:
        for token in tokens:
            for fault in stripe_failing(1.0, ("500", "429", "timeout")):
                params = {"key": tenant["publishable_key"], "origin": ORIGIN, "token": token}
                with faults.injected({**fault, "rate": 1.0, "times": 1}):
                    assert_upstream_error(browser.get("/w/customer-portal", params=params))
                assert browser.get("/w/customer-portal", params=params).status_code == 200


def sandbox_requests(sandbox_url: str, account: str, method: str) -> int:
    """How many requests of ``method`` about subscriptions the sandbox has answered."""
    logged = httpx.get(f"{sandbox_url}/_sandbox/requests", params={"account": account}).json()
    return sum(
        1
        for r in logged["requests"]
        if r["method"] == method and r["path"].startswith(SUBSCRIPTIONS)
    )


def stripe_answered(sandbox_url: str, account: str, method: str, before: int) -> bool:
    """Whether the sandbox has answered one more such request than ``before``."""
    return sandbox_requests(sandbox_url, account, method) > before


@pytest.mark.parametrize("cancel_mode", ["at_period_end", "immediately"])
def test_an_action_that_timed_out_but_went_through_is_finished_by_its_retry(
    impatient_portal: Settings, fault_sandbox: str, cancel_mode: str
) -> None:
    """Stripe did it, the portal never heard: the retry answers what was done, once.

    Each action's Stripe call outlasts the portal's timeout once, and the user retries only
    after Stripe has carried it out, so the retry finds the work already done. Cancelling at
    once (and so subscribing again to resume) is checked for the actions it changes.
    """
    account = "f" + uuid.uuid4().hex[:16]
    client = stripe_for(fault_sandbox, account)
    pro, team = make_plans(client, ("Pro", "pro", 1200), ("Team", "team", 3000))
    tenant = register_tenant(impatient_portal.public_url, fault_sandbox, account)
    options = httpx.patch(
        f"{impatient_portal.public_url}/api/v1/tenant",
        headers={"Authorization": f"Bearer {tenant['secret_key']}"},
        json={"widget_options": {"cancel_mode": cancel_mode}},
    )
    assert options.status_code == 200, options.text
    cancel_now = cancel_mode == "immediately"
    journey = Journey(
        impatient_portal.public_url, tenant, {"pro": pro, "team": team}, 0, cancel_now=cancel_now
    )
    faults = Faults(fault_sandbox)
    losing = {"cancel", "resume"} if cancel_now else {"subscribe", "change", "cancel", "resume"}
    try:
        while not journey.done:
            step = STEPS[journey.step]
            if step not in losing:
                assert journey.attempt().status_code == 200, step
                continue
            # Stripe cancels at once with DELETE; everything else here is a POST.
            method = "DELETE" if step == "cancel" and cancel_now else "POST"
            slow = {"method": method, "path": SUBSCRIPTIONS, "times": 1}
            before = sandbox_requests(fault_sandbox, account, method)
            with faults.injected({**slow, "latency_ms": TIMEOUT_LATENCY_MS}):
                lost = journey.attempt()
            assert_upstream_error(lost)
            assert lost.json()["error"]["code"] == "stripe_unreachable", step
            wait_for(
                partial(stripe_answered, fault_sandbox, account, method, before),
                f"Stripe never completed the {step}",
            )
            retried = journey.attempt()
            assert retried.status_code == 200, (step, retried.text)
    finally:
        journey.client.close()

    first = journey.subscription
    customers = client.v1.customers.list(params={"email": journey.email}).data
    assert len(customers) == 1
    subs = client.v1.subscriptions.list(params={"customer": customers[0].id, "status": "all"}).data
    live = [s for s in subs if s.status != "canceled"]
    assert len(live) == 1 and not live[0].cancel_at_period_end
    assert live[0]["items"].data[0].price.id == team
    process_stripe_events(impatient_portal, tenant["id"], {s.id for s in subs})
    # Each action is reported once, a resubscription as such (not as a second checkout).
    expected = Counter({(event, first): 1 for event in ACTION_EVENTS})
    if cancel_now:
        assert {s.id: s.status for s in subs} == {first: "canceled", live[0].id: "active"}
        assert live[0].id == journey.resubscribed
        del expected[("resubscribe", first)]
        expected[("resubscribe", live[0].id)] = 1
    else:
        assert [s.id for s in subs] == [first]
    assert callbacks_by_subscription(impatient_portal, tenant["id"]) == expected


# -- 2. PostgreSQL going away under load, and coming back --------------------------------


@pytest.fixture
def portal_behind_proxy(fault_sandbox: str, tmp_path: Path) -> Iterator[tuple[Settings, TCPProxy]]:
    """A portal whose PostgreSQL server can be stopped and started (through a proxy)."""
    if not postgres_url():
        pytest.skip("stopping the database needs PostgreSQL: set BILLPORT_TEST_DATABASE_URL")
    with fresh_database("postgres", tmp_path) as database_url:
        url = make_url(database_url)
        with TCPProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
            proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(
                hide_password=False
            )
            upgrade(proxied)
            port = free_port()
            settings = make_settings(proxied, tmp_path).with_changes(
                public_url=f"http://127.0.0.1:{port}"
            )
            with ServerThread(create_app(settings), port=port):
                yield settings, proxy


class Load:
    """Users reading their billing over and over in the background; every answer is kept."""

    def __init__(self, journeys: list[Journey]) -> None:
        self.journeys = journeys
        self.answers: list[httpx.Response] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(j,)) for j in journeys]

    def _run(self, journey: Journey) -> None:
        with httpx.Client(base_url=str(journey.client.base_url), timeout=30) as client:
            assert journey.checkout is not None
            reader = Widget(client, journey.checkout.config)
            while not self.stop.is_set():
                self.answers.append(reader.call("GET", "/w/api/subscriptions"))
                self.answers.append(
                    client.get(
                        "/w/plan-picker",
                        params={"key": journey.tenant["publishable_key"], "token": journey.token},
                    )
                )
                time.sleep(0.02)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


def advance_to(journeys: list[Journey], step: str) -> None:
    """Take every journey, with nothing failing, up to ``step``."""
    for journey in journeys:
        while STEPS[journey.step] != step:
            answer = journey.attempt()
            assert answer.status_code == 200, answer.text


def outage_during(
    journeys: list[Journey], proxy: TCPProxy, faults: Faults, load: Load, tenant: dict[str, Any]
) -> None:
    """The database stops while each journey's current action is being carried out at Stripe.

    The portal cannot record what Stripe did and must say so cleanly, as it must for every
    request while the database is down; once it is back, everything works again, and the
    retry of each interrupted action (the same action id) finishes it.
    """
    url = str(journeys[0].client.base_url)
    step = STEPS[journeys[0].step]
    slow = {"method": "POST", "path": SUBSCRIPTIONS, "latency_ms": 1500}
    with (
        faults.injected({**slow, "times": len(journeys)}),
        ThreadPoolExecutor(len(journeys)) as pool,
    ):
        pending = [pool.submit(j.attempt) for j in journeys]
        faults.wait_until_used(f"the {step} requests never reached Stripe")
        proxy.stop()
        for answer in [p.result() for p in pending]:
            assert_unavailable(answer)
    before = len(load.answers)
    wait_for(lambda: len(load.answers) > before + 6, "the readers got no answer")
    down = httpx.get(f"{url}/readyz", timeout=30)
    assert down.status_code == 503 and down.json()["status"] == "unavailable"
    assert_unavailable(journeys[0].client.get("/w/checkout", params={"key": "bp_pub_x"}))
    assert_unavailable(
        httpx.get(
            f"{url}/api/v1/tenant",
            headers={"Authorization": f"Bearer {tenant['secret_key']}"},
            timeout=30,
        )
    )
    proxy.start()
    wait_for(
        lambda: httpx.get(f"{url}/readyz", timeout=30).status_code == 200,
        "the portal did not see the database again",
    )
    # Answers to requests sent before the database was back may still be arriving.
    recovered = len(load.answers) + len(load.threads) * 2
    wait_for(lambda: len(load.answers) > recovered + 12, "the readers got no answer")
    assert all(a.status_code == 200 for a in load.answers[recovered:])
    for journey in journeys:
        answer = journey.attempt()
        assert answer.status_code == 200, (step, answer.text)


@pytest.mark.parametrize(
    ("buyers", "interrupted"),
    [
        pytest.param(3, ("subscribe",), id="subscribe"),
        pytest.param(
            8,
            ("subscribe", "change", "cancel", "resume"),
            id="every-action",
            marks=pytest.mark.long,
        ),
    ],
)
def test_requests_fail_cleanly_while_the_database_is_down_and_recover(
    portal_behind_proxy: tuple[Settings, TCPProxy],
    fault_sandbox: str,
    buyers: int,
    interrupted: tuple[str, ...],
) -> None:
    settings, proxy = portal_behind_proxy
    url = settings.public_url
    account = "f" + uuid.uuid4().hex[:16]
    client = stripe_for(fault_sandbox, account)
    pro, team = make_plans(client, ("Pro", "pro", 1200), ("Team", "team", 3000))
    prices = {"pro": pro, "team": team}
    tenant = register_tenant(url, fault_sandbox, account)
    buying = [Journey(url, tenant, prices, n) for n in range(buyers)]
    reading = [Journey(url, tenant, prices, n) for n in range(buyers, buyers + 3)]
    faults = Faults(fault_sandbox)
    try:
        advance_to(buying + reading, "subscribe")
        with Load(reading) as load:
            wait_for(lambda: len(load.answers) > 10, "the readers got no answer")
            for step in interrupted:
                advance_to(buying, step)
                outage_during(buying, proxy, faults, load, tenant)
        # Every answer the readers had was a success or a clean "unavailable".
        for answer in load.answers:
            if answer.status_code != 200:
                assert_unavailable(answer)
        assert any(a.status_code == 503 for a in load.answers)
    finally:
        for journey in buying + reading:
            journey.client.close()
    # What Stripe did while the database was down was finished by the retries, once.
    done = set(interrupted)
    price = team if "change" in done else pro
    for journey in buying:
        sub = assert_one_of_each(client, journey.email, price)
        assert sub.id == journey.subscription
        assert sub.metadata["billport_action"] == journey.actions["subscribe"]
        assert sub.cancel_at_period_end == ("cancel" in done and "resume" not in done)
    events = {"subscribe": "create_subscription", "change": "change_plan"}
    events.update({"cancel": "cancel_subscription", "resume": "resubscribe"})
    assert callbacks_by_subscription(settings, tenant["id"]) == Counter(
        {(events[step], str(j.subscription)): 1 for j in buying for step in interrupted}
    )


def test_visitors_pages_outlast_an_outage_and_follow_what_changed_during_it(
    portal_behind_proxy: tuple[Settings, TCPProxy], fault_sandbox: str
) -> None:
    """Pages kept in memory are served while the database is away; a change another replica
    made meanwhile shows once this portal reaches the database again."""
    settings, proxy = portal_behind_proxy
    account = "f" + uuid.uuid4().hex[:16]
    make_plans(stripe_for(fault_sandbox, account), ("Pro", "pro", 1200))
    tenant = register_tenant(settings.public_url, fault_sandbox, account)
    params = {"key": tenant["publishable_key"], "origin": ORIGIN}
    server = make_url(postgres_url())
    # Another replica, which still reaches the database.
    direct = make_url(settings.database_url).set(host=server.host, port=server.port)

    async def change_theme() -> None:
        database = Database(direct.render_as_string(hide_password=False))
        try:
            async with database.sessions() as session:
                await session.execute(
                    text(
                        "UPDATE tenant SET widget_options = CAST(:options AS json) WHERE id = :id"
                    ),
                    {"options": '{"theme": {"primary": "#123456"}}', "id": tenant["id"]},
                )
                await session.commit()
        finally:
            await database.dispose()

    with httpx.Client(base_url=settings.public_url, timeout=30) as browser:
        assert "Choose Pro" in browser.get("/w/plan-picker", params=params).text
        proxy.stop()
        try:
            for _ in range(5):
                page = browser.get("/w/plan-picker", params=params)
                assert page.status_code == 200 and "Choose Pro" in page.text
            # A page not kept needs the database: a clean "unavailable".
            assert_unavailable(browser.get("/w/plan-picker", params={**params, "locale": "fr"}))
            run_async(change_theme)
        finally:
            proxy.start()
        wait_for(
            lambda: "--bp-primary: #123456;" in browser.get("/w/plan-picker", params=params).text,
            "the change made during the outage never showed",
        )


# -- 3. The portal killed while a checkout is at Stripe ----------------------------------


class PortalProcess:
    """``billport serve --no-worker`` on a fixed port, which a test may kill and start again."""

    def __init__(self, settings: Settings, folder: Path) -> None:
        self.url = settings.public_url
        self.port = str(urlsplit(self.url).port)
        self.log = folder / "portal.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BILLPORT_")},
            "BILLPORT_DATABASE_URL": settings.database_url,
            "BILLPORT_SECRET_KEY": settings.secret_key,
            "BILLPORT_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
            "BILLPORT_PUBLIC_URL": settings.public_url,
            "BILLPORT_OPERATOR_TOKEN": OPERATOR_TOKEN,
            "BILLPORT_DATA_DIR": str(folder),
            "BILLPORT_LOG_LEVEL": "WARNING",
            "BILLPORT_STRIPE_MAX_NETWORK_RETRIES": "0",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [BILLPORT, "serve", "--no-worker", "--port", self.port],
                env=self.env,
                stdout=log,
                stderr=log,
            )

        def ready() -> bool:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()
            try:
                return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, f"the portal did not start: {self.log.read_text()}", within=60)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(timeout=30) == -signal.SIGKILL

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


def test_a_checkout_cut_short_by_a_killed_portal_is_finished_by_its_retry(
    database_url: str, fault_sandbox: str, tmp_path: Path
) -> None:
    """Stripe creates the subscription while the portal that asked is killed.

    The user retrying on the restarted portal gets that subscription, not a second one; a
    user who never retries is still reported to the tenant, from Stripe's event; either
    way the tenant hears of each checkout once.
    """
    upgrade(database_url)
    port = free_port()
    settings = make_settings(database_url, tmp_path).with_changes(
        public_url=f"http://127.0.0.1:{port}"
    )
    portal = PortalProcess(settings, tmp_path)
    account = "f" + uuid.uuid4().hex[:16]
    client = stripe_for(fault_sandbox, account)
    faults = Faults(fault_sandbox)
    pro, team = make_plans(client, ("Pro", "pro", 1200), ("Team", "team", 3000))
    portal.start()
    journeys: list[Journey] = []
    try:
        tenant = register_tenant(portal.url, fault_sandbox, account)
        # Ada retries on the restarted portal; Bob closes the tab and never does.
        journeys = [Journey(portal.url, tenant, {"pro": pro, "team": team}, n) for n in (0, 1)]
        ada, bob = journeys
        for journey in journeys:
            assert journey.attempt().status_code == 200  # the checkout page opens
        # Stripe takes long enough for the new portal to be up when it emits its events.
        slow = {"method": "POST", "path": SUBSCRIPTIONS, "latency_ms": 4000}
        with faults.injected({**slow, "times": 2}), ThreadPoolExecutor(2) as pool:
            pending = [pool.submit(j.attempt) for j in journeys]
            faults.wait_until_used("the subscriptions never reached Stripe")
            portal.kill()
            for cut in pending:
                # What the browser sees: the connection dropped, a network error to retry.
                with pytest.raises(httpx.TransportError):
                    cut.result()
        portal.start()
        wait_for(
            lambda: all(subscriptions_of(client, j.email) for j in journeys),
            "Stripe never created the subscriptions",
        )
        answer = ada.attempt()
        assert answer.status_code == 200, answer.text
        ada_sub = assert_one_of_each(client, ada.email, pro)
        assert ada_sub.id == ada.subscription
        bob_sub = assert_one_of_each(client, bob.email, pro)
        assert bob_sub.status == "active"

        process_stripe_events(settings, tenant["id"], {ada_sub.id, bob_sub.id})
        expected = Counter({("create_subscription", ada_sub.id): 1})
        expected[("create_subscription", bob_sub.id)] = 1
        assert callbacks_by_subscription(settings, tenant["id"]) == expected
        # Bob coming back later is answered with his subscription, still reported once.
        late = bob.attempt()
        assert late.status_code == 200, late.text
        assert bob.subscription == bob_sub.id
        assert callbacks_by_subscription(settings, tenant["id"]) == expected
        assert_one_of_each(client, bob.email, pro)
    finally:
        portal.stop()
        for journey in journeys:
            journey.client.close()
