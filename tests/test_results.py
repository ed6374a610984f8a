"""The README's results tables, parsed cell by cell and compared with the values the reports imply.

Reports are written in the format ``evaluate`` writes (``build_set`` on records and probabilities)
with known confusion matrices; the expected cells are computed here from those counts by hand,
so a swapped column, a wrong set, a wrong model row or a wrong metric formula shows.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from leukemia_core.datasets import Record
from leukemia_core.evaluate import REPORT_FORMAT, build_set
from leukemia_core.results import BASELINE, END, START, build_tables, write_results

SET_HEADER = ["model", "images", "groups", "accuracy", "balanced acc.", "weighted F1", "ROC AUC",
              "sensitivity (ALL)", "specificity (HEM)"]
TRAIN_HEADER = ["model", "ours: train C-NMC", "ours: val C-NMC fold_2", "ours: train Aria", "ours: val Aria",
                "reference: train", "reference: val", "epochs", "training time", "Grad-CAM energy on cells"]
BASELINE_LABEL = "colour-only baseline (logistic regression, 9 colour statistics)"


# --------------------------------------------------------------------------- synthetic reports

def _outcomes(tp: int, fn: int, tn: int, fp: int):
    """Labels and probabilities with exactly these counts at threshold 0.5, and a known ROC AUC.

    ALL images: the ``tp`` called ALL get 0.9, 0.91 ..., the ``fn`` missed get 0.1, 0.11 ...;
    HEM images: ``tn`` get 0.2, 0.21 ..., ``fp`` get 0.6, 0.61 ...
    """
    y = [1] * (tp + fn) + [0] * (tn + fp)
    p = ([0.9 + 0.01 * i for i in range(tp)] + [0.1 + 0.01 * i for i in range(fn)]
         + [0.2 + 0.01 * i for i in range(tn)] + [0.6 + 0.01 * i for i in range(fp)])
    return np.array(y), np.array(p)


def _auc_by_pairs(y, p):
    """P(score of an ALL image > score of a HEM image), ties count half (Mann-Whitney)."""
    pos, neg = p[y == 1], p[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return None
    return float(np.mean([(a > b) + 0.5 * (a == b) for a in pos for b in neg]))


def _expected(tp, fn, tn, fp, y, p):
    """Every table figure from the counts, by hand (not through leukemia_core.metrics)."""
    n = tp + fn + tn + fp
    sens = tp / (tp + fn) if tp + fn else None
    spec = tn / (tn + fp) if tn + fp else None
    prec_all = tp / (tp + fp) if tp + fp else None
    prec_hem = tn / (tn + fn) if tn + fn else None

    def f1(pr, rc):
        if pr is None or rc is None:
            return None
        return 0.0 if pr + rc == 0 else 2 * pr * rc / (pr + rc)

    f_all, f_hem = f1(prec_all, sens), f1(prec_hem, spec)
    parts = [(f, s) for f, s in ((f_all, tp + fn), (f_hem, tn + fp)) if f is not None]
    weighted = sum(f * s for f, s in parts) / sum(s for _, s in parts)
    recalls = [r for r in (sens, spec) if r is not None]
    return {"accuracy": (tp + tn) / n, "balanced acc.": sum(recalls) / len(recalls), "weighted F1": weighted,
            "ROC AUC": _auc_by_pairs(y, p), "sensitivity (ALL)": sens, "specificity (HEM)": spec}


# (model, set key) -> (tp, fn, tn, fp, n_groups); all chosen so that every column differs
CASES = {
    ("proposed", "cnmc/val"): (5, 1, 2, 2, 4),            # sens 0.833, spec 0.500
    ("proposed", "aria-original/val"): (3, 3, 7, 1, 3),   # sens 0.500, spec 0.875
    ("proposed", "cnmc/train"): (8, 2, 9, 1, 6),
    ("proposed", "aria-original/train"): (6, 0, 3, 3, 2),
    ("resnet50", "cnmc/val"): (1, 4, 6, 0, 5),            # sens 0.200, spec 1.000
    ("resnet50", "cnmc/test"): (2, 1, 1, 3, 7),
    ("resnet50", "cnmc/train"): (7, 3, 5, 5, 8),
    (BASELINE, "cnmc/val"): (4, 2, 1, 3, 4),              # sens 0.667, spec 0.250
    (BASELINE, "aria-original/val"): (5, 0, 0, 0, 1),    # one class only: specificity and AUC undefined
}
MANIFESTS = {"proposed": {"epochs_run": 12, "seconds": 2208.8}, "resnet50": {"epochs_run": 3, "seconds": 150.0}}
REFERENCE = {"proposed": {"train_accuracy": 0.9822, "val_accuracy": 0.9406},
             "resnet50": {"train_accuracy": 0.845, "val_accuracy": 0.8749}}
CAM = {"proposed": {"mean_energy_on_cells": 0.614, "mask_area_mean": 0.147}}


def _report_set(key, tp, fn, tn, fp, n_groups):
    y, p = _outcomes(tp, fn, tn, fp)
    dataset, split = key.split("/")
    ds = "aria" if dataset.startswith("aria") else dataset
    part = "Original" if ds == "aria" else "fold_2"
    recs = [Record(Path(f"/data/{key}/{i}.png"), "all" if t else "hem", f"g{i % n_groups}", ds, split, part)
            for i, t in enumerate(y)]
    return build_set(key, recs, p, 0.5)


@pytest.fixture
def weights_dir(tmp_path):
    wdir = tmp_path / "model_weights"
    wdir.mkdir()
    by_model = {}
    for (model, key), counts in CASES.items():
        by_model.setdefault(model, []).append(_report_set(key, *counts))
    for model, sets in by_model.items():
        (wdir / f"{model}.report.json").write_text(json.dumps(
            {"format": REPORT_FORMAT, "model": model, "threshold": 0.5, "sets": sets, "skipped": []}))
    for model, tr in MANIFESTS.items():
        (wdir / f"{model}.manifest.json").write_text(json.dumps(
            {"name": model, "input_size": 128, "init": "random", "training": tr}))
    (wdir / "reference_published.json").write_text(json.dumps({"models": REFERENCE}))
    (wdir / "cam_check.json").write_text(json.dumps({"method": "gradcam", "models": CAM}))
    return wdir


# --------------------------------------------------------------------------- markdown parsing

def _cells(line: str) -> list[str]:
    assert line.startswith("|") and line.endswith("|"), line
    return [c.strip() for c in line[1:-1].split("|")]


def _table_after(lines: list[str], title_prefix: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the table that follows the line starting with ``title_prefix``."""
    i = next(i for i, ln in enumerate(lines) if ln.startswith(title_prefix))
    assert lines[i + 1] == ""
    header = _cells(lines[i + 2])
    assert set(lines[i + 3].replace("|", "").replace("-", "").replace(":", "")) == set()  # the separator
    assert len(_cells(lines[i + 3])) == len(header)
    rows = []
    for ln in lines[i + 4:]:
        if not ln.startswith("|"):
            break
        rows.append(_cells(ln))
        assert len(rows[-1]) == len(header), ln
    return header, rows


def _fmt(v, digits=3):
    return "–" if v is None else f"{v:.{digits}f}"


def _row_label(model):
    return BASELINE_LABEL if model == BASELINE else f"`{model}`"


# --------------------------------------------------------------------------- tests

def test_every_cell_of_every_set_table_matches_the_reports(weights_dir):
    lines = build_tables(weights_dir).splitlines()
    titles = [ln for ln in lines if ln.startswith("**") and "—" in ln]
    # held-out and training sets in the fixed order, each set once, only sets that some report has
    assert [t.split("**")[1] for t in titles] == ["cnmc/val", "aria-original/val", "cnmc/test"]
    assert titles[0] == "**cnmc/val** — C-NMC 2019 training_data fold_2: patients disjoint from folds 0 and 1"
    for key in ("cnmc/val", "aria-original/val", "cnmc/test"):
        header, rows = _table_after(lines, f"**{key}**")
        assert header == SET_HEADER
        models = [m for m in ("proposed", "efficientnet_b0", "resnet50", "inception_v3", BASELINE)
                  if (m, key) in CASES]
        assert [r[0] for r in rows] == [_row_label(m) for m in models], key
        for model, row in zip(models, rows):
            tp, fn, tn, fp, n_groups = CASES[(model, key)]
            y, p = _outcomes(tp, fn, tn, fp)
            exp = _expected(tp, fn, tn, fp, y, p)
            got = dict(zip(header, row))
            assert got["images"] == str(tp + fn + tn + fp), (model, key)
            assert got["groups"] == str(n_groups), (model, key)
            for col in SET_HEADER[3:]:
                assert got[col] == _fmt(exp[col]), (model, key, col)


def test_sensitivity_and_specificity_columns_hold_all_and_hem_recall(weights_dir):
    # spelled out for one row: 5 of 6 ALL found, 2 of 4 HEM found; 20 of 24 (ALL, HEM) pairs ranked right
    lines = build_tables(weights_dir).splitlines()
    header, rows = _table_after(lines, "**cnmc/val**")
    row = dict(zip(header, next(r for r in rows if r[0] == "`proposed`")))
    assert row == {"model": "`proposed`", "images": "10", "groups": "4", "accuracy": "0.700",
                   "balanced acc.": "0.667", "weighted F1": "0.690", "ROC AUC": "0.833",
                   "sensitivity (ALL)": "0.833", "specificity (HEM)": "0.500"}
    baseline = dict(zip(header, next(r for r in rows if r[0] == BASELINE_LABEL)))
    assert baseline["sensitivity (ALL)"] == "0.667" and baseline["specificity (HEM)"] == "0.250"
    # one class present: the undefined figures are a dash, never a number
    header, rows = _table_after(lines, "**aria-original/val**")
    baseline = dict(zip(header, next(r for r in rows if r[0] == BASELINE_LABEL)))
    assert baseline["specificity (HEM)"] == "–" and baseline["ROC AUC"] == "–"
    assert baseline["sensitivity (ALL)"] == "1.000" and baseline["accuracy"] == "1.000"


def test_training_and_validation_accuracy_table(weights_dir):
    lines = build_tables(weights_dir).splitlines()
    header, rows = _table_after(lines, "**Training and validation accuracy**")
    assert header == TRAIN_HEADER
    assert [r[0] for r in rows] == ["`proposed`", "`resnet50`"]  # the baseline has no row here

    def acc(model, key):
        if (model, key) not in CASES:
            return "–"
        tp, fn, tn, fp, _ = CASES[(model, key)]
        return _fmt((tp + tn) / (tp + fn + tn + fp))

    got = {r[0]: dict(zip(header, r)) for r in rows}
    for model in ("proposed", "resnet50"):
        g = got[f"`{model}`"]
        assert g["ours: train C-NMC"] == acc(model, "cnmc/train")
        assert g["ours: val C-NMC fold_2"] == acc(model, "cnmc/val")
        assert g["ours: train Aria"] == acc(model, "aria-original/train")
        assert g["ours: val Aria"] == acc(model, "aria-original/val")
        assert g["reference: train"] == _fmt(REFERENCE[model]["train_accuracy"])
        assert g["reference: val"] == _fmt(REFERENCE[model]["val_accuracy"])
        assert g["epochs"] == str(MANIFESTS[model]["epochs_run"])
        assert g["training time"] == f"{MANIFESTS[model]['seconds'] / 60:.0f} min"
    # spelled out
    assert got["`proposed`"] == {
        "model": "`proposed`", "ours: train C-NMC": "0.850", "ours: val C-NMC fold_2": "0.700",
        "ours: train Aria": "0.750", "ours: val Aria": "0.714", "reference: train": "0.982",
        "reference: val": "0.941", "epochs": "12", "training time": "37 min",
        "Grad-CAM energy on cells": "0.61 (cells cover 0.15)"}
    assert got["`resnet50`"]["ours: train Aria"] == "–" and got["`resnet50`"]["Grad-CAM energy on cells"] == "–"
    assert got["`resnet50`"]["training time"] == "2 min" and got["`resnet50`"]["epochs"] == "3"
    footer = next(ln for ln in lines if ln.startswith("Input size"))
    assert footer.startswith("Input size 128 px; initialisation: random.")


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
