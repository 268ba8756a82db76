"""Applies the Alembic migrations in ``store/migrations`` to an open connection."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["upgrade"]

_MIGRATIONS = Path(__file__).with_name("migrations")
# Any fixed number: serialises concurrent upgrades by several processes on one PostgreSQL database.
_PG_LOCK_ID = 0x61676E74


def config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the package's migrations (and at ``connection`` when given)."""
    from alembic.config import Config  # imported here: Alembic alone would double ``import agentinbox``

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: Connection) -> None:
    """Upgrade the schema to the newest revision inside the caller's transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
    from alembic import command

    command.upgrade(config(connection), "head")
