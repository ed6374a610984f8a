"""``adaptation.json`` and a self-contained ``adaptation.html`` of one ``adapt`` run (no scripts,
no external files; prints cleanly)."""

from __future__ import annotations

import html
from pathlib import Path

from ..jsonio import write_json

_NAMES = {"sensitivity": "sensitivity (ALL)", "specificity": "specificity (HEM)", "ppv": "PPV", "npv": "NPV",
          "balanced_accuracy": "balanced accuracy", "roc_auc": "ROC AUC"}


def _v(f: dict) -> str:
    if f.get("value") is None:
        return "n/a"
    return f"{f['value']:.3f} ({f['low']:.3f}-{f['high']:.3f})"


def build_html(report: dict) -> bytes:
    """The adaptation report as one HTML page."""
    e = html.escape
    s = report["split"]
    met = report["acceptance"]["met"]
    verdict = {True: "met", False: "NOT met", None: "none given"}[met]
    rows = []
    for key, label in _NAMES.items():
        after = report["after"]["cell"][key]
        before = (report.get("before") or {}).get("cell", {}).get(key)
        rows.append(f"<tr><td>{label}</td><td>{_v(after)}</td><td>{_v(before) if before else '–'}</td></tr>")
    crit = "".join(f"<li>{e(c['figure'])} &ge; {c['minimum']:.2f} at {e(c['level'])} level: {c['value'] or 0:.3f} "
                   f"({'met' if c['met'] else 'NOT met'})</li>" for c in report["acceptance"]["criteria"])
    curve = "".join(f"<tr><td>{c['k']}</td><td>{c['draws']}</td><td>{c['roc_auc']:.3f} ({c['roc_auc_low']:.3f}-"
                    f"{c['roc_auc_high']:.3f})</td><td>{c['balanced_accuracy']:.3f} ({c['balanced_accuracy_low']:.3f}-"
                    f"{c['balanced_accuracy_high']:.3f})</td></tr>" for c in report["learning_curve"])
    skipped = "".join(f"<li>{e(Path(x['path']).name)}: {e(x['reason'])}</li>" for x in report["skipped"][:50])
    base = report["base"]
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>Site model {e(report['site_model'])}</title>
<style>body{{font-family:sans-serif;max-width:58rem;margin:2rem auto;color:#222}}table{{border-collapse:collapse}}
td,th{{border:1px solid #bbb;padding:.25rem .6rem;text-align:left}}
.bad{{color:#b00020;font-weight:bold}}</style></head><body>
<h1>Site model “{e(report['site_model'])}”</h1>
<p>Research use only. A head fitted on this lab's own labelled cells, reading the frozen features of
<b>{e(base['name'])}</b> ({e(base['kind'])}, weights sha256 {e(base['weights_sha256'][:12])}...).
Made {e(report['created'])}.</p>
<p>Fitted on {s['fit_images']} images ({s['fit_groups']} groups); studied on {s['report_images']} held-out images
({s['report_groups']} groups, {s['report_cells']} cells) that the fit never saw. Images of one patient, block or
file are on one side only.</p>
<h2>Acceptance criteria: <span class="{'bad' if met is False else ''}">{verdict}</span></h2><ul>{crit}</ul>
<h2>Held-out cells</h2><table><tr><th>figure (95 % interval)</th><th>site model</th><th>the model's own head</th></tr>
{''.join(rows)}</table>
<h2>Learning curve</h2><p>Heads fitted on k images per class drawn from the fit part, scored on the held-out
part (mean and 2.5-97.5 % of draws).</p>
<table><tr><th>k per class</th><th>draws</th><th>ROC AUC</th><th>balanced accuracy</th></tr>{curve}</table>
<p>{e(report['advice'])}</p>
<h2>Images not used ({len(report['skipped'])})</h2><ul>{skipped}</ul>
</body></html>"""
    return body.encode()


def write_files(report: dict, out_dir: Path) -> dict[str, Path]:
    """``adaptation.json`` and ``adaptation.html`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"json": out_dir / "adaptation.json", "html": out_dir / "adaptation.html"}
    write_json(files["json"], report)
    files["html"].write_bytes(build_html(report))
    return files
