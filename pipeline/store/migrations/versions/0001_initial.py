"""initial case store: blobs, cases, files, fields, findings, audit, certificates, outputs

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("office", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("route", sa.String(10)),
        sa.Column("category", sa.String(16)),
        sa.Column("applicant_name", sa.String(200)),
        sa.Column("org_code", sa.String(40), index=True),
        sa.Column("source_kind", sa.String(16), nullable=False),
        sa.Column("source_path", sa.Text, nullable=False),
        sa.Column("source_subject", sa.Text),
        sa.Column("subject_company", sa.String(200)),
        sa.Column("fingerprint", sa.String(64), nullable=False, index=True),
        sa.Column("duplicate_of", sa.String(40)),
        sa.Column("failure", sa.Text),
        sa.Column("documents", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "case_files",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), sa.ForeignKey("blobs.sha256"), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("case_id", "name"),
    )
    op.create_table(
        "case_fields",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("evidence", sa.JSON),
        sa.Column("source", sa.String(16), nullable=False),
        sa.UniqueConstraint("case_id", "key"),
    )
    op.create_table(
        "case_findings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("field", sa.String(64)),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("evidence", sa.JSON),
        sa.Column("resolved", sa.Boolean, nullable=False),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(40), index=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("from_status", sa.String(20)),
        sa.Column("to_status", sa.String(20)),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_table(
        "certificates",
        sa.Column("serial", sa.String(42), primary_key=True),
        sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("org_code", sa.String(40), index=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("key_fingerprint", sa.String(64), index=True),
        sa.Column("not_before", TZ),
        sa.Column("not_after", TZ),
        sa.Column("der_sha256", sa.String(64)),
        sa.Column("revoked_at", TZ),
        sa.Column("revocation_reason", sa.String(32)),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("case_id", "kind"),
    )
    op.create_table(
        "outputs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.UniqueConstraint("case_id", "name"),
    )


def downgrade() -> None:
    for table in ("outputs", "certificates", "audit", "case_findings", "case_fields", "case_files", "cases", "blobs"):
        op.drop_table(table)
