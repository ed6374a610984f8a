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

from ..evaluation.baseline import NAME as BASELINE
from ..models import list_models
from ..models.card import report_thresholds
from ..models.weights import read_json, read_manifest
from ..paths import ARTEFACT_SUFFIXES, artefact_path
from .scores import reference_label
from .sets import role_text

START, END = "<!-- results:start -->", "<!-- results:end -->"
BENCH_START, BENCH_END = "<!-- bench:start -->", "<!-- bench:end -->"
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
               "cells: balanced acc.", "normal cells called ALL", "images", "images: ROC AUC", "images: balanced acc."]
LOLO_DIR = "lolo"
TRAIN_TITLE = "**Training, and the reference system's published figures**"
TRAIN_HEADER = ["model", "trained on", "epochs", "cells seen", "training time", "weights of",
                "Grad-CAM energy on cells", "published: train accuracy", "published: validation accuracy"]


def _f(v, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _n(v) -> str:
    return "–" if v is None else str(v)


def _ba_auc(metrics: dict) -> str:
    """``"bal. acc. / AUC"`` of a metrics dict (``–`` without one)."""
    return f"{_f(metrics.get('balanced_accuracy'))} / {_f(metrics.get('roc_auc'))}" if metrics else "–"


def _called_all(cell_metrics: dict) -> str:
    """The share of normal cells called ALL (1 - specificity), in per cent."""
    spec = cell_metrics.get("specificity")
    return "–" if spec is None else f"{100 * (1 - spec):.1f} %"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _header(cols: list[str]) -> list[str]:
    return [_row(cols), "|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|"]


def _role(s: dict) -> str:
    return s.get("role") or s["key"].split("/")[-1]


def _label(m: str) -> str:
    return BASELINE_LABEL if m == BASELINE else f"`{m}`"


def _threshold(r: dict) -> str:
    """The report's threshold; with a field rule, also the one for images of several cells."""
    rt = report_thresholds(r)
    thr, ft = rt.stated_threshold, rt.field_threshold
    if thr is None or ft is None or abs(float(ft) - float(thr)) < 1e-9:
        return _f(thr, 2)
    return f"{float(thr):.2f} (fields: {float(ft):.2f})"


def _set_row(m: str, r: dict, s: dict) -> str:
    cm, im = s.get("cell_metrics") or {}, s.get("metrics") or {}
    n_cells = s.get("n_cells", cm.get("n"))
    return _row([_label(m), _threshold(r), _n(n_cells),
                 _f(cm.get("balanced_accuracy")), _f(cm.get("roc_auc")), _n(s.get("n_images")),
                 _f(im.get("balanced_accuracy")), _f(im.get("roc_auc")), _f(im.get("sensitivity")),
                 _f(im.get("specificity"))])


def _set_tables(reports: dict[str, dict], role: str) -> list[str]:
    from .sets import set_sort_key

    keys = sorted({s["key"] for r in reports.values() for s in r.get("sets", []) if _role(s) == role},
                  key=set_sort_key)
    lines: list[str] = []
    for key in keys:
        first = next(s for r in reports.values() for s in r["sets"] if s["key"] == key)
        role_desc = role_text(first)
        desc = str(first.get("description", "")).rstrip(". ")
        lines += [f"**{key}** — {desc}. Role: {role_desc}.", "", *_header(SET_HEADER)]
        cells = {}
        for m, r in reports.items():
            s = next((s for s in r["sets"] if s["key"] == key), None)
            if s is not None:
                lines.append(_set_row(m, r, s))
                cells[m] = s.get("n_cells")
        model_cells = {c for m, c in cells.items() if m != BASELINE}
        model_cells.discard(None)
        if cells.get(BASELINE) is not None and model_cells and model_cells != {cells[BASELINE]}:
            lines += ["", f"The colour-only baseline scored {_n(cells[BASELINE])} cells of these images, the models "
                          f"{', '.join(map(str, sorted(model_cells)))}."]
        lines.append("")
    return lines


def _calibration_rows(reports: dict[str, dict]) -> list[str]:
    lines = [CAL_TITLE, "", *_header(CAL_HEADER)]
    for m, r in reports.items():
        cal = r.get("calibration") or {}
        if m == BASELINE or not cal.get("fitted"):
            lines.append(_row([_label(m), _f(report_thresholds(r).stated_threshold, 2), "–", "none", "–", "–", "–"]))
            continue
        info = cal.get("info") or {}
        rt = report_thresholds(r)
        band = f"{rt.refer_band[0]:.2f}–{rt.refer_band[1]:.2f}" if rt.refer_band else "none"
        lines.append(_row([_label(m), f"{rt.threshold:.2f}", _f(rt.field_threshold, 2), band, _f(info.get("ece_before")),
                           _f(info.get("ece_after")), _n(info.get("n_cells"))]))
    return lines + [""]


def trained_labs(training: dict) -> list[str]:
    """The labs of a manifest's ``training`` images, sorted (``aria``, ``bccd``, ``cnmc``)."""
    return sorted({k.split("/")[0] for k in training.get("train", {}).get("images", {})})


def cells_seen(training: dict) -> int | None:
    """Cells a manifest's run drew: epochs x batches per epoch x batch size (None when unknown)."""
    epochs, steps, batch = training.get("epochs_run"), training.get("steps_per_epoch"), training.get("batch_size")
    return epochs * steps * batch if epochs and steps and batch else None


def lolo_reports(weights_dir: Path) -> list[tuple[dict, dict | None]]:
    """``(report, manifest)`` of each report in ``<weights_dir>/lolo/`` (``evaluate --left-out``,
    ``baseline --left-out``), with the training manifest of its weights where one is kept beside it
    (``<stem>.manifest.json``, else None): models in registry order, then the baseline; older
    weights first within a model."""
    folder = Path(weights_dir) / LOLO_DIR
    found = []
    for p in sorted(folder.glob("*.report.json")) if folder.is_dir() else []:
        rep = read_json(p)
        if rep:
            found.append((rep, read_manifest(p.name.removesuffix(".report.json"), folder, missing_ok=True)))
    order = [*list_models(), BASELINE]
    return sorted(found, key=lambda rm: (order.index(rm[0]["model"]) if rm[0]["model"] in order else len(order),
                                         rm[0].get("weights_date") or ""))


def crop_of(manifest: dict) -> str:
    """How a model crops each cell, read from its manifest's ``mask_outside``."""
    return "cell on black" if manifest.get("mask_outside", True) else "with surroundings"


def stain_of(manifest: dict, jitter: str = "H/E stain jitter", none: str = "no stain jitter") -> str:
    """The stain augmentation a run trained with, read from its manifest: ``jitter`` when the H/E
    stain jitter was on, ``none`` when it was off, "no augmentation" without augmentation."""
    aug = manifest.get("training", {}).get("augmentation")
    if aug is None:
        return "no augmentation"
    return jitter if aug.get("stain_scale") or aug.get("stain_shift") else none


def recipe_of(manifest: dict | None) -> str:
    """What a training run did, read from its manifest: crop, stain jitter, backbone norm, instance
    teacher, input size and budget; ``–`` without a manifest."""
    if not manifest:
        return "–"
    tr = manifest.get("training", {})
    parts = [crop_of(manifest), stain_of(manifest)]
    if manifest.get("norm", "batch") != "batch":
        parts.append(f"{manifest['norm']} norm")
    inst = tr.get("instances")
    if inst:
        parts.append(f"instance teacher (left out {inst['dropped']:,} of {inst['weak_all_cells']:,} Aria ALL cells)")
    parts.append(f"{manifest.get('input_size', '–')} px")
    if tr.get("epochs_run") and tr.get("steps_per_epoch"):
        parts.append(f"{tr['epochs_run']} x {tr['steps_per_epoch']} batches")
    return ", ".join(parts)


def _lolo_rows(weights_dir: Path) -> list[str]:
    """The left-out-lab table from ``<weights_dir>/lolo/*.report.json`` (``evaluate --left-out``,
    ``baseline --left-out``), models in registry order then the baseline, or nothing when there are
    none. A lab of one class has no balanced accuracy or AUC: its row gives the share called ALL."""
    rows = []
    for r, man in lolo_reports(weights_dir):
        for s in r.get("sets", []):
            if _role(s) != "left-out":
                continue
            cm, im = s.get("cell_metrics") or {}, s.get("metrics") or {}
            spec = cm.get("specificity")
            both = len({i["label"] for i in s.get("images", [])}) == 2
            rows.append(_row([_label(r["model"]), " + ".join(r.get("trained_on") or []) or "–", recipe_of(man),
                              (r.get("weights_date") or "–")[:10], s["key"].split("/")[0],
                              _n(s.get("n_cells", cm.get("n"))), _f(cm.get("roc_auc")),
                              _f(cm.get("balanced_accuracy") if both else None),
                              _f(None if spec is None else 1 - spec), _n(s.get("n_images")),
                              _f(im.get("roc_auc")), _f(im.get("balanced_accuracy") if both else None)]))
    return [LOLO_TITLE, "", *_header(LOLO_HEADER), *rows, ""] if rows else []


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
    lines += [TRAIN_TITLE, "", *_header(TRAIN_HEADER)]
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
        lines.append(_row([_label(m), " + ".join(trained_labs(tr)) or "–", _n(tr.get("epochs_run")),
                           "–" if seen is None else f"{seen:,}",
                           "–" if secs is None else f"{secs / 60:.0f} min", (man.get("date") or "–")[:10],
                           energy, _f(rm.get("train_accuracy")), _f(rm.get("val_accuracy"))]))
    lines.append("")
    if older:
        lines += [f"Left out, written in an older report format (rerun `evaluate` / `baseline`): "
                  f"{', '.join(_label(m) for m in older)}.", ""]
    if ref:
        lines += [f"Published columns: {reference_label(ref)}, so not comparable with the tables above.", ""]
    sizes = sorted({(man or {}).get("input_size") for man in manifests.values() if man} - {None})
    inits = sorted({(man or {}).get("init") for man in manifests.values() if man} - {None})
    seeded = [f"`{name}` from {man['init_from']['file']}" for name, man in manifests.items()
              if man and man.get("init_from")]
    if seeded:
        inits = [f"{', '.join(inits)} ({'; '.join(seeded)}, this project's own weights trained on the same split)"]
    if sizes:
        lines.append(f"Input size {', '.join(map(str, sizes))} px; initialisation: {', '.join(inits)}. "
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
        lines.append(f"| `{name}` | {r.get('input_size')} | {_f(r.get('predict_ms'), 1)} | {_f(r.get('floor_ms'), 1)} | "
                     f"{_f(r.get('predict_ratio'), 2)} | {_f(r.get('gradcam_ms'), 1)} | {_f(r.get('gradcam_ratio'), 2)} | "
                     f"{_f(r.get('gradcam_naive_ms'), 0)} | {_f(r.get('batch_img_s'), 1)} | {_f(r.get('batch_ratio'), 2)} | "
                     f"{_f(r.get('train_img_s'), 1)} | {_f(r.get('pipeline_ratio'), 2)} | "
                     f"{_f(r.get('cell_pipeline_cells_s'), 1)} | {_f(r.get('cell_pipeline_ratio'), 2)} |")
    mem, app, finder = b.get("memory") or {}, b.get("app") or {}, b.get("cell_finder") or {}
    shared = b.get("shared_cells") or {}
    lines += ["", "Cells/s: every bundled sample read, found, cropped, scored and calibrated, against the same "
              "forward passes alone (cell pipeline ratio); training on cell crops through `balanced_batches` "
              "with augmentation against in-memory batches without (pipeline ratio)."
              + (f" Cell finder alone: {_f(finder.get('finder_img_s'), 1)} images/s, "
                 f"{_f(finder.get('finder_cells_s'), 1)} cells/s." if finder else "")
              + (f" An image's cells found and cropped once for all {shared['models']} models (the app's \"Compare "
                 f"all models\", `predict` and `screen` with several models): {_f(shared.get('shared_cells_img_s'), 1)} "
                 f"images/s, against {_f(shared.get('per_model_cells_img_s'), 1)} images/s finding them once per "
                 f"model (x{_f(shared.get('shared_cells_speedup'), 2)})." if shared else "")]
    sc = mem.get("scorecam") or {}
    bounded, unbounded = sc.get("bounded") or {}, sc.get("unbounded") or {}
    lines += ["", f"All four models loaded (with their Grad-CAM explainers): **{_f(mem.get('rss_mb'), 0)} MB RSS**."
              + (f" Then Score-CAM (both classes) on the bench's field with every model ({bounded.get('cells', '?')} cells "
                 "in all): "
                 f"**{_f(bounded.get('rss_mb'), 0)} MB RSS** (peak {_f(bounded.get('peak_rss_mb'), 0)} MB) under the "
                 f"server's bounds ({(sc.get('bounds') or {}).get('max_explainers', '?')} explainers kept), against "
                 f"{_f(unbounded.get('rss_mb'), 0)} MB (peak {_f(unbounded.get('peak_rss_mb'), 0)} MB) keeping every "
                 "explainer." if bounded and unbounded else "")
              + f" Cold start, from `./run app` (`streamlit run {app.get('script') or 'app.py'}`) to the first "
              f"rendered prediction on a sample image ({app.get('method') or 'not measured'}): "
              f"**{_f(app.get('cold_start_s'), 1)} s**" + (f" ({app.get('reason')})" if app.get("reason") else "")
              + (f", its first Grad-CAM map at **{_f(app.get('first_map_s'), 1)} s**" if app.get("first_map_s") else "")
              + "."]
    met = b.get("targets_met") or {}
    targets = b.get("targets") or {}
    if met:
        lines += ["", "Targets: " + "; ".join(f"{k} {targets.get(k, '')}: {'met' if v else 'missed' if v is False else 'n/a'}"
                                           for k, v in met.items()) + "."]
    for k, why in (b.get("missed_because") or {}).items():
        lines.append(f"- {k} missed: " + " ".join(why if isinstance(why, list) else [str(why)]))
    return "\n".join(lines)


def _replace_block(content: str, start: str, end: str, text: str, readme: Path) -> str:
    if start not in content or end not in content:
        raise ValueError(f"{readme} has no {start} ... {end} block")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{text}\n{end}{tail}"


def write_results(weights_dir: Path, readme: Path | None = None) -> str:
    """Return the results tables; when ``readme`` is given, replace its results block (and its
    summary, bench, load-test and ablation blocks, when it has them) in place; a file with a summary block
    need not have a results block (the README)."""
    text = build_tables(weights_dir)
    if readme is not None:
        from .ablations import ABLATIONS_END, ABLATIONS_START, build_ablations  # these build on this module
        from .loadtest_table import LOADTEST_END, LOADTEST_START, build_loadtest
        from .summary import SUMMARY_END, SUMMARY_START, build_summary

        content = Path(readme).read_text()
        if SUMMARY_START in content:
            content = _replace_block(content, SUMMARY_START, SUMMARY_END, build_summary(weights_dir), readme)
        if START in content or SUMMARY_START not in content:
            content = _replace_block(content, START, END, text, readme)
        if BENCH_START in content:
            content = _replace_block(content, BENCH_START, BENCH_END, build_bench(weights_dir), readme)
        if LOADTEST_START in content:
            content = _replace_block(content, LOADTEST_START, LOADTEST_END, build_loadtest(weights_dir), readme)
        if ABLATIONS_START in content:
            content = _replace_block(content, ABLATIONS_START, ABLATIONS_END, build_ablations(weights_dir), readme)
        Path(readme).write_text(content)
    return text
