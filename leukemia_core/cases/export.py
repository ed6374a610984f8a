"""Exports of the case store: a case's cells (model and reviewer calls side by side), one summary
row per case, and the audit log; as rows (lists of dicts) and as CSV text.

Every export reads the stored state only (no model run) and uses the reviewed calls; a signed
case's rows are the live view, which is what its last sign-off froze (a signed case cannot change
until an amendment is opened); :func:`signoff_rows` gives each sign-off's own snapshot.
"""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import select

from .db import Store
from .models import AuditEntry, Case
from .repository import get_case, list_cases
from .review import summarize
from .views import CaseView

#: Columns of a case's cell export.
CELL_FIELDS = ["case_id", "status", "model", "image", "cell", "x", "y", "w", "h", "p_all", "model_call", "refer",
               "decision", "reviewed_call", "reviewer", "reviewed_at", "weights_sha256", "threshold", "site_profile"]
#: Columns of the all-cases export (one row per case and model).
CASE_FIELDS = ["case_id", "status", "sample_date", "note", "images", "model", "cells", "model_ALL", "model_blast_pct",
               "reviewed", "pending", "reviewed_ALL", "reviewed_HEM", "excluded", "unclassified",
               "reviewed_blast_pct", "agreement", "signoffs", "signed_by", "signed_at", "version", "updated_at",
               "updated_by"]
#: Columns of the audit-log export.
AUDIT_FIELDS = ["id", "at", "user", "case_id", "action", "detail"]


def to_csv(rows: list[dict], fields: list[str]) -> str:
    """``rows`` as CSV text with the header ``fields`` (missing values empty)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if r.get(k) is None else r.get(k) for k in fields})
    return buf.getvalue()


def cell_rows(view: CaseView, model: str | None = None) -> list[dict]:
    """One row per cell of ``view`` (every model, or ``model``'s): :data:`CELL_FIELDS`."""
    out = []
    for m in ([model] if model else view.models()):
        for im, run, c in view.cells(m):
            out.append({"case_id": view.info.case_id, "status": view.info.status, "model": m, "image": im.file_name,
                        "cell": c.number, "x": c.box[0], "y": c.box[1], "w": c.box[2], "h": c.box[3],
                        "p_all": round(c.p_all, 6), "model_call": c.call, "refer": c.refer, "decision": c.decision,
                        "reviewed_call": c.reviewed_call, "reviewer": c.reviewer,
                        "reviewed_at": c.reviewed_at.isoformat() if c.reviewed_at else None,
                        "weights_sha256": run.weights_sha256, "threshold": run.threshold,
                        "site_profile": run.site_profile})
    return out


def case_csv(store: Store, case_id: str, model: str | None = None) -> str:
    """The CSV of one case's cells (:func:`cell_rows`)."""
    return to_csv(cell_rows(get_case(store, case_id), model), CELL_FIELDS)


def case_summary_rows(view: CaseView) -> list[dict]:
    """One row per model of ``view`` (a case without runs gets one row): :data:`CASE_FIELDS`."""
    info = view.info
    last = view.signoffs[-1] if view.signoffs else None
    base = {"case_id": info.case_id, "status": info.status, "sample_date": info.sample_date, "note": info.note,
            "images": len(view.images), "signoffs": len(view.signoffs), "signed_by": last.signed_by if last else None,
            "signed_at": last.signed_at.isoformat() if last else None, "version": info.version,
            "updated_at": info.updated_at.isoformat(), "updated_by": info.updated_by}
    rows = []
    for m in view.models() or [None]:
        if m is None:
            rows.append(dict(base))
            continue
        s = summarize(view, m)
        rows.append({**base, "model": m, "cells": s["model"]["cells"], "model_ALL": s["model"]["ALL"],
                     "model_blast_pct": s["model"]["blast_pct"], "reviewed": s["reviewed"]["cells"],
                     "pending": s["reviewed"]["pending"], "reviewed_ALL": s["reviewed"]["ALL"],
                     "reviewed_HEM": s["reviewed"]["HEM"], "excluded": s["reviewed"]["excluded"],
                     "unclassified": s["reviewed"]["unclassified"], "reviewed_blast_pct": s["reviewed"]["blast_pct"],
                     "agreement": s["agreement"]["share"]})
    return rows


def all_cases_csv(store: Store, status: str | None = None) -> str:
    """The CSV of every case (or those of ``status``), one row per case and model."""
    rows = []
    for c in list_cases(store, status):
        rows += case_summary_rows(get_case(store, c["case_id"]))
    return to_csv(rows, CASE_FIELDS)


def audit_rows(store: Store, case_id: str | None = None) -> list[dict]:
    """The audit log, oldest first (only ``case_id``'s lines when given): :data:`AUDIT_FIELDS`."""
    with store.read() as s:
        q = select(AuditEntry, Case.case_id).outerjoin(Case, Case.id == AuditEntry.case_pk).order_by(AuditEntry.id)
        if case_id:
            q = q.where(Case.case_id == case_id.strip())
        return [{"id": a.id, "at": a.at.isoformat(), "user": a.user, "case_id": cid, "action": a.action,
                 "detail": a.detail} for a, cid in s.execute(q)]


def audit_text(detail: str) -> str:
    """An audit line's JSON detail as text a person reads: ``key: value`` pairs; the cells of a bulk
    action as ``#number call -> decision`` (the summary of a sign-off is left to the report)."""
    try:
        d = json.loads(detail or "{}")
    except ValueError:
        return str(detail)
    if not isinstance(d, dict):
        return str(d)
    parts = []
    for k, v in d.items():
        if k == "summary":
            continue
        if k == "cells" and isinstance(v, list):
            v = ", ".join(f"#{c.get('cell_number')} {c.get('model_call')} -> {c.get('decision')}" for c in v)
        parts.append(f"{k.replace('_', ' ')}: {'' if v is None else v}")
    return "; ".join(parts)


def audit_csv(store: Store, case_id: str | None = None) -> str:
    """The audit log as CSV (``detail`` is the JSON of what changed)."""
    return to_csv(audit_rows(store, case_id), AUDIT_FIELDS)


def signoff_rows(view: CaseView) -> list[dict]:
    """Each sign-off of ``view`` with its frozen summary: number, who, when, model, reason, the
    signature's meaning and summary hash, counts (JSON)."""
    return [{"number": s.number, "signed_by": s.signed_by, "signed_at": s.signed_at.isoformat(), "model": s.model,
             "reason": s.reason, "meaning": s.meaning or "", "summary_sha256": s.summary_sha256 or "",
             "summary": json.dumps(s.snapshot.get("summary", {}), sort_keys=True)}
            for s in view.signoffs]
