"""The one way Billport talks to Stripe: a client per tenant, idempotency, error mapping."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import stripe

from . import metrics
from .errors import (
    BillportError,
    Forbidden,
    NotFound,
    TooManyRequests,
    UpstreamError,
    ValidationFailed,
)
from .settings import Settings

T = TypeVar("T")

STRIPE_KEY_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_")


def key_livemode(secret_key: str) -> bool:
    """Whether a Stripe secret or restricted key is a live-mode key."""
    if not secret_key.startswith(STRIPE_KEY_PREFIXES):
        raise ValidationFailed(
            "A Stripe secret key starts with sk_test_, sk_live_, rk_test_ or rk_live_.",
            code="stripe_key_invalid",
            param="stripe_secret_key",
        )
    return "_live_" in secret_key[:8]


def check_api_base(api_base: str | None) -> str | None:
    if api_base is None or api_base == "":
        return None
    parts = urlsplit(api_base)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query:
        raise ValidationFailed(
            "The Stripe API base must be an http(s) URL such as http://127.0.0.1:12111.",
            code="stripe_api_base_invalid",
            param="stripe_api_base",
        )
    return api_base.rstrip("/")


def idempotency_key(*parts: str) -> str:
    """A stable key for one user action: the same action retried reuses the same key."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"bp-{digest[:48]}"


# A Stripe id: a prefix, then random letters and digits (never all lowercase, unlike the
# words of Stripe's paths such as subscription_schedules).
_ID = re.compile(r"/[a-z]+_(?=[a-z]*[A-Z0-9])[A-Za-z0-9]{6,}(?=/|$)")


def stripe_route(url: str) -> str:
    """``/v1/subscriptions/sub_1Qx…/items`` → ``/v1/subscriptions/{id}/items``: few labels."""
    return _ID.sub("/{id}", urlsplit(url).path)


class _MeasuredHTTPClient(stripe.HTTPXClient):
    """Stripe's HTTPX client, counting and timing every call for /metrics."""

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        route = stripe_route(url)
        started = time.perf_counter()
        outcome = "network_error"
        try:
            content, status, answer_headers = await super().request_async(
                method, url, headers, post_data
            )
            outcome = f"{status // 100}xx"
            return content, status, answer_headers
        finally:
            metrics.STRIPE_LATENCY.labels(method.upper(), route).observe(
                time.perf_counter() - started
            )
            metrics.STRIPE_CALLS.labels(method.upper(), route, outcome).inc()


class StripeGateway:
    """Builds ``StripeClient``s sharing one HTTP connection pool; never the global key."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._http = _MeasuredHTTPClient(timeout=settings.stripe_timeout)

    def client(self, secret_key: str, api_base: str | None = None) -> stripe.StripeClient:
        bases: dict[str, str] = {}
        if api_base:
            bases = {"api": api_base, "files": api_base, "connect": api_base}
        return stripe.StripeClient(
            secret_key,
            base_addresses=cast(Any, bases),
            http_client=self._http,
            max_network_retries=self._settings.stripe_max_network_retries,
        )

    async def aclose(self) -> None:
        await self._http.close_async()


async def stripe_call(awaitable: Awaitable[T]) -> T:
    """Await a Stripe call, turning Stripe's failures into Billport errors."""
    try:
        return await awaitable
    except stripe.StripeError as exc:
        raise map_stripe_error(exc) from exc


def map_stripe_error(exc: stripe.StripeError) -> BillportError:
    message = exc.user_message or "Stripe could not complete the request."
    if isinstance(exc, stripe.CardError):
        return BillportError(message, code=exc.code or "card_error", status_code=402)
    if isinstance(exc, stripe.AuthenticationError):
        return UpstreamError(
            "Stripe rejected the tenant's API key: " + message, code="stripe_auth_failed"
        )
    if isinstance(exc, stripe.PermissionError):
        return Forbidden(
            "The tenant's Stripe key lacks a permission Billport needs: " + message,
            code="stripe_permission_denied",
        )
    if isinstance(exc, stripe.RateLimitError):
        return TooManyRequests(
            "Stripe is busy right now; please try again in a moment.",
            code="stripe_rate_limited",
            retryable=True,
        )
    if isinstance(exc, stripe.APIConnectionError):
        return UpstreamError(
            "Stripe could not be reached; please try again.",
            code="stripe_unreachable",
            status_code=503,
            retryable=True,
        )
    if isinstance(exc, stripe.IdempotencyError):
        return BillportError(message, code="stripe_idempotency_conflict", status_code=409)
    if isinstance(exc, stripe.InvalidRequestError):
        if exc.http_status == 404:
            return NotFound(message, code="stripe_resource_missing", param=exc.param)
        return BillportError(message, code="stripe_invalid_request", param=exc.param)
    return UpstreamError(
        "Stripe had a problem completing the request; please try again.", retryable=True
    )
