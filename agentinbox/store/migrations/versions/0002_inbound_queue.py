"""inbound queue: mail accepted over SMTP, durable before the 250 reply

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_queue",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("raw_sha256", sa.String(length=64), nullable=False),
        sa.Column("mail_from", sa.Text(), nullable=True),
        sa.Column("rcpt_to", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_queue")),
    )
    with op.batch_alter_table("inbound_queue", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_queue_due", ["next_attempt_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbound_queue", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_queue_due")
    op.drop_table("inbound_queue")
