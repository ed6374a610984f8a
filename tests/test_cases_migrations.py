"""Tests of the case store's Alembic migrations (leukemia_core/cases/migrations): from an empty
database to the newest schema, from the first schema (0001, with data) to the newest, back down, the
append-only guards, and that the ORM models agree with the migrated schema. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from cases_fixtures import SAMPLE, db_url, make_run, pg_server, pg_url, store  # noqa: F401  (fixtures)
from leukemia_core.cases import repository as repo
from leukemia_core.cases import review
from leukemia_core.cases.db import Store, current_revision, head_revision, open_store, table_names, upgrade
from leukemia_core.cases.models import Base

TABLES = {"cases", "images", "case_images", "runs", "cells", "reviews", "signoffs", "audit_log", "alembic_version"}


def test_empty_database_migrates_to_head(db_url, tmp_path):
    raw = Store(db_url, tmp_path)
    assert current_revision(raw.engine) is None
    raw.dispose()
    s = open_store(db_url, tmp_path / "home")
    assert current_revision(s.engine) == head_revision() == "0003"
    assert TABLES <= table_names(s)
    assert "amend_reason" in {c["name"] for c in inspect(s.engine).get_columns("cases")}
    s.dispose()


def test_first_schema_with_data_migrates_to_head(db_url, tmp_path):
    raw = Store(db_url, tmp_path)
    upgrade(raw.engine, "0001")
    assert current_revision(raw.engine) == "0001"
    assert "amend_reason" not in {c["name"] for c in inspect(raw.engine).get_columns("cases")}
    now = dt.datetime(2026, 1, 2, 3, 4, 5)
    with raw.engine.begin() as conn:  # a case stored by the first schema's program
        conn.execute(text("INSERT INTO cases (id, case_id, note, status, version, created_at, created_by, "
                          "updated_at, updated_by) VALUES (1, 'OLD-1', 'kept', 'new', 1, :t, 'ann', :t, 'ann')"),
                     {"t": now})
        conn.execute(text("INSERT INTO audit_log (at, \"user\", case_pk, action, detail) VALUES "
                          "(:t, 'ann', 1, 'create case', '{}')"), {"t": now})
    raw.dispose()
    s = open_store(db_url, tmp_path / "home")
    assert current_revision(s.engine) == "0003"
    info = repo.get_case(s, "OLD-1").info
    assert (info.note, info.status, info.version, info.amend_reason) == ("kept", "new", 1, None)
    # the migrated case works with the new program: image, review, sign-off
    repo.add_reading(s, "OLD-1", "a.png", b"bytes", make_run(n=2), "ann")
    view = repo.get_case(s, "OLD-1")
    v = review.review_cells(s, "OLD-1", {c.id: "accept" for _, _, c in view.cells("m1")}, "ann", view.info.version)
    assert review.sign_case(s, "OLD-1", "ann", v).number == 1
    s.dispose()


def test_downgrade_to_base_and_up_again(db_url, tmp_path):
    from alembic import command

    from leukemia_core.cases.db import alembic_config

    s = open_store(db_url, tmp_path / "home")
    with s.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0001")
    assert current_revision(s.engine) == "0001"
    with s.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert table_names(s) <= {"alembic_version"}
    upgrade(s.engine)
    assert current_revision(s.engine) == "0003"
    s.dispose()


def test_models_agree_with_the_migrated_schema(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # type-only differences of the UTC decorator are not schema differences
    assert [d for d in diff if not (isinstance(d, list) and d and d[0][0] == "modify_type")] == []


@pytest.mark.parametrize("table", ["audit_log", "reviews", "signoffs"])
def test_append_only_tables_refuse_update_and_delete(store, table):
    repo.create_case(store, "A-1", "ann", **SAMPLE)
    repo.add_reading(store, "A-1", "a.png", b"x", make_run(n=1), "ann")
    view = repo.get_case(store, "A-1")
    v = review.review_cell(store, "A-1", view.cells("m1")[0][2].id, "HEM", "ann", view.info.version)
    review.sign_case(store, "A-1", "ann", v)
    for sql in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
        with pytest.raises(DBAPIError, match="append-only"):
            with store.engine.begin() as conn:
                conn.execute(text(sql))
    with store.engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() >= 1
