"""OCR results by file hash (a re-run does not OCR the same file again)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ocr_cache",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("engine", sa.String(40), primary_key=True),
        sa.Column("pages", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ocr_cache")
