"""Tests of leukemia_core.cases.errors: each error is a LeukemiaCoreError with a message for a person."""

from __future__ import annotations

from leukemia_core.cases.errors import CaseInputError, CaseNotFoundError, CaseSignedError, CaseStoreError, StaleCaseError
from leukemia_core.errors import LeukemiaCoreError


def test_every_error_is_a_core_error():
    for cls in (CaseStoreError, CaseInputError, CaseNotFoundError, CaseSignedError, StaleCaseError):
        assert issubclass(cls, LeukemiaCoreError)
    assert issubclass(CaseNotFoundError, CaseInputError) and issubclass(CaseSignedError, CaseInputError)


def test_stale_case_error_says_who_changed_what_and_keeps_the_state():
    e = StaleCaseError("C-7", 3, 5, "in review", "ann")
    assert (e.case_id, e.expected, e.current_version, e.status, e.last_user) == ("C-7", 3, 5, "in review", "ann")
    msg = str(e)
    assert "C-7" in msg and "by ann" in msg and "your version 3, now 5" in msg and "not saved" in msg
    assert "by " not in str(StaleCaseError("C-7", 1, 2, "new"))
