"""Cases, their images and model runs: create, add, list, read; the audit and version helpers the
review functions share.

Every function takes an open :class:`~.db.Store` and does its writing in one transaction (all or
nothing), with one audit-log line per change. Reads return plain dataclasses (no live ORM objects),
safe to keep in a page's session state.

Optimistic locking: each case has a ``version`` that every change raises by one
(:func:`bump_version`, a conditional ``UPDATE ... WHERE version = expected``); a change made on an
older version than the stored one is refused with :class:`~.errors.StaleCaseError`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from .access import Actor, act, validate_user  # noqa: F401  (validate_user: re-exported)
from .db import Store
from .errors import CaseInputError, CaseNotFoundError, CaseSignedError, StaleCaseError
from .models import CALLS, STATUSES, AuditEntry, Case, CaseImage, CellRow, Image, Review, Run, Signoff, utcnow
from .views import CaseInfo, CaseView, CellInput, CellView, ImageView, RunInput, RunView, SignoffView  # noqa: F401

#: A case ID: 1-64 characters, starting with a letter or digit; letters, digits, space, . _ / - inside.
CASE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,63}$")
#: A specimen ID: as a case ID. A patient reference: the lab's code for the patient (no spaces, so
#: that a name is not typed by habit).
PATIENT_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
MAX_NOTE = 10_000
#: Earliest sample date accepted (a typo guard).
FIRST_SAMPLE_DATE = dt.date(1900, 1, 1)


def validate_case_id(case_id: str | None) -> str:
    """The trimmed case ID; :class:`CaseInputError` saying what is allowed otherwise."""
    cid = (case_id or "").strip()
    if not CASE_ID_RE.match(cid):
        raise CaseInputError(f"case ID {cid!r} is not usable: 1-64 characters, starting with a letter or digit, "
                             "then letters, digits, spaces and . _ / - (no patient name needed)")
    return cid


def validate_sample(specimen_id: str | None, sample_date, patient_ref: str | None) -> tuple[str, dt.date, str]:
    """The trimmed specimen ID, the sample date and the patient reference, each required; a
    :class:`CaseInputError` naming what is missing or malformed otherwise."""
    spec, ref = (specimen_id or "").strip(), (patient_ref or "").strip()
    problems = []
    if not CASE_ID_RE.match(spec):
        problems.append("a specimen ID (1-64 characters: letters, digits, spaces and . _ / -)")
    if not isinstance(sample_date, dt.date) or isinstance(sample_date, dt.datetime):
        problems.append("the sample date (a date)")
    elif not FIRST_SAMPLE_DATE <= sample_date <= dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=1):
        problems.append(f"a sample date between {FIRST_SAMPLE_DATE} and today (not {sample_date})")
    if not PATIENT_REF_RE.match(ref):
        problems.append("a patient reference (the lab's code for the patient, not a name: 1-64 letters, digits "
                        "and . _ / - without spaces)")
    if problems:
        raise CaseInputError("a case needs " + "; ".join(problems))
    return spec, sample_date, ref


def audit(session: Session, user: str, action: str, case_pk: int | None = None, **detail) -> None:
    """Add one audit-log line (in the caller's transaction, so it is kept exactly when the change is)."""
    session.add(AuditEntry(at=utcnow(), user=user, case_pk=case_pk, action=action,
                           detail=json.dumps(detail, sort_keys=True, default=str)))


def case_row(session: Session, case_id: str, lock: bool = False) -> Case:
    """The ORM row of ``case_id`` (``lock``: ``SELECT ... FOR UPDATE`` where the backend has it).

    Raises:
        CaseNotFoundError: no such case.
    """
    q = select(Case).where(Case.case_id == case_id)
    row = session.scalars(q.with_for_update() if lock else q).one_or_none()
    if row is None:
        raise CaseNotFoundError(f"no case {case_id!r} in the store")
    return row


def bump_version(session: Session, case: Case, expected: int | None, user: str, **values) -> int:
    """Raise ``case``'s version by one (with ``values`` set) if it is still ``expected`` (None: any);
    return the new version.

    Raises:
        StaleCaseError: another session changed the case since ``expected`` was read.
    """
    q = update(Case).where(Case.id == case.id)
    if expected is not None:
        q = q.where(Case.version == int(expected))
    res = session.execute(q.values(version=Case.version + 1, updated_at=utcnow(), updated_by=user, **values)
                          .execution_options(synchronize_session=False))
    if res.rowcount != 1:
        now = session.execute(select(Case.version, Case.status, Case.updated_by).where(Case.id == case.id)).one()
        raise StaleCaseError(case.case_id, int(expected or 0), now.version, now.status, now.updated_by)
    session.expire(case)
    return session.scalar(select(Case.version).where(Case.id == case.id))


def create_case(store: Store, case_id: str, user: str | Actor, sample_date: dt.date | None = None, note: str = "", *,
                specimen_id: str | None = None, patient_ref: str | None = None) -> CaseInfo:
    """Create a case (status ``new``, version 1) with its sample's specimen ID, date and patient
    reference (all three required, :func:`validate_sample`).

    Raises:
        CaseInputError: bad case ID, user, sample fields or note; a case with this ID exists already;
        CaseAccessError: a shared store without a signed-in user.
    """
    cid, _ = validate_case_id(case_id), validate_user(user)
    spec, sample_date, ref = validate_sample(specimen_id, sample_date, patient_ref)
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise CaseInputError(f"the note is longer than {MAX_NOTE} characters")
    try:
        with store.write() as s:
            now, who = utcnow(), act(s, user, "create")
            row = Case(case_id=cid, sample_date=sample_date, note=note, status="new", version=1, created_at=now,
                       created_by=who, updated_at=now, updated_by=who, specimen_id=spec, patient_ref=ref)
            s.add(row)
            s.flush()
            audit(s, who, "create case", row.id, case_id=cid, sample_date=sample_date, note=note, specimen_id=spec,
                  patient_ref=ref)
    except IntegrityError:
        raise CaseInputError(f"a case {cid!r} exists already: open it, or choose another ID") from None
    return get_case(store, cid).info


def add_reading(store: Store, case_id: str, file_name: str, data: bytes, run: RunInput | None, user: str,
                expected_version: int | None = None) -> int:
    """Add an image (stored once by sha256) to a case, with one model run on it; return the case
    image's id. The same bytes already in the case get the new run, not a second copy.

    Raises:
        CaseInputError: empty file or name; CaseSignedError: the case is signed (open an amendment);
        StaleCaseError: the case changed since ``expected_version``.
    """
    validate_user(user)
    name = (file_name or "").strip()
    if not data:
        raise CaseInputError(f"{name or 'the file'} is empty: nothing stored")
    if not name or len(name) > 500:
        raise CaseInputError("an image needs a file name of 1-500 characters")
    if run is not None and run.image_call not in CALLS:
        raise CaseInputError(f"unknown image call {run.image_call!r}")
    sha = store.put_image(data)
    with store.write() as s:
        user = act(s, user, "import")
        case = case_row(s, validate_case_id(case_id))
        if case.status == "signed":
            raise CaseSignedError(f"case {case.case_id} is signed: open an amendment before adding images")
        if s.get(Image, sha) is None:
            s.add(Image(sha256=sha, n_bytes=len(data), suffix=_suffix(name), created_at=utcnow()))
            s.flush()
        ci = s.scalars(select(CaseImage).where(CaseImage.case_pk == case.id, CaseImage.image_sha == sha)).first()
        if ci is None:
            pos = (s.scalar(select(func.max(CaseImage.position)).where(CaseImage.case_pk == case.id)) or 0) + 1
            ci = CaseImage(case_pk=case.id, image_sha=sha, file_name=name, position=pos, created_at=utcnow())
            s.add(ci)
            s.flush()
            audit(s, user, "add image", case.id, file_name=name, sha256=sha, position=pos)
        if run is not None:
            _add_run(s, case.id, ci.id, run, user)
        bump_version(s, case, expected_version, user)
        return ci.id


def _suffix(name: str) -> str:
    return ("." + name.rsplit(".", 1)[-1].lower())[:16] if "." in name else ""


def _add_run(s: Session, case_pk: int, case_image_id: int, run: RunInput, user: str) -> int:
    row = Run(case_image_id=case_image_id, model=run.model, weights_sha256=run.weights_sha256 or "",
              site_profile=run.site_profile, threshold=float(run.threshold), image_threshold=float(run.image_threshold),
              refer_half_width=float(run.refer_half_width), whole_image=bool(run.whole_image),
              notes=json.dumps(list(run.notes)), p_image=float(run.p_image), image_call=run.image_call,
              source=run.source, created_at=utcnow(), created_by=user)
    s.add(row)
    s.flush()
    for c in run.cells:
        if c.call not in CALLS or not 0.0 <= float(c.p_all) <= 1.0:
            raise CaseInputError(f"cell {c.number}: call {c.call!r} / P(ALL) {c.p_all} is not a model result")
        x, y, w, h = (int(v) for v in c.box)
        s.add(CellRow(run_id=row.id, number=int(c.number), x=x, y=y, w=w, h=h, touches_border=bool(c.touches_border),
                      p_all=float(c.p_all), call=c.call, refer=bool(c.refer), flags="; ".join(c.flags),
                      crop_png=c.crop_png, map_png=c.map_png))
    audit(s, user, "add run", case_pk, run=row.id, case_image=case_image_id, model=run.model,
          weights_sha256=run.weights_sha256, site_profile=run.site_profile, threshold=run.threshold,
          cells=len(run.cells), source=run.source)
    return row.id


def list_cases(store: Store, status: str | None = None, text: str = "") -> list[dict]:
    """Cases, newest change first: ``{case_id, status, sample_date, note, images, reviewed (cells with a
    decision), signoffs, updated_at, updated_by, version}``; ``status`` one of :data:`STATUSES` or
    None (all); ``text``: part of the case ID or note (case-insensitive)."""
    if status is not None and status not in STATUSES:
        raise CaseInputError(f"unknown status {status!r}: one of {', '.join(STATUSES)}")
    with store.read() as s:
        images = (select(CaseImage.case_pk, func.count().label("n")).group_by(CaseImage.case_pk)).subquery()
        reviewed = (select(Review.case_pk, func.count(func.distinct(Review.cell_id)).label("n"))
                    .group_by(Review.case_pk)).subquery()
        signs = select(Signoff.case_pk, func.count().label("n")).group_by(Signoff.case_pk).subquery()
        q = (select(Case, images.c.n, reviewed.c.n, signs.c.n)
             .outerjoin(images, images.c.case_pk == Case.id).outerjoin(reviewed, reviewed.c.case_pk == Case.id)
             .outerjoin(signs, signs.c.case_pk == Case.id).order_by(Case.updated_at.desc(), Case.id.desc()))
        if status:
            q = q.where(Case.status == status)
        if text.strip():
            pat = f"%{text.strip().lower()}%"
            q = q.where(func.lower(Case.case_id).like(pat) | func.lower(Case.note).like(pat))
        return [{"case_id": c.case_id, "status": c.status, "sample_date": c.sample_date, "note": c.note,
                 "images": n_img or 0, "reviewed": n_rev or 0, "signoffs": n_sign or 0, "updated_at": c.updated_at,
                 "updated_by": c.updated_by, "version": c.version} for c, n_img, n_rev, n_sign in s.execute(q)]


def _info(c: Case, n_signoffs: int) -> CaseInfo:
    return CaseInfo(c.id, c.case_id, c.sample_date, c.note, c.status, c.version, c.created_at, c.created_by,
                    c.updated_at, c.updated_by, c.amend_reason, n_signoffs, c.specimen_id, c.patient_ref)


def get_case(store: Store, case_id: str) -> CaseView:
    """The case with its images, the newest run per (image, model) and their cells with the newest
    decision each, and its sign-offs; no image bytes or PNGs (see :func:`cell_pictures`).

    Raises:
        CaseNotFoundError: no such case.
    """
    with store.read() as s:
        c = case_row(s, (case_id or "").strip())
        signoffs = [SignoffView(r.number, r.signed_by, r.signed_at, r.model, r.reason, json.loads(r.snapshot),
                                r.meaning, r.summary_sha256)
                    for r in s.scalars(select(Signoff).where(Signoff.case_pk == c.id).order_by(Signoff.number))]
        images = {ci.id: ImageView(ci.id, ci.image_sha, ci.file_name, ci.position) for ci in s.scalars(
            select(CaseImage).where(CaseImage.case_pk == c.id).order_by(CaseImage.position))}
        runs: dict[int, RunView] = {}
        for r in s.scalars(select(Run).where(Run.case_image_id.in_(list(images))).order_by(Run.id)):
            view = RunView(r.id, r.model, r.weights_sha256, r.site_profile, r.threshold, r.image_threshold,
                           r.refer_half_width, r.whole_image, json.loads(r.notes), r.p_image, r.image_call,
                           r.source, r.created_at, r.created_by)
            old = images[r.case_image_id].runs.get(r.model)
            if old is not None:
                runs.pop(old.id)
            images[r.case_image_id].runs[r.model] = runs[r.id] = view
        newest = (select(func.max(Review.id)).where(Review.case_pk == c.id).group_by(Review.cell_id)).scalar_subquery()
        decided = {r.cell_id: r for r in s.scalars(select(Review).where(Review.id.in_(newest)))}
        for cell in s.scalars(select(CellRow).where(CellRow.run_id.in_(list(runs))).order_by(CellRow.run_id,
                                                                                             CellRow.number)):
            r = decided.get(cell.id)
            runs[cell.run_id].cells.append(CellView(
                cell.id, cell.number, (cell.x, cell.y, cell.w, cell.h), cell.p_all, cell.call, cell.refer,
                cell.touches_border, cell.flags, r.decision if r else None, r.reviewer if r else "",
                r.at if r else None))
        return CaseView(_info(c, len(signoffs)), list(images.values()), signoffs)


def cell_pictures(store: Store, cell_ids: Sequence[int]) -> dict[int, tuple[bytes | None, bytes | None]]:
    """``{cell id: (crop PNG, map PNG)}`` for the cells asked for (one query; for a gallery page)."""
    if not cell_ids:
        return {}
    with store.read() as s:
        q = select(CellRow).options(undefer(CellRow.crop_png), undefer(CellRow.map_png)).where(
            CellRow.id.in_([int(i) for i in cell_ids]))
        return {c.id: (c.crop_png, c.map_png) for c in s.scalars(q)}


def image_bytes(store: Store, view: CaseView, case_image_id: int) -> bytes:
    """The stored bytes of one image of ``view`` (raises :class:`~.errors.CaseStoreError` when lost)."""
    sha = next(im.sha256 for im in view.images if im.id == case_image_id)
    return store.image_bytes(sha)
