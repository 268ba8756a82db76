"""queue and event ids are never reused on SQLite (AUTOINCREMENT)

Without AUTOINCREMENT, SQLite hands the id of a deleted last row to the next insert, so a worker holding an
id it read earlier could act on a newer row: the inbound queue and the delivery queue are deleted from as
they are worked, and events are pruned, while consumers remember event ids. PostgreSQL's sequences never
reuse ids, so nothing changes there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLES = ("inbound_queue", "deliveries", "events")


def _recreate(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in _TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    _recreate(True)


def downgrade() -> None:
    _recreate(False)
