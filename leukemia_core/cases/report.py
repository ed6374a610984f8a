"""The reviewed case report: one self-contained HTML page (no outside request) with the model's
counts and the reviewer's side by side, agreement, every cell's two calls, the sign-offs and the
case's audit trail. Built in memory from the stored state.
"""

from __future__ import annotations

from html import escape

from .export import audit_rows
from .db import Store
from .review import summarize
from .views import CaseView

_STYLE = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
          "td,th{border:1px solid #bbb;padding:2px 8px;text-align:left}.diff{background:#fde2e2}")


def _table(head: list[str], rows: list[list], marks: list[bool] | None = None) -> str:
    out = ["<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    for i, r in enumerate(rows):
        cls = ' class="diff"' if marks and marks[i] else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{escape('' if v is None else str(v))}</td>" for v in r) + "</tr>")
    return "".join(out) + "</table>"


def report_html(store: Store, view: CaseView, model: str | None = None) -> str:
    """The HTML report of ``view`` for ``model`` (default: the first model, or the last sign-off's)."""
    info = view.info
    models = view.models()
    model = model or (view.signoffs[-1].model if view.signoffs else (models[0] if models else None))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Case {escape(info.case_id)}</title>"
             f"<style>{_STYLE}</style></head><body><h1>Case {escape(info.case_id)}</h1>",
             "<p>Research and education use only; not a diagnostic device.</p>",
             _table(["status", "sample date", "note", "images", "version"],
                    [[info.status, info.sample_date, info.note, len(view.images), info.version]])]
    if model:
        s = summarize(view, model)
        parts.append(f"<h2>Counts: model {escape(model)} and reviewer</h2>")
        parts.append(_table(["", "cells", "ALL", "HEM", "blast %", "excluded", "cannot classify", "pending"], [
            ["model", s["model"]["cells"], s["model"]["ALL"], s["model"]["HEM"], s["model"]["blast_pct"], "", "", ""],
            ["reviewed", s["reviewed"]["ALL"] + s["reviewed"]["HEM"], s["reviewed"]["ALL"], s["reviewed"]["HEM"],
             s["reviewed"]["blast_pct"], s["reviewed"]["excluded"], s["reviewed"]["unclassified"],
             s["reviewed"]["pending"]]]))
        a = s["agreement"]
        share = "" if a["share"] is None else f" ({100 * a['share']:.1f}%)"
        parts.append(f"<p>Agreement: {a['agree']} of {a['compared']} cells{share}; changed ALL to HEM "
                     f"{a['changed']['ALL->HEM']}, HEM to ALL {a['changed']['HEM->ALL']}.</p>")
        cells = view.cells(model)
        parts.append("<h2>Cells</h2>" + _table(
            ["image", "cell", "P(ALL)", "model call", "decision", "reviewed call", "reviewer", "at (UTC)"],
            [[im.file_name, c.number, f"{c.p_all:.3f}", c.call, c.decision, c.reviewed_call, c.reviewer,
              c.reviewed_at.strftime("%Y-%m-%d %H:%M:%S") if c.reviewed_at else None] for im, _, c in cells],
            [c.reviewed_call is not None and c.reviewed_call != c.call for _, _, c in cells]))
    parts.append("<h2>Sign-offs</h2>" + (_table(
        ["number", "signed by", "at (UTC)", "model", "amendment reason"],
        [[s.number, s.signed_by, s.signed_at.strftime("%Y-%m-%d %H:%M:%S"), s.model, s.reason or ""]
         for s in view.signoffs]) if view.signoffs else "<p>Not signed.</p>"))
    trail = audit_rows(store, info.case_id)
    parts.append("<h2>Audit trail</h2>" + _table(["at (UTC)", "user", "action", "detail"],
                                                  [[t["at"], t["user"], t["action"], t["detail"]] for t in trail]))
    return "".join(parts) + "</body></html>"
