"""A sandbox started with a state file keeps its accounts across restarts."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import stripe

from portal.sandbox import create_sandbox_app
from tests.servers import ServerThread, free_port

BILLPORT = str(Path(sys.executable).parent / "billport")


def _client(url: str, account: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        f"sk_test_{account}", base_addresses={"api": url}, max_network_retries=0
    )


def test_objects_and_clock_survive_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox.json"
    account = "persist" + uuid.uuid4().hex[:8]
    with ServerThread(create_sandbox_app(state_file)) as server:
        client = _client(server.url, account)
        customer = client.v1.customers.create(params={"email": "keep@example.com"})
        product = client.v1.products.create(
            params={
                "name": "Kept",
                "default_price_data": {
                    "currency": "usd",
                    "unit_amount": 700,
                    "recurring": {"interval": "month"},
                },
            }
        )
        tiered = client.v1.prices.create(
            params={
                "product": product.id,
                "currency": "usd",
                "billing_scheme": "tiered",
                "tiers_mode": "volume",
                "tiers": [{"up_to": 5, "unit_amount": 100}, {"up_to": "inf", "unit_amount": 90}],
                "lookup_key": "kept_tiered",
            }
        )
        coupon = client.v1.coupons.create(params={"id": "KEEP10", "percent_off": 10})
        promo = client.v1.promotion_codes.create(
            params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "KEEPME"}
        )
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": "https://example.com/hooks", "enabled_events": ["*"]}
        )
        advanced = httpx.post(
            f"{server.url}/_sandbox/clock/advance", json={"account": account, "seconds": 86400}
        ).json()["now"]
        deleted = client.v1.products.create(params={"name": "Gone"})
        client.v1.products.delete(deleted.id)
    assert state_file.exists()

    with ServerThread(create_sandbox_app(state_file)) as server:
        client = _client(server.url, account)
        assert client.v1.customers.retrieve(customer.id).email == "keep@example.com"
        assert client.v1.products.retrieve(product.id).default_price == product.default_price
        shown = client.v1.prices.retrieve(tiered.id, params={"expand": ["tiers"]})
        assert shown.tiers is not None and [t.up_to for t in shown.tiers] == [5, None]
        by_key = client.v1.prices.list(params={"lookup_keys": ["kept_tiered"]}).data
        assert [p.id for p in by_key] == [tiered.id]
        with pytest.raises(stripe.InvalidRequestError) as taken:
            client.v1.prices.create(
                params={
                    "product": product.id,
                    "currency": "usd",
                    "unit_amount": 1,
                    "lookup_key": "kept_tiered",
                }
            )
        assert taken.value.param == "lookup_key"
        with pytest.raises(stripe.InvalidRequestError) as in_use:
            client.v1.products.delete(product.id)
        assert "user-created prices" in str(in_use.value.user_message)
        assert client.v1.coupons.retrieve(coupon.id).percent_off == 10
        with pytest.raises(stripe.InvalidRequestError) as clash:
            client.v1.promotion_codes.create(
                params={"promotion": {"type": "coupon", "coupon": coupon.id}, "code": "keepme"}
            )
        assert clash.value.param == "code"
        assert client.v1.promotion_codes.retrieve(promo.id).code == "KEEPME"
        assert client.v1.webhook_endpoints.retrieve(endpoint.id).status == "enabled"
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.products.retrieve(deleted.id)
        types = {e.type for e in client.v1.events.list(params={"limit": 100}).data}
        assert {"customer.created", "price.created", "product.deleted"} <= types
        clock = httpx.get(f"{server.url}/_sandbox/clock", params={"account": account}).json()
        assert clock["now"] >= advanced
        # Within a day of the advanced clock, not back at the wall clock.
        assert clock["now"] - time.time() > 86000


def _wait_until_up(process: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/_sandbox/clock", params={"account": "probe"})
            return
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "billport sandbox did not answer"
        time.sleep(0.1)


def _start(state_file: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [BILLPORT, "sandbox", "--port", str(port), "--state", str(state_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_billport_sandbox_process_keeps_its_state_file(tmp_path: Path) -> None:
    state_file = tmp_path / "state" / "sandbox.json"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = _start(state_file, port)
    try:
        _wait_until_up(process, url)
        client = _client(url, "cli")
        product = client.v1.products.create(params={"name": "From the CLI"})
        httpx.post(f"{url}/_sandbox/clock/advance", json={"account": "cli", "seconds": 3600})
    finally:
        _stop(process)
    # uvicorn shuts down cleanly, then re-raises the signal it caught.
    assert process.returncode in (0, -signal.SIGTERM), process.communicate()
    assert state_file.exists()

    process = _start(state_file, port)
    try:
        _wait_until_up(process, url)
        client = _client(url, "cli")
        assert client.v1.products.retrieve(product.id).name == "From the CLI"
        now = httpx.get(f"{url}/_sandbox/clock", params={"account": "cli"}).json()["now"]
        assert now - time.time() > 3500
    finally:
        _stop(process)
