"""Throw-away databases for tests: a SQLite file, or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from tests.servers import run_async

POSTGRES_ENV = "BILLPORT_TEST_DATABASE_URL"


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def _dsn(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


@contextmanager
def fresh_database(backend: str, tmp_dir: Path) -> Iterator[str]:
    """Yield an async SQLAlchemy URL of an empty database, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_dir / 'billport.db'}"
        return
    base = postgres_url()
    assert base, "postgres backend requested without BILLPORT_TEST_DATABASE_URL"
    name = "bp_test_" + uuid.uuid4().hex[:12]

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(_dsn(base))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    run_async(lambda: admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        run_async(lambda: admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
