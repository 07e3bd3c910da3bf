"""Load: many users running the whole billing journey at once, with Stripe slowed down.

The Stripe sandbox, the portal (``billport serve``, delivering callbacks in-process) and the
tenants' callback receiver run as processes of their own on loopback ports. The simulated
users are asyncio tasks in this process, calling the widget API exactly as the iframe scripts
do, each looping the journey with a fresh user every time: open the plan picker, open
checkout, subscribe with a card, see the new plan in the picker and change it, open the
customer portal and its invoices, cancel at the period's end. Every fourth journey
double-clicks each button (the same action sent twice at once). Every Stripe call is delayed
by 50, 100 or 150 ms in the sandbox.

Afterwards, once every callback has been delivered, it counts:
- errors: any answer that is not 2xx, any exception, any answer that is not what the user
  should see, any callback of a completed action that never arrived;
- duplicates: a user with two Stripe customers or two subscriptions, a webhook-id received
  twice, one action reported to the tenant twice.

Run alone with ``python -m bench.load [--seconds N] [--users N]``: it prints the report and
exits non-zero on any error or duplicate.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import OctKey

from bench.common import BILLPORT, figure, free_port

USERS = 64
SECONDS = 60.0
BASELINE_SECONDS = 10.0
TENANTS = 4
ORIGIN = "https://app.load.test"
OPERATOR_TOKEN = "bench-operator-token"
# Each Stripe call waits one of these, equally often.
LATENCIES_MS = (50, 100, 150)
PLANS = (("Starter", "starter", 900), ("Pro", "pro", 2900))
# The callbacks each completed step of a journey queues for the tenant.
REPORTED = ("create_subscription", "change_plan", "cancel_subscription")
DOUBLE_CLICK_EVERY = 4
DRAIN_TIMEOUT = 180.0
REQUEST_TIMEOUT = 60.0


# -- the tenants' callback receiver (its own process) -------------------------------------


class CallbackReceiver:
    """Every tenant's callback endpoint: verifies each request, records what arrived.

    ``POST /secrets`` names each tenant's callback secret, ``POST /hook/{tenant}`` is a
    callback, ``GET /count`` and ``GET /received`` read back what arrived.
    """

    def __init__(self) -> None:
        self.webhooks: dict[str, Any] = {}
        self.received: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        answer: Any = {}
        if path == "/secrets":
            from standardwebhooks import Webhook

            for tenant, secret in json.loads(body).items():
                self.webhooks[tenant] = Webhook(secret)
        elif path.startswith("/hook/"):
            self._record(path.removeprefix("/hook/"), body, scope["headers"])
        elif path == "/count":
            answer = {"count": len(self.received)}
        elif path == "/received":
            answer = {"received": self.received}
        content = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": content})

    def _record(self, tenant: str, body: bytes, raw_headers: list[tuple[bytes, bytes]]) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in raw_headers}
        verified = False
        webhook = self.webhooks.get(tenant)
        if webhook is not None:
            try:
                webhook.verify(body, headers)
                verified = True
            except Exception:
                verified = False
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        response = payload.get("response") if isinstance(payload, dict) else None
        self.received.append(
            {
                "tenant": tenant,
                "webhook_id": headers.get("webhook-id"),
                "verified": verified,
                "id": payload.get("id"),
                "event": payload.get("event"),
                "object": response.get("id") if isinstance(response, dict) else None,
                "customer": payload.get("customer"),
            }
        )


def serve_receiver(port: int) -> None:
    import uvicorn

    # nginx keeps idle connections 75 s: the worker's pooled connections are not cut under it.
    uvicorn.run(
        CallbackReceiver(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=75,
    )


# -- processes ------------------------------------------------------------------------------


@contextmanager
def service(
    command: list[str], ready_url: str, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` (its stderr into ``log``) until the block ends, once it answers."""
    with log.open("ab") as stderr:
        started = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(ready_url, timeout=2)
                break
            except httpx.TransportError:
                if started.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{command[0]} did not start: {tail}") from None
                time.sleep(0.1)
        yield started
    finally:
        started.send_signal(signal.SIGTERM)
        try:
            started.wait(timeout=30)
        except subprocess.TimeoutExpired:
            started.kill()
            started.wait()


def clean_environment(**extra: str) -> dict[str, str]:
    """This environment without any BILLPORT_ setting of the caller's, plus ``extra``."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("BILLPORT_")}
    return {**kept, **extra}


# -- set-up -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LoadTenant:
    name: str
    account: str
    publishable_key: str
    secret_key: str
    token_secret: str
    callback_secret: str
    prices: dict[str, str]

    def token(self, email: str, user_id: str) -> str:
        """A user token, as the tenant's server mints it."""
        now = int(time.time())
        claims = {
            "aud": self.publishable_key,
            "iat": now,
            "exp": now + 3600,
            "email": email,
            "user_id": user_id,
        }
        return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(self.token_secret))


def make_catalog(sandbox: str, account: str) -> dict[str, str]:
    """The tenant's plans in its Stripe account: tier → monthly price id."""
    prices = {}
    headers = {"Authorization": f"Bearer sk_test_{account}"}
    with httpx.Client(base_url=sandbox, headers=headers, timeout=30) as client:
        for name, tier, amount in PLANS:
            product = client.post(
                "/v1/products",
                data={"name": name, "metadata[service]": "notes", "metadata[tier]": tier},
            )
            product.raise_for_status()
            price = client.post(
                "/v1/prices",
                data={
                    "product": product.json()["id"],
                    "currency": "usd",
                    "unit_amount": str(amount),
                    "recurring[interval]": "month",
                },
            )
            price.raise_for_status()
            prices[tier] = str(price.json()["id"])
    return prices


def create_tenant(portal: str, sandbox: str, receiver: str, index: int) -> LoadTenant:
    """A tenant with a catalog, registered through the operator API."""
    name = f"t{index}"
    account = f"load{index}_{uuid.uuid4().hex[:8]}"
    prices = make_catalog(sandbox, account)
    answer = httpx.post(
        f"{portal}/api/v1/tenants",
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
        json={
            "name": f"Load {index}",
            "stripe_secret_key": f"sk_test_{account}",
            "stripe_api_base": sandbox,
            "allowed_origins": [ORIGIN],
            "callback_url": f"{receiver}/hook/{name}",
        },
        timeout=60,
    )
    if answer.status_code != 201:
        raise RuntimeError(f"creating a tenant answered {answer.status_code}: {answer.text}")
    created = answer.json()
    return LoadTenant(
        name=name,
        account=account,
        publishable_key=created["publishable_key"],
        secret_key=created["secret_key"],
        token_secret=created["token_secret"],
        callback_secret=created["callback_secret"],
        prices=prices,
    )


def slow_down_stripe(sandbox: str) -> None:
    """Every Stripe call waits 50, 100 or 150 ms, equally often.

    The sandbox applies the first fault that matches and wins its draw, so the rates are
    conditional: 1/3 for the first, then 1/2 of the rest, then all that remain.
    """
    count = len(LATENCIES_MS)
    for position, latency in enumerate(reversed(LATENCIES_MS)):
        answer = httpx.post(
            f"{sandbox}/_sandbox/faults",
            json={
                "path": "/v1/",
                "status": None,
                "latency_ms": latency,
                "rate": 1.0 / (count - position),
            },
            timeout=10,
        )
        answer.raise_for_status()


# -- the journey ----------------------------------------------------------------------------


class StepFailed(Exception):
    """One step of a journey did not answer what the user should see."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind)
        self.kind = kind
        self.detail = detail


@dataclasses.dataclass
class Tally:
    journeys: int = 0
    started: int = 0
    durations: list[float] = dataclasses.field(default_factory=list)
    errors: Counter[str] = dataclasses.field(default_factory=Counter)
    examples: dict[str, str] = dataclasses.field(default_factory=dict)
    # (tenant, event, subscription) of every action the portal answered as done.
    actions: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    requests: int = 0
    double_clicked: int = 0

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.examples.setdefault(kind, detail[:500])

    def absorb(self, other: Tally) -> None:
        """Take the errors and the actions of another run, to be checked with these."""
        self.errors.update(other.errors)
        for kind, example in other.examples.items():
            self.examples.setdefault(kind, example)
        self.actions.extend(other.actions)


_CONFIG = re.compile(r'<script type="application/json" id="billport-config">(.*?)</script>', re.S)


class User:
    """One simulated user's browser: widget pages and the widget API, as the scripts use them."""

    def __init__(
        self, client: httpx.AsyncClient, portal: str, tenant: LoadTenant, tally: Tally
    ) -> None:
        self.client = client
        self.portal = portal
        self.tenant = tenant
        self.tally = tally

    async def request(self, step: str, method: str, path: str, **options: Any) -> httpx.Response:
        self.tally.requests += 1
        try:
            answer = await self.client.request(method, f"{self.portal}{path}", **options)
        except httpx.HTTPError as exc:
            raise StepFailed(f"{step}: {type(exc).__name__}", f"{method} {path}: {exc!r}") from exc
        if not 200 <= answer.status_code < 300:
            code = ""
            try:
                code = str(answer.json()["error"]["code"])
            except (ValueError, KeyError, TypeError):
                pass
            kind = f"{step}: HTTP {answer.status_code} {code}".rstrip()
            raise StepFailed(kind, f"{method} {path} → {answer.status_code} {answer.text}")
        return answer

    async def open(self, step: str, widget: str, token: str, **params: str) -> dict[str, Any]:
        """Load a widget page framed by the tenant's site; the configuration its script gets."""
        query = {"key": self.tenant.publishable_key, "origin": ORIGIN, "token": token, **params}
        page = await self.request(step, "GET", f"/w/{widget}", params=query)
        found = _CONFIG.search(page.text)
        if not found:
            raise StepFailed(f"{step}: no widget configuration", page.text[:500])
        return dict(json.loads(found.group(1)))

    async def call(
        self, step: str, method: str, path: str, page: dict[str, Any], body: Any = None
    ) -> dict[str, Any]:
        """Call the widget API with the session of ``page``, as its script does."""
        headers = {page["sessionHeader"]: page["session"]}
        answer = await self.request(step, method, path, json=body, headers=headers)
        return dict(answer.json())

    def expect(self, step: str, condition: bool, what: str, seen: Any) -> None:
        if not condition:
            raise StepFailed(f"{step}: {what}", json.dumps(seen, default=str)[:500])

    async def act(
        self, step: str, path: str, page: dict[str, Any], body: Any, twice: bool
    ) -> dict[str, Any]:
        """One click; with ``twice`` a double click: the same action sent twice at once.

        Both answers must be the same subscription: the action is done once.
        """
        if not twice:
            return await self.call(step, "POST", path, page, body)
        first, second = await asyncio.gather(
            self.call(step, "POST", path, page, body), self.call(step, "POST", path, page, body)
        )
        ids = [(answer.get("subscription") or {}).get("id") for answer in (first, second)]
        self.expect(step, ids[0] == ids[1], "a double click answered two subscriptions", ids)
        return first

    def done(self, event: str, subscription: str) -> None:
        self.tally.actions.append((self.tenant.name, event, subscription))

    async def journey(self, email: str, user_id: str, double_click: bool = False) -> None:
        token = self.tenant.token(email, user_id)
        starter, pro = self.tenant.prices["starter"], self.tenant.prices["pro"]

        picker = await self.open("open plan picker", "plan-picker", token)
        self.expect("open plan picker", not picker.get("current"), "a new user has a plan", picker)

        checkout = await self.open("open checkout", "checkout", token, price=starter)
        subscribe = {
            "price": starter,
            "action_id": uuid.uuid4().hex,
            "payment_method": "pm_card_visa",
        }
        created = await self.act("subscribe", "/w/api/subscribe", checkout, subscribe, double_click)
        sub = created.get("subscription") or {}
        self.expect("subscribe", sub.get("status") == "active", "not active", created)
        sub_id = str(sub["id"])
        self.done("create_subscription", sub_id)

        picker = await self.open("reopen plan picker", "plan-picker", token)
        current = picker.get("current") or {}
        self.expect(
            "reopen plan picker",
            current.get("subscription") == sub_id and current.get("price") == starter,
            "does not show the new plan",
            current,
        )
        change = {"price": pro, "quantity": 1, "action_id": uuid.uuid4().hex}
        changed = await self.act(
            "change plan", f"/w/api/subscriptions/{sub_id}/change", picker, change, double_click
        )
        items = ((changed.get("subscription") or {}).get("items") or {}).get("data") or [{}]
        self.expect(
            "change plan", items[0].get("price", {}).get("id") == pro, "plan not changed", changed
        )
        self.done("change_plan", sub_id)

        portal = await self.open("open customer portal", "customer-portal", token)
        overview = await self.call(
            "portal subscriptions", "GET", "/w/api/portal/subscriptions", portal
        )
        self.expect(
            "portal subscriptions",
            sub_id in json.dumps(overview),
            "the subscription is not listed",
            overview,
        )
        invoices = await self.call("portal invoices", "GET", "/w/api/portal/invoices", portal)
        self.expect(
            "portal invoices", bool(invoices.get("invoices")), "no invoice listed", invoices
        )
        cancel = {"action_id": uuid.uuid4().hex, "reason": "too_expensive"}
        cancel_path = f"/w/api/portal/subscriptions/{sub_id}/cancel"
        cancelled = await self.act("cancel", cancel_path, portal, cancel, double_click)
        ended = cancelled.get("subscription") or {}
        self.expect(
            "cancel",
            ended.get("cancel_at_period_end") is True and ended.get("status") == "active",
            "not cancelled at the period's end",
            cancelled,
        )
        self.done("cancel_subscription", sub_id)

    async def loop(self, number: int, stop_at: float) -> None:
        journey = 0
        while time.monotonic() < stop_at:
            journey += 1
            self.tally.started += 1
            user_id = f"u{number}x{journey}x{uuid.uuid4().hex[:6]}"
            # Every fourth journey, the user double-clicks each button.
            double_click = journey % DOUBLE_CLICK_EVERY == 0
            self.tally.double_clicked += double_click
            began = time.perf_counter()
            try:
                await self.journey(f"{user_id}@load.test", user_id, double_click)
            except StepFailed as exc:
                self.tally.error(exc.kind, exc.detail)
            except Exception as exc:
                self.tally.error(f"{type(exc).__name__}", repr(exc))
            else:
                self.tally.journeys += 1
                self.tally.durations.append(time.perf_counter() - began)


async def run_users(
    portal: str, tenants: list[LoadTenant], users: int, seconds: float
) -> tuple[Tally, float]:
    """``users`` users, spread over the tenants, for ``seconds``; the tally and the time taken."""
    tally = Tally()
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    async with httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT) as client:
        began = time.monotonic()
        stop_at = began + seconds
        await asyncio.gather(
            *(
                User(client, portal, tenants[n % len(tenants)], tally).loop(n, stop_at)
                for n in range(users)
            )
        )
        return tally, time.monotonic() - began


# -- afterwards: callbacks drained, duplicates counted ------------------------------------


def drain(portal: str, receiver: str, tenants: list[LoadTenant], tally: Tally) -> None:
    """Wait until no tenant has a callback pending and nothing more arrives for a while."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    last, quiet = -1, 0
    with httpx.Client(timeout=30) as client:
        while time.monotonic() < deadline:
            pending = 0
            for tenant in tenants:
                answer = client.get(
                    f"{portal}/api/v1/callbacks",
                    params={"status": "pending", "limit": 1},
                    headers={"Authorization": f"Bearer {tenant.secret_key}"},
                )
                if answer.status_code != 200:
                    tally.error(f"list pending callbacks: HTTP {answer.status_code}", answer.text)
                    pending += 1
                    continue
                pending += len(answer.json()["data"])
            count = int(client.get(f"{receiver}/count").json()["count"])
            quiet = quiet + 1 if pending == 0 and count == last else 0
            # Stripe's webhooks reach the portal a little after the calls that caused them.
            if quiet >= 3:
                return
            last = count
            time.sleep(1.0)
    tally.error("callbacks still pending", f"after {DRAIN_TIMEOUT:.0f} s")


def failed_callbacks(portal: str, tenants: list[LoadTenant], tally: Tally) -> None:
    with httpx.Client(timeout=30) as client:
        for tenant in tenants:
            answer = client.get(
                f"{portal}/api/v1/callbacks",
                params={"status": "failed", "limit": 200},
                headers={"Authorization": f"Bearer {tenant.secret_key}"},
            )
            answer.raise_for_status()
            for delivery in answer.json()["data"]:
                tally.error("callback failed", json.dumps(delivery, default=str))


def stripe_list(sandbox: str, account: str, path: str, **params: str) -> list[dict[str, Any]]:
    """Every object of a Stripe list, page after page."""
    found: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer sk_test_{account}"}
    with httpx.Client(base_url=sandbox, headers=headers, timeout=60) as client:
        while True:
            query: dict[str, str] = {"limit": "100", **params}
            if found:
                query["starting_after"] = found[-1]["id"]
            page = client.get(path, params=query)
            page.raise_for_status()
            body = page.json()
            found.extend(body["data"])
            if not body["has_more"]:
                return found


def count_duplicates(
    sandbox: str, receiver: str, tenants: list[LoadTenant], tally: Tally
) -> tuple[Counter[str], dict[str, str], int]:
    """Duplicates by kind, an example of each, and the number of callbacks received."""
    duplicates: Counter[str] = Counter()
    examples: dict[str, str] = {}

    def found(kind: str, many: int, example: str) -> None:
        duplicates[kind] += many
        examples.setdefault(kind, example)

    for tenant in tenants:
        customers = stripe_list(sandbox, tenant.account, "/v1/customers")
        for email, n in Counter(c.get("email") for c in customers).items():
            if n > 1:
                found("stripe customer created twice for one user", n - 1, f"{email} × {n}")
        subscriptions = stripe_list(sandbox, tenant.account, "/v1/subscriptions", status="all")
        for customer, n in Counter(s["customer"] for s in subscriptions).items():
            if n > 1:
                found("second subscription for one user", n - 1, f"{customer} × {n}")

    received = httpx.get(f"{receiver}/received", timeout=60).json()["received"]
    for webhook_id, n in Counter(r["webhook_id"] for r in received).items():
        if n > 1:
            found("callback webhook-id received twice", n - 1, f"{webhook_id} × {n}")
    for r in received:
        if not r["verified"]:
            tally.error("callback signature not verified", json.dumps(r))
    reports = Counter(
        (r["tenant"], r["event"], r["object"]) for r in received if r["event"] in REPORTED
    )
    for action, n in reports.items():
        if n > 1:
            found("one action's callback queued twice", n - 1, f"{action} × {n}")
    for action in tally.actions:
        if reports[action] == 0:
            tally.error(f"callback never arrived: {action[1]}", f"{action}")
    return duplicates, examples, len(received)


# -- the whole run -------------------------------------------------------------------------


@dataclasses.dataclass
class Report:
    users: int
    seconds: float
    tenants: int
    backend: str
    elapsed: float
    journeys: int
    started: int
    requests: int
    double_clicked: int
    durations: list[float]
    errors: Counter[str]
    duplicates: Counter[str]
    examples: dict[str, str]
    callbacks: int
    load_cpu: float
    log_problems: list[str]
    # Seconds spent starting and setting up, and waiting for callbacks afterwards.
    setup: float = 0.0
    drained: float = 0.0
    # The journeys/second of one user alone, when measured.
    single_user_journeys_per_s: float | None = None

    @property
    def journeys_per_s(self) -> float:
        return self.journeys / self.elapsed if self.elapsed else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def duplicate_count(self) -> int:
        return sum(self.duplicates.values())

    def percentile(self, fraction: float) -> float:
        if not self.durations:
            return 0.0
        ordered = sorted(self.durations)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def text(self) -> str:
        lines = [
            f"load: {self.users} users over {self.tenants} tenants for {self.seconds:.0f} s "
            f"({self.backend}), Stripe latency {'/'.join(map(str, LATENCIES_MS))} ms",
            f"  completed journeys   {self.journeys} of {self.started} started "
            f"({self.double_clicked} with double clicks)",
            f"  journeys/second      {self.journeys_per_s:.2f}"
            + (
                f" (one user alone: {self.single_user_journeys_per_s:.2f})"
                if self.single_user_journeys_per_s is not None
                else ""
            ),
            f"  requests             {self.requests} ({self.requests / self.elapsed:.1f}/s)",
            f"  journey time         median {statistics.median(self.durations or [0]):.2f} s, "
            f"p95 {self.percentile(0.95):.2f} s",
            f"  callbacks received   {self.callbacks}",
            f"  load generator CPU   {self.load_cpu:.0%} of one core",
            f"  set-up {self.setup:.0f} s, load {self.elapsed:.0f} s, "
            f"callbacks drained in {self.drained:.0f} s",
            f"  errors               {self.error_count}",
        ]
        for kind, n in self.errors.most_common():
            lines.append(f"    {n:>6}  {kind}")
            lines.append(f"            e.g. {self.examples.get(kind, '')[:300]}")
        lines.append(f"  duplicates           {self.duplicate_count}")
        for kind, n in self.duplicates.most_common():
            lines.append(f"    {n:>6}  {kind}")
            lines.append(f"            e.g. {self.examples.get(kind, '')[:300]}")
        if self.log_problems:
            lines.append(f"  portal log: {len(self.log_problems)} warnings and errors")
            for line, n in Counter(self.log_problems).most_common(8):
                lines.append(f"    {n:>6}  {line[:300]}")
        return "\n".join(lines)


def _log_problems(log: Path) -> list[str]:
    """The portal's warnings and errors, one line each (its log is JSON lines)."""
    problems = []
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        try:
            entry = json.loads(line)
        except ValueError:
            if "Traceback" in line or "Error" in line:
                problems.append(line)
            continue
        if isinstance(entry, dict) and entry.get("level") in ("warning", "error", "critical"):
            exception = str(entry.get("exception") or "").strip().splitlines()
            problems.append(
                f"{entry.get('level')} {entry.get('logger')}: {entry.get('message')}"
                + (f" ({exception[-1]})" if exception else "")
            )
    return problems


def load_test(
    *,
    users: int = USERS,
    seconds: float = SECONDS,
    tenants: int = TENANTS,
    database_url: str | None = None,
    baseline_seconds: float = 0.0,
) -> Report:
    """Run the whole load test: processes up, tenants made, users run, everything checked.

    ``database_url`` is the portal's database (a fresh one); a SQLite file by default. With
    ``baseline_seconds``, one user alone runs the journey that long first: the rate that the
    many users' rate is compared with.
    """
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as data, ExitStack() as stack:
        data_dir = Path(data)
        url = database_url or f"sqlite+aiosqlite:///{data_dir / 'load.db'}"
        backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"

        sandbox = f"http://127.0.0.1:{free_port()}"
        stack.enter_context(
            service(
                [BILLPORT, "sandbox", "--port", sandbox.rsplit(":", 1)[1]],
                f"{sandbox}/_sandbox/clock?account=load",
                clean_environment(),
                data_dir / "sandbox.log",
            )
        )
        receiver_port = free_port()
        receiver = f"http://127.0.0.1:{receiver_port}"
        stack.enter_context(
            service(
                [sys.executable, "-m", "bench.load", "receiver", str(receiver_port)],
                f"{receiver}/count",
                clean_environment(),
                data_dir / "receiver.log",
            )
        )
        portal_port = free_port()
        portal = f"http://127.0.0.1:{portal_port}"
        portal_log = data_dir / "portal.log"
        stack.enter_context(
            service(
                [BILLPORT, "serve", "--host", "127.0.0.1", "--port", str(portal_port)],
                f"{portal}/healthz",
                clean_environment(
                    BILLPORT_DATABASE_URL=url,
                    BILLPORT_DATA_DIR=str(data_dir / "portal"),
                    BILLPORT_OPERATOR_TOKEN=OPERATOR_TOKEN,
                    BILLPORT_PUBLIC_URL=portal,
                    BILLPORT_LOG_LEVEL="WARNING",
                ),
                portal_log,
            )
        )

        made = [create_tenant(portal, sandbox, receiver, n) for n in range(tenants)]
        httpx.post(
            f"{receiver}/secrets",
            json={t.name: t.callback_secret for t in made},
            timeout=10,
        ).raise_for_status()
        slow_down_stripe(sandbox)

        setup = time.monotonic() - began
        alone, single_user_rate = None, None
        if baseline_seconds > 0:
            alone, alone_elapsed = asyncio.run(run_users(portal, made, 1, baseline_seconds))
            single_user_rate = alone.journeys / alone_elapsed
        cpu = time.process_time()
        tally, elapsed = asyncio.run(run_users(portal, made, users, seconds))
        load_cpu = (time.process_time() - cpu) / elapsed

        if alone is not None:
            tally.absorb(alone)
        # The checks below read Stripe's lists; they need not wait.
        httpx.delete(f"{sandbox}/_sandbox/faults", timeout=10).raise_for_status()
        draining = time.monotonic()
        drain(portal, receiver, made, tally)
        drained = time.monotonic() - draining
        failed_callbacks(portal, made, tally)
        duplicates, examples, callbacks = count_duplicates(sandbox, receiver, made, tally)
        return Report(
            users=users,
            seconds=seconds,
            tenants=tenants,
            backend=backend,
            elapsed=elapsed,
            journeys=tally.journeys,
            started=tally.started,
            requests=tally.requests,
            double_clicked=tally.double_clicked,
            durations=tally.durations,
            errors=tally.errors,
            duplicates=duplicates,
            examples={**tally.examples, **examples},
            callbacks=callbacks,
            load_cpu=load_cpu,
            log_problems=_log_problems(portal_log),
            setup=setup,
            drained=drained,
            single_user_journeys_per_s=single_user_rate,
        )


def run() -> list[dict[str, Any]]:
    report = load_test(
        database_url=os.environ.get("BILLPORT_BENCH_DATABASE_URL") or None,
        baseline_seconds=BASELINE_SECONDS,
    )
    print(report.text(), flush=True)
    return [
        figure("load_journeys", report.journeys, "journeys", digits=0),
        figure(
            "load_journeys_per_s",
            report.journeys_per_s,
            "journeys/s",
            baseline=report.single_user_journeys_per_s,
            digits=2,
        ),
        figure("load_journey_p95_s", report.percentile(0.95), "s", digits=2),
        figure("load_errors", report.error_count, "errors", digits=0),
        figure("load_duplicates", report.duplicate_count, "duplicates", digits=0),
    ]


def main() -> None:
    if sys.argv[1:2] == ["receiver"]:
        serve_receiver(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--users", type=int, default=USERS)
    parser.add_argument("--tenants", type=int, default=TENANTS)
    parser.add_argument(
        "--baseline-seconds",
        type=float,
        default=BASELINE_SECONDS,
        help="how long one user alone runs first, for the baseline rate (0: not measured)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BILLPORT_BENCH_DATABASE_URL"),
        help="the portal's database, which should be empty (default: a new SQLite file)",
    )
    args = parser.parse_args()
    report = load_test(
        users=args.users,
        seconds=args.seconds,
        tenants=args.tenants,
        database_url=args.database_url or None,
        baseline_seconds=args.baseline_seconds,
    )
    print(report.text())
    if report.error_count or report.duplicate_count:
        sys.exit(1)


if __name__ == "__main__":
    main()
