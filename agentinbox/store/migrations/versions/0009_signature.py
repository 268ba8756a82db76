"""message signatures and forwards: the signature split off the end of a message's new content, and the
message it forwards, both found by reply extraction

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message_bodies") as batch:
        batch.add_column(sa.Column("signature", sa.Text(), nullable=True))
        batch.add_column(sa.Column("forwarded", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("message_bodies") as batch:
        batch.drop_column("forwarded")
        batch.drop_column("signature")
