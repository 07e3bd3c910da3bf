"""Database engine, sessions and the declarative base shared by every model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from .errors import ValidationFailed

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str) -> AsyncEngine:
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        engine = create_async_engine(
            url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=10,
            pool_timeout=10,
            # Connection attempts and statements fail fast when the database is gone.
            connect_args={"timeout": 5, "command_timeout": 30},
        )
    event.listen(engine.sync_engine, "before_cursor_execute", _refuse_nul_characters)
    return engine


def _refuse_nul_characters(
    _connection: Any,
    _cursor: Any,
    _statement: str,
    parameters: Any,
    _context: Any,
    _executemany: bool,
) -> None:
    """Text with a NUL character is refused (422) before it reaches the database.

    PostgreSQL cannot store U+0000 in text and fails the statement, which would surface as
    a 500; refusing it here, for every statement and on every backend, answers bad input
    the same way wherever it arrives (a JSON field, a query parameter, a form, a path).
    """
    # One row (a tuple or a dict), several (executemany), or one batch of several rows
    # flattened into a tuple (insertmanyvalues): every shape is a row or a list of rows.
    rows = parameters if isinstance(parameters, list) else [parameters]
    for row in rows:
        values = row.values() if isinstance(row, dict) else row if isinstance(row, tuple) else ()
        if any(isinstance(value, str) and "\x00" in value for value in values):
            raise ValidationFailed("Text cannot contain the NUL character (U+0000).")


async def release_connection(session: AsyncSession) -> None:
    """Hand the session's connection back to the pool before waiting on something slow.

    Called once a request has read what it needs and is about to call Stripe: it ends the
    transaction of those reads, the objects read stay loaded (sessions do not expire on
    commit), and the next statement takes a connection again. Held instead, the connection
    sits idle in a transaction for the whole of the Stripe calls, and a few dozen users at
    once exhaust the pool.
    """
    await session.commit()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """The engine and session factory of one portal process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, info={"database": self}
        )
        # Set when a session of this process commits a change to a tenant's settings,
        # billing pages or catalog (portal/changes.py): what is kept in memory is checked
        # against the database before it is read again.
        self.unseen_changes = True

    async def session(self) -> AsyncIterator[AsyncSession]:
        """One session per request; rolled back if the request did not commit."""
        async with self.sessions() as session:
            yield session

    async def ping(self, within: float = 3.0) -> bool:
        try:
            async with asyncio.timeout(within), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()
