"""The sets of an evaluation report: roles, levels, order, labels and stored probabilities."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluation.evaluate import ROLE_TEXT, labels_and_probs

#: Order of the roles on the pages: the most informative set first.
ROLE_ORDER = ("test", "val", "train", "unsplit")

#: Short names of the roles for selectors and legends.
ROLE_NAMES = {"test": "test", "val": "validation", "train": "training", "unsplit": "unsplit"}

#: Levels a report scores, and the report field holding each level's metrics.
LEVELS = {"cells": "cell_metrics", "images": "metrics", "images, grayscale": "grayscale_metrics"}

LEVEL_NAMES = {"cells": "cells", "images": "images (fields)", "images, grayscale": "images, grayscale crops"}

_DATASET_ORDER = ("cnmc", "cnmc-prelim", "aria-original")


def role_of(report_set: dict) -> str:
    """The set's data role (``test``, ``val``, ``train``, ``unsplit``)."""
    return report_set.get("role") or report_set["key"].split("/")[-1]


def role_text(report_set: dict) -> str:
    """What the set's role was used for (the report's ``role_text``, else the evaluator's wording)."""
    role = role_of(report_set)
    return report_set.get("role_text") or ROLE_TEXT.get(role, role)


def set_sort_key(key: str) -> tuple:
    """Test sets first, then validation, then training; C-NMC first within a role."""
    ds, _, role = key.rpartition("/")
    r = ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER)
    d = _DATASET_ORDER.index(ds) if ds in _DATASET_ORDER else len(_DATASET_ORDER)
    return (r, d, key)


def set_keys(report: dict) -> list[str]:
    """Set keys of a report, most informative first (see :func:`set_sort_key`)."""
    return sorted((s["key"] for s in report.get("sets", [])), key=set_sort_key)


def all_set_keys(reports: dict[str, dict]) -> list[str]:
    """Every set key found in any report, most informative first."""
    return sorted({s["key"] for r in reports.values() for s in r.get("sets", [])}, key=set_sort_key)


def get_set(report: dict, key: str) -> dict | None:
    """The set of ``report`` whose key is ``key``, or None."""
    return next((s for s in report.get("sets", []) if s["key"] == key), None)


def first_set(reports: dict[str, dict], key: str) -> dict | None:
    """The set ``key`` of the first report that has it."""
    return next((s for r in reports.values() if (s := get_set(r, key)) is not None), None)


def set_label(report_set: dict) -> str:
    """``cnmc/test (test)``, ``cnmc/val (validation, not a test set)``: for selectors."""
    role = role_of(report_set)
    extra = ", not a test set" if role == "val" else ""
    return f"{report_set['key']} ({ROLE_NAMES.get(role, role)}{extra})"


def _count(v) -> str:
    return "n/a" if v is None else str(v)


def set_facts(report_set: dict) -> str:
    """What a set holds: description, images, cells and groups."""
    kind = report_set.get("group_kind") or "group"
    cells = f", {_count(report_set.get('n_cells'))} cells" if "n_cells" in report_set else ""
    return (f"{str(report_set.get('description', '')).rstrip('. ')}. {_count(report_set.get('n_images'))} images"
            f"{cells} from {_count(report_set.get('n_groups'))} groups ({kind}).")


def set_caption(report_set: dict) -> str:
    """What a set was measured on and what its role was used for."""
    return f"{report_set['key']}: {role_text(report_set)}. {set_facts(report_set)}"


def sets_table(reports: dict[str, dict]) -> pd.DataFrame:
    """One row per set key found in any report (from the first report holding it), most informative
    first: role, images, cells, groups, what the role was used for, description."""
    rows = []
    for key in all_set_keys(reports):
        s = first_set(reports, key)
        rows.append({"set": key, "role": ROLE_NAMES.get(role_of(s), role_of(s)), "images": s.get("n_images"),
                     "cells": s.get("n_cells"), "groups": s.get("n_groups"),
                     "group kind": s.get("group_kind", ""), "used for": role_text(s),
                     "description": s.get("description", "")})
    return pd.DataFrame(rows, columns=["set", "role", "images", "cells", "groups", "group kind", "used for",
                                       "description"])


def datasets_of(reports: dict[str, dict]) -> list[str]:
    """Dataset prefixes of the set keys (``cnmc``, ``aria-original`` ...): ``cnmc`` first, then as seen."""
    out: list[str] = []
    for rep in reports.values():
        for s in rep.get("sets", []):
            d = s["key"].split("/")[0]
            if d not in out:
                out.append(d)
    return sorted(out, key=lambda d: (_DATASET_ORDER.index(d) if d in _DATASET_ORDER else len(_DATASET_ORDER)))


def labels_probs(report_set: dict, level: str = "images") -> tuple[np.ndarray, np.ndarray]:
    """``(y, p_all)`` of a set at ``level``: per image (``images``) or per cell (``cells``: each
    cell carries its image's label). Empty arrays when the set stores no cells.

    ``y``: ``int (N,)`` (0 HEM, 1 ALL); ``p_all``: ``float64 (N,)`` in [0, 1].
    """
    if level == "images":
        return labels_and_probs(report_set)
    y, p = [], []
    for img in report_set.get("images", []):
        cells = img.get("cells") or []
        y += [1 if img["label"] == "all" else 0] * len(cells)
        p += list(cells)
    return np.asarray(y, int), np.asarray(p, float)
