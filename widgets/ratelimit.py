"""Limits on anonymous actions that create Stripe objects (signup, anonymous checkout).

Enough to stop one client filling a tenant's Stripe account with junk customers.
"""

from __future__ import annotations

from portal.errors import TooManyRequests
from portal.ratelimit import SlidingWindow


class AnonymousLimits:
    def __init__(self, per_client: int = 10, per_tenant: int = 200, window: float = 600) -> None:
        self.per_client = SlidingWindow(per_client, window)
        self.per_tenant = SlidingWindow(per_tenant, window)

    def check(self, tenant_id: str, client: str) -> None:
        if not self.per_client.hit(f"{tenant_id}:{client}") or not self.per_tenant.hit(tenant_id):
            raise TooManyRequests(
                "Too many sign-ups from here in a short time; please try again in a few minutes.",
                code="rate_limited",
            )
