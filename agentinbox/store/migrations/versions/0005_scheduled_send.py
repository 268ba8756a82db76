"""scheduled send: a draft's send lease and the reason a scheduled send failed

``send_lease_until`` is when a scheduler's claim on a draft (``send_status`` ``sending``) expires, so a
crash mid-send is retried; ``send_error`` says why a scheduled send ``failed``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("drafts") as batch_op:
        batch_op.add_column(sa.Column("send_lease_until", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("send_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("drafts") as batch_op:
        batch_op.drop_column("send_error")
        batch_op.drop_column("send_lease_until")
