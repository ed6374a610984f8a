"""The README's results tables, generated from the shipped reports (never typed by hand).

``python -m leukemia_core table --readme docs/results.md`` replaces the text between
``<!-- results:start -->`` and ``<!-- results:end -->`` with tables built from
``model_weights/*.report.json`` (format ``leukemia_core.report/2``), ``*.manifest.json``,
``cam_check.json`` and ``reference_published.json``:

* one table per **test** set (``cnmc/test`` first, then ``cnmc-prelim/test``, ``aria-original/test``):
  per model and for the colour-only baseline (scored on the same cells), the threshold (and the
  field threshold for images of several cells, where it differs), the
  number of cells and their balanced accuracy and ROC AUC, the number of images (fields) and their
  balanced accuracy, ROC AUC, sensitivity and specificity;
* the same for each **validation** set, under a title saying that it chose the epoch, calibrator,
  threshold and refer band and is not a test set;
* the calibration of each model (threshold, refer band, ECE before and after, validation cells);
* training facts beside the reference system's published figures, labelled with their source.

It also fills the bench block (``<!-- bench:start -->``, from ``bench.json``), the load-test block
(``<!-- loadtest:start -->``, :mod:`.loadtest_table`), the recipe comparisons
(``<!-- ablations:start -->``, :mod:`.ablations`) and the short summary block
(``<!-- summary:start -->``, :mod:`.summary`) when the file has them.
"""

from __future__ import annotations

from pathlib import Path

from ..docblocks import has_block, markers, replace_block
from ..evaluation.baseline import NAME as BASELINE
from ..models import list_models
from ..models.card import report_thresholds
from ..models.weights import read_manifest
from ..jsonio import read_json
from ..paths import artefact_path
from .ablations import ABLATIONS_BLOCK, build_ablations
from .loadtest_table import LOADTEST_BLOCK, build_loadtest
from .scores import reference_label
from .tables import (cells_seen, fmt, fmt_count, lolo_reports, md_header, md_row, probe_of, recipe_of, role_of,
                     start_of, trained_labs)
from .sets import role_text
from .summary import SUMMARY_BLOCK, build_summary

BLOCK, BENCH_BLOCK = "results", "bench"
START, END = markers(BLOCK)
BENCH_START, BENCH_END = markers(BENCH_BLOCK)
BASELINE_LABEL = "colour-only baseline (logistic regression on 9 colour statistics of each cell)"
TEST_TITLE = "**Test sets** — reported only, never used to choose anything."
VAL_TITLE = ("**Validation sets** — these chose the epoch, calibrator, threshold and refer band: "
             "not a test set, so their figures are optimistic.")
SET_HEADER = ["model", "threshold", "cells", "cells: balanced acc.", "cells: ROC AUC", "images",
              "images: balanced acc.", "images: ROC AUC", "images: sensitivity (ALL)", "images: specificity (HEM)"]
CAL_TITLE = ("**Calibration** — Platt scaling fitted on the validation cells; the threshold (calibrated P(ALL); "
             "cells and images of one cell), the refer band and the field threshold (images of several cells, on "
             "the mean P(ALL) of their whole cells) were chosen on validation too. ECE: expected calibration error "
             "on the validation "
             "cells, 10 bins, each dataset and class weighted equally (0 = perfect).")
CAL_HEADER = ["model", "threshold", "field threshold", "refer band", "ECE before", "ECE after", "validation cells"]
LOLO_TITLE = ("**Left-out labs** — each model here was trained without the lab it is scored on: it neither "
              "trained nor chose its epoch, calibrator or threshold on any of that lab's images (leave-one-lab-out). "
              "The colour-only baseline is one fit on the other labs' training cells. BCCD holds normal cells only: "
              "its figure is the share of its white cells called ALL (lower is better).")
LOLO_HEADER = ["model", "trained on", "recipe", "weights of", "lab left out", "cells", "cells: ROC AUC",
               "cells: balanced acc.", "normal cells called ALL", "images", "images: ROC AUC", "images: balanced acc.",
               "lab probe, normal cells (chance)"]
TRAIN_TITLE = "**Training, and the reference system's published figures**"
TRAIN_HEADER = ["model", "trained on", "epochs", "cells seen", "training time", "weights of",
                "Grad-CAM energy on cells", "published: train accuracy", "published: validation accuracy"]


def _label(m: str) -> str:
    return BASELINE_LABEL if m == BASELINE else f"`{m}`"


def _threshold(r: dict) -> str:
    """The report's threshold; with a field rule, also the one for images of several cells."""
    rt = report_thresholds(r)
    thr, ft = rt.stated_threshold, rt.field_threshold
    if thr is None or ft is None or abs(float(ft) - float(thr)) < 1e-9:
        return fmt(thr, 2)
    return f"{float(thr):.2f} (fields: {float(ft):.2f})"


def _set_row(m: str, r: dict, s: dict) -> str:
    cm, im = s.get("cell_metrics") or {}, s.get("metrics") or {}
    n_cells = s.get("n_cells", cm.get("n"))
    return md_row([_label(m), _threshold(r), fmt_count(n_cells),
                 fmt(cm.get("balanced_accuracy")), fmt(cm.get("roc_auc")), fmt_count(s.get("n_images")),
                 fmt(im.get("balanced_accuracy")), fmt(im.get("roc_auc")), fmt(im.get("sensitivity")),
                 fmt(im.get("specificity"))])


def _set_tables(reports: dict[str, dict], role: str) -> list[str]:
    from .sets import set_sort_key

    keys = sorted({s["key"] for r in reports.values() for s in r.get("sets", []) if role_of(s) == role},
                  key=set_sort_key)
    lines: list[str] = []
    for key in keys:
        first = next(s for r in reports.values() for s in r["sets"] if s["key"] == key)
        role_desc = role_text(first)
        desc = str(first.get("description", "")).rstrip(". ")
        lines += [f"**{key}** — {desc}. Role: {role_desc}.", "", *md_header(SET_HEADER)]
        cells = {}
        for m, r in reports.items():
            s = next((s for s in r["sets"] if s["key"] == key), None)
            if s is not None:
                lines.append(_set_row(m, r, s))
                cells[m] = s.get("n_cells")
        model_cells = {c for m, c in cells.items() if m != BASELINE}
        model_cells.discard(None)
        if cells.get(BASELINE) is not None and model_cells and model_cells != {cells[BASELINE]}:
            lines += ["", f"The colour-only baseline scored {fmt_count(cells[BASELINE])} cells of these images, the models "
                          f"{', '.join(map(str, sorted(model_cells)))}."]
        lines.append("")
    return lines


def _calibration_rows(reports: dict[str, dict]) -> list[str]:
    lines = [CAL_TITLE, "", *md_header(CAL_HEADER)]
    for m, r in reports.items():
        cal = r.get("calibration") or {}
        if m == BASELINE or not cal.get("fitted"):
            lines.append(md_row([_label(m), fmt(report_thresholds(r).stated_threshold, 2), "–", "none", "–", "–", "–"]))
            continue
        info = cal.get("info") or {}
        rt = report_thresholds(r)
        band = f"{rt.refer_band[0]:.2f}–{rt.refer_band[1]:.2f}" if rt.refer_band else "none"
        lines.append(md_row([_label(m), f"{rt.threshold:.2f}", fmt(rt.field_threshold, 2), band, fmt(info.get("ece_before")),
                           fmt(info.get("ece_after")), fmt_count(info.get("n_cells"))]))
    return lines + [""]


def _lolo_rows(weights_dir: Path) -> list[str]:
    """The left-out-lab table from ``<weights_dir>/lolo/*.report.json`` (``evaluate --left-out``,
    ``baseline --left-out``), models in registry order then the baseline, or nothing when there are
    none. A lab of one class has no balanced accuracy or AUC: its row gives the share called ALL."""
    rows = []
    for r, man in lolo_reports(weights_dir):
        for s in r.get("sets", []):
            if role_of(s) != "left-out":
                continue
            cm, im = s.get("cell_metrics") or {}, s.get("metrics") or {}
            spec = cm.get("specificity")
            both = len({i["label"] for i in s.get("images", [])}) == 2
            rows.append(md_row([_label(r["model"]), " + ".join(r.get("trained_on") or []) or "–", recipe_of(man),
                              (r.get("weights_date") or "–")[:10], s["key"].split("/")[0],
                              fmt_count(s.get("n_cells", cm.get("n"))), fmt(cm.get("roc_auc")),
                              fmt(cm.get("balanced_accuracy") if both else None),
                              fmt(None if spec is None else 1 - spec), fmt_count(s.get("n_images")),
                              fmt(im.get("roc_auc")), fmt(im.get("balanced_accuracy") if both else None), probe_of(r)]))
    return [LOLO_TITLE, "", *md_header(LOLO_HEADER), *rows, ""] if rows else []


def build_tables(weights_dir: Path) -> str:
    """Markdown tables of the test and validation sets, the calibration and the training facts."""
    wdir = Path(weights_dir)
    models = list_models()
    reports = {m: read_json(artefact_path(m, "report", wdir)) for m in (*models, BASELINE)}
    reports = {m: r for m, r in reports.items() if r}
    if not reports:
        return "_No reports in model_weights/ yet: run the commands under “Reproduce the shipped models”._"
    from ..evaluation.evaluate import REPORT_FORMAT

    older = [m for m, r in reports.items() if r.get("format") != REPORT_FORMAT]
    reports = {m: r for m, r in reports.items() if m not in older}
    if not reports:
        return (f"_No {REPORT_FORMAT} reports in model_weights/ yet (older format: {', '.join(older)}): "
                "rerun the commands under “Reproduce the shipped models”._")
    manifests = {m: read_manifest(m, wdir, missing_ok=True) for m in models}
    cam = read_json(wdir / "cam_check.json") or {}
    ref = read_json(wdir / "reference_published.json") or {}
    lines: list[str] = []
    for title, role in ((TEST_TITLE, "test"), (VAL_TITLE, "val")):
        tables = _set_tables(reports, role)
        if tables:
            lines += [title, "", *tables]
    lines += _lolo_rows(wdir)
    lines += _calibration_rows(reports)
    lines += [TRAIN_TITLE, "", *md_header(TRAIN_HEADER)]
    for m in models:
        if m not in reports:
            continue
        man = manifests.get(m) or {}
        tr = man.get("training", {})
        rm = ref.get("models", {}).get(m, {})
        cm = cam.get("models", {}).get(m)
        energy = "–"
        if cm and cm.get("mean_energy_on_cells") is not None:
            area = cm.get("mask_area_mean", cam.get("mask_area_mean"))
            energy = f"{cm['mean_energy_on_cells']:.2f}" + (f" (cells cover {area:.2f})" if area is not None else "")
        secs = tr.get("seconds")
        seen = cells_seen(tr)
        lines.append(md_row([_label(m), " + ".join(trained_labs(tr)) or "–", fmt_count(tr.get("epochs_run")),
                           "–" if seen is None else f"{seen:,}",
                           "–" if secs is None else f"{secs / 60:.0f} min", (man.get("date") or "–")[:10],
                           energy, fmt(rm.get("train_accuracy")), fmt(rm.get("val_accuracy"))]))
    lines.append("")
    if older:
        lines += [f"Left out, written in an older report format (rerun `evaluate` / `baseline`): "
                  f"{', '.join(_label(m) for m in older)}.", ""]
    if ref:
        lines += [f"Published columns: {reference_label(ref)}, so not comparable with the tables above.", ""]
    sizes = sorted({(man or {}).get("input_size") for man in manifests.values() if man} - {None})
    starts = "; ".join(f"`{name}` {start_of(man)}" for name, man in manifests.items() if man)
    if sizes:
        lines.append(f"Input size {', '.join(map(str, sizes))} px; where each model's weights started: {starts}. "
                     "Generated by `python -m leukemia_core table --readme docs/results.md` from the files in "
                     "`model_weights/`.")
    return "\n".join(lines).rstrip("\n")


def build_bench(weights_dir: Path) -> str:
    """Markdown figures from ``bench.json`` (written by ``python -m leukemia_core bench``)."""
    b = read_json(Path(weights_dir) / "bench.json")
    if not b or not isinstance(b.get("models"), dict):
        return "_Not measured yet: run `python -m leukemia_core bench --out model_weights/bench.json`._"
    m = b.get("machine", {})
    lines = [f"Measured {b.get('date', '')[:10]} on {m.get('cpu_model', '?')}, {m.get('usable_cores', '?')} cores, "
             f"{m.get('memory_mib', 0) / 1024:.0f} GiB, no GPU, TensorFlow {m.get('tensorflow', '?')}; "
             "medians of interleaved repeats after warm-up, one image (450x450 C-NMC sample) unless stated.", "",
             "| model | input | predict ms | floor ms | predict ratio | Grad-CAM ms | Grad-CAM ratio | "
             "naive tf-keras-vis Grad-CAM ms | batch img/s | batch ratio | train img/s | pipeline ratio | "
             "cells/s | cell pipeline ratio |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in b["models"].items():
        if not isinstance(r, dict) or "predict_ms" not in r:
            continue
        lines.append(f"| `{name}` | {r.get('input_size')} | {fmt(r.get('predict_ms'), 1)} | {fmt(r.get('floor_ms'), 1)} | "
                     f"{fmt(r.get('predict_ratio'), 2)} | {fmt(r.get('gradcam_ms'), 1)} | {fmt(r.get('gradcam_ratio'), 2)} | "
                     f"{fmt(r.get('gradcam_naive_ms'), 0)} | {fmt(r.get('batch_img_s'), 1)} | {fmt(r.get('batch_ratio'), 2)} | "
                     f"{fmt(r.get('train_img_s'), 1)} | {fmt(r.get('pipeline_ratio'), 2)} | "
                     f"{fmt(r.get('cell_pipeline_cells_s'), 1)} | {fmt(r.get('cell_pipeline_ratio'), 2)} |")
    mem, app, finder = b.get("memory") or {}, b.get("app") or {}, b.get("cell_finder") or {}
    shared = b.get("shared_cells") or {}
    lines += ["", "Cells/s: every bundled sample read, found, cropped, scored and calibrated, against the same "
              "forward passes alone (cell pipeline ratio); training on cell crops through `balanced_batches` "
              "with augmentation against in-memory batches without (pipeline ratio)."
              + (f" Cell finder alone: {fmt(finder.get('finder_img_s'), 1)} images/s, "
                 f"{fmt(finder.get('finder_cells_s'), 1)} cells/s." if finder else "")
              + (f" An image's cells found and cropped once for all {shared['models']} models (the app's \"Compare "
                 f"all models\", `predict` and `screen` with several models): {fmt(shared.get('shared_cells_img_s'), 1)} "
                 f"images/s, against {fmt(shared.get('per_model_cells_img_s'), 1)} images/s finding them once per "
                 f"model (x{fmt(shared.get('shared_cells_speedup'), 2)})." if shared else "")]
    sc = mem.get("scorecam") or {}
    bounded, unbounded = sc.get("bounded") or {}, sc.get("unbounded") or {}
    lines += ["", f"All four models loaded (with their Grad-CAM explainers): **{fmt(mem.get('rss_mb'), 0)} MB RSS**."
              + (f" Then Score-CAM (both classes) on the bench's field with every model ({bounded.get('cells', '?')} cells "
                 "in all): "
                 f"**{fmt(bounded.get('rss_mb'), 0)} MB RSS** (peak {fmt(bounded.get('peak_rss_mb'), 0)} MB) under the "
                 f"server's bounds ({(sc.get('bounds') or {}).get('max_explainers', '?')} explainers kept), against "
                 f"{fmt(unbounded.get('rss_mb'), 0)} MB (peak {fmt(unbounded.get('peak_rss_mb'), 0)} MB) keeping every "
                 "explainer." if bounded and unbounded else "")
              + f" Cold start, from `./run app` (`streamlit run {app.get('script') or 'app.py'}`) to the first "
              f"rendered prediction on a sample image ({app.get('method') or 'not measured'}): "
              f"**{fmt(app.get('cold_start_s'), 1)} s**" + (f" ({app.get('reason')})" if app.get("reason") else "")
              + (f", its first Grad-CAM map at **{fmt(app.get('first_map_s'), 1)} s**" if app.get("first_map_s") else "")
              + "."
              + (f" A bare Streamlit page (one line of text) started the same way in the same run shows in "
                 f"{fmt(app.get('bare_page_s'), 2)} s: the first call takes x{fmt(app.get('cold_start_ratio'), 2)} "
                 f"of that, the first map x{fmt(app.get('first_map_ratio'), 2)}." if app.get("bare_page_s") else "")]
    met = b.get("targets_met") or {}
    targets = b.get("targets") or {}
    if met:
        lines += ["", "Targets: " + "; ".join(f"{k} {targets.get(k, '')}: {'met' if v else 'missed' if v is False else 'n/a'}"
                                           for k, v in met.items()) + "."]
    for k, why in (b.get("missed_because") or {}).items():
        lines.append(f"- {k} missed: " + " ".join(why if isinstance(why, list) else [str(why)]))
    return "\n".join(lines)


def write_results(weights_dir: Path, readme: Path | None = None) -> str:
    """Return the results tables; when ``readme`` is given, replace its results block (and its
    summary, bench, load-test and ablation blocks, when it has them) in place; a file with a summary block
    need not have a results block (the README)."""
    text = build_tables(weights_dir)
    if readme is not None:
        content = Path(readme).read_text()
        where = str(readme)
        if has_block(content, SUMMARY_BLOCK):
            content = replace_block(content, SUMMARY_BLOCK, build_summary(weights_dir), where)
        if has_block(content, BLOCK) or not has_block(content, SUMMARY_BLOCK):
            content = replace_block(content, BLOCK, text, where)
        for name, build in ((BENCH_BLOCK, build_bench), (LOADTEST_BLOCK, build_loadtest),
                            (ABLATIONS_BLOCK, build_ablations)):
            if has_block(content, name):
                content = replace_block(content, name, build(weights_dir), where)
        Path(readme).write_text(content)
    return text
