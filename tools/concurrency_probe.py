"""Is one shared model safe to call from several threads at once, as the app's sessions call it?

:func:`tf_concurrency` reads the same images from several threads with one predictor and one
Grad-CAM explainer, and compares the results and the time with serial readings. The load test
(:mod:`tools.loadtest`) runs it before its browser sessions unless given ``--skip-tf-check``.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time
from pathlib import Path


def _read_rotated(k: int, rgbs: list, tools: tuple, barrier: threading.Barrier) -> list:
    """Thread ``k``'s readings of ``rgbs`` with the shared ``(predictor, explainer)``, started at
    image ``k`` (so that threads start on different images) and returned in ``rgbs``' order."""
    from leukemia_core.cells.analyze import read_cells

    barrier.wait()
    shift = k % len(rgbs)
    res = [read_cells(r, *tools) for r in rgbs[shift:] + rgbs[:shift]]
    return res[len(rgbs) - shift:] + res[:len(rgbs) - shift]


def _max_differences(futures: list[cf.Future], ref: list) -> tuple[float, float, list[str]]:
    """Largest differences of P(ALL) and of the maps between the threads' readings and ``ref``, and
    the exceptions the threads raised."""
    import numpy as np

    dp = dm = 0.0
    exceptions = []
    for f in futures:
        if f.exception() is not None:
            exceptions.append(repr(f.exception())[:300])
            continue
        for a, b in zip(f.result(), ref):
            dp = max(dp, float(np.abs(a.p_all - b.p_all).max(initial=0)))
            dm = max(dm, float(np.abs(a.maps_all.astype(np.float32) - b.maps_all).max(initial=0)),
                     float(np.abs(a.maps_hem.astype(np.float32) - b.maps_hem).max(initial=0)))
    return dp, dm, exceptions


def tf_concurrency(name: str, files: list[Path], wdir: Path, threads: int = 8, timeout: float = 300.0) -> dict:
    """Is one shared model safe to call from several threads at once (as the app's sessions do)?

    ``threads`` threads read the same images with one predictor and one Grad-CAM explainer built
    for the purpose and not yet compiled, all starting together (so the first calls trace the
    compiled functions concurrently); their results are compared with a serial reading by other
    instances, and the wall time with the same work done serially on the shared instances."""
    from leukemia_core.cells.analyze import read_cells
    from leukemia_core.explain import create_explainer
    from leukemia_core.inference import Predictor, load_model
    from leukemia_core.reports.inputs import ImageInput, decode

    loaded = load_model(name, wdir)
    rgbs = [decode(ImageInput(f.name, f.read_bytes()))[0] for f in files]
    ref_tools = Predictor(loaded), create_explainer(loaded.model, loaded.cam_layer, "gradcam")
    ref = [read_cells(r, *ref_tools) for r in rgbs]
    shared = Predictor(loaded), create_explainer(loaded.model, loaded.cam_layer, "gradcam")
    barrier = threading.Barrier(threads)

    out = {"model": name, "threads": threads, "images_per_thread": len(rgbs), "exceptions": [], "finished": True}
    t0 = time.perf_counter()
    pool = cf.ThreadPoolExecutor(threads)
    futures = [pool.submit(_read_rotated, k, rgbs, shared, barrier) for k in range(threads)]
    _, pending = cf.wait(futures, timeout=timeout)
    out["concurrent_cold_s"] = round(time.perf_counter() - t0, 2)
    if pending:
        out["finished"] = False  # a deadlock: the stuck threads are left behind
        return out
    dp, dm, out["exceptions"] = _max_differences(futures, ref)
    out["max_abs_diff_p_all"], out["max_abs_diff_maps"] = dp, dm
    t0 = time.perf_counter()
    futures = [pool.submit(_read_rotated, k, rgbs, shared, barrier) for k in range(threads)]
    cf.wait(futures)
    out["concurrent_warm_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    for _ in range(threads):
        [read_cells(r, *shared) for r in rgbs]
    out["serial_warm_s"] = round(time.perf_counter() - t0, 2)
    pool.shutdown()
    return out
