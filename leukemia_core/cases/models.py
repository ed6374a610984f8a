"""The tables of the case store (SQLAlchemy 2 declarative models).

The schema itself is made by the Alembic revisions in ``migrations/versions`` (never by
``create_all``); ``tests/test_cases_migrations.py`` checks that these models and the migrated
schema agree. Times are UTC, timezone-aware (:class:`UTCDateTime`).

* ``cases``: one per lab case (an ID the lab chooses, sample date, note; no patient name). ``version``
  grows by one with every change of the case or its reviews: optimistic locking.
* ``images``: every image file stored once, by sha256 (bytes in the store's data folder).
* ``case_images``: an image in a case, with its original file name and position.
* ``runs``: one model run on one case image (model, weights' sha256, site profile, thresholds).
* ``cells``: a run's per-cell results (box, P(ALL), call, refer, flags, small crop and map PNGs).
* ``reviews``: append-only; a reviewer's decision on a cell (the newest row per cell counts).
* ``signoffs``: append-only; a frozen snapshot of the reviewed calls, one per sign-off (1 = original,
  2, 3 ... = amendments).
* ``audit_log``: append-only; who did what, when (UTC), to which case.
* ``users``: the roles a lab grants (reviewer, signer), managed by ``cases users`` (revision 0003).
* ``settings``: the store's mode (single-user or shared) and the four-eyes rule (revision 0003).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column

from . import STATUSES  # noqa: F401  (case statuses, in workflow order; read from here too)

#: A stored cell's or image's outcome: a call, or no call (the reason is among the cell's flags).
CALLS = ("ALL", "HEM", "NO CALL")
#: What a signature means: the signer states one of these, stored with the signature.
SIGNATURE_MEANINGS = ("reviewed and approved: the reviewed calls are the lab's result",
                      "reviewed and approved as amended: the reviewed calls replace the earlier sign-off's")
#: A reviewer's decisions on a cell: keep the model's call, set ALL or HEM, or take the cell out.
DECISIONS = ("accept", "ALL", "HEM", "not a white cell", "cannot classify")


def utcnow() -> dt.datetime:
    """Now, timezone-aware UTC."""
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC ``datetime`` on every backend: SQLite keeps naive text, so values are
    converted to UTC on the way in and marked UTC on the way out; a naive value is refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """aware ``datetime`` -> UTC (naive UTC text for SQLite)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the case store keeps UTC times only")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        """stored value -> aware UTC ``datetime``."""
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of the case store's tables."""


class Case(Base):
    """A lab case (see the module docstring)."""

    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), unique=True)
    sample_date: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="new", index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="")
    #: revision 0002: why the open amendment was opened (None when no amendment is open)
    amend_reason: Mapped[str | None] = mapped_column(Text)
    #: revision 0003: the lab's specimen ID and a patient reference (a code, not a name); None on
    #: cases made before the revision
    specimen_id: Mapped[str | None] = mapped_column(String(64))
    patient_ref: Mapped[str | None] = mapped_column(String(64))


class Image(Base):
    """An image file, stored once by its sha256 (the bytes live in the data folder)."""

    __tablename__ = "images"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    n_bytes: Mapped[int] = mapped_column(Integer)
    suffix: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseImage(Base):
    """An image in a case, under the file name it was uploaded or imported with."""

    __tablename__ = "case_images"
    __table_args__ = (UniqueConstraint("case_pk", "position", name="uq_case_images_position"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_pk: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    image_sha: Mapped[str] = mapped_column(ForeignKey("images.sha256"))
    file_name: Mapped[str] = mapped_column(String(500))
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Run(Base):
    """One model run on one case image: what was run, at which thresholds, and the image's result."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_image_id: Mapped[int] = mapped_column(ForeignKey("case_images.id"), index=True)
    model: Mapped[str] = mapped_column(String(64))
    weights_sha256: Mapped[str] = mapped_column(String(64), default="")
    site_profile: Mapped[str | None] = mapped_column(String(200))
    threshold: Mapped[float] = mapped_column(Float)          # cell threshold on calibrated P(ALL)
    image_threshold: Mapped[float] = mapped_column(Float)    # what the image's mean P(ALL) was compared with
    refer_half_width: Mapped[float] = mapped_column(Float, default=0.0)
    whole_image: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str] = mapped_column(Text, default="[]")   # JSON list of the image's check-by-eye notes
    p_image: Mapped[float] = mapped_column(Float)
    image_call: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(32), default="app")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class CellRow(Base):
    """One cell of a run: box ``(x, y, w, h)`` px, calibrated P(ALL), call, refer, flags and two
    small PNGs (the crop, RGB, and the map of the call, gray; None when not stored)."""

    __tablename__ = "cells"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    x: Mapped[int] = mapped_column(Integer)
    y: Mapped[int] = mapped_column(Integer)
    w: Mapped[int] = mapped_column(Integer)
    h: Mapped[int] = mapped_column(Integer)
    touches_border: Mapped[bool] = mapped_column(Boolean, default=False)
    p_all: Mapped[float] = mapped_column(Float)
    call: Mapped[str] = mapped_column(String(8))
    refer: Mapped[bool] = mapped_column(Boolean, default=False)
    flags: Mapped[str] = mapped_column(Text, default="")
    crop_png: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    map_png: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))


class Review(Base):
    """A reviewer's decision on a cell (append-only; ``amendment`` = sign-offs made before it)."""

    __tablename__ = "reviews"
    __table_args__ = (Index("ix_reviews_cell_id_id", "cell_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_pk: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    cell_id: Mapped[int] = mapped_column(ForeignKey("cells.id"))
    decision: Mapped[str] = mapped_column(String(24))
    reviewer: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    amendment: Mapped[int] = mapped_column(Integer, default=0)


class Signoff(Base):
    """A sign-off (append-only): number 1 is the original, 2, 3 ... amendments; ``snapshot`` is the
    JSON of the reviewed calls and counts at that moment."""

    __tablename__ = "signoffs"
    __table_args__ = (UniqueConstraint("case_pk", "number", name="uq_signoffs_number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_pk: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    signed_by: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    model: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    snapshot: Mapped[str] = mapped_column(Text)
    #: revision 0003: what the signature means (one of :data:`SIGNATURE_MEANINGS`) and the sha256 of
    #: the summary the signer confirmed (None on sign-offs made before the revision)
    meaning: Mapped[str | None] = mapped_column(Text)
    summary_sha256: Mapped[str | None] = mapped_column(String(64))


class AuditEntry(Base):
    """One line of the append-only audit log: time (UTC), user, case (None for store-wide actions),
    action and a JSON detail."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    user: Mapped[str] = mapped_column(String(200))
    case_pk: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="{}")


class User(Base):
    """A user the lab granted roles (comma-separated, of :data:`~.access.ROLES`); ``active`` False
    takes every role away, whatever the identity provider's groups say."""

    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    roles: Mapped[str] = mapped_column(String(64), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200))


class Setting(Base):
    """A store-wide setting (``mode``: ``single-user`` or ``shared``; ``four_eyes``: ``on`` or ``off``)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200))
