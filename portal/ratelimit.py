"""Counting actions in a sliding window, per process: no shared store to run."""

from __future__ import annotations

import time
from collections import deque


class SlidingWindow:
    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._hits: dict[str, deque[float]] = {}

    def allows(self, key: str, now: float | None = None) -> bool:
        """Whether one more action for ``key`` is within the limit (counting nothing)."""
        now = time.monotonic() if now is None else now
        hits = self._hits.get(key)
        return not hits or sum(1 for at in hits if at > now - self.window) < self.limit

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
