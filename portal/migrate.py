"""Schema migrations (Alembic, shipped inside the package)."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# Every module defining tables; autogenerate and the schema check import them all.
MODEL_MODULES = (
    "portal.changes",
    "tenants.models",
    "tenants.billing_pages.models",
    "tenants.audit.models",
    "tenants.dashboard.models",
    "portal.identity.models",
    "portal.callbacks.models",
    "portal.stripe_intake.models",
    "widgets.catalog.models",
)


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to call on every start.

    Alembic's environment runs its own event loop, so when called from inside a running
    loop the work moves to a thread.
    """
    error: list[BaseException] = []

    def run() -> None:
        try:
            command.upgrade(alembic_config(database_url), revision)
        except BaseException as exc:
            error.append(exc)

    worker = threading.Thread(target=run, name="migrations")
    worker.start()
    worker.join()
    if error:
        raise error[0]
