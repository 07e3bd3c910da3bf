"""What keeping visitors' pages may cost: a bounded amount of memory, and nothing for pages
that only an odd request asks for."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import stripe

from portal.app import create_app
from portal.changes import ChangeWatcher
from portal.db import Database, utcnow
from portal.migrate import upgrade
from portal.settings import Settings
from tests.servers import ServerThread, run_async
from tests.widget_api import make_plans
from widgets.visitor_pages import VisitorKey, VisitorPage, VisitorPages


def _key(number: int) -> VisitorKey:
    return VisitorKey(
        publishable_key=f"bp_pub_{number}",
        widget="plan-picker",
        billing_page=None,
        locale=None,
        accept_locale="en",
        currency=None,
        preferred_currency=None,
        price=None,
    )


def test_kept_pages_stay_within_their_budget(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'pages.db'}"
    upgrade(url)

    async def scenario() -> None:
        database = Database(url)
        watcher = ChangeWatcher(database)
        try:
            await watcher.check()
            async with database.sessions() as session:
                stamp = await watcher.read_version(session)
        finally:
            await database.dispose()

        def page(size: int, read_at: int = stamp) -> VisitorPage:
            return VisitorPage(
                tenant_id="ten_1",
                billing_page_id=None,
                allowed_origins=frozenset(),
                compressed=os.urandom(size),
                dictionary=b"",
                headers={},
                stamp=read_at,
                catalog_refreshed_at=utcnow(),
            )

        budget = 16 * page(1_000).size
        pages = VisitorPages(watcher, budget=budget)
        for number in range(16):
            pages.keep(_key(number), page(1_000))
        assert len(pages) == 16 and pages.size == budget
        # Served lately, so kept when others come.
        assert pages.get(_key(0)) is not None
        pages.keep(_key(16), page(1_000))
        pages.keep(_key(17), page(1_000))
        assert pages.get(_key(0)) is not None
        assert pages.get(_key(1)) is None and pages.get(_key(2)) is None
        assert pages.size == budget
        # Too big to keep without pushing out many others; or read before the first look.
        pages.keep(_key(18), page(1_001))
        pages.keep(_key(19), page(100, read_at=stamp - 1))
        assert pages.get(_key(18)) is None and pages.get(_key(19)) is None
        assert pages.size == budget

    run_async(scenario)


def test_pages_only_odd_requests_ask_for_are_not_kept(
    api: httpx.Client,
    create_tenant,
    stripe_client: stripe.StripeClient,
    portal_settings: Settings,
) -> None:
    (price,) = make_plans(stripe_client, ("Pro", "pro", 1200))
    tenant = create_tenant()
    app = create_app(portal_settings)
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        params = {"key": tenant["publishable_key"]}
        for extra in ({}, {"price": price}, {"currency": "usd"}):
            assert client.get("/w/plan-picker", params={**params, **extra}).status_code == 200
        kept = len(app.state.visitor_pages)
        assert kept == 3
        for number in range(40):
            odd = {"price": f"price_{number}", "currency": f"q{number:02d}"}
            answer = client.get("/w/plan-picker", params={**params, **odd})
            assert answer.status_code == 200
            unknown = client.get("/w/plan-picker", params={"key": f"bp_pub_unknown{number}"})
            assert unknown.status_code == 404
        assert len(app.state.visitor_pages) == kept
