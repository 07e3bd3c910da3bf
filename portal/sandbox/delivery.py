"""Webhook delivery: signed POSTs of events to the endpoints an account registered."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import httpx

from .state import SandboxState, WebhookDelivery

log = logging.getLogger("billport.sandbox.webhooks")

# Shorter than Stripe's three days: a sandbox should show retries within a demo.
RETRY_DELAYS = (1, 5, 30, 120, 600, 1800, 3600)


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookSender:
    def __init__(self, state: SandboxState, timeout: float = 10.0) -> None:
        self.state = state
        self.timeout = timeout
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout)
        self.state.wake_delivery = self._wake.set
        self._task = asyncio.create_task(self._run(), name="sandbox-webhooks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        while True:
            now = time.monotonic()
            due = [d for d in self.state.deliveries if d.due <= now]
            if due:
                for delivery in due:
                    self.state.deliveries.remove(delivery)
                # Concurrent across endpoints; each delivery is one POST.
                await asyncio.gather(*(self._send(d) for d in due))
                continue
            pending = [d.due for d in self.state.deliveries]
            timeout = max(0.0, min(pending) - now) if pending else None
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    async def _send(self, delivery: WebhookDelivery) -> None:
        account = self.state.accounts.get(delivery.account)
        if account is None:
            return
        endpoint = account.find(delivery.endpoint_id)
        event = account.find(delivery.event_id)
        if endpoint is None or event is None or endpoint.get("status") != "enabled":
            return
        payload = json.dumps(event, indent=2).encode()
        secret = account.secret(endpoint["id"]).get("secret", "")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(payload, secret, int(time.time())),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        ok = False
        assert self._client is not None
        try:
            answer = await self._client.post(endpoint["url"], content=payload, headers=headers)
            ok = 200 <= answer.status_code < 300
        except httpx.HTTPError as exc:
            log.info("webhook %s to %s failed: %s", event["id"], endpoint["url"], exc)
        if ok:
            event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)
            return
        delivery.attempts += 1
        if delivery.attempts <= len(RETRY_DELAYS):
            delivery.due = time.monotonic() + RETRY_DELAYS[delivery.attempts - 1]
            self.state.deliveries.append(delivery)


def pending_summary(state: SandboxState) -> list[dict[str, Any]]:
    return [
        {
            "account": d.account,
            "endpoint": d.endpoint_id,
            "event": d.event_id,
            "attempts": d.attempts,
        }
        for d in state.deliveries
    ]
