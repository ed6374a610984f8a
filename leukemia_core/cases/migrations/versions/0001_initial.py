"""The first schema of the case store: cases, images, case images, runs, cells, reviews, sign-offs
and the audit log.

Revision ID: 0001
Revises:
Create Date: 2026-05-20
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table of the first schema."""
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.String(64), nullable=False, unique=True),
        sa.Column("sample_date", sa.Date),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False))
    op.create_index("ix_cases_status", "cases", ["status"])
    op.create_table(
        "images",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("n_bytes", sa.Integer, nullable=False),
        sa.Column("suffix", sa.String(16), nullable=False),
        sa.Column("created_at", UTC, nullable=False))
    op.create_table(
        "case_images",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_pk", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("image_sha", sa.String(64), sa.ForeignKey("images.sha256"), nullable=False),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.UniqueConstraint("case_pk", "position", name="uq_case_images_position"))
    op.create_index("ix_case_images_case_pk", "case_images", ["case_pk"])
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_image_id", sa.Integer, sa.ForeignKey("case_images.id"), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("weights_sha256", sa.String(64), nullable=False),
        sa.Column("site_profile", sa.String(200)),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("image_threshold", sa.Float, nullable=False),
        sa.Column("refer_half_width", sa.Float, nullable=False),
        sa.Column("whole_image", sa.Boolean, nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("p_image", sa.Float, nullable=False),
        sa.Column("image_call", sa.String(8), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False))
    op.create_index("ix_runs_case_image_id", "runs", ["case_image_id"])
    op.create_table(
        "cells",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("x", sa.Integer, nullable=False),
        sa.Column("y", sa.Integer, nullable=False),
        sa.Column("w", sa.Integer, nullable=False),
        sa.Column("h", sa.Integer, nullable=False),
        sa.Column("touches_border", sa.Boolean, nullable=False),
        sa.Column("p_all", sa.Float, nullable=False),
        sa.Column("call", sa.String(8), nullable=False),
        sa.Column("refer", sa.Boolean, nullable=False),
        sa.Column("flags", sa.Text, nullable=False),
        sa.Column("crop_png", sa.LargeBinary),
        sa.Column("map_png", sa.LargeBinary))
    op.create_index("ix_cells_run_id", "cells", ["run_id"])
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_pk", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("cell_id", sa.Integer, sa.ForeignKey("cells.id"), nullable=False),
        sa.Column("decision", sa.String(24), nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("amendment", sa.Integer, nullable=False))
    op.create_index("ix_reviews_case_pk", "reviews", ["case_pk"])
    op.create_table(
        "signoffs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_pk", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("signed_by", sa.String(200), nullable=False),
        sa.Column("signed_at", UTC, nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("snapshot", sa.Text, nullable=False),
        sa.UniqueConstraint("case_pk", "number", name="uq_signoffs_number"))
    op.create_index("ix_signoffs_case_pk", "signoffs", ["case_pk"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTC, nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("case_pk", sa.Integer, sa.ForeignKey("cases.id")),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False))
    op.create_index("ix_audit_log_case_pk", "audit_log", ["case_pk"])


def downgrade() -> None:
    """Drop every table (children first)."""
    for table in ("audit_log", "signoffs", "reviews", "cells", "runs", "case_images", "images", "cases"):
        op.drop_table(table)
