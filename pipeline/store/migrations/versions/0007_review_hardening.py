"""review hardening: which hash scheme each audit row uses (keyed HMAC-SM3 segments); login throttling

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # NULL: the plain SM3 chain of every row written before (they stay verifiable as they are)
    with op.batch_alter_table("audit") as batch:
        batch.add_column(sa.Column("scheme", sa.String(16), nullable=True))
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(200), primary_key=True),  # "addr:<client address>" | "user:<name>"
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_failure", TZ, nullable=False),
        sa.Column("blocked_until", TZ, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("login_throttle")
    with op.batch_alter_table("audit") as batch:
        batch.drop_column("scheme")
