"""The migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text

from agentinbox.store.database import Database
from agentinbox.store.tables import metadata

# Tables the migrations make outside the declared metadata: Alembic's own and the full-text index.
_UNDECLARED = ("alembic_version", "message_fts", "message_search")


def _differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": False})
    return [
        diff
        for diff in compare_metadata(context, metadata)
        if not (diff[0] == "remove_table" and diff[1].name.startswith(_UNDECLARED))
        and not (diff[0] == "remove_index" and diff[1].table.name.startswith(_UNDECLARED))
    ]


async def test_the_migrated_schema_matches_the_declared_tables(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.migrate()
        assert await db.read(_differences) == []
    finally:
        await db.close()


async def test_queue_and_event_ids_are_never_reused_on_sqlite(tmp_path: Any) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'ids.db'}")
    try:
        await db.migrate()

        def schema(conn: Connection) -> dict[str, str]:
            rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
            return {row.name: row.sql for row in rows}

        tables = await db.read(schema)
        for name in ("inbound_queue", "deliveries", "events"):
            assert "AUTOINCREMENT" in tables[name], name

        def reuse(conn: Connection) -> tuple[int, int]:
            conn.execute(
                text(
                    "INSERT INTO events (event_id, event_type, payload, created_at) VALUES ('a', 't', '{}', 1)"
                )
            )
            first = conn.execute(text("SELECT max(id) FROM events")).scalar_one()
            conn.execute(text("DELETE FROM events"))
            conn.execute(
                text(
                    "INSERT INTO events (event_id, event_type, payload, created_at) VALUES ('b', 't', '{}', 1)"
                )
            )
            return first, conn.execute(text("SELECT max(id) FROM events")).scalar_one()

        first, second = await db.write(reuse)
        assert second > first
    finally:
        await db.close()


def test_migrations_are_declared_in_order() -> None:
    from agentinbox.store import migrate

    script = migrate.config()
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(script).get_heads()
    assert len(heads) == 1
