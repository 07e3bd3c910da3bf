"""A Stripe-compatible server for tests, the demo and benchmarks (``billport sandbox``)."""

from .app import SandboxApp, create_sandbox_app

__all__ = ["SandboxApp", "create_sandbox_app"]
