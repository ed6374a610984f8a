"""Resident memory of a fresh process holding every benchmarked model the way the app does.

:func:`measure_memory` starts a new interpreter that runs :func:`memory_child`: load each model
(weights, ``Predictor``, Grad-CAM ``Explainer``), read the bench sample cell by cell as the
Classify page does (:func:`~leukemia_core.cells.analyze.read_cells`: find and crop the cells, P(ALL)
and the maps of both classes), then report
``VmRSS`` as one JSON line. Only standard-library and numpy imports at module level, so the child's
``imports_s`` is TensorFlow, Keras and the package.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ..paths import PROJECT_ROOT
from .loading import BENCH_IMAGE
from .machine import rss_mib
from ..timing import rnd

_MARK = "BENCH-MEMORY "
#: A bundled field with several white cells, for the Score-CAM figure (Score-CAM's memory grows
#: with the cells read in one call).
SCORECAM_IMAGE = "all/WBC-Malignant-Pre-790.jpg"


def memory_child(names: list[str], weights_dir: str, scorecam: str = "") -> None:
    """Runs in a fresh interpreter: load every model as the app does, print one JSON line.

    ``scorecam``: ``""`` stops there; ``"unbounded"`` then reads :data:`SCORECAM_IMAGE` with
    Score-CAM for every model, keeping every explainer (the server before its bounds);
    ``"bounded"`` does the same under the server's bounds
    (:data:`~leukemia_core.inference.MAX_EXPLAINERS` explainers, least recently used evicted and
    :func:`~leukemia_core.inference.release_memory` called). Score-CAM explains each cell alone in
    both (:class:`~leukemia_core.explain.ScoreCAM`).
    """
    t_start = time.perf_counter()
    import tensorflow  # noqa: F401

    from ..cells.analyze import read_cells
    from ..data.images import read_image
    from ..explain import GradCAM, ScoreCAM
    from ..inference import MAX_EXPLAINERS, Predictor, load_model, release_memory
    from ..samples import SAMPLES_DIR

    import_s = time.perf_counter() - t_start
    rgb = read_image(SAMPLES_DIR / BENCH_IMAGE)
    per, keep, explainers = {}, [], {}
    for n in names:
        t0 = time.perf_counter()
        loaded = load_model(n, Path(weights_dir))
        t1 = time.perf_counter()
        pred = Predictor(loaded)
        t2 = time.perf_counter()
        ex = GradCAM(loaded.model, loaded.cam_layer)
        t3 = time.perf_counter()
        res = read_cells(rgb, pred, ex)  # what the Classify page runs per image and model
        t4 = time.perf_counter()
        pred.analyze(res.found)
        t5 = time.perf_counter()
        per[n] = {"load_s": rnd(t1 - t0, 2), "predictor_init_s": rnd(t2 - t1, 2),
                  "explainer_init_s": rnd(t3 - t2, 2), "first_cells_and_gradcam_s": rnd(t4 - t3, 2),
                  "first_analyze_s": rnd(t5 - t4, 2), "rss_mb_after": rnd(rss_mib()[0], 1)}
        keep.append((loaded, pred))
        explainers[("gradcam", n)] = ex
        del ex
    gc.collect()
    cur, peak = rss_mib()
    out = {"rss_mb": cur, "peak_rss_mb": peak, "imports_s": import_s, "models": per}
    if scorecam:
        field = read_image(SAMPLES_DIR / SCORECAM_IMAGE)
        t0 = time.perf_counter()
        cells = 0
        for loaded, pred in keep:
            ex = ScoreCAM(loaded.model, loaded.cam_layer)
            cells += len(read_cells(field, pred, ex).crops)
            explainers[("scorecam", loaded.name)] = ex
            del ex
            while scorecam == "bounded" and len(explainers) > MAX_EXPLAINERS:
                explainers.pop(next(iter(explainers)))
                release_memory()
        gc.collect()
        cur2, peak2 = rss_mib()
        out["scorecam"] = {"mode": scorecam, "rss_mb": cur2, "peak_rss_mb": peak2, "cells": cells,
                           "explainers_kept": len(explainers), "seconds": time.perf_counter() - t0}
    out["total_s"] = time.perf_counter() - t_start
    print(_MARK + json.dumps(out))


def measure_memory(names: list[str], weights_dir: Path, timeout: float = 900, scorecam: str = "") -> dict:
    """RSS of a fresh process holding all ``names`` loaded (weights, Predictor, Explainer);
    with ``scorecam`` (``"bounded"`` or ``"unbounded"``, see :func:`memory_child`) also after
    Score-CAM on a field for every model, under ``"scorecam"``."""
    code = ("import sys; from leukemia_core.bench.memory import memory_child; "
            "memory_child(sys.argv[1].split(','), sys.argv[2], sys.argv[3])")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    try:
        res = subprocess.run([sys.executable, "-c", code, ",".join(names), str(weights_dir), scorecam],
                             cwd=PROJECT_ROOT,
                             env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"rss_mb": None, "reason": f"the loading process took over {timeout:.0f} s"}
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith(_MARK)), None)
    if res.returncode != 0 or line is None:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        return {"rss_mb": None, "reason": "the loading process failed: " + " | ".join(tail)}
    data = json.loads(line[len(_MARK):])
    return {"rss_mb": rnd(data["rss_mb"], 1), "peak_rss_mb": rnd(data["peak_rss_mb"], 1), "models_loaded": names,
            "method": "fresh Python process: load_model + Predictor + Grad-CAM Explainer per model, then the "
                      "bench sample read cell by cell as the Classify page does (find and crop, P(ALL) and "
                      "the maps of both classes), then VmRSS from /proc/self/status (MiB); imports_s is "
                      "TensorFlow, Keras and the package",
            "imports_s": rnd(data["imports_s"], 2), "total_s": rnd(data["total_s"], 2),
            "per_model": data["models"], **({"scorecam": _rounded(data["scorecam"])} if "scorecam" in data else {})}


def _rounded(d: dict) -> dict:
    return {k: rnd(v, 1) if isinstance(v, float) else v for k, v in d.items()}


def measure_scorecam_memory(names: list[str], weights_dir: Path, timeout: float = 900) -> dict:
    """The server's RSS after every model read a field with Grad-CAM and then Score-CAM, without
    and with the bounds (:data:`~leukemia_core.inference.MAX_EXPLAINERS`), each in a fresh process."""
    from ..inference import MAX_EXPLAINERS, MAX_MODELS

    runs = {mode: measure_memory(names, weights_dir, timeout, mode) for mode in ("unbounded", "bounded")}
    out: dict = {"image": SCORECAM_IMAGE,
                 "bounds": {"max_models": MAX_MODELS, "max_explainers": MAX_EXPLAINERS,
                            "scorecam": "one cell per call"},
                 "method": "fresh process per mode: the memory figure's loading (all models, Grad-CAM on the "
                           "bench sample), then Score-CAM (both classes) on the field for every model; "
                           "Score-CAM explains one cell per call in both; unbounded = every explainer kept "
                           "(before the bounds), bounded = the server's bounds; VmRSS in MiB after gc"}
    for mode, r in runs.items():
        sc = r.get("scorecam")
        out[mode] = ({k: sc[k] for k in ("rss_mb", "peak_rss_mb", "cells", "explainers_kept", "seconds")}
                     if sc else {"rss_mb": None, "reason": r.get("reason")})
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m leukemia_core.bench.memory --bench model_weights/bench.json``: measure the
    memory figure and the Score-CAM figures (:func:`measure_scorecam_memory`) again and write
    them into the report's ``memory`` entry (targets recomputed)."""
    import argparse
    import tempfile

    from ..jsonio import write_json
    from ..paths import weights_dir_or_default
    from .report import finalize
    from .loading import weights_for_children

    p = argparse.ArgumentParser(description=main.__doc__.split("\n\n")[0])
    p.add_argument("--bench", required=True, help="the report of `python -m leukemia_core bench` (updated in place)")
    p.add_argument("--weights-dir", help="shipped weights (default: $LEUKEMIA_WEIGHTS_DIR or model_weights/)")
    args = p.parse_args(argv)
    path = Path(args.bench)
    report = json.loads(path.read_text())
    names = report["settings"]["models"]
    wdir = weights_dir_or_default(args.weights_dir)
    with tempfile.TemporaryDirectory(prefix="leukemia-bench-memory-") as tmp:
        child = weights_for_children(names, wdir, Path(tmp))
        mem = measure_memory(names, child)
        if mem.get("rss_mb") is not None:
            mem["scorecam"] = measure_scorecam_memory(names, child)
    report["memory"] = mem
    write_json(path, finalize(report))
    sc = mem.get("scorecam") or {}
    print(f"rss with {len(names)} models: {mem.get('rss_mb')} MiB; after Score-CAM on a field: "
          f"{(sc.get('unbounded') or {}).get('rss_mb')} MiB unbounded, {(sc.get('bounded') or {}).get('rss_mb')} MiB "
          f"with the server's bounds\n-> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
