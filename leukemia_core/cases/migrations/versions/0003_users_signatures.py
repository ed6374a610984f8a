"""Users, roles and electronic signatures: a ``users`` table (roles a lab grants, managed by
``cases users``), a ``settings`` table (the store's mode, single-user or shared, and the four-eyes
rule), the sample's specimen ID and patient reference on ``cases``, and each sign-off's meaning and
the sha256 of the summary the signer confirmed.

The new ``signoffs`` columns are added in place (``ADD COLUMN``, never a table copy), so the
append-only triggers of revision 0002 stay on the table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``users`` and ``settings``; add the case's sample fields and the sign-off's meaning and hash."""
    op.create_table(
        "users",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("roles", sa.String(64), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False))
    op.create_table(
        "settings",
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(64), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False))
    op.add_column("cases", sa.Column("specimen_id", sa.String(64)))
    op.add_column("cases", sa.Column("patient_ref", sa.String(64)))
    op.add_column("signoffs", sa.Column("meaning", sa.Text))
    op.add_column("signoffs", sa.Column("summary_sha256", sa.String(64)))


def downgrade() -> None:
    """Drop what :func:`upgrade` added (SQLite 3.35+ drops columns in place)."""
    op.drop_column("signoffs", "summary_sha256")
    op.drop_column("signoffs", "meaning")
    op.drop_column("cases", "patient_ref")
    op.drop_column("cases", "specimen_id")
    op.drop_table("settings")
    op.drop_table("users")
