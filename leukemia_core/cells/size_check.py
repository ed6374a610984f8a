"""Measure the red-cell size feature (``size-check``): is the estimate right, and does size rank?

* **Red-cell diameter against people.** On BCCD the red cells carry human-drawn boxes; the
  estimate of each image is compared with the median side of its boxes that do not touch the edge
  (the boxes are loose, so the ratio sits below 1; what matters is how much it varies).
* **Size by lab, class and cell type.** Each found white cell not cut by the image edge, in the
  chosen roles: its diameter in red-cell diameters (:mod:`leukemia_core.cells.size`), summed up
  per lab and label and, for BCCD, per white-cell type (``wbc_types`` of ``index.csv``, images of
  one type only).
* **What it costs.** The finder alone against the finder plus the red-cell scale, interleaved, on
  up to :data:`SPEED_IMAGES` images of each lab measured: milliseconds per image and their ratio.
* **Does size rank?** ROC AUC of size alone, ALL against HEM, on Aria (field labels: an ALL field
  also holds normal cells) and across labs (Aria's ALL cells against BCCD's normal cells), each
  and against BCCD's lymphocytes alone, each with a bootstrap interval that resamples whole images.

The estimator's constants were set by looking at BCCD images of every role and the first 40 Aria
fields of each class, so every figure here is a measurement of a hand-set rule, not a held-out test
of a learned one; the test role is the default all the same.
"""

from __future__ import annotations

import csv
import datetime as _dt
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..data.bccd import read_boxes
from ..data.datasets import Record, read_dataset
from ..data.images import read_image
from ..jsonio import write_json
from .finder import find_cells
from .size import red_cell_scale, sizes_at

FORMAT = "leukemia_core.size_check/1"
#: A red-cell box closer than this to the image edge may be cut by it.
EDGE_PX = 3
#: Images per lab timed for the cost figure.
SPEED_IMAGES = 100


def _quartiles(v: Sequence[float]) -> dict:
    if not len(v):
        return {"n": 0, "median": None, "q1": None, "q3": None}
    q1, med, q3 = np.percentile(np.asarray(v, float), [25, 50, 75])
    return {"n": len(v), "median": round(float(med), 3), "q1": round(float(q1), 3), "q3": round(float(q3), 3)}


def bccd_types(root: Path) -> dict[str, str]:
    """``{image stem: white-cell type}`` from BCCD's ``index.csv`` (images of one type only)."""
    index = Path(root) / "index.csv"
    if not index.is_file():
        return {}
    out = {}
    with index.open(newline="") as f:
        for row in csv.DictReader(f):
            types = [t for t in (row.get("wbc_types") or "").replace(";", ",").split(",") if t.strip()]
            if len(types) == 1:
                out[Path(row["file"]).stem] = types[0].strip()
    return out


def box_diameter(xml: Path, shape: tuple[int, int]) -> float | None:
    """Median red-cell box side (mean of width and height) in one BCCD annotation file, px, for an
    image of ``shape`` ``(H, W)``; boxes within :data:`EDGE_PX` of the edge are left out (``None``
    without any, or without the file)."""
    if not Path(xml).is_file():
        return None
    h, w = shape
    sides = [((b.x1 - b.x0) + (b.y1 - b.y0)) / 2 for b in read_boxes(xml, "RBC")
             if b.x0 >= EDGE_PX and b.y0 >= EDGE_PX and b.x1 <= w - EDGE_PX and b.y1 <= h - EDGE_PX]
    return float(np.median(sides)) if sides else None


def measure(records: Iterable[Record], bccd_root: Path | None = None) -> list[dict]:
    """One row per found cell not cut by the edge (one row with ``cell`` None for an image without
    any): dataset, label, image, role, size in red cells (or None), the image's red-cell estimate
    and, for BCCD images, the boxes' median side."""
    rows = []
    for r in records:
        rgb = read_image(r.path)
        cells = find_cells(rgb)
        scale = red_cell_scale(rgb, cells)
        boxes = (box_diameter(Path(bccd_root) / "Annotations" / f"{r.path.stem}.xml", rgb.shape[:2])
                 if bccd_root and r.dataset == "bccd" else None)
        sizes = sizes_at(cells, scale)
        image = {"dataset": r.dataset, "label": r.label, "image": str(r.path), "role": r.split,
                 "red_cell_px": None if scale is None else round(scale.diameter, 2), "box_px": boxes}
        kept = [{**image, "cell": c.id, "size": None if s is None else round(s, 4)}
                for c, s in zip(cells, sizes) if not c.touches_border]
        rows += kept or [{**image, "cell": None, "size": None}]  # the image still counts
    return rows


def summarize(rows: Sequence[dict], types: dict[str, str] | None = None, n_boot: int = 1000) -> dict:
    """The figures of the module docstring from :func:`measure`'s rows."""
    cells = [r for r in rows if r["cell"] is not None]
    out: dict = {"by_lab": {}, "auc": {}}
    by = defaultdict(list)
    for r in cells:
        by[(r["dataset"], r["label"])].append(r)
    for (ds, label), rs in sorted(by.items()):
        sized = [r["size"] for r in rs if r["size"] is not None]
        out["by_lab"][f"{ds}/{label}"] = {"cells": len(rs), "with_size": len(sized),
                                          "coverage": round(len(sized) / len(rs), 3), **_quartiles(sized)}
    if types:
        by_type = defaultdict(list)
        for r in cells:
            t = types.get(Path(r["image"]).stem) if r["dataset"] == "bccd" else None
            if t and r["size"] is not None:
                by_type[t].append(r["size"])
        out["bccd_by_type"] = {t: _quartiles(v) for t, v in sorted(by_type.items())}
    sized = [r for r in cells if r["size"] is not None]

    # the image-resampling bootstrap is the verification layer's (above this one): imported here
    from ..stats import bootstrap_auc

    def ranked(keep) -> dict | None:
        rs = [r for r in sized if keep(r)]
        y = np.array([r["label"] == "all" for r in rs], int)
        if len(set(y.tolist())) < 2:
            return None
        groups = np.array([r["image"] for r in rs])
        b = bootstrap_auc(y, np.array([r["size"] for r in rs]), groups=groups, n_boot=n_boot)
        return {**{k: round(v, 3) if isinstance(v, float) else v for k, v in b.items()},
                "n_all": int(y.sum()), "n_hem": int(len(y) - y.sum())}

    out["auc"]["aria_all_vs_hem"] = ranked(lambda r: r["dataset"] == "aria")
    out["auc"]["aria_all_vs_bccd"] = ranked(lambda r: (r["dataset"] == "aria" and r["label"] == "all")
                                            or r["dataset"] == "bccd")
    if types:
        out["auc"]["aria_all_vs_bccd_lymphocytes"] = ranked(
            lambda r: (r["dataset"] == "aria" and r["label"] == "all")
            or (r["dataset"] == "bccd" and types.get(Path(r["image"]).stem) == "lymphocyte"))
    pairs = [(r["red_cell_px"], r["box_px"]) for r in _images(rows) if r["dataset"] == "bccd" and r["box_px"]]
    with_est = [e / b for e, b in pairs if e]
    out["bccd_red_cell_vs_boxes"] = {
        "images_with_boxes": len(pairs), "with_estimate": len(with_est),
        **{k: v for k, v in _quartiles(with_est).items() if k != "n"},
        "p10": round(float(np.percentile(with_est, 10)), 3) if with_est else None,
        "p90": round(float(np.percentile(with_est, 90)), 3) if with_est else None}
    return out


def _images(rows: Sequence[dict]) -> list[dict]:
    seen, out = set(), []
    for r in rows:
        if r["image"] not in seen:
            seen.add(r["image"])
            out.append(r)
    return out


def speed(images: Sequence[np.ndarray], repeats: int = 5) -> dict:
    """Milliseconds per image of :func:`find_cells` alone and of it followed by
    :func:`red_cell_scale` (what the app adds per image), interleaved; ``ratio`` = with / alone."""
    from ..timing import med_ms, ratio, rnd, time_interleaved

    def alone():
        for rgb in images:
            find_cells(rgb)

    def with_scale():
        for rgb in images:
            red_cell_scale(rgb, find_cells(rgb))

    t = time_interleaved({"alone": alone, "with_scale": with_scale}, repeats, warmup=1)
    a, w = med_ms(t["alone"]) / len(images), med_ms(t["with_scale"]) / len(images)
    return {"images": len(images), "finder_ms_per_image": rnd(a), "with_scale_ms_per_image": rnd(w),
            "ratio": rnd(ratio(w, a)), "repeats": repeats}


def run_size_check(data: Sequence[str], out: Path | None, roles: Sequence[str] = ("test",),
                   limit: int | None = None) -> dict:
    """Measure every image of ``data`` (folders of any supported layout) in ``roles``; write JSON."""
    records, bccd_root = [], None
    for root in data:
        recs = [r for r in read_dataset(Path(root)) if r.split in roles and r.part != "Segmented"]
        if recs and recs[0].dataset == "bccd":
            bccd_root = Path(root)
        records += recs[::max(1, len(recs) // limit)][:limit] if limit else recs
    rows = measure(records, bccd_root)
    result = {"format": FORMAT, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "data": list(data), "roles": list(roles),
              "images": len(_images(rows)), **summarize(rows, bccd_types(bccd_root) if bccd_root else None)}
    by_lab = defaultdict(list)
    for r in records:
        by_lab[r.dataset].append(r)
    result["speed"] = {}
    for ds, recs in sorted(by_lab.items()):
        picked = recs[::max(1, len(recs) // SPEED_IMAGES)][:SPEED_IMAGES]
        result["speed"][ds] = {"image": "x".join(map(str, read_image(picked[0].path).shape[1::-1])),
                               **speed([read_image(r.path) for r in picked])}
    if out is not None:
        write_json(Path(out), result)
    return result
