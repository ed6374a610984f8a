"""The verification report as one printable, self-contained HTML file (like the case report):
per model the figures with their 95 % intervals, the acceptance criteria, the confusion matrix, a
ROC curve and a reliability diagram (inline SVG: no script, no network request), the model's own
validation figures beside them, and the site calibration before/after on the held-out part.
"""

from __future__ import annotations

import datetime as _dt
from html import escape

from ..models.card import report_thresholds
from ..reports.casereport import NOTICE
from .report import figure_table

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;font-size:11pt;color:#111;margin:1.5em}
h1{font-size:17pt}h2{font-size:14pt;border-top:1px solid #999;padding-top:.4em}h3{font-size:12pt}
.notice{border:2px solid #b00;background:#fee;color:#700;padding:.5em .8em;font-weight:bold}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #999;padding:2px 6px;font-size:9.5pt}
th{background:#eee}.small{font-size:9pt;color:#444}.warn{color:#8a5a00;font-weight:bold}
.met{color:#1a7f37;font-weight:bold}.notmet{color:#b00;font-weight:bold}.row{display:flex;flex-wrap:wrap;gap:1em}
@media print{.model{page-break-before:always;break-before:page}table,svg{break-inside:avoid}}
"""


def _f(v, fmt: str = ".3f") -> str:
    return "–" if v is None else format(float(v), fmt)


def _figs_table(figs: dict, level: str) -> str:
    rows = "".join(f"<tr><td>{escape(r['figure'])}</td><td>{_f(r['value'])}</td><td>{_f(r['low'])} – {_f(r['high'])}"
                   f"</td><td>{'' if r['k'] is None else r['k']}/{r['n']}</td></tr>" for r in figure_table(figs, level))
    return (f"<table><tr><th>{escape(level)} level</th><th>value</th><th>95 % interval</th><th>k/n</th></tr>"
            f"{rows}</table>")


def _confusion(figs: dict, level: str) -> str:
    (tn, fp), (fn, tp) = figs[level]["confusion_matrix"]
    return (f"<table><tr><th>{escape(level)}s: true \\ called</th><th>HEM</th><th>ALL</th></tr>"
            f"<tr><th>HEM</th><td>{tn}</td><td>{fp}</td></tr><tr><th>ALL</th><td>{fn}</td><td>{tp}</td></tr></table>")


def _svg(series: list[tuple[str, list[float], list[float], str]], xlabel: str, ylabel: str, title: str,
         size: int = 260) -> str:
    """A square line chart on [0, 1] x [0, 1]: ``(name, xs, ys, colour)`` per line, a dashed diagonal."""
    pad = 34
    inner = size - 2 * pad

    def pt(x, y):
        return f"{pad + x * inner:.1f},{size - pad - y * inner:.1f}"

    lines = [f'<line x1="{pad}" y1="{size - pad}" x2="{size - pad}" y2="{pad}" stroke="#999" stroke-dasharray="4"/>',
             f'<rect x="{pad}" y="{pad}" width="{inner}" height="{inner}" fill="none" stroke="#333"/>']
    for k, (name, xs, ys, colour) in enumerate(series):
        if xs:
            lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                         f'points="{" ".join(pt(x, y) for x, y in zip(xs, ys))}"/>')
        lines.append(f'<text x="{pad + 6}" y="{pad + 14 + 13 * k}" font-size="10" fill="{colour}">{escape(name)}</text>')
    lines += [f'<text x="{size / 2}" y="{size - 6}" font-size="10" text-anchor="middle">{escape(xlabel)}</text>',
              f'<text x="10" y="{size / 2}" font-size="10" text-anchor="middle" '
              f'transform="rotate(-90 10 {size / 2})">{escape(ylabel)}</text>',
              f'<text x="{size / 2}" y="14" font-size="11" text-anchor="middle">{escape(title)}</text>']
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}">{"".join(lines)}</svg>'


def _charts(figs: dict, level: str, extra: dict | None = None) -> str:
    f = figs[level]
    roc = [("this lab", f["roc"]["fpr"], f["roc"]["tpr"], "#1f5f8b")]
    rel = [("this lab", [b["mean_p"] for b in f["reliability"]], [b["observed"] for b in f["reliability"]],
            "#1f5f8b")]
    if extra:
        e = extra[level]
        rel.append(("site calibration", [b["mean_p"] for b in e["reliability"]],
                    [b["observed"] for b in e["reliability"]], "#d62728"))
    return (f'<div class="row">{_svg(roc, "1 - specificity", "sensitivity", f"ROC ({level}s)")}'
            f'{_svg(rel, "predicted P(ALL)", "observed share ALL", f"reliability ({level}s)")}</div>')


def _validation(rows: list[dict]) -> str:
    if not rows:
        return "<p>No evaluation report of the model: no validation figures to compare with.</p>"
    body = "".join(f"<tr><td>{escape(str(r.get('key', '')))}</td><td>{escape(str(r.get('role_text', '')))}</td>"
                   f"<td>{_f(r.get('cell_balanced_accuracy'))}</td><td>{_f(r.get('cell_roc_auc'))}</td>"
                   f"<td>{_f(r.get('image_balanced_accuracy'))}</td><td>{_f(r.get('image_roc_auc'))}</td></tr>"
                   for r in rows)
    return ("<table><tr><th>the model's own set</th><th>role</th><th>cell bal. acc.</th><th>cell AUC</th>"
            f"<th>image bal. acc.</th><th>image AUC</th></tr>{body}</table>")


def _acceptance(acc: dict) -> str:
    if acc["met"] is None:
        return "<p>No acceptance criteria were given.</p>"
    rows = "".join(f"<tr><td>{escape(c['figure'])} ({escape(c['level'])})</td><td>&ge; {c['minimum']:.3f}</td>"
                   f"<td>{_f(c['value'])}</td><td>{_f(c['low'])}</td>"
                   f"<td class=\"{'met' if c['met'] else 'notmet'}\">{'met' if c['met'] else 'not met'}</td>"
                   f"<td>{'yes' if c['lower_bound_met'] else 'no'}</td></tr>" for c in acc["criteria"])
    verdict = '<p class="met">Acceptance criteria met.</p>' if acc["met"] else \
        '<p class="notmet">Acceptance criteria NOT met.</p>'
    return (f"{verdict}<table><tr><th>criterion</th><th>minimum</th><th>observed</th><th>95 % lower bound</th>"
            f"<th>result</th><th>lower bound also meets it</th></tr>{rows}</table>")


def _site(sc: dict) -> str:
    if not sc:
        return ""
    if "error" in sc:
        return f'<h3>Site calibration</h3><p class="warn">Not fitted: {escape(sc["error"])}</p>'
    s = sc["split"]
    rows = ""
    for level in ("cell", "image"):
        for key in ("sensitivity", "specificity", "balanced_accuracy"):
            b, a = sc["before"][level][key], sc["after"][level][key]
            rows += (f"<tr><td>{level}</td><td>{key.replace('_', ' ')}</td><td>{_f(b['value'])} ({_f(b['low'])} – "
                     f"{_f(b['high'])})</td><td>{_f(a['value'])} ({_f(a['low'])} – {_f(a['high'])})</td></tr>")
    flags = (sc["before"].get("ood_flagged"), sc["after"].get("ood_flagged"))
    rt = report_thresholds(sc)
    field = "" if rt.field_threshold is None else f", field threshold {rt.field_threshold:.2f}"
    return (f"<h3>Site calibration{': ' + escape(sc['profile_name']) if sc.get('profile_name') else ''}</h3>"
            f"<p>Fitted on {s['fit_images']} images ({s['fit_groups']} groups), reported on the other "
            f"{s['report_images']} images ({s['report_groups']} groups; grouped by "
            f"{escape(', '.join(s['grouped_by']))}): the figures below are on images the site calibration never saw. "
            f"Site threshold {rt.threshold:.2f}, refer band ±{rt.refer_half_width:.2f}"
            f"{field}"
            f"{'' if not sc.get('profile') else '; stored as ' + escape(str(sc['profile']))}.</p>"
            "<table><tr><th>level</th><th>figure</th><th>stored calibration</th><th>site calibration</th></tr>"
            f"{rows}</table><p>Fields flagged as outside the training stain: {_f(flags[0], '.2f')} stored, "
            f"{_f(flags[1], '.2f')} with the lab's colour reference.</p>"
            f"{_charts(sc['before'], 'cell', sc['after'])}")


def build_html(report: dict, title: str = "Verification at your lab", created: _dt.datetime | None = None) -> bytes:
    """The report of :func:`~.report.build_report` as UTF-8 HTML bytes."""
    when = (created or _dt.datetime.now().astimezone()).isoformat(sep=" ", timespec="seconds")
    ss = report["sample_size"]
    crit = report.get("criteria") or {}
    body = [f"<h1>{escape(title)}</h1>", f'<p class="notice">{escape(NOTICE)}</p>',
            f"<p>Created {escape(when)}. Data: {escape(', '.join(report['data']) or 'uploaded images')}. "
            f"{report['images']['all']} ALL and {report['images']['hem']} HEM labelled images; "
            f"{len(report['skipped'])} could not be read. Intervals: 95 % Wilson (proportions), bootstrap (ROC AUC; "
            "cells resampled by image). PPV and NPV hold at this sample's share of ALL only.</p>"]
    if crit.get("min_sensitivity") is not None or crit.get("min_specificity") is not None:
        body.append(f"<p>Acceptance criteria ({escape(crit.get('level', 'cell'))} level): sensitivity &ge; "
                    f"{_f(crit.get('min_sensitivity'))}, specificity &ge; {_f(crit.get('min_specificity'))}.</p>")
    rows = "".join(f"<tr><td>{lab.upper()}</td><td>{v['n']}</td><td>{_f(v['width'])}</td><td>{v['needed']}</td></tr>"
                   for lab, v in ss["classes"].items())
    body.append(f"<h2>How many cells are enough</h2><table><tr><th>class</th><th>cells</th><th>interval width now"
                f"</th><th>cells for width {ss['target_width']:.2f}</th></tr>{rows}</table>"
                + (f'<p class="warn">{escape(ss["warning"])}</p>' if ss["warning"] else ""))
    for model, res in report["models"].items():
        used = res.get("profile")
        body.append(f'<section class="model"><h2>{escape(model)}</h2><p>Weights SHA-256 <code>'
                    f"{escape(res['weights_sha256'])}</code>; calibration: "
                    f"{'site profile ' + escape(used) if used else 'stored (fitted on the model validation cells)'}; "
                    f"cell threshold {report_thresholds(res).threshold:.2f}.</p>")
        for level in ("cell", "image"):
            body.append(f'<div class="row"><div>{_figs_table(res["all"], level)}</div>'
                        f"<div>{_confusion(res['all'], level)}</div></div>")
        body.append(_acceptance(res["acceptance"]))
        body.append(_charts(res["all"], "cell") + "<h3>The model's own validation figures</h3>"
                    + _validation(res.get("validation") or []))
        body.append(_site(res.get("site_calibration") or {}) + "</section>")
    if report["skipped"]:
        body.append("<h2>Images not read</h2><ul>" + "".join(
            f"<li>{escape(s['path'])}: {escape(s['error'])}</li>" for s in report["skipped"]) + "</ul>")
    body.append(f'<p class="notice">{escape(NOTICE)}</p>')
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>").encode("utf-8")
