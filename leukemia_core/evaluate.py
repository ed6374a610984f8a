"""Evaluation reports: metrics per dataset and split, with every image's probability.

Report format (``leukemia_core.report/1``, JSON)::

    {
      "format": "leukemia_core.report/1",
      "model": "proposed",                 # registry name, or "colour_baseline"
      "weights_sha256": "...",             # the file evaluated (null for the baseline)
      "input_size": 224, "threshold": 0.5, "created": "...", "commit": "...",
      "sets": [{
          "key": "cnmc/val",               # <dataset>[-<variant>]/<split>
          "dataset": "cnmc", "split": "val", "parts": ["fold_2"],
          "description": "C-NMC 2019 fold_2 ...",
          "held_out": true,                # false for the training split
          "n_images": 43, "n_groups": 21, "group_kind": "patient",
          "metrics": {...},                # leukemia_core.metrics.compute_metrics at threshold
          "images": [{"path": "...", "label": "all", "group": "ALL-13",
                      "subclass": "", "part": "fold_2", "p_all": 0.93}, ...]
      }, ...],
      "skipped": [{"path": "...", "error": "..."}]   # unreadable files, not scored
    }

Because every image's ``p_all`` is stored, a different threshold can be applied later
(``compute_metrics(y, p, threshold)``) without running the model again.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from .datasets import LABELS, Record, read_many
from .errors import LeukemiaCoreError
from .metrics import compute_metrics
from .splits import check_against_groups

REPORT_FORMAT = "leukemia_core.report/1"

_SET_TEXT = {
    "cnmc/train": "C-NMC 2019 training_data fold_0 + fold_1 (training images, no augmentation)",
    "cnmc/val": "C-NMC 2019 training_data fold_2: patients disjoint from folds 0 and 1",
    "cnmc/test": "C-NMC 2019 preliminary-phase test set (labelled), patients disjoint from training_data",
    "aria-original/train": "Aria ALL, Original smear fields, training block (training images)",
    "aria-original/val": "Aria ALL, Original smear fields, held-out block: last 20% of file numbers per "
                         "subclass. Image-level split (no patient ids): patient leakage possible",
    "aria-segmented/train": "Aria ALL, Segmented fields, training block (training images)",
    "aria-segmented/val": "Aria ALL, Segmented fields, held-out block: last 20% of file numbers per "
                          "subclass. Image-level split (no patient ids): patient leakage possible",
}


def set_key(r: Record) -> str:
    """Report set of a record: ``cnmc/val``, ``aria-original/val``, ``folder/unsplit`` ..."""
    ds = f"aria-{r.part.lower()}" if r.dataset == "aria" else r.dataset
    return f"{ds}/{r.split}"


def describe_set(key: str) -> str:
    return _SET_TEXT.get(key, f"{key} (user folder; groups = patient ids from C-NMC file names, else files)")


def group_sets(records: Iterable[Record], splits: Sequence[str] | None = None) -> dict[str, list[Record]]:
    sets: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        if splits is None or r.split in splits:
            sets[set_key(r)].append(r)
    return dict(sorted(sets.items()))


def build_set(key: str, records: Sequence[Record], p_all: np.ndarray, threshold: float) -> dict:
    y = np.array([r.y for r in records], int)
    split = key.split("/")[-1]
    return {
        "key": key,
        "dataset": records[0].dataset,
        "split": split,
        "parts": sorted({r.part for r in records}),
        "description": describe_set(key),
        "held_out": split != "train",
        "n_images": len(records),
        "n_groups": len({r.group for r in records}),
        "group_kind": "patient" if records[0].dataset == "cnmc" else
                      ("block of file numbers" if records[0].dataset == "aria" else "patient or file"),
        "metrics": compute_metrics(y, p_all, threshold),
        "images": [{"path": str(r.path), "label": r.label, "group": r.group, "subclass": r.subclass,
                    "part": r.part, "p_all": round(float(p), 6)} for r, p in zip(records, p_all)],
    }


def make_report(model: str, sets: list[dict], skipped: list[dict], **meta) -> dict:
    from .train import git_commit

    return {"format": REPORT_FORMAT, "model": model, **meta,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "commit": git_commit(), "sets": sets, "skipped": skipped}


def evaluate(name: str, data: Sequence[str], out: Path | None = None, weights_dir: Path | None = None,
             splits: Sequence[str] = ("train", "val", "test", "unsplit"), threshold: float = 0.5,
             exclude_parts: Sequence[str] = (), batch_size: int = 32, cache_dir: Path | None = None,
             allow_leakage: bool = False, progress: Callable[[str], None] | None = None) -> dict:
    """Evaluate a shipped model on dataset folders and write the report.

    Held-out sets whose groups the model was trained on (per its manifest) are refused with
    :class:`~leukemia_core.errors.LeakageError` unless ``allow_leakage``.
    """
    from .inference import Predictor, load_model
    from .pipeline import load_images

    loaded = load_model(name, weights_dir)
    pred = Predictor(loaded, batch_size)
    records = [r for r in read_many(data) if r.part not in exclude_parts]
    sets = group_sets(records, splits)
    if not sets:
        raise LeukemiaCoreError(f"no images in splits {', '.join(splits)} under {', '.join(map(str, data))}")
    train_groups = loaded.manifest.get("training", {}).get("train_groups", [])
    out_sets, skipped = [], []
    for key, recs in sets.items():
        if not key.endswith("/train") and not allow_leakage:
            check_against_groups(recs, train_groups, key)
        if progress:
            progress(f"{name}: {key} ({len(recs)} images)")
        x, _, kept, bad = load_images(recs, loaded.input_size, loaded.noise_reduction, cache_dir)
        skipped += [{"path": str(r.path), "error": msg} for r, msg in bad]
        if not kept:
            continue
        p = np.concatenate([pred.predict(x[i:i + 256].astype(np.float32) / 255.0) for i in range(0, len(x), 256)])
        out_sets.append(build_set(key, kept, p, threshold))
    report = make_report(name, out_sets, skipped, weights_sha256=loaded.manifest.get("weights_sha256"),
                         input_size=loaded.input_size, threshold=threshold, data=[str(d) for d in data])
    if out is not None:
        from .weights import write_json

        write_json(Path(out), report)
    return report


def read_report(path: Path) -> dict:
    """Load a report, checking its format tag."""
    try:
        rep = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise LeukemiaCoreError(f"{path}: unreadable report ({exc})") from None
    if rep.get("format") != REPORT_FORMAT:
        raise LeukemiaCoreError(f"{path}: not a {REPORT_FORMAT} report")
    return rep


def labels_and_probs(report_set: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(y, p_all)`` arrays from a report set's stored per-image results."""
    y = np.array([LABELS.index(i["label"]) for i in report_set["images"]], int)
    p = np.array([i["p_all"] for i in report_set["images"]], float)
    return y, p
