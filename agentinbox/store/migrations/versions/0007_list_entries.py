"""allow/block list entries

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "list_entries",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(length=400), nullable=False),
        sa.Column("pod_id", sa.String(length=64), nullable=True),
        sa.Column("inbox_id", sa.String(length=320), nullable=True),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("list_type", sa.String(length=8), nullable=False),
        sa.Column("entry", sa.String(length=320), nullable=False),
        sa.Column("entry_type", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_entries")),
        sa.UniqueConstraint(
            "scope", "direction", "list_type", "entry", name="uq_list_entries_scope_list_entry"
        ),
    )
    op.create_index("ix_list_entries_lookup", "list_entries", ["direction", "entry"])


def downgrade() -> None:
    op.drop_index("ix_list_entries_lookup", table_name="list_entries")
    op.drop_table("list_entries")
