"""A self-contained HTML case report for one upload batch (one patient's slide), built in memory.

The report holds the research-use notice, the date and threshold(s), a batch summary per model
(images, cells found, cells called ALL, blast %, cells to refer, images to check by eye), then per
image the outlined field, the calls, the image P(ALL) and a grid of cell crops with the map of each
cell's call, and per model its weights hash, training data and validation/test figures, each with
the role of its data. Every picture is an embedded PNG (``data:`` URI): the file makes no network
request and prints one image per page (``@media print``).

A cell result is one model's reading of one image, a :class:`~leukemia_core.cells.analyze.ImageAnalysis`
(:func:`~leukemia_core.cells.analyze.read_cells`: cells, crops, P(ALL), both maps); its figures come
from :meth:`~leukemia_core.cells.analyze.ImageAnalysis.summary`, as the app's results table and the
CLI's CSV. Nothing here imports the pages or Streamlit.

Example::

    info = [model_info(m, read_manifest(m, missing_ok=True), load_report(m)) for m in models]
    imgs = [ReportImage(name, rgb, {m: results[(i, m)] for m in models}) for i, (name, rgb) in ...]
    data = build_case_report(imgs, info, {m: thr_of(m) for m in models})   # bytes, UTF-8 HTML
"""

from __future__ import annotations

import base64
import datetime as _dt
from dataclasses import dataclass, field
from html import escape
from typing import Any, Mapping, Sequence

import cv2
import numpy as np

from ..cells.analyze import ImageAnalysis
from ..cells.outcome import NO_CALL
from ..cells.draw import draw_cells
from ..data.names import dataset_title
from ..evaluation.evaluate import ROLE_TEXT
from ..explain.overlay import DEFAULT_COLORMAP, overlay
from ..models.lymphoid import differential_text
from .display import size_across

NOTICE = ("Research and education use only. Not a diagnostic device: do not use it to diagnose, treat or "
          "manage any patient.")
#: Side (px) of each cell picture in the report's grid.
CELL_SIDE = 160
#: Longer side (px) of the outlined field.
FIELD_SIDE = 900
#: JPEG quality of the report's pictures: outlines and maps stay readable, and a batch of six fields
#: stays well under 1 MB (PNG made it tens of MB).
JPEG_QUALITY = 80
#: The sample fields a report can carry, in the order shown.
SAMPLE_FIELDS = (("specimen_id", "Specimen"), ("patient_ref", "Patient reference"), ("sample_date", "Sample date"),
                 ("operator", "Operator"))


@dataclass
class ReportImage:
    """One uploaded image: its name, decoded RGB and, per model name, a cell result or an error text."""

    name: str
    rgb: np.ndarray                                   # uint8 (H, W, 3)
    results: dict[str, Any] = field(default_factory=dict)   # model -> ImageAnalysis | str (error) | None


@dataclass
class ModelInfo:
    """What the report says about a model: weights, training data and its validated figures."""

    name: str
    weights_sha256: str | None = None
    data: list[str] = field(default_factory=list)     # the training datasets, by name
    training: list[dict] = field(default_factory=list)  # {role, key, images, groups}
    figures: list[dict] = field(default_factory=list)   # one per val/test report set, see model_info
    report_sha256: str | None = None                    # the weights the figures were measured on


def model_info(name: str, manifest: dict | None, report: dict | None) -> ModelInfo:
    """A :class:`ModelInfo` from a model's manifest and its ``leukemia_core.report`` JSON (either may be None)."""
    man, rep = manifest or {}, report or {}
    tr = man.get("training") or {}
    training = []
    for role in ("train", "val"):
        summ = tr.get(role) or {}
        groups = summ.get("groups") or {}
        for key in sorted({k.rsplit("/", 1)[0] for k in summ.get("images") or {}} | set(groups)):
            imgs = {k.rsplit("/", 1)[1]: v for k, v in (summ.get("images") or {}).items() if k.startswith(key + "/")}
            training.append({"role": role, "key": key, "images": imgs, "groups": groups.get(key)})
    figures = []
    for s in rep.get("sets") or []:
        role = s.get("role") or s.get("split") or str(s.get("key", "")).rsplit("/", 1)[-1]
        if role == "train":  # fit figures: not validation or test evidence
            continue
        m, cm = s.get("metrics") or {}, s.get("cell_metrics") or {}
        figures.append({"key": s.get("key", ""), "role": role,
                        "role_text": s.get("role_text") or ROLE_TEXT.get(role, role),
                        "description": s.get("description", ""), "n_images": s.get("n_images"),
                        "n_cells": s.get("n_cells"),
                        "image_balanced_accuracy": m.get("balanced_accuracy"), "image_roc_auc": m.get("roc_auc"),
                        "cell_balanced_accuracy": cm.get("balanced_accuracy"), "cell_roc_auc": cm.get("roc_auc")})
    figures.sort(key=lambda f: (f["role"] != "val", f["role"] != "test"))
    return ModelInfo(name, man.get("weights_sha256") or rep.get("weights_sha256"),
                     sorted({dataset_title(t["key"]) for t in training}), training, figures,
                     rep.get("weights_sha256"))


def batch_summary(results: Sequence[tuple[str, Any]], threshold: float) -> dict:
    """Sum up one model's reading of a batch at ``threshold``.

    Args:
        results: ``(image name, ImageAnalysis | error text | None)`` per image.

    Returns:
        ``images``, ``read`` (images with a result), ``failed`` [(name, error)], ``cells`` (white cells
        found), ``all_cells`` (of them called ALL), ``no_call`` (of them without a call), ``blast_pct``
        (``100 * all_cells`` over the cells with a call, None without one), ``refer`` (cells in the refer
        band), ``images_all`` (images called ALL), ``images_no_call`` (images without a call),
        ``whole_image`` (images where no cell was found), ``check_by_eye`` [(name, notes)], ``threshold``,
        ``differential`` (the found cells by kind, summed over the images that have one; None when none has).
    """
    out = {"images": len(results), "read": 0, "failed": [], "cells": 0, "all_cells": 0, "no_call": 0,
           "not_lymphoid": 0, "refer": 0,
           "images_all": 0, "images_no_call": 0, "whole_image": 0, "check_by_eye": [], "threshold": float(threshold),
           "differential": None}
    for name, res in results:
        if res is None or isinstance(res, str):
            out["failed"].append((name, res or "not read"))
            continue
        row = res.summary(threshold)
        out["read"] += 1
        for k in ("cells", "all_cells", "no_call", "not_lymphoid", "refer"):
            out[k] += row[k]
        out["images_all"] += row["call"] == "ALL"
        out["images_no_call"] += row["call"] == NO_CALL
        out["whole_image"] += row["whole_image"]
        for kind, n in (row["differential"] or {}).items():
            out["differential"] = out["differential"] or {}
            out["differential"][kind] = out["differential"].get(kind, 0) + n
        if row["notes"]:
            out["check_by_eye"].append((name, row["notes"]))
    called = out["cells"] - out["no_call"]
    out["blast_pct"] = 100.0 * out["all_cells"] / called if called else None
    return out


def jpeg_uri(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> str:
    """``data:image/jpeg;base64,...`` of an RGB ``uint8`` picture."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(np.ascontiguousarray(rgb, np.uint8), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _f(v: float | None, fmt: str = ".3f") -> str:
    return "–" if v is None else format(v, fmt)


def _img(rgb: np.ndarray, alt: str, cls: str) -> str:
    return f'<img class="{cls}" src="{jpeg_uri(rgb)}" alt="{escape(alt)}">'


def _summary_table(images: Sequence[ReportImage], models: Sequence[str], thr_of: Mapping[str, float]) -> str:
    head = ("<tr><th>model</th><th>threshold</th><th>images</th><th>read</th><th>called ALL</th><th>NO CALL</th>"
            "<th>cells found</th><th>cells called ALL</th><th>cells NO CALL</th><th>blast %</th><th>cells to refer</th>"
            "<th>no cell found</th><th>check by eye</th><th>differential (lymphoid gate)</th></tr>")
    rows, flags = [], {}
    for m in models:
        s = batch_summary([(im.name, im.results.get(m)) for im in images], thr_of[m])
        rows.append(f"<tr><td>{escape(m)}</td><td>{float(thr_of[m]):.2f}</td><td>{s['images']}</td><td>{s['read']}</td>"
                    f"<td>{s['images_all']}</td><td>{s['images_no_call']}</td><td>{s['cells']}</td>"
                    f"<td>{s['all_cells']}</td><td>{s['no_call']}</td>"
                    f"<td>{_f(s['blast_pct'], '.1f')}</td><td>{s['refer']}</td><td>{s['whole_image']}</td>"
                    f"<td>{len(s['check_by_eye'])}</td><td>{escape(differential_text(s['differential'])) or 'n/a'}</td>"
                    "</tr>")
        for n, notes in s["check_by_eye"]:
            flags.setdefault(n, {}).update(dict.fromkeys(notes))
        for n, err in s["failed"]:
            flags.setdefault(n, {})[f"not read by {m}: {err}"] = None
    eye = ("<h3>Check by eye</h3><ul>" + "".join(f"<li><b>{escape(n)}</b>: {escape('; '.join(notes))}</li>"
                                                 for n, notes in flags.items()) + "</ul>") if flags else \
        "<p>No image was flagged for checking by eye.</p>"
    return (f'<table class="summary">{head}{"".join(rows)}</table>'
            "<p class=\"small\">Blast % = cells called ALL / white cells found (cells cut by the image edge "
            "included). Cells to refer: P(ALL) within the model's refer band around the threshold; a person must "
            f"look at them. Images where no white cell was found were classified whole and add no cells.</p>{eye}")


def _cell_grid(res: ImageAnalysis, thr: float, alpha: float, colormap: str) -> str:
    refer = res.refer(thr)
    labels, reasons = res.outcomes(thr)
    tiles = []
    for i in np.argsort(-np.asarray(res.p_all), kind="stable"):
        crop = cv2.resize(np.asarray(res.crops[i], np.uint8), (CELL_SIDE, CELL_SIDE), interpolation=cv2.INTER_CUBIC)
        heat = cv2.resize(np.asarray(res.map_of(int(i), thr), np.float32), (CELL_SIDE, CELL_SIDE))
        call, why = labels[int(i)], reasons[int(i)]
        label = "whole image" if res.whole_image else f"cell {res.cells[i].id}"
        mark = (f' <span class="small">{escape(why)}</span>' if why
                else ' <span class="refer">refer</span>' if refer[i] else "")
        pic = _img(overlay(crop, heat, alpha, colormap), label, "crop")
        tiles.append(f'<figure class="cell">{pic}<figcaption>{label}: <b class="{call.replace(" ", "")}">{call}</b> '
                     f"{res.p_all[i]:.2f}{mark}{size_across(res.size_of(int(i)))}</figcaption></figure>")
    return f'<div class="grid">{"".join(tiles)}</div>'


def _image_section(k: int, im: ReportImage, models: Sequence[str], thr_of: Mapping[str, float],
                   alpha: float, colormap: str) -> str:
    parts = [f'<section class="image"><h2>Image {k}: {escape(im.name)}</h2>']
    for m in models:
        res, thr = im.results.get(m), thr_of[m]
        if res is None or isinstance(res, str):
            parts.append(f"<h3>{escape(m)}</h3><p class=\"warn\">Not read: {escape(res or 'no result')}</p>")
            continue
        r = res.summary(thr)
        why = f" ({escape(r['reason'])})" if r["reason"] else ""
        text = (f"image <b class=\"{r['call'].replace(' ', '')}\">{r['call']}</b>{why}: "
                f"{escape(r['rule'].split(': ', 1)[1])} (cell threshold {thr:.2f})")
        if not r["whole_image"]:
            text += (f"; {r['cells']} white cell(s) found, {r['all_cells']} called ALL, {r['no_call']} NO CALL "
                     f"(blast {_f(r['blast_pct'], '.1f')} % of the cells with a call), {r['refer']} in the refer band")
            if r["differential"]:
                text += f"; differential (lymphoid gate): {escape(differential_text(r['differential']))}"
        notes = "".join(f'<p class="warn">Check by eye: {escape(n)}</p>' for n in r["notes"])
        if r["whole_image"]:
            field_pic, cap = np.asarray(im.rgb, np.uint8), "No white cell found: the whole image was classified"
        else:
            field_pic = draw_cells(np.asarray(im.rgb, np.uint8), res.cells, res.cell_labels(thr),
                                   [bool(v) for v in res.refer(thr)], FIELD_SIDE)
            cap = "Found white cells, numbered; red = called ALL, blue = HEM, amber ring = refer"
        parts.append(f'<div class="model"><h3>{escape(m)}</h3><p>{text}</p>{notes}'
                     f'<figure class="field">{_img(field_pic, im.name, "field")}<figcaption>{cap}</figcaption></figure>'
                     f"{_cell_grid(res, thr, alpha, colormap)}"
                     '<p class="small">Cells sorted by P(ALL); each map shows where the evidence for the '
                     "cell's call (ALL or HEM, as labelled) is strongest (brightest; yellow in the default viridis scale) to "
                     "none (darkest).</p></div>")
    return "".join(parts) + "</section>"


def _model_section(info: ModelInfo, thr: float | None) -> str:
    train = "".join(
        f"<tr><td>{escape(t['role'])}</td><td>{escape(t['key'])}</td>"
        f"<td>{escape(', '.join(f'{lab}: {n}' for lab, n in sorted(t['images'].items())))}</td>"
        f"<td>{'–' if t['groups'] is None else t['groups']}</td></tr>" for t in info.training)
    figs = "".join(
        f"<tr><td>{escape(str(f['key']))}<br><span class=\"small\">{escape(str(f['description']))}</span></td>"
        f"<td>{escape(str(f['role_text']))}</td>"
        f"<td>{_f(f['image_balanced_accuracy'])}</td><td>{_f(f['image_roc_auc'])}</td>"
        f"<td>{_f(f['cell_balanced_accuracy'])}</td><td>{_f(f['cell_roc_auc'])}</td>"
        f"<td>{'–' if f['n_images'] is None else f['n_images']}</td></tr>" for f in info.figures)
    return (f'<section class="modelinfo"><h3>{escape(info.name)}</h3>'
            f"<p>Weights SHA-256: <code>{escape(info.weights_sha256 or 'unknown')}</code>"
            f"{'' if thr is None else f'; threshold used here {thr:.2f}'}</p>"
            + (f'<p class="warn">The figures below were measured on other weights (SHA-256 '
               f"{escape(info.report_sha256)}): they do not describe the weights used here.</p>"
               if info.report_sha256 and info.weights_sha256 and info.report_sha256 != info.weights_sha256 else "")
            + f"<p>Training data: {escape(', '.join(info.data) or 'not recorded')}</p>"
            + (f'<table><tr><th>used for</th><th>set</th><th>images per label</th><th>groups</th></tr>{train}</table>'
               if train else "<p>No training summary recorded.</p>")
            + (f"<table><tr><th>set</th><th>role of the data</th><th>image bal. acc.</th><th>image ROC AUC</th>"
               f"<th>cell bal. acc.</th><th>cell ROC AUC</th><th>images</th></tr>{figs}</table>"
               '<p class="small">Validation figures are those the threshold was chosen on: they are not test '
               "figures. Test figures come from data never used to choose anything.</p>"
               if figs else "<p>No evaluation report: no validated figures.</p>")
            + "</section>")


_CSS = """
body{font-family:Helvetica,Arial,sans-serif;font-size:11pt;color:#111;margin:1.5em}
h1{font-size:17pt;margin:0 0 .3em}h2{font-size:14pt}h3{font-size:12pt;margin:.8em 0 .3em}
.notice{border:2px solid #b00;background:#fee;color:#700;padding:.5em .8em;font-weight:bold}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #999;padding:2px 6px;font-size:9.5pt}
th{background:#eee}.small{font-size:9pt;color:#444}.warn{color:#8a5a00;font-weight:bold}
.ALL{color:#d62728}.HEM{color:#1f77b4}.NOCALL{color:#6e6e6e}.refer{background:#ffb000;color:#000;padding:0 3px;font-weight:bold}
figure{margin:.3em}.field img{max-width:100%;height:auto}.grid{display:flex;flex-wrap:wrap}
.cell{width:170px;break-inside:avoid;page-break-inside:avoid}.cell figcaption{font-size:9pt}
.image{border-top:1px solid #999;margin-top:1em}
@media print{body{margin:0}.image,.models{page-break-before:always;break-before:page;border:none}
.field img{max-height:13cm;width:auto}
.modelinfo,.field,table{break-inside:avoid;page-break-inside:avoid}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


def _profiles_line(models: Sequence[str], profiles: Mapping[str, str], notes: Mapping[str, str]) -> str:
    """Which calibration each model's calls used: a named site profile (with what it is and its
    study, ``notes``) or the stored one."""
    default = "calibration and thresholds fitted on this lab's own labelled cells"
    used = [f"{escape(m)}: site profile <b>{escape(profiles[m])}</b> ({escape(notes.get(m) or default)})"
            for m in models if profiles.get(m)]
    return f"<p>{'; '.join(used)}.</p>" if used else "<p>Calibration: each model's stored one (no site profile).</p>"


def _sample_table(sample: Mapping[str, Any]) -> str:
    cells = "".join(f"<tr><th>{label}</th><td>{escape(str(sample.get(k) or '')) or 'not given'}</td></tr>"
                    for k, label in SAMPLE_FIELDS)
    return f'<table class="sample">{cells}</table>'


def build_case_report(images: Sequence[ReportImage], models: Sequence[ModelInfo], threshold_of: Mapping[str, float],
                      created: _dt.datetime | None = None, title: str = "Case report", alpha: float = 0.4,
                      colormap: str = DEFAULT_COLORMAP, site_profiles: Mapping[str, str] | None = None,
                      site_notes: Mapping[str, str] | None = None, sample: Mapping[str, Any] | None = None) -> bytes:
    """The HTML case report of one batch (UTF-8 bytes), fully self-contained.

    Args:
        images: the batch, in upload order; ``results`` keyed by the names of ``models``.
        models: the models to report, in the order shown.
        threshold_of: the decision threshold per model name (the page's current setting).
        created: the time printed in the header (default: now, local time zone).
        title: the heading (escaped).
        alpha, colormap: how the cell maps are drawn (:func:`leukemia_core.explain.overlay`).
        site_profiles: the site profile name per model whose calls used one (Verify at your lab);
            the others used their stored calibration.
        site_notes: per model, what its site profile is and its study's figures
            (:func:`~leukemia_core.verification.profile.profile_summary`).
        sample: the sample's fields (:data:`SAMPLE_FIELDS`: specimen, patient reference, sample
            date, operator); each missing one is printed as "not given".
    """
    names = [m.name for m in models]
    missing = [n for n in names if n not in threshold_of]
    if missing:
        raise ValueError(f"no threshold for model(s) {', '.join(missing)}")
    when = (created or _dt.datetime.now().astimezone()).isoformat(sep=" ", timespec="seconds")
    thrs = ", ".join(f"{escape(n)} {threshold_of[n]:.2f}" for n in names)
    body = [f"<h1>{escape(title)}</h1>", f'<p class="notice">{escape(NOTICE)}</p>',
            _sample_table(sample or {}),
            f"<p>Created {escape(when)}. {len(images)} image(s), model(s) and threshold(s): {thrs}. "
            "P(ALL) is calibrated on validation cells; a cell is called ALL when P(ALL) &ge; threshold.</p>",
            _profiles_line(names, site_profiles or {}, site_notes or {}),
            "<h2>Batch summary</h2>", _summary_table(images, names, threshold_of)]
    body += [_image_section(k, im, names, threshold_of, alpha, colormap) for k, im in enumerate(images, 1)]
    body += ['<section class="models"><h2>Models</h2>']
    body += [_model_section(m, threshold_of[m.name]) for m in models] + ["</section>",
             f'<p class="notice">{escape(NOTICE)}</p>']
    doc = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
           f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>")
    return doc.encode("utf-8")
