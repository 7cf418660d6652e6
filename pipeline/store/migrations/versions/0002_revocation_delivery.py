"""revocation schedule, CRL numbering and delivery records

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("certificates") as batch:
        batch.add_column(sa.Column("scheduled_revocation_at", TZ, nullable=True))
        batch.add_column(sa.Column("scheduled_by_case", sa.String(40), nullable=True))
    op.create_table(
        "crl_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("published_at", TZ),
        sa.Column("path", sa.Text),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.UniqueConstraint("case_id", "channel"),
    )


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("crl_state")
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("scheduled_by_case")
        batch.drop_column("scheduled_revocation_at")
