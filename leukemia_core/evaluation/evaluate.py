"""Evaluation reports: cell- and image-level metrics per dataset and role, with every image's
and every cell's probability.

Report format (``leukemia_core.report/2``, JSON)::

    {
      "format": "leukemia_core.report/2",
      "model": "proposed",                 # registry name, or "colour_baseline"
      "weights_sha256": "...",             # the file evaluated (null for the baseline)
      "input_size": 80, "threshold": 0.47, "calibration": {...}, "created": "...", "commit": "...",
      "sets": [{
          "key": "cnmc/test",              # <dataset>[-<variant>]/<role>
          "dataset": "cnmc", "split": "test", "parts": ["fold_2"],
          "role": "test",                  # train | val | test (see ROLE_TEXT)
          "role_text": "test: reported only, never used to choose anything",
          "description": "C-NMC 2019 fold_2 ...",
          "held_out": true,                # true only for the test role
          "n_images": 48, "n_groups": 21, "group_kind": "patient", "n_cells": 48,
          "metrics": {...},                # image level: compute_metrics of the image P(ALL)
          "cell_metrics": {...},           # cell level (each cell carries its image's label)
          "grayscale_metrics": {...},      # image level with grayscale crops (colour-shortcut check)
          "images": [{"path": "...", "label": "all", "group": "ALL-13", "subclass": "", "part": "fold_2",
                      "p_all": 0.93, "n_cells": 1, "cells": [0.93]}, ...]
      }, ...],
      "skipped": [{"path": "...", "error": "..."}]   # unreadable files, not scored
    }

Probabilities are calibrated (:mod:`leukemia_core.models.calibration`, fitted on the val role's cells)
and stored, so another threshold can be applied later without running the model again.
"""

from __future__ import annotations

import datetime as _dt
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..cells.analyze import counted_cells
from ..cells.crop import whole_image_crop
from ..cells.dataset import extract_cells
from ..data.datasets import LABELS, Record, read_many
from ..data.images import read_image
from ..data.splits import check_against_groups
from ..errors import LeakageError, LeukemiaCoreError
from ..inference import Predictor, load_model
from ..models.calibration import (calibration_path, fit_calibration, fit_field_threshold, read_calibration,
                                  threshold_in_use)
from ..models.ood import distances, fit_reference, wrong_inputs
from ..jsonio import write_json
from ..paths import weights_dir_or_default
from .lab_probe import probe_cells
from .metrics import compute_metrics

REPORT_FORMAT = "leukemia_core.report/2"

#: What each data role was used for; shown beside every figure.
ROLE_TEXT = {
    "train": "train: the weights were fitted on these images",
    "val": "validation: chose the epoch, calibrator, threshold and refer band (not a test set)",
    "test": "test: reported only, never used to choose anything",
    "left-out": "left-out lab: the model neither trained nor chose anything on this lab (every image of it, "
                "scored with the calibration fitted on the other labs)",
    "unsplit": "unsplit user folder: role unknown",
}

_ARIA_NOTE = "Image-level split (no patient ids): patient leakage possible"
_SET_TEXT = {
    "cnmc/train": "C-NMC 2019 fold_0 + fold_1, training patients",
    "cnmc/val": "C-NMC 2019 fold_0 + fold_1, validation patients (a quarter per class, disjoint from training)",
    "cnmc/test": "C-NMC 2019 fold_2: patients disjoint from folds 0 and 1",
    "cnmc-prelim/test": "C-NMC 2019 preliminary-phase test set (labelled), patients disjoint from training_data",
    "aria-original/train": "Aria ALL, Original smear fields, training blocks",
    "aria-original/val": "Aria ALL, Original smear fields, validation band (the 15% of file numbers before the "
                         "test block, per subclass). " + _ARIA_NOTE,
    "aria-original/test": "Aria ALL, Original smear fields, test block: last 20% of file numbers per subclass. "
                          + _ARIA_NOTE,
    "bccd/train": "BCCD smears (a third lab; normal white cells only), training blocks of file numbers",
    "bccd/val": "BCCD smears, validation blocks of file numbers (normal white cells only)",
    "bccd/test": "BCCD smears, test blocks of file numbers (normal white cells only)",
    "cnmc/left-out": "C-NMC 2019, every image of every fold: a lab the model never saw",
    "cnmc-prelim/left-out": "C-NMC 2019 preliminary-phase test set: a lab the model never saw",
    "aria-original/left-out": "Aria ALL, every Original smear field: a lab the model never saw",
    "bccd/left-out": "BCCD smears, every image (normal white cells only): a lab the model never saw",
}


def set_key(r: Record) -> str:
    """Report set of a record: ``cnmc/val``, ``aria-original/val``, ``folder/unsplit`` ..."""
    ds = f"aria-{r.part.lower()}" if r.dataset == "aria" else ("cnmc-prelim" if r.part == "prelim" else r.dataset)
    return f"{ds}/{r.split}"


def describe_set(key: str) -> str:
    """What a set key holds, for people (the known C-NMC and Aria sets; else a user folder)."""
    return _SET_TEXT.get(key, f"{key} (user folder; groups = patient ids from C-NMC file names, else files)")


def group_sets(records: Iterable[Record], splits: Sequence[str] | None = None) -> dict[str, list[Record]]:
    """Records by report set key (:func:`set_key`), keys sorted; only ``splits`` when given."""
    sets: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        if splits is None or r.split in splits:
            sets[set_key(r)].append(r)
    return dict(sorted(sets.items()))


def build_set(key: str, records: Sequence[Record], p_all: np.ndarray, threshold: float,
              cells: Sequence[Sequence[float]] | None = None, grayscale_p: np.ndarray | None = None,
              image_thresholds: np.ndarray | None = None) -> dict:
    """One report set. ``p_all``: image P(ALL) ``(N,)``; ``cells``: each image's cell P(ALL) list;
    ``image_thresholds``: each image's threshold (default ``threshold`` for all; cells always use it)."""
    img_thr = threshold if image_thresholds is None else np.asarray(image_thresholds, float)
    y = np.array([r.y for r in records], int)
    split = key.split("/")[-1]
    out = {
        "key": key,
        "dataset": records[0].dataset,
        "split": split,
        "role": split,
        "role_text": ROLE_TEXT.get(split, split),
        "parts": sorted({r.part for r in records}),
        "description": describe_set(key),
        "held_out": split in ("test", "left-out"),
        "n_images": len(records),
        "n_groups": len({r.group for r in records}),
        "group_kind": "patient" if records[0].dataset == "cnmc" else
                      ("block of file numbers" if records[0].dataset == "aria" else "patient or file"),
        "metrics": compute_metrics(y, p_all, img_thr),
        "images": [{"path": str(r.path), "label": r.label, "group": r.group, "subclass": r.subclass,
                    "part": r.part, "p_all": round(float(p), 6)} for r, p in zip(records, p_all)],
    }
    if cells is not None:
        for img, c in zip(out["images"], cells):
            img["n_cells"] = len(c)
            img["cells"] = [round(float(v), 4) for v in c]
        cy = np.concatenate([[r.y] * len(c) for r, c in zip(records, cells)]).astype(int) if records else np.zeros(0)
        cp = np.concatenate([np.asarray(c, float) for c in cells]) if cells else np.zeros(0)
        out["n_cells"] = int(len(cp))
        out["cell_metrics"] = compute_metrics(cy, cp, threshold)
    if image_thresholds is not None:
        for img, t in zip(out["images"], img_thr):
            img["threshold"] = round(float(t), 4)
    if grayscale_p is not None:
        out["grayscale_metrics"] = compute_metrics(y, grayscale_p, img_thr)
    return out


def make_report(model: str, sets: list[dict], skipped: list[dict], **meta) -> dict:
    """A report dict: format tag, model, ``meta`` fields, creation time (UTC), commit, sets and
    skipped images.
    """
    # lazy: training.train imports Keras, which imports TensorFlow (about 4 s here);
    # the app reads reports through this module
    from ..provenance import git_commit

    return {"format": REPORT_FORMAT, "model": model, **meta,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "commit": git_commit(), "sets": sets, "skipped": skipped}


def check_roles(sets: dict[str, list[Record]], manifest: dict, allow_leakage: bool = False) -> None:
    """Refuse a validation or test set holding groups the model trained on, a test set holding
    groups it chose its epoch on, and a left-out set of a lab the model saw at all."""
    training = manifest.get("training", {})
    for key, recs in sets.items():
        role = key.split("/")[-1]
        if role == "left-out":
            check_left_out(recs[0].dataset, training)
        if role in ("val", "test", "left-out") and not allow_leakage:
            check_against_groups(recs, training.get("train_groups", []), f"{key} (trained on)")
        if role in ("test", "left-out") and not allow_leakage:
            check_against_groups(recs, training.get("selected_on", []), f"{key} (chose the epoch on)")


def check_left_out(dataset: str, training: dict) -> None:
    """Refuse to report ``dataset`` as a left-out lab when the model's manifest shows any of its
    images among the training or validation images (leakage is not waived for this role).

    Raises:
        LeakageError: naming the manifest entries that hold the lab.
    """
    seen = [k for part in ("train", "val") for k in training.get(part, {}).get("images", {})
            if k.split("/")[0] == dataset]
    if seen:
        raise LeakageError(f"{dataset} cannot be scored as a left-out lab: the model trained or chose its epoch "
                           f"on it ({', '.join(seen)}). Train without that folder first.")


def leave_out(records: Iterable[Record], datasets: Sequence[str]) -> list[Record]:
    """``records`` with every image of the ``datasets`` named (all roles) moved to the ``left-out`` role."""
    wanted = set(datasets)
    return [replace(r, split="left-out") if r.dataset in wanted else r for r in records]


def image_scores(cells_p: np.ndarray, image_index: np.ndarray, border: np.ndarray, n_images: int) -> list[np.ndarray]:
    """Per image, the P(ALL) of the cells that count for the image call (whole cells; all cells
    when every one touches the edge).

    ``cells_p``: P(ALL) ``float (C,)`` in [0, 1]; ``image_index``: ``int (C,)`` in
    ``[0, n_images)``; ``border``: ``bool (C,)``. Returns ``n_images`` float arrays (empty for an image
    without cells).
    """
    out = []
    for i in range(n_images):
        mine = cells_p[image_index == i]
        out.append(mine[counted_cells(border[image_index == i])])
    return out


def _with_reference(cal, crops_by_key: dict[str, np.ndarray], scored: dict):
    """Add the training cells' colour reference (out-of-distribution flag) and measure the flag:
    share of flagged images per set (should be low) and of deliberately wrong inputs (should be all)."""
    train = [v for k, v in crops_by_key.items() if k.endswith("/train") and len(v) >= 20]
    val = [v for k, v in crops_by_key.items() if k.endswith("/val") and len(v)]
    if not train or not val:
        return cal
    ref = fit_reference(train, np.concatenate(val))
    flagged = {}
    for key, crops in crops_by_key.items():
        if len(crops):
            flagged[key] = float(np.mean(distances(ref, crops) > ref["threshold"]))
    sample = np.concatenate(val)[:: max(1, len(np.concatenate(val)) // 300)]
    wrong = {name: float(np.mean(distances(ref, x) > ref["threshold"])) for name, x in wrong_inputs(sample).items()}
    ref["flagged_cells_share"] = flagged
    ref["flagged_wrong_inputs_share"] = wrong
    return replace(cal, reference=ref)


def evaluate(name: str, data: Sequence[str], out: Path | None = None, weights_dir: Path | None = None,
             splits: Sequence[str] = ("train", "val", "test", "unsplit"), threshold: float | None = None,
             exclude_parts: Sequence[str] = ("Segmented",), batch_size: int = 64, cache_dir: Path | None = None,
             allow_leakage: bool = False, calibrate: bool = True, left_out: Sequence[str] = (),
             progress: Callable[[str], None] | None = None, lab_probe: bool = True) -> dict:
    """Evaluate a shipped model, cell by cell, on dataset folders and write the report.

    With ``calibrate``, the calibrator, threshold and refer band are fitted on the val role's cells
    and written to ``<weights_dir>/<name>.calibration.json`` before anything is scored. Test sets
    whose groups the model trained or selected on (per its manifest) are refused with
    :class:`~leukemia_core.errors.LeakageError` unless ``allow_leakage``.

    ``left_out`` names datasets (``cnmc``, ``aria``, ``bccd``) the model was trained without: every
    image of each is scored as one ``<dataset>/left-out`` set (leave-one-lab-out), after checking the
    manifest shows none of its images; the calibration comes from the other labs' validation cells.

    With ``lab_probe`` and images of two labs or more, the report's ``lab_probe`` says how well a
    linear classifier tells the labs apart from the model's features, class by class
    (:mod:`leukemia_core.evaluation.lab_probe`).
    """
    wdir = weights_dir_or_default(weights_dir)
    loaded = load_model(name, wdir)
    pred = Predictor(loaded, batch_size)
    records = leave_out([r for r in read_many(data) if r.part not in exclude_parts], left_out)
    missing = sorted(set(left_out) - {r.dataset for r in records})
    if missing:
        raise LeukemiaCoreError(f"--left-out {', '.join(missing)}: no images of that dataset under "
                                f"{', '.join(map(str, data))}")
    sets = group_sets(records, [*splits, "left-out"] if left_out else splits)
    if not sets:
        raise LeukemiaCoreError(f"no images in splits {', '.join(splits)} under {', '.join(map(str, data))}")
    check_roles(sets, loaded.manifest, allow_leakage)
    share = loaded.cell_share
    scored = {}
    skipped = []
    crops_by_key: dict[str, np.ndarray] = {}
    for key, recs in sets.items():
        if progress:
            progress(f"{name}: {key} ({len(recs)} images)")
        cs = extract_cells(recs, loaded.input_size, share, cache_dir, masked=loaded.mask_outside)
        crops_by_key[key] = cs.x[~cs.border] if calibrate else cs.x[:0]
        bad = {id(r) for r, _ in cs.errors}
        skipped += [{"path": str(r.path), "error": msg} for r, msg in cs.errors]
        p = pred.predict(cs.x.astype(np.float32) / 255.0).astype(np.float64) if len(cs.x) else np.zeros(0)
        per_image = image_scores(p, cs.image_index, cs.border, len(recs))
        for i, r in enumerate(recs):  # no cell found: the whole image, as prediction does
            if cs.n_cells[i] == 0 and id(r) not in bad:
                per_image[i] = pred.predict(whole_image_crop(read_image(r.path), loaded.input_size)[None] / 255.0)
        gray = None
        if key.endswith(("/test", "/left-out")) and len(cs.x):
            g = cs.x.mean(axis=-1, keepdims=True).repeat(3, axis=-1).astype(np.float32) / 255.0
            gray = image_scores(pred.predict(g).astype(np.float64), cs.image_index, cs.border, len(recs))
        keep = [i for i, r in enumerate(recs) if id(r) not in bad]
        scored[key] = ([recs[i] for i in keep], [per_image[i] for i in keep],
                       [gray[i] for i in keep] if gray is not None else None, [int(cs.n_cells[i]) for i in keep])
    if calibrate:
        val = [(k, v) for k, v in scored.items() if k.endswith("/val")]
        if val:
            y = np.concatenate([[r.y] * len(c) for _, (recs, cells, _, _) in val for r, c in zip(recs, cells)])
            p = np.concatenate([c for _, (_, cells, _, _) in val for c in cells])
            ds = np.concatenate([[r.dataset] * len(c) for _, (recs, cells, _, _) in val for r, c in zip(recs, cells)])
            cal = fit_calibration(p, y.astype(int), ds)
            fields = [(r, cal.apply(c).mean()) for _, (recs, cells, _, n) in val for r, c, k in zip(recs, cells, n)
                      if k > 1]
            if fields and len({r.y for r, _ in fields}) == 2:
                ft, fba = fit_field_threshold(np.array([q for _, q in fields]), np.array([r.y for r, _ in fields]),
                                              np.array([r.dataset for r, _ in fields]))
                cal = replace(cal, field_threshold=ft)
                cal.info.update({"field_threshold_balanced_accuracy": fba, "field_threshold_images": len(fields)})
            cal.info["fitted_on"] = [k for k, _ in val]
            cal.info["weights_sha256"] = loaded.manifest.get("weights_sha256")
            cal = _with_reference(cal, crops_by_key, scored)
            write_json(calibration_path(wdir, name), cal.to_json())
    cal = read_calibration(wdir, name)
    thr = threshold_in_use(threshold, cal.threshold)
    out_sets = []
    for key, (recs, cells, gray, n_found) in scored.items():
        if not recs:
            continue
        cells_cal = [cal.apply(c) for c in cells]
        img_p = np.array([c.mean() for c in cells_cal])
        gray_p = np.array([cal.apply(g).mean() for g in gray]) if gray is not None else None
        img_thr = np.array([cal.image_threshold(thr, k) for k in n_found])
        s = build_set(key, recs, img_p, thr, cells_cal, gray_p, image_thresholds=img_thr)
        for img, k in zip(s["images"], n_found):
            img["n_found"] = k
        s["calibrated"] = cal.fitted
        out_sets.append(s)
    trained = loaded.manifest.get("training", {})
    report = make_report(name, out_sets, skipped, weights_sha256=loaded.manifest.get("weights_sha256"),
                         trained_on=sorted({k.split("/")[0] for k in trained.get("train", {}).get("images", {})}),
                         weights_date=loaded.manifest.get("date"), left_out=list(left_out),
                         input_size=loaded.input_size, threshold=thr, calibration=cal.to_json(),
                         field_threshold=cal.field_threshold,
                         image_rule="image P(ALL) = mean calibrated P(ALL) of its whole cells; an image of one cell "
                                    "takes that cell's call (threshold), an image of several cells is ALL when the "
                                    "mean reaches field_threshold (both chosen on validation)",
                         data=[str(d) for d in data])
    if lab_probe and len({r.dataset for r in records}) >= 2:
        if progress:
            progress(f"{name}: lab probe")
        report["lab_probe"] = probe_cells(records, Predictor(replace(loaded, calibration=cal), batch_size),
                                          cache_dir=cache_dir)
    if out is not None:
        write_json(Path(out), report)
    return report


def labels_and_probs(report_set: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(y, p_all)`` arrays from a report set's stored per-image results.

    ``y``: ``int (N,)`` (0 HEM, 1 ALL); ``p_all``: ``float64 (N,)`` in [0, 1].
    """
    y = np.array([LABELS.index(i["label"]) for i in report_set["images"]], int)
    p = np.array([i["p_all"] for i in report_set["images"]], float)
    return y, p
