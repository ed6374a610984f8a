"""The cell pipeline: how fast images become called cells, against the model alone.

For one model, every bundled sample goes through the project's path as ``predict`` and the app
run it: decode the file bytes (:func:`~leukemia_core.data.images.read_image`), find and crop the white
cells (``Predictor.find_cells``), then ``Predictor.analyze`` (one batched forward pass over the
image's crops, then calibration). ``cell_pipeline_cells_s`` is crops per second of that whole
path; ``cell_forward_cells_s`` is the same forward passes alone (``Predictor.predict`` on each
image's crops, already scaled to float32, same batches); ``cell_pipeline_ratio`` is the first
over the second. An image where no cell is found counts one crop (the whole image, as analysed).

:func:`bench_finder` times the cell finder alone (no model): images and cells per second.
:func:`bench_shared_cells` times what "Compare all models" and ``predict`` with several models do
before the forward passes: every image's cells found and cropped once for all the models
(``ImageCells``), against each model finding them again (``find_and_crop`` per model).
"""

from __future__ import annotations

import statistics

import numpy as np

from .loading import BenchImages
from ..timing import med_ms, ratio, rnd, spread_ms, time_interleaved


def _per_dataset(images: BenchImages, counts: list[int]) -> dict:
    out: dict[str, dict] = {}
    for ds, n in zip(images.datasets, counts):
        d = out.setdefault(ds, {"images": 0, "cells": 0})
        d["images"] += 1
        d["cells"] += int(n)
    return out


def bench_finder(images: BenchImages, repeats: int) -> dict:
    """The cell finder alone on every decoded sample: images/s and cells/s (median round)."""
    from ..cells import find_cells

    counts = [len(find_cells(rgb)) for rgb in images.decoded]

    def run():
        for rgb in images.decoded:
            find_cells(rgb)

    per_ds = {}
    for ds in sorted(set(images.datasets)):
        own = [rgb for rgb, d in zip(images.decoded, images.datasets) if d == ds]
        per_ds[ds] = lambda own=own: [find_cells(rgb) for rgb in own]
    t = time_interleaved({"all": run, **per_ds}, max(3, repeats // 2), warmup=1)
    s = statistics.median(t["all"])
    by_ds = _per_dataset(images, counts)
    for ds, d in by_ds.items():
        d["ms_per_image"] = rnd(med_ms(t[ds]) / d["images"])
    return {
        "finder_img_s": rnd(len(images.decoded) / s, 2),
        "finder_cells_s": rnd(sum(counts) / s, 2),
        "images": len(images.decoded),
        "cells": int(sum(counts)),
        "per_dataset": by_ds,
        "round_ms": spread_ms(t["all"]),
        "method": "leukemia_core.cells.find_cells on every decoded bundled sample (no crop, no model)",
    }


def bench_cell_pipeline(pred, images: BenchImages, repeats: int) -> tuple[dict, dict]:
    """Cells per second of decode -> find -> crop -> forward -> calibrate, against the forward alone.

    Args:
        pred: a :class:`~leukemia_core.inference.Predictor`.

    Returns:
        ``(figures, profile)``.
    """
    from ..data.images import read_image

    found = [pred.find_cells(rgb) for rgb in images.decoded]
    crops = [f.crops for f in found]
    n_cells = int(sum(len(c) for c in crops))
    xs = [c.astype(np.float32) / np.float32(255.0) for c in crops]
    stacked = np.concatenate(xs)

    def pipeline():
        for blob in images.blobs:
            pred.analyze(pred.find_cells(read_image(blob)))

    def forward():
        for x in xs:
            pred.predict(x)

    def decode():
        for blob in images.blobs:
            read_image(blob)

    def find_and_crop():
        for rgb in images.decoded:
            pred.find_cells(rgb)

    def analyze():
        for f in found:
            pred.analyze(f)

    t = time_interleaved({"pipeline": pipeline, "forward": forward, "decode": decode,
                          "find_and_crop": find_and_crop, "analyze": analyze,
                          "forward_stacked": lambda: pred.predict(stacked)}, max(3, repeats // 2))
    pipe_s, fwd_s = statistics.median(t["pipeline"]), statistics.median(t["forward"])
    figures = {
        "cell_pipeline_cells_s": rnd(n_cells / pipe_s, 2),
        "cell_forward_cells_s": rnd(n_cells / fwd_s, 2),
        "cell_pipeline_ratio": rnd(ratio(n_cells / pipe_s, n_cells / fwd_s), 4),
    }
    profile = {
        "images": len(images.blobs),
        "cells": n_cells,
        "whole_image_fallbacks": int(sum(f.whole_image for f in found)),
        "per_dataset": _per_dataset(images, [len(c) for c in crops]),
        "round_ms": {k: spread_ms(v) for k, v in t.items()},
        "stage_ms": {k: rnd(med_ms(t[k])) for k in ("decode", "find_and_crop", "analyze", "forward")},
        "forward_stacked_cells_s": rnd(n_cells / statistics.median(t["forward_stacked"]), 2),
        "chunk": pred.batch_size,
    }
    return figures, profile


def bench_shared_cells(images: BenchImages, keys: list[tuple[int, float, bool]], repeats: int) -> dict:
    """Finding and cropping every sample's cells once for models cropping at ``keys`` (one
    ``(input_size, cell_share, mask_outside)`` per model), against once per model; images per second."""
    from ..cells.analyze import ImageCells, find_and_crop

    def per_model():
        for rgb in images.decoded:
            for key in keys:
                find_and_crop(rgb, *key)

    def shared():
        for rgb in images.decoded:
            cells = ImageCells(rgb)
            for key in keys:
                cells.cropped(*key)

    t = time_interleaved({"per_model": per_model, "shared": shared}, max(3, repeats // 2), warmup=1)
    n = len(images.decoded)
    per_s, shared_s = statistics.median(t["per_model"]), statistics.median(t["shared"])
    return {
        "shared_cells_img_s": rnd(n / shared_s, 2),
        "per_model_cells_img_s": rnd(n / per_s, 2),
        "shared_cells_speedup": rnd(ratio(per_s, shared_s), 3),
        "models": len(keys),
        "crop_keys": sorted({(int(k[0]), float(k[1]), bool(k[2])) for k in keys}),
        "images": n,
        "round_ms": {k: spread_ms(v) for k, v in t.items()},
        "method": "every decoded bundled sample: ImageCells(rgb).cropped(*key) for each model's crop key "
                  "(cells found once) vs find_and_crop(rgb, *key) per model; no forward pass",
    }
