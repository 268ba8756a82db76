"""inbound checks and send safety: the verdicts stored with a received message, the connecting client of
queued mail, and when a domain was first verified (its warm-up starts then)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("checks", sa.JSON(), nullable=True))
    with op.batch_alter_table("inbound_queue") as batch:
        batch.add_column(sa.Column("client_ip", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("helo", sa.Text(), nullable=True))
    with op.batch_alter_table("domains") as batch:
        batch.add_column(sa.Column("verified_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("domains") as batch:
        batch.drop_column("verified_at")
    with op.batch_alter_table("inbound_queue") as batch:
        batch.drop_column("helo")
        batch.drop_column("client_ip")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("checks")
