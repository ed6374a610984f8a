"""Alembic's environment for the case store: migrations run on the connection that
:func:`leukemia_core.cases.db.upgrade` hands over (``config.attributes["connection"]``), so they work
from any working directory and with any database URL; no ``alembic.ini`` is read."""

from __future__ import annotations

from alembic import context

from leukemia_core.cases.models import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run the migrations on the given connection, in one transaction per migration run."""
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
