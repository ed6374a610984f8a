"""Errors of the case store, each with a message written for a person (see :mod:`leukemia_core.errors`)."""

from __future__ import annotations

from ..errors import LeukemiaCoreError


class CaseStoreError(LeukemiaCoreError):
    """The case database cannot be opened, created or migrated (bad URL, unreachable server,
    unwritable folder, a schema newer than this program)."""


class CaseInputError(LeukemiaCoreError):
    """Something a user typed or chose cannot be stored as given (a blank or duplicate case ID, an
    unknown decision, an empty file, no reviewer name); nothing was written."""


class CaseNotFoundError(CaseInputError):
    """No case (or cell) with the ID given."""


class CaseSignedError(CaseInputError):
    """The case is signed: it is frozen until an amendment is opened."""


class StaleCaseError(LeukemiaCoreError):
    """Optimistic locking: the case changed since the caller read it (another session saved first).

    Attributes:
        current_version: the case's version now (int).
        status: its status now (``"new"``, ``"in review"`` or ``"signed"``).
        last_user: who made the newest change ("" when unknown).
    """

    def __init__(self, case_id: str, expected: int, current_version: int, status: str, last_user: str = ""):
        by = f" by {last_user}" if last_user else ""
        super().__init__(f"case {case_id} was changed{by} since you opened it (your version {expected}, now "
                         f"{current_version}, status {status}): your change was not saved; the newer state is "
                         "shown, check it and save again")
        self.case_id, self.expected = case_id, expected
        self.current_version, self.status, self.last_user = current_version, status, last_user


class CaseAccessError(CaseInputError):
    """The user may not make this change: not signed in to a shared store, or without the role it
    needs (reviewer, signer), or the four-eyes rule; nothing was written."""
