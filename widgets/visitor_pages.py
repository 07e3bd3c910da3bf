"""Visitors' pages, kept rendered: a plan picker or signup page for someone not named.

Such a page is the same for every visitor of a tenant who asks with the same parameters,
but for three values: its widget session, the frame id embed.js gave it, and the page
framing it. The page is rendered once with a placeholder for each, kept compressed (against
the first page of its widget and locale, which holds the markup, scripts and texts every
such page shares), and served by putting the values in, with no database read and no
template rendering. A visitor's widget session names only the tenant, widget, framing page
and billing page, so one is signed per kept page and framing page every half minute. Pages
naming a user are never kept.

A kept page is stamped with the change count read before what it was rendered from
(portal/changes.py) and is served while its tenant has no later change. The memory it may
take is bounded (``BUDGET_BYTES``); the least recently served pages go first.
"""

from __future__ import annotations

import json
import secrets
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from litestar import MediaType, Request, Response

from portal.changes import ChangeWatcher
from portal.identity.widget_session import WidgetSession, WidgetSessionSigner

from .money import locale_currency, pick_locale

BUDGET_BYTES = 64 * 1024 * 1024
# What a kept page's key, headers and bookkeeping take besides the compressed page.
_PAGE_OVERHEAD = 2048
SIGNED_REUSE_SECONDS = 30
# What the visitor's Accept-Language header says: the locale and the currency of its country.
_ACCEPT_KEPT = 1024

# Unguessable, so that no text of a tenant's can pass for one.
_SLOT = secrets.token_hex(12)
SESSION_SLOT = f"bp-session-{_SLOT}"
FRAME_SLOT = f"bp-frame-{_SLOT}"
ORIGIN_SLOT = f"bp-origin-{_SLOT}"


@dataclass(frozen=True)
class VisitorKey:
    """Everything a visitor's page depends on, from its request."""

    publishable_key: str
    widget: str
    billing_page: str | None
    locale: str | None
    accept_locale: str
    currency: str | None
    preferred_currency: str | None
    price: str | None


@dataclass
class VisitorPage:
    tenant_id: str
    billing_page_id: str | None
    allowed_origins: frozenset[str]
    compressed: bytes
    # What it was compressed against: the first page kept of its widget and locale.
    dictionary: bytes
    headers: dict[str, str]
    # The change count it was rendered at, and when its catalog was read from Stripe.
    stamp: int
    catalog_refreshed_at: datetime
    # The widget session last signed for each framing page, and when.
    signed: dict[str, tuple[str, float]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Memory it is counted for: the compressed page, and its key and headers."""
        return len(self.compressed) + _PAGE_OVERHEAD


_accept: dict[str, tuple[str, str | None]] = {}


def _from_accept_language(header: str) -> tuple[str, str | None]:
    known = _accept.get(header)
    if known is None:
        if len(_accept) >= _ACCEPT_KEPT:
            _accept.clear()
        known = _accept[header] = (pick_locale(header), locale_currency(header))
    return known


def visitor_key(request: Request[Any, Any, Any], widget: str) -> VisitorKey | None:
    """The key of the page this request asks for, or None when it names a user."""
    query = request.query_params
    if any(query.get(name) for name in ("token", "email", "customer_id", "hash")):
        return None
    locale = query.get("locale")
    accept_locale, preferred = _from_accept_language(request.headers.get("accept-language", ""))
    return VisitorKey(
        publishable_key=query.get("key", ""),
        widget=widget,
        billing_page=query.get("billing_page") or None,
        locale=pick_locale(locale) if locale else None,
        accept_locale=accept_locale,
        currency=(query.get("currency") or "").lower()[:3] or None,
        preferred_currency=preferred,
        price=query.get("price") or None,
    )


def _json_text(value: str) -> str:
    """``value`` inside a JSON string in a script element, escaped as ``tojson`` does."""
    return (
        json.dumps(value)[1:-1]
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("'", "\\u0027")
    )


class VisitorPages:
    """One per process: rendered visitors' pages, least recently served first."""

    def __init__(self, changes: ChangeWatcher, budget: int = BUDGET_BYTES) -> None:
        self.changes = changes
        self.budget = budget
        self.size = 0
        self._pages: OrderedDict[VisitorKey, VisitorPage] = OrderedDict()
        self._dictionaries: dict[tuple[str, str], bytes] = {}

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, key: VisitorKey) -> VisitorPage | None:
        page = self._pages.get(key)
        if page is None:
            return None
        if not self.changes.is_current(page.tenant_id, page.stamp):
            self._drop(key)
            return None
        self._pages.move_to_end(key)
        return page

    def keep(self, key: VisitorKey, page: VisitorPage) -> None:
        """Keep ``page`` unless its tenant changed since it was read, or it is too big."""
        if not self.changes.is_current(page.tenant_id, page.stamp):
            return
        if page.size > self.budget // 16:
            return
        if key in self._pages:
            self._drop(key)
        self._pages[key] = page
        self.size += page.size
        while self.size > self.budget:
            self._drop(next(iter(self._pages)))

    def _drop(self, key: VisitorKey) -> None:
        self.size -= self._pages.pop(key).size

    def compress(self, html: str, widget: str, locale: str) -> tuple[bytes, bytes]:
        """The page compressed, and the dictionary it was compressed against."""
        page = html.encode()
        dictionary = self._dictionaries.setdefault((widget, locale), page)
        compressor = zlib.compressobj(6, zdict=dictionary)
        return compressor.compress(page) + compressor.flush(), dictionary

    @staticmethod
    def serve(
        page: VisitorPage,
        key: VisitorKey,
        signer: WidgetSessionSigner,
        *,
        parent_origin: str,
        frame: str,
    ) -> Response[bytes]:
        now = time.monotonic()
        signed = page.signed.get(parent_origin)
        if signed is None or now - signed[1] > SIGNED_REUSE_SECONDS:
            session = WidgetSession(
                tenant_id=page.tenant_id,
                widget=key.widget,
                parent_origin=parent_origin,
                billing_page_id=page.billing_page_id,
            )
            signed = page.signed[parent_origin] = (signer.sign(session), now)
        html = (
            zlib.decompressobj(zdict=page.dictionary)
            .decompress(page.compressed)
            .decode()
            .replace(SESSION_SLOT, _json_text(signed[0]))
            .replace(FRAME_SLOT, _json_text(frame))
            .replace(ORIGIN_SLOT, _json_text(parent_origin))
        )
        return Response(html.encode(), media_type=MediaType.HTML, headers=page.headers)
