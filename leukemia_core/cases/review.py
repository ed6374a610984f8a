"""Reviewing a case: a decision per cell, the reviewed counts beside the model's, sign-off and
amendments.

* :func:`review_cells` records decisions (:data:`~.models.DECISIONS`) for cells of a case; each is a
  new ``reviews`` row (append-only: the newest per cell counts) and an audit line.
* :func:`sign_case` freezes the case: it stores a snapshot of every reviewed call (``signoffs``,
  append-only) and refuses further changes; :func:`amend_case` opens an amendment (with a
  reason), after which reviews go on and the next sign-off is number 2, 3 ... The signed snapshot
  is never edited.
* Who may do each (:mod:`~.access`): reviews need the reviewer role, sign-offs and amendments the
  signer role, in a shared store from a signed-in user only. A sign-off is an electronic signature:
  the signer is shown :func:`signing_summary` and its meaning, and the signature stores the user,
  the time, the meaning and the sha256 of that summary (a case changed since it was shown is refused).
* Every change names its user, is timed in UTC and carries the case version the caller saw
  (optimistic locking, :func:`~.repository.bump_version`): a change made on an older state is
  refused with :class:`~.errors.StaleCaseError` and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
from typing import Mapping

from sqlalchemy import select

from .access import Actor, act, setting
from .db import Store
from .errors import CaseAccessError, CaseInputError, CaseSignedError
from .models import DECISIONS, SIGNATURE_MEANINGS, CaseImage, CellRow, Run, Signoff, Review, utcnow
from .repository import CaseView, SignoffView, audit, bump_version, case_row, get_case, validate_user


def review_cells(store: Store, case_id: str, decisions: Mapping[int, str], user: str | Actor, expected_version: int,
                 batch: str | None = None) -> int:
    """Record ``{cell id: decision}`` for cells of ``case_id`` in one transaction; return the case's
    new version. A decision equal to the cell's current one is recorded again (the click is audited).
    Each decision is one audit line, or with ``batch`` (e.g. ``"accept remaining"``) the whole set is
    one audit line of that action listing its cells: the audit tells a bulk action from single clicks.

    Raises:
        CaseInputError: unknown decision, no user, a cell not in this case, nothing to record;
        CaseAccessError: not allowed to review (:func:`~.access.act`); CaseSignedError: the case is
        signed; StaleCaseError: the case changed since ``expected_version``.
    """
    validate_user(user)
    if not decisions:
        raise CaseInputError("no decision to record")
    bad = sorted({d for d in decisions.values() if d not in DECISIONS}, key=str)
    if bad:
        raise CaseInputError(f"unknown decision(s) {bad}: one of {', '.join(DECISIONS)}")
    with store.write() as s:
        user = act(s, user, "review")
        case = case_row(s, case_id)
        if case.status == "signed":
            raise CaseSignedError(f"case {case.case_id} is signed: open an amendment to change a decision")
        ids = [int(i) for i in decisions]
        cells = {c.id: c for c in s.scalars(
            select(CellRow).join(Run, Run.id == CellRow.run_id).join(CaseImage, CaseImage.id == Run.case_image_id)
            .where(CaseImage.case_pk == case.id, CellRow.id.in_(ids)))}
        missing = sorted(set(ids) - set(cells))
        if missing:
            raise CaseInputError(f"cell(s) {missing} are not cells of case {case.case_id}")
        # the version check comes first: a stale click is refused before anything is added
        version = bump_version(s, case, expected_version, user, status="in review")
        amendment = s.scalar(select(Signoff.number).where(Signoff.case_pk == case.id)
                             .order_by(Signoff.number.desc()).limit(1)) or 0
        before = _current(s, case.id, ids)
        now = utcnow()
        for cid in ids:
            s.add(Review(case_pk=case.id, cell_id=cid, decision=decisions[cid], reviewer=user, at=now,
                         amendment=amendment))
            if not batch:
                audit(s, user, "review", case.id, cell=cid, cell_number=cells[cid].number, model_call=cells[cid].call,
                      decision=decisions[cid], previous=before.get(cid), amendment=amendment, version=version)
        if batch:
            audit(s, user, batch[:32], case.id, amendment=amendment, version=version, n_cells=len(ids),
                  cells=[{"cell": cid, "cell_number": cells[cid].number, "model_call": cells[cid].call,
                          "decision": decisions[cid], "previous": before.get(cid)} for cid in ids])
        return version


def _current(s, case_pk: int, ids: list[int]) -> dict[int, str]:
    newest = (select(Review.cell_id, Review.decision).where(Review.case_pk == case_pk, Review.cell_id.in_(ids))
              .order_by(Review.id))
    return {cid: d for cid, d in s.execute(newest)}


def review_cell(store: Store, case_id: str, cell_id: int, decision: str, user: str, expected_version: int) -> int:
    """One decision on one cell (see :func:`review_cells`); return the new version."""
    return review_cells(store, case_id, {int(cell_id): decision}, user, expected_version)


def accept_remaining(store: Store, view: CaseView, model: str, user: str | Actor) -> int:
    """Accept the model's call on every cell of ``model`` in ``view`` not reviewed yet (one
    transaction and one audit line, ``accept remaining``, checked against ``view``'s version);
    return the new version.

    Raises:
        CaseInputError: every cell is reviewed already (and as :func:`review_cells`).
    """
    todo = {c.id: "accept" for _, _, c in view.cells(model) if c.decision is None}
    if not todo:
        raise CaseInputError("every cell is reviewed already")
    return review_cells(store, view.info.case_id, todo, user, view.info.version, batch="accept remaining")


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def summarize(view: CaseView, model: str) -> dict:
    """The model's counts and the reviewer's beside them, for ``model``'s cells of ``view``.

    Returns:
        ``model``: ``{cells, ALL, HEM, no_call, blast_pct}`` (blast % = ALL / (ALL + HEM): over the
        cells with a call, as the Classify page);
        ``reviewed``: ``{cells (reviewed), pending, ALL, HEM, excluded (not a white cell), unclassified,
        blast_pct}`` (blast % = reviewed ALL / (ALL + HEM): cells taken out or not classifiable are not
        counted); ``agreement``: ``{compared, agree, share, changed: {"ALL->HEM": n, "HEM->ALL": n, "NO
        CALL->ALL": n, "NO CALL->HEM": n}}`` over reviewed cells called ALL or HEM by the reviewer. Images
        classified whole (no cell found) are reviewed but add no cells to the counts, as on the Classify
        page.
    """
    rows = [(r, c) for _, r, c in view.cells(model)]
    counted = [c for r, c in rows if not r.whole_image]
    m_all, m_hem = sum(c.call == "ALL" for c in counted), sum(c.call == "HEM" for c in counted)
    calls = [c.reviewed_call for c in counted]
    r_all, r_hem = calls.count("ALL"), calls.count("HEM")
    compared = [c for _, c in rows if c.reviewed_call in ("ALL", "HEM")]
    agree = sum(c.reviewed_call == c.call for c in compared)
    changed = {"ALL->HEM": sum(c.call == "ALL" and c.reviewed_call == "HEM" for c in compared),
               "HEM->ALL": sum(c.call == "HEM" and c.reviewed_call == "ALL" for c in compared),
               "NO CALL->ALL": sum(c.call == "NO CALL" and c.reviewed_call == "ALL" for c in compared),
               "NO CALL->HEM": sum(c.call == "NO CALL" and c.reviewed_call == "HEM" for c in compared)}
    return {"model_name": model,
            "model": {"cells": len(counted), "ALL": m_all, "HEM": m_hem, "no_call": len(counted) - m_all - m_hem,
                      "blast_pct": _pct(m_all, m_all + m_hem)},
            "reviewed": {"cells": sum(c.decision is not None for _, c in rows),
                         "pending": sum(c.decision is None for _, c in rows), "ALL": r_all, "HEM": r_hem,
                         "excluded": calls.count("excluded"), "unclassified": calls.count("unclassified"),
                         "blast_pct": _pct(r_all, r_all + r_hem)},
            "agreement": {"compared": len(compared), "agree": agree,
                          "share": round(agree / len(compared), 4) if compared else None, "changed": changed}}


def snapshot(view: CaseView, model: str) -> dict:
    """What a sign-off freezes: the summary and every cell's model and reviewed call."""
    cells = [{"cell": c.id, "image": im.file_name, "number": c.number, "p_all": round(c.p_all, 6),
              "model_call": c.call, "decision": c.decision, "reviewed_call": c.reviewed_call,
              "reviewer": c.reviewer, "reviewed_at": c.reviewed_at.isoformat() if c.reviewed_at else None,
              "run": r.id, "weights_sha256": r.weights_sha256, "threshold": r.threshold}
             for im, r, c in view.cells(model)]
    return {"summary": summarize(view, model), "cells": cells, "version": view.info.version}


def signing_summary(view: CaseView, model: str) -> dict:
    """What a signer is shown and signs for ``model``'s cells: the case and sample, the model and its
    weights, cells reviewed and pending, changed calls, NO CALL and refer counts, blast % of the model
    and of the review, the cells' flags and the images' notes, the case version. Its
    :func:`summary_sha256` is stored with the signature."""
    info, rows = view.info, view.cells(model)
    s = summarize(view, model)
    flags: dict[str, int] = {}
    for _, _, c in rows:
        for f in filter(None, (x.strip() for x in (c.flags or "").split(";"))):
            flags[f] = flags.get(f, 0) + 1
    notes: dict[str, int] = {}
    for r in {r.id: r for _, r, _ in rows}.values():  # each run (one per image) once
        for n in r.notes:
            notes[n] = notes.get(n, 0) + 1
    return {"case_id": info.case_id, "specimen_id": info.specimen_id, "patient_ref": info.patient_ref,
            "sample_date": None if info.sample_date is None else info.sample_date.isoformat(),
            "model": model, "weights_sha256": sorted({r.weights_sha256 for _, r, _ in rows}),
            "images": len({im.id for im, _, _ in rows}), "cells": len(rows),
            "reviewed": s["reviewed"]["cells"], "pending": s["reviewed"]["pending"],
            "changed_calls": sum(c.reviewed_call in ("ALL", "HEM") and c.reviewed_call != c.call for _, _, c in rows),
            "changed": s["agreement"]["changed"], "excluded": s["reviewed"]["excluded"],
            "unclassified": s["reviewed"]["unclassified"], "no_call": s["model"]["no_call"],
            "refer": sum(bool(c.refer) for _, _, c in rows),
            "blast_pct": {"model": s["model"]["blast_pct"], "reviewed": s["reviewed"]["blast_pct"]},
            "flags": dict(sorted(flags.items())), "image_notes": dict(sorted(notes.items())),
            "amendment_reason": info.amend_reason, "sign_off": info.signoffs + 1, "version": info.version}


def summary_sha256(summary: dict) -> str:
    """The sha256 of a :func:`signing_summary` (canonical JSON): what the signature is linked to."""
    return hashlib.sha256(json.dumps(summary, sort_keys=True, default=str).encode()).hexdigest()


def default_meaning(view: CaseView) -> str:
    """The meaning offered first: approval, or approval as amended for a case signed before."""
    return SIGNATURE_MEANINGS[1 if view.info.signoffs else 0]


def sign_case(store: Store, case_id: str, user: str | Actor, expected_version: int, model: str | None = None,
              meaning: str | None = None, confirmed_sha256: str | None = None) -> SignoffView:
    """Sign the case off on ``model``'s reviewed cells (default: its first model): every cell must
    have a decision. The signature stores the signer, the time (UTC), its ``meaning`` (one of
    :data:`~.models.SIGNATURE_MEANINGS`; default :func:`default_meaning`) and the sha256 of the
    :func:`signing_summary`; with ``confirmed_sha256`` (the hash of the summary the signer was shown)
    a case whose summary changed since is refused. The case becomes ``signed`` and frozen.

    Raises:
        CaseInputError: cells not reviewed yet, no cells, unknown model or meaning, the summary shown
        is not the case's now; CaseAccessError: not a signer (:func:`~.access.act`), or the four-eyes
        rule (the signer is the only reviewer); CaseSignedError: signed already; StaleCaseError: the
        case changed since ``expected_version`` (as every change).
    """
    with store.write() as s:  # who may sign is said first, before anything about the case
        act(s, user, "sign")
    view = get_case(store, case_id)
    if view.info.status == "signed":
        raise CaseSignedError(f"case {view.info.case_id} is signed already (sign-off {view.info.signoffs})")
    models = view.models()
    model = model or (models[0] if models else None)
    if model not in models:
        raise CaseInputError(f"case {view.info.case_id} has no cells of model {model!r} to sign off")
    meaning = meaning or default_meaning(view)
    if meaning not in SIGNATURE_MEANINGS:
        raise CaseInputError(f"unknown signature meaning {meaning!r}: one of {'; '.join(SIGNATURE_MEANINGS)}")
    pending = [c for _, _, c in view.cells(model) if c.decision is None]
    if pending:
        raise CaseInputError(f"{len(pending)} cell(s) of case {view.info.case_id} are not reviewed yet: review "
                             "them (or accept the model's call for the rest) before signing")
    if view.info.version != int(expected_version):
        # the view read here is newer than the caller's: their decisions may differ from what is signed
        raise_stale(store, case_id, expected_version)
    summary = signing_summary(view, model)
    digest = summary_sha256(summary)
    if confirmed_sha256 is not None and confirmed_sha256 != digest:
        raise CaseInputError("the case's summary is not the one you confirmed: read the new summary and sign again")
    frozen = {**snapshot(view, model), "signed_summary": summary}
    with store.write() as s:
        user = act(s, user, "sign")
        reviewers = {c.reviewer for _, _, c in view.cells(model)}
        if setting(s, "four_eyes", "off") == "on" and reviewers <= {user}:
            raise CaseAccessError(f"four eyes: {user} reviewed every cell of case {view.info.case_id}, so another "
                                  "reviewer must review it (or a signer who reviewed none sign it); nothing was saved")
        case = case_row(s, view.info.case_id)
        number = view.info.signoffs + 1
        reason = case.amend_reason or ""
        # checked against the version the snapshot was taken from: a review in between refuses it
        version = bump_version(s, case, view.info.version, user, status="signed", amend_reason=None)
        row = Signoff(case_pk=case.id, number=number, signed_by=user, signed_at=utcnow(), model=model,
                      reason=reason, snapshot=json.dumps(frozen, sort_keys=True, default=str), meaning=meaning,
                      summary_sha256=digest)
        s.add(row)
        audit(s, user, "sign", case.id, signoff=number, model=model, reason=reason, version=version,
              meaning=meaning, summary_sha256=digest, summary=frozen["summary"])
    return SignoffView(number, user, row.signed_at, model, reason, frozen, meaning, digest)


def raise_stale(store: Store, case_id: str, expected_version: int) -> None:
    """Raise :class:`~.errors.StaleCaseError` for ``case_id`` as it is now (the caller saw ``expected_version``)."""
    from .errors import StaleCaseError

    info = get_case(store, case_id).info
    raise StaleCaseError(info.case_id, int(expected_version), info.version, info.status, info.updated_by)


def amend_case(store: Store, case_id: str, user: str | Actor, reason: str, expected_version: int) -> int:
    """Open an amendment of a signed case (``reason`` required): it goes back to ``in review`` and
    can be reviewed and signed again as sign-off n + 1; the earlier sign-offs stay as they were.
    Return the new version.

    Raises:
        CaseInputError: no reason, or the case is not signed; CaseAccessError: not a signer;
        StaleCaseError as every change.
    """
    validate_user(user)
    why = (reason or "").strip()
    if not why:
        raise CaseInputError("an amendment needs a reason (what is changed and why)")
    with store.write() as s:
        user = act(s, user, "amend")
        case = case_row(s, case_id)
        if case.status != "signed":
            raise CaseInputError(f"case {case.case_id} is not signed ({case.status}): change it directly")
        version = bump_version(s, case, expected_version, user, status="in review", amend_reason=why)
        audit(s, user, "amend", case.id, reason=why, version=version)
        return version
