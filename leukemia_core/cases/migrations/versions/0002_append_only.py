"""Append-only guards and amendments: the database itself refuses to change or delete a row of
``audit_log``, ``reviews`` or ``signoffs`` (triggers, on SQLite and PostgreSQL); ``cases`` gains
``amend_reason`` (why an open amendment was opened); reviews get an index for "newest decision
per cell".

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-20
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: The tables whose rows are never changed or deleted once written.
APPEND_ONLY = ("audit_log", "reviews", "signoffs")


def upgrade() -> None:
    """Add ``cases.amend_reason``, the reviews index and the append-only triggers."""
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("amend_reason", sa.Text))
    op.create_index("ix_reviews_cell_id_id", "reviews", ["cell_id", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE FUNCTION leukemia_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "RAISE EXCEPTION 'table % is append-only: rows are never changed or deleted', TG_TABLE_NAME; "
                   "END $$")
        for table in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION leukemia_append_only()")
    else:
        for table in APPEND_ONLY:
            for what in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{what.lower()} BEFORE {what} ON {table} BEGIN "
                           f"SELECT RAISE(ABORT, 'table {table} is append-only: rows are never changed or "
                           "deleted'); END")


def downgrade() -> None:
    """Drop the triggers, the index and the column."""
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP FUNCTION leukemia_append_only()")
    else:
        for table in APPEND_ONLY:
            for what in ("update", "delete"):
                op.execute(f"DROP TRIGGER {table}_no_{what}")
    op.drop_index("ix_reviews_cell_id_id", "reviews")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("amend_reason")
