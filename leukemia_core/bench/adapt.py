"""The site model's hot path: ``python -m leukemia_core bench-adapt``.

On ``n`` labelled images per class of one lab (single-cell images; the centre cell each), with one
feature source (default the DenseNet121 encoder), in one process and one run:

* **adapt**: what ``adapt`` does after loading the source: read, find and crop every image, the
  features, the head with its strength search, the out-of-fold calibration, the study with its
  bootstrap interval, and the learning curve (:func:`~leukemia_core.adaptation.study.run_adapt`);
* **baseline**: the source's forward passes alone on the same crops (the part no adaptation can avoid);

medians over interleaved rounds, the ratio adapt / baseline, and the issue's target (<= 30 s for
100 cells on two cores) with its verdict.
"""

from __future__ import annotations

import datetime as _dt
import statistics
from pathlib import Path

import numpy as np

from ..timing import rnd, time_interleaved

TARGET_SECONDS = 30.0
TARGET_CELLS = 100


def pick(records, per_class: int, seed: int = 0):
    """``per_class`` records of each class, drawn at random (fixed seed)."""
    rng = np.random.default_rng(seed)
    out = []
    for label in ("all", "hem"):
        pool = [r for r in records if r.label == label]
        out += [pool[i] for i in sorted(rng.permutation(len(pool))[:per_class])]
    return out


def bench_adapt(source, records, repeats: int = 3, draws: int = 20, n_boot: int = 1000) -> dict:
    """Time ``run_adapt`` on ``records`` against the forward passes alone (see the module)."""
    from ..adaptation.features import lab_features
    from ..adaptation.study import run_adapt

    crops = lab_features(source, records).crops
    last = {}

    def adapt():
        last["res"] = run_adapt(source, records, "bench", draws=draws, n_boot=n_boot)

    times = time_interleaved({"adapt": adapt, "baseline": lambda: source.features(crops)}, repeats, warmup=1)
    a, b = statistics.median(times["adapt"]), statistics.median(times["baseline"])
    cells = len(crops)
    per_100 = a * TARGET_CELLS / cells
    rep = last["res"].report
    return {"source": {"name": source.name, "kind": source.kind, "input_size": source.input_size},
            "images": len(records), "cells": cells, "repeats": repeats, "draws": draws, "bootstrap": n_boot,
            "adapt_s": rnd(a), "baseline_forward_s": rnd(b), "ratio_adapt_to_forward": rnd(a / b, 2),
            "adapt_s_per_100_cells": rnd(per_100),
            "target": {"seconds_for_100_cells": TARGET_SECONDS, "met": bool(per_100 <= TARGET_SECONDS)},
            "runs_s": {k: [rnd(t) for t in v] for k, v in times.items()},
            "learning_curve_points": len(rep["learning_curve"])}


def run_bench_adapt(model: str, data: str, per_class: int = 50, repeats: int = 3, out: Path | None = None,
                    weights_dir=None) -> dict:
    """Load ``model`` (a served model or an encoder), pick ``per_class`` images per class of the lab
    folder ``data``, run :func:`bench_adapt`; write the JSON to ``out``."""
    from ..adaptation.features import feature_source
    from ..jsonio import write_json
    from ..verification.study import read_labelled
    from .machine import machine_info

    source = feature_source(model, weights_dir)
    records = pick(read_labelled([data]), per_class)
    result = {"format": "leukemia_core.bench_adapt/1",
              "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "data": Path(data).name, "machine": machine_info(), **bench_adapt(source, records, repeats)}
    if out is not None:
        write_json(Path(out), result)
    return result


def summary(result: dict) -> str:
    """One paragraph for the console."""
    t = result["target"]
    return (f"adapt on {result['images']} images ({result['cells']} cells) of {result['data']} with "
            f"{result['source']['name']}: {result['adapt_s']:.1f} s (median of {result['repeats']}); the forward "
            f"passes alone {result['baseline_forward_s']:.1f} s (ratio {result['ratio_adapt_to_forward']:.1f}); "
            f"{result['adapt_s_per_100_cells']:.1f} s per 100 cells against the target "
            f"{t['seconds_for_100_cells']:.0f} s: "
            + ("met" if t["met"] else "NOT met"))
