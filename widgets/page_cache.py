"""Visitors' widget pages, kept for a moment: a pricing page under load costs one render.

A page shown to an anonymous visitor (plan picker, signup) depends only on its URL and the
visitor's languages, plus the tenant's settings and catalog. Each process keeps such a page
for ``TTL`` seconds and serves it again with a freshly signed widget session. A change of
settings, billing pages or catalog made through this process shows at once
(``portal.changes``); one made through another process, within ``TTL``. Pages naming a user
are never kept.
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from collections.abc import Mapping

from portal import changes
from portal.identity.widget_session import WidgetSession

from .identity import ANONYMOUS_WIDGETS

TTL = 2.0
MAX_PAGES = 2048
# Query parameters that identify a user: a page carrying one is not a visitor's.
IDENTIFYING = ("token", "email", "customer_id", "hash")
# The parameters (and header) a visitor's page is made from.
SHAPING = ("key", "origin", "billing_page", "frame", "locale", "currency", "price")

PageKey = tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class KeptPage:
    html: str
    headers: dict[str, str]
    session: WidgetSession
    # The signed session written into ``html``, replaced by a fresh one at each serving.
    signed: str
    expires: float


class VisitorPageCache:
    def __init__(self, ttl: float = TTL, size: int = MAX_PAGES) -> None:
        self.ttl = ttl
        self.size = size
        self._pages: OrderedDict[PageKey, KeptPage] = OrderedDict()

    @staticmethod
    def key(widget: str, query: Mapping[str, str], accept_language: str) -> PageKey | None:
        """What the page depends on, or None when it is not a visitor's page."""
        if widget not in ANONYMOUS_WIDGETS or any(query.get(name) for name in IDENTIFYING):
            return None
        shaping = (query.get(name, "") for name in SHAPING)
        return (widget, *shaping, accept_language, str(changes.generation()))

    def get(self, key: PageKey) -> KeptPage | None:
        page = self._pages.get(key)
        if page is None or page.expires < time.monotonic():
            return None
        return page

    def put(
        self,
        key: PageKey,
        html: str,
        headers: Mapping[str, str],
        session: WidgetSession,
        signed: str,
    ) -> None:
        self._pages[key] = KeptPage(
            html, dict(headers), session, signed, time.monotonic() + self.ttl
        )
        self._pages.move_to_end(key)
        while len(self._pages) > self.size:
            self._pages.popitem(last=False)
