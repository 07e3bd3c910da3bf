"""The change count: every write to a tenant's settings, billing pages or catalog is counted
by the database, whichever process makes it, and a process that looks sees which tenant."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text

from portal.changes import ChangeWatcher
from portal.db import Database
from portal.migrate import upgrade
from tenants.billing_pages.models import BillingPage
from tenants.models import Tenant
from tests.servers import run_async


async def _look(watcher: ChangeWatcher) -> None:
    """One look at the counter, as the process's own loop takes every half second."""
    stop = asyncio.Event()
    looking = asyncio.create_task(watcher.run(stop, interval=0.01))
    await asyncio.sleep(0.1)
    stop.set()
    await looking


async def _stamp(database: Database, watcher: ChangeWatcher) -> int:
    async with database.sessions() as session:
        return await watcher.read_version(session)


def test_writes_are_counted_per_tenant_and_seen(
    api: httpx.Client, create_tenant, database_url: str
) -> None:
    tenant, bystander = create_tenant()["id"], create_tenant()["id"]

    async def scenario() -> None:
        here, elsewhere = Database(database_url), Database(database_url)
        watcher = ChangeWatcher(here)
        try:
            await watcher.check()
            stamp = await _stamp(here, watcher)
            assert watcher.is_current(tenant, stamp) and watcher.is_current(bystander, stamp)

            # Another process changes the tenant with a statement of its own: seen on looking.
            async with elsewhere.sessions() as session:
                await session.execute(
                    text("UPDATE tenant SET name = 'Renamed' WHERE id = :id"), {"id": tenant}
                )
                await session.commit()
            assert not here.unseen_changes
            await _look(watcher)
            assert not watcher.is_current(tenant, stamp)
            assert watcher.is_current(bystander, stamp)
            stamp = await _stamp(here, watcher)
            assert watcher.is_current(tenant, stamp)

            # This process changes a billing page: it looks before its next read.
            async with here.sessions() as session:
                session.add(
                    BillingPage(id="bpg_changes", tenant_id=tenant, widget="signup", name="Sign up")
                )
                await session.commit()
            assert here.unseen_changes
            await watcher.check()
            assert not here.unseen_changes
            assert not watcher.is_current(tenant, stamp)
            stamp = await _stamp(here, watcher)

            # A change rolled back is no change; one the ORM makes through a statement is.
            async with here.sessions() as session:
                (await session.get_one(Tenant, tenant)).name = "Never"
                await session.flush()
                await session.rollback()
            assert not here.unseen_changes
            async with here.sessions() as session:
                await session.execute(
                    BillingPage.__table__.delete().where(BillingPage.id == "bpg_changes")
                )
                await session.commit()
            assert here.unseen_changes
            await watcher.check()
            assert not watcher.is_current(tenant, stamp)
            assert watcher.is_current(bystander, stamp)
        finally:
            await here.dispose()
            await elsewhere.dispose()

    run_async(scenario)


def test_a_stamp_older_than_the_first_look_vouches_for_nothing(database_url: str) -> None:
    upgrade(database_url)

    async def scenario() -> Any:
        database = Database(database_url)
        watcher = ChangeWatcher(database)
        try:
            before = await _stamp(database, watcher)
            assert not watcher.is_current("ten_any", before)
            async with database.sessions() as session:
                await session.execute(text("UPDATE change_counter SET version = version + 1"))
                await session.commit()
            await watcher.check()
            assert not watcher.is_current("ten_any", before)
            assert watcher.is_current("ten_any", await _stamp(database, watcher))
        finally:
            await database.dispose()

    run_async(scenario)
