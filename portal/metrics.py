"""Prometheus metrics of the portal process."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

REQUESTS = Counter(
    "billport_http_requests_total",
    "HTTP requests answered, by route template, method and status class.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "billport_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
STRIPE_ERRORS = Counter(
    "billport_stripe_errors_total",
    "Stripe calls that failed, by Billport error code.",
    ["code"],
)


STRIPE_CALLS = Counter(
    "billport_stripe_calls_total",
    "Calls to Stripe's API, by route (ids replaced by {id}) and outcome (HTTP status class, "
    "or network_error).",
    ["method", "route", "outcome"],
)
STRIPE_LATENCY = Histogram(
    "billport_stripe_call_seconds",
    "Time taken by calls to Stripe's API, by route.",
    ["method", "route"],
)


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST


CALLBACK_ATTEMPTS = Counter(
    "billport_callback_attempts_total",
    "Callback delivery attempts, by outcome (delivered, retry, failed).",
    ["outcome"],
)
CALLBACKS_PENDING = Gauge(
    "billport_callbacks_pending", "Callback deliveries waiting to be delivered."
)
CALLBACK_OLDEST_PENDING = Gauge(
    "billport_callback_oldest_pending_seconds",
    "Age of the oldest callback delivery still waiting, in seconds (0 when none).",
)
STRIPE_INTAKE_LAG = Gauge(
    "billport_stripe_intake_lag_seconds",
    "Age of the oldest received Stripe event not yet processed, in seconds (0 when none).",
)
