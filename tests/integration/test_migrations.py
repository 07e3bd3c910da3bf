"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

import importlib

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from portal.db import Base, create_engine
from portal.migrate import MODEL_MODULES, upgrade
from tests.servers import run_async


def test_models_and_migrations_agree(database_url: str) -> None:
    upgrade(database_url)
    for module in MODEL_MODULES:
        importlib.import_module(module)

    async def differences() -> list[object]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
                )
        finally:
            await engine.dispose()

    assert run_async(differences) == []
