"""Tests of leukemia_core.cases.models: UTC times on every backend, the statuses and decisions, and
the tables (the migrated schema's agreement with them is in test_cases_migrations.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from cases_fixtures import db_url, pg_server, pg_url, store  # noqa: F401  (fixtures)
from leukemia_core.cases.models import DECISIONS, STATUSES, Base, Case, UTCDateTime, utcnow


def test_statuses_decisions_and_tables():
    assert STATUSES == ("new", "in review", "signed")
    assert DECISIONS == ("accept", "ALL", "HEM", "not a white cell", "cannot classify")
    assert set(Base.metadata.tables) == {"cases", "images", "case_images", "runs", "cells", "reviews", "signoffs",
                                         "audit_log", "users", "settings"}
    assert utcnow().utcoffset() == dt.timedelta(0)


def test_times_are_kept_in_utc_and_naive_times_refused(store):
    local = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with store.write() as s:
        s.add(Case(case_id="T", note="", status="new", version=1, created_at=local, created_by="a",
                   updated_at=local, updated_by="a"))
    with store.read() as s:
        back = s.query(Case).one().created_at
    assert back == local and back.tzinfo == dt.timezone.utc and back.hour == 10
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(dt.datetime(2026, 1, 1), store.engine.dialect)
    assert UTCDateTime().process_result_value(None, store.engine.dialect) is None
