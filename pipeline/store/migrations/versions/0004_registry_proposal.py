"""商用密码产品认证证书 registry; the proposed decision of a case in review

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "product_registry",
        sa.Column("number", sa.String(40), primary_key=True),
        sa.Column("product_name", sa.String(200), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("maker", sa.String(200), nullable=False),
        sa.Column("issued_on", sa.Date),
        sa.Column("valid_until", sa.Date),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("proposal", sa.String(10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("proposal")
    op.drop_table("product_registry")
