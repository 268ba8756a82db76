"""Alembic environment: runs on the connection the engine passes in, or on ``-x url=...`` from the CLI."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from agentinbox.store.tables import metadata

connection = context.config.attributes.get("connection")


def run(conn: Connection) -> None:
    context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url", "sqlite:///./agentinbox.db")
    with create_engine(url).begin() as conn:
        run(conn)
