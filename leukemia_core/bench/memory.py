"""Resident memory of a fresh process holding every benchmarked model the way the app does.

:func:`measure_memory` starts a new interpreter that runs :func:`memory_child`: load each model
(weights, ``Predictor``, Grad-CAM ``Explainer``), read the bench sample cell by cell as the
Classify page does (find and crop the cells, P(ALL) and the maps of both classes), then report
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
from .timing import rnd

_MARK = "BENCH-MEMORY "


def memory_child(names: list[str], weights_dir: str) -> None:
    """Runs in a fresh interpreter: load every model as the app does, print one JSON line."""
    t_start = time.perf_counter()
    import tensorflow  # noqa: F401

    from ..data.images import read_image
    from ..explain import GradCAM
    from ..inference import Predictor, load_model
    from ..samples import SAMPLES_DIR

    import_s = time.perf_counter() - t_start
    rgb = read_image(SAMPLES_DIR / BENCH_IMAGE)
    per, keep = {}, []
    for n in names:
        t0 = time.perf_counter()
        loaded = load_model(n, Path(weights_dir))
        t1 = time.perf_counter()
        pred = Predictor(loaded)
        t2 = time.perf_counter()
        ex = GradCAM(loaded.model, loaded.cam_layer)
        t3 = time.perf_counter()
        found = pred.find_cells(rgb)  # what the Classify page runs per image and model
        x = found.crops.astype("float32") / 255.0
        ex.predict_and_explain(x, class_index=1)
        ex.predict_and_explain(x, class_index=0)
        t4 = time.perf_counter()
        pred.analyze(found)
        t5 = time.perf_counter()
        per[n] = {"load_s": rnd(t1 - t0, 2), "predictor_init_s": rnd(t2 - t1, 2),
                  "explainer_init_s": rnd(t3 - t2, 2), "first_cells_and_gradcam_s": rnd(t4 - t3, 2),
                  "first_analyze_s": rnd(t5 - t4, 2), "rss_mb_after": rnd(rss_mib()[0], 1)}
        keep.append((loaded, pred, ex))
    gc.collect()
    cur, peak = rss_mib()
    print(_MARK + json.dumps({"rss_mb": cur, "peak_rss_mb": peak, "imports_s": import_s,
                              "total_s": time.perf_counter() - t_start, "models": per}))


def measure_memory(names: list[str], weights_dir: Path, timeout: float = 900) -> dict:
    """RSS of a fresh process holding all ``names`` loaded (weights, Predictor, Explainer)."""
    code = ("import sys; from leukemia_core.bench.memory import memory_child; "
            "memory_child(sys.argv[1].split(','), sys.argv[2])")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    try:
        res = subprocess.run([sys.executable, "-c", code, ",".join(names), str(weights_dir)], cwd=PROJECT_ROOT,
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
            "per_model": data["models"]}
