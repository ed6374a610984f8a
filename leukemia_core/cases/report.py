"""The reviewed case report: one self-contained HTML page (pictures inline, no outside request) that
prints to PDF from a browser: the case and its sample, the model's counts and the reviewer's side
by side, every cell with its picture and map, both calls, flags and NO CALL reasons, the signatures
with their meaning and summary hash, and the audit trail as a table. Built in memory from the
stored state.
"""

from __future__ import annotations

import base64
from html import escape

from .db import Store
from .export import audit_rows, audit_text
from .repository import cell_pictures
from .review import summarize
from .session import map_overlay
from .views import CaseView

_STYLE = ("body{font-family:sans-serif;margin:2em;font-size:11pt}table{border-collapse:collapse;margin:1em 0}"
          "td,th{border:1px solid #bbb;padding:2px 6px;text-align:left;vertical-align:top}.diff{background:#fde2e2}"
          "img{width:56px;height:56px;image-rendering:pixelated;margin-right:2px}td:first-child{white-space:nowrap}"
          "table{max-width:100%}td{font-size:9pt;overflow-wrap:break-word}"
          ".sig{border:2px solid #2a6;padding:.5em 1em;margin:.5em 0}"
          ".small{font-size:9pt;color:#444}"
          "@page{size:A4;margin:12mm}@media print{body{margin:0}tr,.sig{break-inside:avoid}h2{break-after:avoid}}")


def _table(head: list[str], rows: list[list], marks: list[bool] | None = None, raw: set[int] = frozenset()) -> str:
    """An HTML table; cells are escaped except the columns in ``raw`` (inline pictures made here)."""
    out = ["<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    for i, r in enumerate(rows):
        cls = ' class="diff"' if marks and marks[i] else ""
        cells = ("" if v is None else (str(v) if j in raw else escape(str(v))) for j, v in enumerate(r))
        out.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return "".join(out) + "</table>"


def _img(png: bytes | None, alt: str) -> str:
    if not png:
        return ""
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _case_table(view: CaseView) -> str:
    info = view.info
    return _table(["specimen", "sample date", "patient reference", "status", "images", "version", "note"],
                  [[info.specimen_id or "(not recorded)", info.sample_date or "(not recorded)",
                    info.patient_ref or "(not recorded)", info.status, len(view.images), info.version, info.note]])


def _counts(view: CaseView, model: str) -> str:
    s = summarize(view, model)
    m, r, a = s["model"], s["reviewed"], s["agreement"]
    share = "" if a["share"] is None else f" ({100 * a['share']:.1f}%)"
    changed = ", ".join(f"{k.replace('->', ' to ')} {v}" for k, v in a["changed"].items())
    return (f"<h2>Counts: model {escape(model)} and reviewer</h2>"
            + _table(["", "cells", "ALL", "HEM", "NO CALL", "blast %", "not a white cell", "cannot classify",
                      "not reviewed"],
                     [["model", m["cells"], m["ALL"], m["HEM"], m["no_call"], m["blast_pct"], "", "", ""],
                      ["reviewed", r["ALL"] + r["HEM"], r["ALL"], r["HEM"], "", r["blast_pct"], r["excluded"],
                       r["unclassified"], r["pending"]]])
            + f"<p>Agreement: {a['agree']} of {a['compared']} cells{share}; changed {escape(changed)}. Blast % is "
              "ALL over the cells with a call (model) or called ALL or HEM by the reviewer.</p>")


def _cells(store: Store, view: CaseView, model: str) -> str:
    cells = view.cells(model)
    pics = cell_pictures(store, [c.id for _, _, c in cells])
    rows = []
    for im, _, c in cells:
        crop, heat = pics.get(c.id, (None, None))
        rows.append([_img(crop, f"cell {c.number}") + _img(map_overlay(crop, heat), f"map of cell {c.number}"),
                     im.file_name, c.number, f"{c.p_all:.3f}", c.call, "refer" if c.refer else "",
                     c.flags or "", c.decision or "(not reviewed)", c.reviewed_call, c.reviewer,
                     c.reviewed_at.strftime("%Y-%m-%d %H:%M:%S") if c.reviewed_at else None])
    return ("<h2>Cells</h2><p class='small'>Picture: the cell as the model read it, and its map (viridis: yellow = "
            "strongest evidence for the call). Rows in red: the reviewer changed the model's call.</p>"
            + _table(["cell and map", "image", "cell", "P(ALL)", "model call", "refer", "flags / NO CALL reason",
                      "decision", "reviewed call", "reviewer", "at (UTC)"], rows,
                     [c.reviewed_call in ("ALL", "HEM") and c.reviewed_call != c.call for _, _, c in cells], raw={0}))


def _signatures(view: CaseView) -> str:
    if not view.signoffs:
        return "<h2>Signatures</h2><p>Not signed.</p>"
    out = ["<h2>Signatures</h2>"]
    for s in view.signoffs:
        amend = f"<br>Amendment, because: {escape(s.reason)}" if s.reason else ""
        digest = (f"<br><span class='small'>Summary signed: sha256 {escape(s.summary_sha256)}</span>"
                  if s.summary_sha256 else "")
        out.append(f"<div class='sig'><b>Sign-off {s.number}</b> on model {escape(s.model)}<br>Signed by "
                   f"{escape(s.signed_by)} on {s.signed_at:%Y-%m-%d %H:%M:%S} UTC<br>Meaning: "
                   f"{escape(s.meaning or '(not recorded: signed before meanings were stored)')}{amend}{digest}</div>")
    return "".join(out)


def report_html(store: Store, view: CaseView, model: str | None = None) -> str:
    """The HTML report of ``view`` for ``model`` (default: the last sign-off's model, or the first model)."""
    info = view.info
    models = view.models()
    model = model or (view.signoffs[-1].model if view.signoffs else (models[0] if models else None))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Case {escape(info.case_id)}</title>"
             f"<style>{_STYLE}</style></head><body><h1>Case {escape(info.case_id)}</h1>",
             "<p>Research and education use only; not a diagnostic device.</p>", _case_table(view)]
    if model:
        parts += [_counts(view, model), _cells(store, view, model)]
    parts.append(_signatures(view))
    trail = audit_rows(store, info.case_id)
    parts.append("<h2>Audit trail</h2>" + _table(["at (UTC)", "user", "action", "what"],
                                                  [[t["at"][:19].replace("T", " "), t["user"], t["action"],
                                                    audit_text(t["detail"])] for t in trail]))
    return "".join(parts) + "</body></html>"
