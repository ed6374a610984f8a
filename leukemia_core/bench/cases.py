"""Case-review benchmark (issue 19): a case of 50 images with 500 cells in a fresh store, then

* **open**: what the Cases page does to show a case's first gallery page from stored results (no
  model run): read the case (images, newest runs, cells with their newest decision), pick the first
  page of cells, read their crop and map PNGs and draw each map over its crop;
* **click**: one review decision recorded (a transaction: version check, review row, audit line).

Targets: open <= 1 s, click <= 100 ms. Median and worst of ``repeats`` runs each; written as JSON by
``python -m leukemia_core cases bench --out model_weights/bench_cases.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

#: Targets of the issue, seconds.
TARGETS = {"open_first_page_s": 1.0, "review_click_s": 0.100}


def _fill(store, case_id: str, n_images: int, n_cells: int, seed: int = 0) -> None:
    """A case of ``n_images`` images and ``n_cells`` cells (spread evenly) with real-size pictures."""
    from ..cases.importer import THUMB, png
    from ..cases.repository import add_reading, create_case
    from ..cases.views import CellInput, RunInput

    rng = np.random.default_rng(seed)
    create_case(store, case_id, "bench", dt.date(2026, 1, 1), specimen_id="BENCH", patient_ref="BENCH")
    per = [n_cells // n_images + (i < n_cells % n_images) for i in range(n_images)]
    for i, k in enumerate(per):
        p = rng.uniform(0, 1, k)
        cells = [CellInput(j + 1, (20 * j, 10, 40, 40), float(p[j]), "ALL" if p[j] >= 0.5 else "HEM",
                           bool(abs(p[j] - 0.5) < 0.1), False, (),
                           png(rng.integers(0, 255, (THUMB, THUMB, 3), dtype=np.uint8)),
                           png(rng.uniform(0, 1, (THUMB, THUMB)).astype(np.float32))) for j in range(k)]
        run = RunInput("proposed", "0" * 64, 0.5, 0.5, float(p.mean()), "ALL" if p.mean() >= 0.5 else "HEM", cells)
        add_reading(store, case_id, f"field_{i:03d}.png", rng.bytes(4096), run, "bench")


def open_first_page(store, case_id: str, model: str = "proposed") -> int:
    """What the page does to draw the first gallery page; returns how many tiles were drawn."""
    from ..cases.repository import cell_pictures, get_case
    from ..cases.review import summarize
    from ..cases.session import gallery_page, map_overlay

    view = get_case(store, case_id)
    summarize(view, model)
    rows, _, _ = gallery_page(view, model, 0)
    pics = cell_pictures(store, [c.id for _, _, c in rows])
    return sum(map_overlay(*pics[c.id]) is not None for _, _, c in rows)


def run_case_bench(url: str | None = None, n_images: int = 50, n_cells: int = 500, repeats: int = 7) -> dict:
    """Measure open and click on a fresh case (in a temporary SQLite file unless ``url`` is given)."""
    from ..cases.db import open_store, shown_url
    from ..cases.repository import get_case
    from ..cases.review import review_cell

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", Path(tmp))
        case_id = f"BENCH-{time.time_ns()}"
        t0 = time.perf_counter()
        _fill(store, case_id, n_images, n_cells)
        fill_s = time.perf_counter() - t0
        opens, clicks, tiles = [], [], 0
        for _ in range(repeats):
            t = time.perf_counter()
            tiles = open_first_page(store, case_id)
            opens.append(time.perf_counter() - t)
        view = get_case(store, case_id)
        ids = [c.id for _, _, c in view.cells("proposed")]
        version = view.info.version
        for i in range(repeats):
            t = time.perf_counter()
            version = review_cell(store, case_id, ids[i], "HEM", "bench", version)
            clicks.append(time.perf_counter() - t)
        dialect = store.dialect
        where = shown_url(store.url) if url else "sqlite (temporary file)"
        store.dispose()
    figures = {"open_first_page_s": {"median": statistics.median(opens), "max": max(opens)},
               "review_click_s": {"median": statistics.median(clicks), "max": max(clicks)}}
    return {"what": "case review: open a case's first gallery page from stored results; one review click",
            "database": dialect, "where": where, "images": n_images, "cells": n_cells, "tiles_first_page": tiles,
            "repeats": repeats, "fill_s": round(fill_s, 2),
            **{k: {s: round(v, 4) for s, v in f.items()} for k, f in figures.items()},
            "targets_s": TARGETS,
            "meets_targets": all(figures[k]["median"] <= TARGETS[k] for k in TARGETS),
            "machine": {"python": platform.python_version(), "processor": platform.machine(),
                        "cpus": __import__("os").cpu_count()}}


def write_case_bench(out: Path, **kwargs) -> dict:
    """:func:`run_case_bench` written to ``out`` (JSON); returns the figures."""
    result = run_case_bench(**kwargs)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2) + "\n")
    return result
