"""Tests of leukemia_core.cases.db: the store is created on first use (SQLite, WAL), the URL comes
from the environment, image files are kept once by sha256, writes are all-or-nothing, and every way
the database cannot be opened gives one clear CaseStoreError (no stack trace)."""

from __future__ import annotations

import hashlib
import os

import pytest
from sqlalchemy import text

from cases_fixtures import db_url, make_run, pg_server, pg_url, store  # noqa: F401  (fixtures)
from leukemia_core.cases import db
from leukemia_core.cases.db import database_url, open_store, shown_url
from leukemia_core.cases.errors import CaseStoreError
from leukemia_core.cases.models import Case, utcnow


def test_sqlite_store_is_created_on_first_use_in_wal_mode(tmp_path, monkeypatch):
    monkeypatch.delenv(db.DB_URL_ENV, raising=False)
    monkeypatch.setenv(db.DATA_HOME_ENV, str(tmp_path / "data"))
    assert database_url() == f"sqlite:///{tmp_path / 'data' / db.SQLITE_NAME}"
    s = open_store()
    assert (tmp_path / "data" / db.SQLITE_NAME).is_file() and (tmp_path / "data" / "images").is_dir()
    with s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    s.dispose()
    open_store().dispose()  # a second start finds it migrated


def test_url_from_the_environment_and_password_hidden(monkeypatch):
    monkeypatch.setenv(db.DB_URL_ENV, "postgresql+psycopg://u:secret@h/db")
    assert database_url() == "postgresql+psycopg://u:secret@h/db"
    assert "secret" not in shown_url(database_url()) and "***" in shown_url(database_url())
    assert shown_url("::nonsense") == "(unparsable URL)"


def test_images_are_kept_once_by_sha256(store):
    data = b"\x89PNG fake image bytes"
    sha = store.put_image(data)
    assert sha == hashlib.sha256(data).hexdigest() and store.put_image(data) == sha
    assert store.image_bytes(sha) == data
    assert [p.name for p in store.image_path(sha).parent.iterdir()] == [sha]  # no temporary file left
    store.image_path(sha).write_bytes(b"altered")
    with pytest.raises(CaseStoreError, match="altered"):
        store.image_bytes(sha)
    with pytest.raises(CaseStoreError, match="cannot be read"):
        store.image_bytes("0" * 64)


def test_a_write_is_all_or_nothing(store):
    now = utcnow()
    with pytest.raises(RuntimeError):
        with store.write() as s:
            s.add(Case(case_id="X-1", note="", status="new", version=1, created_at=now, created_by="a",
                       updated_at=now, updated_by="a"))
            s.flush()
            raise RuntimeError("crash mid-save")
    with store.read() as s:
        assert s.execute(text("SELECT count(*) FROM cases")).scalar() == 0


@pytest.mark.parametrize("url, message", [
    ("not a url at all", "is not a database URL"),
    ("mysql+nosuchdriver://u@h/db", "no database driver"),
    ("postgresql+psycopg://nobody:pw@127.0.0.1:9/nodb", "cannot open the case database"),
])
def test_a_database_that_cannot_be_opened_gives_one_clear_error(url, message, tmp_path):
    with pytest.raises(CaseStoreError, match=message) as info:
        open_store(url, tmp_path)
    assert "pw@" not in str(info.value)  # the password is never shown
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no chained stack trace


def test_a_file_that_is_not_a_database(tmp_path):
    bad = tmp_path / "cases.sqlite3"
    bad.write_bytes(b"this is not an sqlite file" * 100)
    with pytest.raises(CaseStoreError, match="cannot open the case database.*check that the file is a case store"):
        open_store(f"sqlite:///{bad}", tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_an_unwritable_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(CaseStoreError, match="cannot create the case store folder"):
        open_store(None, ro / "home")


def test_a_schema_newer_than_the_program_is_refused(store):
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(CaseStoreError, match="newer than this program"):
        open_store(store.url, store.home)


def test_without_migrating_an_old_schema_is_refused(db_url, tmp_path):
    with pytest.raises(CaseStoreError, match="not 0003"):
        open_store(db_url, tmp_path, migrate=False)
