"""Limits on anonymous actions that create Stripe objects (signup, anonymous checkout).

Counted per process in a sliding window: enough to stop one client filling a tenant's
Stripe account with junk customers, with no shared store to run.
"""

from __future__ import annotations

import time
from collections import deque

from portal.errors import TooManyRequests


class SlidingWindow:
    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str, now: float | None = None) -> bool:
        """Count one action for ``key``; False when it is over the limit."""
        now = time.monotonic() if now is None else now
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        if len(self._hits) > 100_000:
            self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - self.window}
        return True


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
