"""Which tenants changed: what lets each process keep tenants' pages in memory.

Triggers (migration 0009) count every change to a tenant's settings, billing pages and
catalog in ``change_counter`` and write the count on the tenant's ``tenant_change`` row.
Something kept in memory is stamped with the count read before what it was made from, and
stays good while no change of its tenant has a higher count.

Each process looks at the counter every ``POLL_SECONDS``, and before its next read of
memory when it committed such a change itself: a change shows at once in the process that
made it and within half a second in every other (another portal replica, or a worker
refreshing a catalog after a Stripe event).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import BigInteger, Integer, String, event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column

from .db import Base, Database

log = logging.getLogger("billport.changes")

POLL_SECONDS = 0.5
WATCHED_TABLES = frozenset({"tenant", "billing_page", "catalog_snapshot"})
_CHANGED = "billport.tenant_changed"


class ChangeCounter(Base):
    __tablename__ = "change_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class TenantChange(Base):
    __tablename__ = "tenant_change"

    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, index=True)


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context: Any) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(getattr(row, "__tablename__", None) in WATCHED_TABLES for row in changed):
        session.info[_CHANGED] = True


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in WATCHED_TABLES:
            state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    database = session.info.get("database")
    if session.info.pop(_CHANGED, False) and isinstance(database, Database):
        database.unseen_changes = True


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_CHANGED, None)


class ChangeWatcher:
    """One per process: the latest change count it has seen of each tenant."""

    def __init__(self, database: Database) -> None:
        self.database = database
        # The counter when this process first looked: earlier changes are not known here.
        self.baseline: int | None = None
        self.version = 0
        self.changed_at: dict[str, int] = {}
        self._lock = asyncio.Lock()
        self._failing = False

    @staticmethod
    async def read_version(session: AsyncSession) -> int:
        """The count now; read it before what a stamp will vouch for, in the same session."""
        return int((await session.execute(text(_COUNTER))).scalar_one())

    def is_current(self, tenant_id: str, stamp: int) -> bool:
        """Whether what was read at ``stamp`` still holds for the tenant, as far as known."""
        if self.baseline is None or stamp < self.baseline:
            return False
        return self.changed_at.get(tenant_id, 0) <= stamp

    async def check(self) -> None:
        """Look at the counter now if this process committed a change since it last looked.

        Failing to look (the database is away) is not an error of the request: what is
        in memory is served, and the loop of ``run`` keeps looking until it can.
        """
        if not self.database.unseen_changes:
            return
        async with self._lock:
            if self.database.unseen_changes:
                await self._look()

    async def run(self, stop: asyncio.Event, interval: float = POLL_SECONDS) -> None:
        """Look every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            async with self._lock:
                await self._look()
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass

    async def _look(self) -> None:
        try:
            await self._poll()
        except Exception:
            # Said once per outage, not twice a second.
            if not self._failing:
                log.warning("cannot read the change counter", exc_info=True)
            self._failing = True
        else:
            if self._failing:
                log.info("the change counter can be read again")
            self._failing = False

    async def _poll(self) -> None:
        # Cleared before reading: a commit landing meanwhile sets it again. Not set again
        # when reading fails: requests would each wait for the database in turn, and the
        # loop of ``run`` reads every change since ``version`` once it can.
        self.database.unseen_changes = False
        async with self.database.engine.connect() as connection:
            version = int((await connection.execute(text(_COUNTER))).scalar_one())
            if self.baseline is None:
                self.baseline = self.version = version
                return
            if version == self.version:
                return
            rows = await connection.execute(text(_CHANGES_SINCE), {"seen": self.version})
            for tenant_id, changed in rows:
                self.changed_at[tenant_id] = max(changed, self.changed_at.get(tenant_id, 0))
        self.version = version


_COUNTER = "SELECT version FROM change_counter WHERE id = 1"
_CHANGES_SINCE = "SELECT tenant_id, version FROM tenant_change WHERE version > :seen"
