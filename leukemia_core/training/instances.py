"""Instance selection for weakly labelled fields: one round of multiple-instance learning.

An Aria field carries its patient's flow-cytometry label, so every white cell of an ALL field is
labelled ALL, although such a field can also show normal cells (a neutrophil, a small lymphocyte).
Treated as a bag of instances of which at least one is positive, an ALL field is cleaned by a
*teacher*, a model trained before: within each weakly labelled ALL field, the cells the teacher
calls normal (calibrated P(ALL) below its threshold) are left out of training, except the cell it
scores highest, so that no field loses all its cells. Normal fields, and datasets whose cells carry
their own label (C-NMC) or are all normal (BCCD), are kept whole.

Dropping rather than relabelling: a cell the teacher misses may still be a blast, and a wrong HEM
label teaches more harm than a left-out cell.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..cells.dataset import CellSet, extract_cells
from ..data.pipeline import predict_array
from ..errors import LeukemiaCoreError
from ..inference import load_model
from ..models.weights import sha256_of

log = logging.getLogger(__name__)

#: Datasets whose cells carry their image's (field's) label rather than their own.
WEAK_DATASETS = ("aria",)
#: File name ending of a shipped weights file (``<model>.weights.npz``).
WEIGHTS_SUFFIX = ".weights.npz"


def select_instances(image_index: np.ndarray, y: np.ndarray, weak: np.ndarray, p_all: np.ndarray,
                     threshold: float) -> np.ndarray:
    """Which cells to train on: ``bool (N,)``.

    ``image_index``: each cell's image; ``y``: its label (1 ALL); ``weak``: the cell's label is its
    field's; ``p_all``: the teacher's calibrated P(ALL); ``threshold``: the teacher's threshold. In
    every image whose weak cells are labelled ALL, those below ``threshold`` are dropped, all but
    the highest-scoring one.
    """
    image_index, y, weak, p_all = (np.asarray(a) for a in (image_index, y, weak, p_all))
    if not (len(image_index) == len(y) == len(weak) == len(p_all)):
        raise ValueError("image_index, y, weak and p_all must have one entry per cell")
    keep = np.ones(len(y), bool)
    bag = weak.astype(bool) & (y == 1)
    for img in np.unique(image_index[bag]):
        idx = np.flatnonzero(bag & (image_index == img))
        low = idx[p_all[idx] < threshold]
        keep[low] = False
        keep[idx[np.argmax(p_all[idx])]] = True
    return keep


def teacher_of(path: str | Path) -> tuple[str, Path]:
    """``(model name, weights folder)`` of a shipped weights file ``DIR/<model>.weights.npz``."""
    path = Path(path)
    if not path.name.endswith(WEIGHTS_SUFFIX):
        raise LeukemiaCoreError(f"{path}: an instance teacher is a shipped weights file, <model>{WEIGHTS_SUFFIX}")
    if not path.is_file():
        raise LeukemiaCoreError(f"{path}: instance teacher not found")
    return path.name[: -len(WEIGHTS_SUFFIX)], path.parent


def teacher_scores(path: str | Path, train: CellSet, cache_dir: Path | None) -> tuple[np.ndarray, float, dict]:
    """The teacher's calibrated P(ALL) for every cell of ``train``, its threshold, and what
    identifies it (for the manifest).

    The teacher crops the training images its own way (input size, cell share, surroundings), so
    its crops are cut again from the same images; the finder is deterministic, so they are the
    same cells in the same order. It is loaded the way the app loads a model (sha256 checked, its
    calibration applied). Raises LeukemiaCoreError when the teacher cannot be loaded.
    """
    name, wdir = teacher_of(path)
    loaded = load_model(name, wdir)
    own = extract_cells(train.records, loaded.input_size, loaded.cell_share, cache_dir, masked=loaded.mask_outside)
    own = own.subset(~own.border)
    if len(own.y) != len(train.y) or not np.array_equal(own.image_index, train.image_index):
        raise LeukemiaCoreError(f"{path}: the teacher's crops do not line up with the training cells")
    raw = predict_array(loaded.model, own.x)  # any Keras backend, as training runs on JAX too
    info = {"file": Path(path).name, "model": name, "sha256": sha256_of(Path(path)),
            "threshold": loaded.calibration.threshold, "calibrated": loaded.calibration.fitted}
    return loaded.calibration.apply(raw), loaded.calibration.threshold, info


def clean_weak_fields(train: CellSet, teacher: str | Path, cache_dir: Path | None) -> tuple[CellSet, dict]:
    """``train`` without the cells of weakly labelled ALL fields that ``teacher`` calls normal, and
    the record of what was dropped (for the manifest)."""
    datasets = np.array([train.records[i].dataset for i in train.image_index])
    weak = np.isin(datasets, WEAK_DATASETS)
    p, threshold, info = teacher_scores(teacher, train, cache_dir)
    keep = select_instances(train.image_index, train.y, weak, p, threshold)
    bag = weak & (train.y == 1)
    info.update({"rule": "in each weakly labelled ALL field, cells the teacher calls normal are left out, "
                         "all but its highest-scoring cell",
                 "weak_all_cells": int(bag.sum()), "weak_all_fields": int(len(np.unique(train.image_index[bag]))),
                 "dropped": int((~keep).sum())})
    log.info("instance teacher %s: %d of %d cells of weakly labelled ALL fields left out", info["file"],
             info["dropped"], info["weak_all_cells"])
    return train.subset(keep), info
