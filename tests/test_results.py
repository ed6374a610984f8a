"""The README's results tables, parsed cell by cell and compared with the values the reports imply.

Reports are written in the format ``evaluate`` writes (``build_set`` on records, image and cell
probabilities, at each report's threshold) with known confusion matrices; the expected cells are
computed here by hand from the stored probabilities (not through ``leukemia_core.evaluation.metrics``), so a
swapped column, a wrong set, a wrong level, a wrong model row or a wrong formula shows.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from leukemia_core.data.datasets import Record
from leukemia_core.evaluation.evaluate import REPORT_FORMAT, build_set
from leukemia_core.reports.results import (
    BASELINE,
    BASELINE_LABEL,
    CAL_HEADER,
    CAL_TITLE,
    END,
    SET_HEADER,
    START,
    TEST_TITLE,
    TRAIN_HEADER,
    TRAIN_TITLE,
    VAL_TITLE,
    build_tables,
    write_results,
)

__all__ = ["BASELINE_LABEL", "SET_HEADER", "_fmt", "_reports", "_table_after", "expected_set_row", "weights_dir"]


# --------------------------------------------------------------------------- synthetic reports

def _outcomes(tp: int, fn: int, tn: int, fp: int):
    """Labels and image probabilities with exactly these counts at thresholds 0.3 to 0.55.

    ALL images: the ``tp`` called ALL get 0.9, 0.91 ..., the ``fn`` missed get 0.1, 0.11 ...;
    HEM images: ``tn`` get 0.2, 0.21 ..., ``fp`` get 0.6, 0.61 ...
    """
    y = [1] * (tp + fn) + [0] * (tn + fp)
    p = ([0.9 + 0.01 * i for i in range(tp)] + [0.1 + 0.01 * i for i in range(fn)]
         + [0.2 + 0.01 * i for i in range(tn)] + [0.6 + 0.01 * i for i in range(fp)])
    return np.array(y), np.array(p)


def _cells(key: str, model: str, p: np.ndarray) -> list[list[float]]:
    """Each image's cell P(ALL): C-NMC images hold one cell (its image's P(ALL)); Aria fields 1 to 3
    cells spread over [0.05, 0.95] (a fixed pattern per model, so cell and image figures differ)."""
    if key.startswith("cnmc"):
        return [[float(v)] for v in p]
    salt = sum(map(ord, model))
    return [[round(0.05 + 0.1 * ((i * 7 + j * 3 + salt) % 10), 2) for j in range(1 + i % 3)] for i in range(len(p))]


def _auc_by_pairs(y, p):
    """P(score of an ALL item > score of a HEM item), ties count half (Mann-Whitney)."""
    pos, neg = p[y == 1], p[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return None
    return float(np.mean([(a > b) + 0.5 * (a == b) for a in pos for b in neg]))


def _by_hand(y, p, thr):
    """Balanced accuracy, ROC AUC, sensitivity and specificity of calling ALL when p >= thr."""
    called = p >= thr
    sens = float(np.mean(called[y == 1])) if (y == 1).any() else None
    spec = float(np.mean(~called[y == 0])) if (y == 0).any() else None
    recalls = [r for r in (sens, spec) if r is not None]
    return {"balanced": sum(recalls) / len(recalls) if recalls else None, "auc": _auc_by_pairs(y, p),
            "sens": sens, "spec": spec}


def _fmt(v, digits=3):
    return "–" if v is None else f"{v:.{digits}f}"


def _row_label(model):
    return BASELINE_LABEL if model == BASELINE else f"`{model}`"


def expected_set_row(model: str, report_set: dict, threshold: float, field_threshold: float | None = None) -> list[str]:
    """A set table's row, computed by hand from a report set's stored image and cell probabilities:
    cells at ``threshold``, each image at its own stored threshold (the field rule) or ``threshold``."""
    imgs = report_set["images"]
    y = np.array([i["label"] == "all" for i in imgs], int)
    p = np.array([i["p_all"] for i in imgs])
    img_thr = np.array([i.get("threshold", threshold) for i in imgs])
    cy = np.array([int(i["label"] == "all") for i in imgs for _ in i["cells"]])
    cp = np.array([c for i in imgs for c in i["cells"]])
    im, cm = _by_hand(y, p, img_thr), _by_hand(cy, cp, threshold)
    shown = (f"{threshold:.2f}" if field_threshold in (None, threshold)
             else f"{threshold:.2f} (fields: {field_threshold:.2f})")
    return [_row_label(model), shown, str(len(cp)), _fmt(cm["balanced"]), _fmt(cm["auc"]),
            str(len(imgs)), _fmt(im["balanced"]), _fmt(im["auc"]), _fmt(im["sens"]), _fmt(im["spec"])]


# (model, set key) -> (tp, fn, tn, fp, n_groups); every model of a set sees the same images (the
# same number of ALL and of HEM), and the counts are chosen so that every column differs
CASES = {
    ("proposed", "cnmc/test"): (5, 1, 2, 2, 4),            # sens 0.833, spec 0.500
    ("resnet50", "cnmc/test"): (1, 5, 4, 0, 4),            # sens 0.167, spec 1.000
    (BASELINE, "cnmc/test"): (4, 2, 1, 3, 4),              # sens 0.667, spec 0.250
    ("proposed", "cnmc-prelim/test"): (2, 1, 0, 0, 3),     # one class only: specificity and AUC undefined
    (BASELINE, "cnmc-prelim/test"): (3, 0, 0, 0, 3),
    ("proposed", "aria-original/test"): (3, 3, 7, 1, 3),   # sens 0.500, spec 0.875
    (BASELINE, "aria-original/test"): (6, 0, 2, 6, 3),
    ("proposed", "cnmc/val"): (4, 2, 3, 1, 5),
    ("resnet50", "cnmc/val"): (2, 4, 1, 3, 5),
    ("proposed", "aria-original/val"): (6, 0, 3, 3, 2),
    (BASELINE, "aria-original/val"): (4, 2, 3, 3, 2),
    ("proposed", "cnmc/train"): (8, 2, 9, 1, 6),           # training sets are not in the README
}
THRESHOLDS = {"proposed": 0.45, "resnet50": 0.5, BASELINE: 0.5}
#: proposed calls images of several cells at 0.65 (the field rule): Aria HEM fields at 0.6 to 0.64
#: with several cells are then HEM, so the image columns show whether each image's threshold is used
FIELD_THRESHOLDS = {"proposed": 0.65}
CALIBRATION = {"proposed": {"a": 1.3, "b": -0.2, "threshold": 0.45, "refer_half_width": 0.1, "fitted": True,
                            "field_threshold": 0.65,
                            "info": {"ece_before": 0.1234, "ece_after": 0.0456, "n_cells": 321,
                                     "fitted_on": ["aria-original/val", "cnmc/val"]}},
               "resnet50": {"a": 1.0, "b": 0.0, "threshold": 0.5, "refer_half_width": 0.0, "fitted": False,
                            "info": {}}}
MANIFESTS = {"proposed": {"epochs_run": 12, "seconds": 2208.8, "steps_per_epoch": 180, "batch_size": 32,
                          "train": {"images": {"aria/train/all": 9, "cnmc/train/hem": 3, "bccd/train/hem": 2}}},
             "resnet50": {"epochs_run": 3, "seconds": 150.0}}
REFERENCE = {"label": "Published figures", "dataset": "cnmc", "split": "unknown", "init": "imagenet", "epochs": 60,
             "models": {"proposed": {"train_accuracy": 0.9822, "val_accuracy": 0.9406},
                        "resnet50": {"train_accuracy": 0.845, "val_accuracy": 0.8749}}}
CAM = {"proposed": {"mean_energy_on_cells": 0.614, "mask_area_mean": 0.147}}


def _report_set(model, key, tp, fn, tn, fp, n_groups):
    y, p = _outcomes(tp, fn, tn, fp)
    dataset, split = key.split("/")
    ds = "aria" if dataset.startswith("aria") else dataset
    part = "Original" if ds == "aria" else "fold_2"
    recs = [Record(Path(f"/data/{key}/{i}.png"), "all" if t else "hem", f"g{i % n_groups}", ds, split, part)
            for i, t in enumerate(y)]
    cells = _cells(key, model, p)
    ft = FIELD_THRESHOLDS.get(model)
    img_thr = None if ft is None else [ft if len(c) > 1 else THRESHOLDS[model] for c in cells]
    return build_set(key, recs, p, THRESHOLDS[model], cells, image_thresholds=img_thr)


def _write_reports(wdir: Path, cases: dict) -> None:
    by_model = {}
    for (model, key), counts in cases.items():
        by_model.setdefault(model, []).append(_report_set(model, key, *counts))
    for model, sets in by_model.items():
        rep = {"format": REPORT_FORMAT, "model": model, "threshold": THRESHOLDS[model],
               "field_threshold": FIELD_THRESHOLDS.get(model), "sets": sets, "skipped": []}
        if model in CALIBRATION:
            rep["calibration"] = CALIBRATION[model]
        (wdir / f"{model}.report.json").write_text(json.dumps(rep))


@pytest.fixture
def weights_dir(tmp_path):
    wdir = tmp_path / "model_weights"
    wdir.mkdir()
    _write_reports(wdir, CASES)
    for model, tr in MANIFESTS.items():
        (wdir / f"{model}.manifest.json").write_text(json.dumps(
            {"name": model, "input_size": 80, "init": "random", "training": tr}))
    (wdir / "reference_published.json").write_text(json.dumps(REFERENCE))
    (wdir / "cam_check.json").write_text(json.dumps({"method": "gradcam", "models": CAM}))
    return wdir


def _reports(wdir):
    return {m: json.loads((wdir / f"{m}.report.json").read_text()) for m in ("proposed", "resnet50", BASELINE)}


# --------------------------------------------------------------------------- markdown parsing

def _cells_of(line: str) -> list[str]:
    assert line.startswith("|") and line.endswith("|"), line
    return [c.strip() for c in line[1:-1].split("|")]


def _table_after(lines: list[str], title_prefix: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the table that follows the line starting with ``title_prefix``."""
    i = next(i for i, ln in enumerate(lines) if ln.startswith(title_prefix))
    assert lines[i + 1] == ""
    header = _cells_of(lines[i + 2])
    assert set(lines[i + 3].replace("|", "").replace("-", "").replace(":", "")) == set()  # the separator
    assert len(_cells_of(lines[i + 3])) == len(header)
    rows = []
    for ln in lines[i + 4:]:
        if not ln.startswith("|"):
            break
        rows.append(_cells_of(ln))
        assert len(rows[-1]) == len(header), ln
    return header, rows


# --------------------------------------------------------------------------- tests

def test_every_cell_of_every_set_table_matches_the_reports(weights_dir):
    lines = build_tables(weights_dir).splitlines()
    titles = [ln for ln in lines if ln.startswith("**") and "/" in ln.split("**")[1]]
    # test sets first (C-NMC first), then validation; training sets never; each set once
    assert [t.split("**")[1] for t in titles] == ["cnmc/test", "cnmc-prelim/test", "aria-original/test", "cnmc/val",
                                                  "aria-original/val"]
    assert lines.index(TEST_TITLE) < lines.index(titles[0]) and lines.index(titles[2]) < lines.index(VAL_TITLE)
    assert lines.index(VAL_TITLE) < lines.index(titles[3])
    assert titles[0] == ("**cnmc/test** — C-NMC 2019 fold_2: patients disjoint from folds 0 and 1. "
                         "Role: test: reported only, never used to choose anything.")
    assert titles[3].endswith("Role: validation: chose the epoch, calibrator, threshold and refer band "
                              "(not a test set).")
    reps = _reports(weights_dir)
    for key in ("cnmc/test", "cnmc-prelim/test", "aria-original/test", "cnmc/val", "aria-original/val"):
        header, rows = _table_after(lines, f"**{key}**")
        assert header == SET_HEADER
        models = [m for m in ("proposed", "efficientnet_b0", "resnet50", "inception_v3", BASELINE)
                  if (m, key) in CASES]
        assert [r[0] for r in rows] == [_row_label(m) for m in models], key
        for model, row in zip(models, rows):
            s = next(s for s in reps[model]["sets"] if s["key"] == key)
            assert row == expected_set_row(model, s, THRESHOLDS[model], FIELD_THRESHOLDS.get(model)), (model, key)
            tp, fn, tn, fp, _ = CASES[(model, key)]
            assert row[SET_HEADER.index("images")] == str(tp + fn + tn + fp)
            # and the stored figures agree with the hand computation
            assert row[SET_HEADER.index("cells: balanced acc.")] == _fmt(s["cell_metrics"]["balanced_accuracy"])
            assert row[SET_HEADER.index("images: ROC AUC")] == _fmt(s["metrics"]["roc_auc"])


def test_levels_thresholds_and_undefined_figures_spelled_out(weights_dir):
    lines = build_tables(weights_dir).splitlines()
    header, rows = _table_after(lines, "**cnmc/test**")
    row = dict(zip(header, next(r for r in rows if r[0] == "`proposed`")))
    # 5 of 6 ALL found, 2 of 4 HEM found; 20 of 24 (ALL, HEM) pairs ranked right; one cell per C-NMC image
    assert row == {"model": "`proposed`", "threshold": "0.45 (fields: 0.65)", "cells": "10",
                   "cells: balanced acc.": "0.667",
                   "cells: ROC AUC": "0.833", "images": "10", "images: balanced acc.": "0.667",
                   "images: ROC AUC": "0.833", "images: sensitivity (ALL)": "0.833",
                   "images: specificity (HEM)": "0.500"}
    baseline = dict(zip(header, next(r for r in rows if r[0] == BASELINE_LABEL)))
    assert baseline["images: sensitivity (ALL)"] == "0.667" and baseline["images: specificity (HEM)"] == "0.250"
    assert baseline["threshold"] == "0.50" and baseline["cells"] == row["cells"]  # the same cells
    assert dict(zip(header, rows[1]))["images: sensitivity (ALL)"] == "0.167"  # resnet50
    # Aria fields: 14 fields with 1, 2, 3, 1, 2 ... cells: the cell level differs from the image level
    header, rows = _table_after(lines, "**aria-original/test**")
    row = dict(zip(header, rows[0]))
    assert rows[0][0] == "`proposed`" and row["images"] == "14"
    assert row["cells"] == str(sum(1 + i % 3 for i in range(14)))
    assert row["cells: balanced acc."] != row["images: balanced acc."]
    # the field rule: the one HEM field above 0.45 (P(ALL) 0.6, field 13: 2 cells) is compared with the
    # field threshold 0.65, so it is called HEM: specificity 8/8 (it would be 7/8 at 0.45 for every image)
    imgs = next(s for s in json.loads((weights_dir / "proposed.report.json").read_text())["sets"]
                if s["key"] == "aria-original/test")["images"]
    assert imgs[13]["p_all"] == 0.6 and imgs[13]["n_cells"] == 2 and imgs[13]["threshold"] == 0.65
    assert row["images: specificity (HEM)"] == "1.000"
    # one class present: the undefined figures are a dash, never a number
    header, rows = _table_after(lines, "**cnmc-prelim/test**")
    baseline = dict(zip(header, next(r for r in rows if r[0] == BASELINE_LABEL)))
    assert baseline["images: specificity (HEM)"] == "–" and baseline["images: ROC AUC"] == "–"
    assert baseline["cells: ROC AUC"] == "–" and baseline["cells: balanced acc."] == "1.000"
    assert baseline["images: sensitivity (ALL)"] == "1.000"
    assert dict(zip(header, rows[0]))["images: sensitivity (ALL)"] == "0.667"
    assert "The colour-only baseline scored" not in "\n".join(lines)  # same cell counts: no note


def test_calibration_table(weights_dir):
    lines = build_tables(weights_dir).splitlines()
    header, rows = _table_after(lines, CAL_TITLE)
    assert header == CAL_HEADER
    got = {r[0]: dict(zip(header, r)) for r in rows}
    assert list(got) == ["`proposed`", "`resnet50`", BASELINE_LABEL]
    assert got["`proposed`"] == {"model": "`proposed`", "threshold": "0.45", "field threshold": "0.65",
                                 "refer band": "0.35–0.55",
                                 "ECE before": "0.123", "ECE after": "0.046", "validation cells": "321"}
    # not calibrated: its own threshold, no band, no ECE
    assert got["`resnet50`"] == {"model": "`resnet50`", "threshold": "0.50", "field threshold": "–",
                                 "refer band": "none",
                                 "ECE before": "–", "ECE after": "–", "validation cells": "–"}
    assert got[BASELINE_LABEL]["refer band"] == "none" and got[BASELINE_LABEL]["threshold"] == "0.50"


def test_training_and_published_figures_table(weights_dir):
    lines = build_tables(weights_dir).splitlines()
    header, rows = _table_after(lines, TRAIN_TITLE)
    assert header == TRAIN_HEADER
    assert [r[0] for r in rows] == ["`proposed`", "`resnet50`"]  # the baseline has no row here
    got = {r[0]: dict(zip(header, r)) for r in rows}
    assert got["`proposed`"] == {
        "model": "`proposed`", "trained on": "aria + bccd + cnmc", "epochs": "12", "cells seen": "69,120",
        "training time": "37 min", "weights of": "–",
        "Grad-CAM energy on cells": "0.61 (cells cover 0.15)", "published: train accuracy": "0.982",
        "published: validation accuracy": "0.941"}
    assert got["`resnet50`"]["Grad-CAM energy on cells"] == "–" and got["`resnet50`"]["training time"] == "2 min"
    assert got["`resnet50`"]["cells seen"] == "–" and got["`resnet50`"]["trained on"] == "–"
    assert got["`resnet50`"]["published: validation accuracy"] == "0.875"
    note = next(ln for ln in lines if ln.startswith("Published columns"))
    assert note == ("Published columns: The reference system's README figures (C-NMC 2019, unknown split, ImageNet "
                    "initialisation, 60 epochs); not measured here, so not comparable with the tables above.")
    assert lines.index(note) > lines.index(TRAIN_TITLE)
    footer = next(ln for ln in lines if ln.startswith("Input size"))
    assert footer.startswith("Input size 80 px; where each model's weights started: `proposed` random; `resnet50` random.")


def test_baseline_on_other_cells_and_older_reports_are_said(weights_dir):
    rep = json.loads((weights_dir / f"{BASELINE}.report.json").read_text())
    s = next(s for s in rep["sets"] if s["key"] == "aria-original/test")
    s["n_cells"] -= 2
    (weights_dir / f"{BASELINE}.report.json").write_text(json.dumps(rep))
    (weights_dir / "inception_v3.report.json").write_text(json.dumps(
        {"format": "leukemia_core.report/1", "model": "inception_v3", "sets": []}))
    text = build_tables(weights_dir)
    models_cells = sum(1 + i % 3 for i in range(14))
    assert (f"The colour-only baseline scored {models_cells - 2} cells of these images, the models "
            f"{models_cells}.") in text
    assert "Left out, written in an older report format (rerun `evaluate` / `baseline`): `inception_v3`." in text
    assert "`inception_v3` |" not in text


def test_write_results_puts_exactly_these_tables_between_the_markers(weights_dir, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nintro\n\n{START}\n| stale | table |\n{END}\n\noutro\n")
    text = write_results(weights_dir, readme)
    assert text == build_tables(weights_dir)
    assert readme.read_text() == f"# Title\n\nintro\n\n{START}\n{text}\n{END}\n\noutro\n"
    # idempotent: a second run leaves the file as it is
    write_results(weights_dir, readme)
    assert readme.read_text() == f"# Title\n\nintro\n\n{START}\n{text}\n{END}\n\noutro\n"


def test_no_reports_says_how_to_make_them(tmp_path):
    assert build_tables(tmp_path) == ("_No reports in model_weights/ yet: run the commands under "
                                      "“Reproduce the shipped models”._")


def test_left_out_lab_table_from_the_lolo_reports(weights_dir):
    assert not any(ln.startswith("**Left-out labs**") for ln in build_tables(weights_dir).splitlines())
    lolo = weights_dir / "lolo"
    lolo.mkdir()
    # BCCD left out: 4 normal cells, 1 called ALL at 0.5; C-NMC left out: 3 ALL and 2 HEM, AUC 5/6
    bccd = [Record(Path(f"b{i}.jpg"), "hem", f"g{i}", "bccd", "left-out", "") for i in range(4)]
    cnmc = [Record(Path(f"c{i}.bmp"), lab, f"p{i}", "cnmc", "left-out", "fold_0")
            for i, lab in enumerate(["all", "all", "all", "hem", "hem"])]
    p_b, p_c = np.array([0.1, 0.2, 0.7, 0.3]), np.array([0.9, 0.8, 0.3, 0.4, 0.2])
    reports = {
        "efficientnet_b0-bccd": ("efficientnet_b0", ["aria", "cnmc"], build_set("bccd/left-out", bccd, p_b, 0.5,
                                                                               [[v] for v in p_b])),
        "colour_baseline-cnmc": (BASELINE, ["aria"], build_set("cnmc/left-out", cnmc, p_c, 0.5, [[v] for v in p_c])),
    }
    for stem, (model, trained, s) in reports.items():
        rep = {"format": REPORT_FORMAT, "model": model, "sets": [s], "skipped": [], "weights_date": "2026-12-03T10:00"}
        rep["trained_on"], rep["lab_probe"] = trained, {"classes": {"HEM": {"balanced_accuracy": 0.61, "chance": 0.25}}}
        (lolo / f"{stem}.report.json").write_text(json.dumps(rep))
    # the model's training manifest beside its report says what its run did
    (lolo / "efficientnet_b0-bccd.manifest.json").write_text(json.dumps(
        {"name": "efficientnet_b0", "input_size": 80, "mask_outside": False, "norm": "group",
         "training": {"augmentation": {"stain_scale": 0.15}, "epochs_run": 12, "steps_per_epoch": 180,
                      "instances": {"dropped": 1234, "weak_all_cells": 9000}}}))
    lines = build_tables(weights_dir).splitlines()
    header, rows = _table_after(lines, "**Left-out labs**")
    assert header[:5] == ["model", "trained on", "recipe", "weights of", "lab left out"]
    by_lab = {r[4]: dict(zip(header, r)) for r in rows}
    assert by_lab["bccd"]["model"] == "`efficientnet_b0`" and by_lab["bccd"]["trained on"] == "aria + cnmc"
    assert by_lab["bccd"]["normal cells called ALL"] == "0.250" and by_lab["bccd"]["cells: ROC AUC"] == "–"
    assert by_lab["bccd"]["cells: balanced acc."] == "–" and by_lab["bccd"]["images: balanced acc."] == "–"
    assert by_lab["bccd"]["weights of"] == "2026-12-03" and by_lab["bccd"]["cells"] == "4"
    assert by_lab["bccd"]["recipe"] == ("with surroundings, H/E stain jitter, group norm, instance teacher (left out "
                                        "1,234 of 9,000 Aria ALL cells), 80 px, 12 x 180 batches")
    assert by_lab["cnmc"]["recipe"] == "–"  # no manifest kept beside the report
    assert by_lab["cnmc"]["model"] == BASELINE_LABEL and by_lab["cnmc"]["trained on"] == "aria"
    assert [r[0] for r in rows] == ["`efficientnet_b0`", BASELINE_LABEL]  # models first, the baseline last
    assert by_lab["cnmc"]["cells: ROC AUC"] == _fmt(5 / 6) and by_lab["cnmc"]["images: ROC AUC"] == _fmt(5 / 6)
    assert by_lab["cnmc"]["normal cells called ALL"] == "0.000"
    assert by_lab["cnmc"]["cells: balanced acc."] == _fmt((2 / 3 + 1) / 2)
    assert by_lab["bccd"]["lab probe, normal cells (chance)"] == "0.61 (0.25)"


def test_bench_block_states_the_shared_finder_figure_it_was_given(tmp_path):
    from leukemia_core.reports.results import build_bench

    assert build_bench(tmp_path).startswith("_Not measured yet")
    bench = {"date": "2026-12-03T20:00:00", "machine": {"cpu_model": "Test CPU", "usable_cores": 2,
                                                        "memory_mib": 24576, "tensorflow": "2.21.0"},
             "models": {"proposed": {"input_size": 80, "predict_ms": 16.54, "cell_pipeline_cells_s": 108.3}},
             "cell_finder": {"finder_img_s": 159.26, "finder_cells_s": 796.3},
             "shared_cells": {"models": 4, "shared_cells_img_s": 70.04, "per_model_cells_img_s": 18.2,
                              "shared_cells_speedup": 3.848}}
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    text = build_bench(tmp_path)
    assert text.startswith("Measured 2026-12-03 on Test CPU, 2 cores, 24 GiB")
    assert "| `proposed` | 80 | 16.5 |" in text and "Cell finder alone: 159.3 images/s, 796.3 cells/s." in text
    assert ("found and cropped once for all 4 models" in text and "70.0 images/s, against 18.2 images/s" in text
            and "(x3.85)" in text)
    del bench["shared_cells"]
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    assert "found and cropped once" not in build_bench(tmp_path)
