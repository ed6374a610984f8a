"""Serving and scale-out figures: ``python -m leukemia_core.bench.scaling --out model_weights/bench_scaling.json``.

* ``onnx``: per model, one batch of 32 real cell crops (the bundled samples' cells) through ONNX
  Runtime (:class:`~leukemia_core.onnx_calls.OnnxPredictor`) against the Keras compiled floor
  (``tf.function(lambda x: model(x, training=False))``, as the core benchmark's floor), in the same
  process, interleaved rounds, medians.
* ``scaling``: the same images (the first ``--images`` of a folder, e.g. Aria fields) read by
  ``predict`` in one process and by ``screen`` on a local Ray instance (the default: every core),
  both free to use the machine's cores; then ``screen`` on a cluster simulated here
  (``ray.cluster_utils.Cluster``) of one node and of two nodes, one CPU each, every node's
  processes pinned to a core of its own (``sched_setaffinity`` before the node starts: its raylet
  and workers inherit it), so that the two-node run has twice the compute of the one-node run, as
  two machines would. Each run in a fresh process; wall time from process start, images/s,
  cells/s, and the peaks (sampled every 0.2 s) of the summed RSS and the summed PSS (shared pages,
  e.g. Ray's object store, counted once) of every process it started, and of the driver's RSS.
* ``memory``: the same peaks for ``screen`` at two image counts (flat in the number of images
  when the streaming holds).

The machine's cores are shared with whatever else runs (see ``loadavg`` in ``machine``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from ..paths import folder_label
from .machine import loadavg, machine_info
from .processes import pin_to, run_measured
from .scaling_doc import DEFAULT_JSON, write_doc_block
from ..timing import med_ms, ratio, rnd, time_interleaved

CELLS = 32


def bench_onnx(names: list[str], weights_dir: Path | None, rounds: int = 15) -> dict:
    """ONNX Runtime vs the Keras compiled floor on one batch of :data:`CELLS` cells, per model."""
    import numpy as np
    import tensorflow as tf

    from ..inference import load_model
    from ..onnx_export import check_inputs
    from ..onnx_calls import load_onnx_predictor, onnx_status

    out = {}
    for n in names:
        if onnx_status(n, weights_dir) != "ok":
            out[n] = {"reason": onnx_status(n, weights_dir)}
            continue
        loaded, onnx_pred = load_model(n, weights_dir), load_onnx_predictor(n, weights_dir)
        x = check_inputs(loaded.input_size, loaded.cell_share, loaded.mask_outside)[:CELLS]
        model = loaded.model

        @tf.function
        def floor(v, model=model):
            return model(v, training=False)

        t = time_interleaved({"keras": lambda: floor(x).numpy(), "onnx": lambda: onnx_pred.predict(x)}, rounds)
        k, o = med_ms(t["keras"]), med_ms(t["onnx"])
        diff = float(np.abs(floor(x).numpy()[:, 1] - onnx_pred.predict(x)).max())
        out[n] = {"cells": int(len(x)), "keras_floor_ms": rnd(k), "onnx_ms": rnd(o), "onnx_over_keras_speed": rnd(k / o, 3),
                  "keras_cells_s": rnd(len(x) / k * 1e3, 1), "onnx_cells_s": rnd(len(x) / o * 1e3, 1),
                  "max_abs_diff_p_all": diff}
    return out


def bench_predict_start(model: str, weights_dir: str, image: Path) -> dict:
    """``predict`` on one image in a fresh process, from process start to its CSV written: with
    the ONNX export (the default) and with ``LEUKEMIA_ONNX=0`` (Keras, TensorFlow imported)."""
    out = {"image": image.name, "model": model}
    wd = ["--weights-dir", weights_dir] if weights_dir else []
    with tempfile.TemporaryDirectory(prefix="leukemia-start-") as tmp:
        for key, onnx in (("onnx", "1"), ("keras", "0")):
            csv = Path(tmp) / f"{key}.csv"
            r = run_measured([sys.executable, "-m", "leukemia_core", "-q", "predict", "--model", model, "--out", str(csv),
                              str(image)] + wd, timeout=300, env={"LEUKEMIA_ONNX": onnx})
            out[key] = {"seconds": r["seconds"], "returncode": r["returncode"], "csv_written": csv.is_file()}
    return out


def image_folder(source: Path, n: int, dest: Path) -> Path:
    """``dest`` holding links to the first ``n`` images of ``source`` (sorted; repeated under new
    names when there are fewer)."""
    from ..inference import expand_paths

    files = expand_paths([source])
    if not files:
        raise SystemExit(f"no images in {source}")
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        f = files[i % len(files)]
        (dest / f"{i:06d}_{f.name}").symlink_to(f.resolve())
    return dest


def cluster_child(folder: str, model: str, out: str, weights_dir: str, nodes: int, cpus: int, pin: bool = True) -> None:
    """Runs in a fresh process: a simulated cluster of ``nodes`` nodes of ``cpus`` CPUs, then screen
    on it. With ``pin`` node ``i`` (its raylet, and the workers the raylet starts) runs on core ``i``
    only, and the driver on the head's core."""
    from ray.cluster_utils import Cluster

    from ..screening.pipeline import run_screen, shutdown

    cores = sorted(os.sched_getaffinity(0))  # the cores this process may use, before pinning it
    if pin:
        pin_to(0, cores)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus})
    for i in range(1, nodes):
        if pin:
            pin_to(i, cores)  # inherited by the node's processes, started by add_node
        cluster.add_node(num_cpus=cpus)
    if pin:
        pin_to(0, cores)
    try:
        res = run_screen([folder], [model], Path(out), weights_dir or None, address=cluster.address, progress=False)
        print(f"screen: {res.image_rows} image rows, {res.cell_rows} cell rows in {res.seconds:.1f} s")
    finally:
        shutdown()
        cluster.shutdown()


def _rates(run: dict, images: int, cells: int) -> dict:
    s = run["seconds"]
    return {**run, "images": images, "cells": cells, "images_s": rnd(images / s, 2), "cells_s": rnd(cells / s, 2)}


def scaling_ratios(runs: dict) -> dict:
    """The ratios the targets name, from the runs' images/s: ``screen`` on one node over ``predict``,
    two pinned nodes over one (the speed-up) and that over two (the scaling efficiency)."""
    def rate(key: str) -> float | None:
        r = runs.get(key) or {}
        return r.get("images_s") if r.get("returncode") == 0 else None

    base, screen = rate("predict_one_process"), rate("screen_one_node")
    one, two = rate("screen_cluster_one_node_1core"), rate("screen_cluster_two_nodes_1core_each")
    speedup = ratio(two, one) if one and two else None
    return {"screen_over_predict": rnd(ratio(screen, base), 3) if base and screen else None,
            "two_nodes_speedup": rnd(speedup, 3) if speedup else None,
            "scaling_efficiency": rnd(speedup / 2, 3) if speedup else None}


def bench_scaling(source: Path, n: int, model: str, weights_dir: str, memory_counts: tuple[int, ...]) -> dict:
    """predict, screen on one node, and screen on one and on two simulated nodes of one core each,
    on the same ``n`` images; then screen's memory at ``memory_counts`` images (see the module)."""
    import pandas as pd

    py = [sys.executable, "-m", "leukemia_core", "-q"]
    child = [sys.executable, "-m", "leukemia_core.bench.scaling", "--child-cluster"]
    wd = ["--weights-dir", weights_dir] if weights_dir else []
    out: dict = {"model": model, "source": folder_label(source), "images": n}
    with tempfile.TemporaryDirectory(prefix="leukemia-scaling-") as tmp:
        tmp = Path(tmp)
        folder = image_folder(source, n, tmp / "images")
        runs = {
            "predict_one_process": py + ["predict", "--model", model, "--out", str(tmp / "p.csv"), "--cells",
                                         str(tmp / "c.csv"), str(folder)] + wd,
            "screen_one_node": py + ["screen", str(folder), "--model", model, "--out", str(tmp / "s")] + wd,
            "screen_cluster_one_node_1core": child + [str(folder), model, str(tmp / "n1"), weights_dir or "", "1", "1"],
            "screen_cluster_two_nodes_1core_each": child + [str(folder), model, str(tmp / "n2"), weights_dir or "", "2", "1"],
        }
        outs = {"screen_one_node": "s", "screen_cluster_one_node_1core": "n1", "screen_cluster_two_nodes_1core_each": "n2"}
        from ..rows import read_table

        for key, cmd in runs.items():
            r = run_measured(cmd)
            if key.startswith("predict"):
                cells = len(pd.read_csv(tmp / "c.csv")) if (tmp / "c.csv").is_file() else 0
            else:
                cells = read_table(tmp / outs[key], "cells").num_rows if (tmp / outs[key]).is_dir() else 0
            r["tail"] = [ln.replace(str(tmp), "<temporary folder>") for ln in r["tail"]]  # no path of this machine
            out[key] = _rates(r, n, cells)
        out.update(scaling_ratios(out))
        mem = {}
        for m in memory_counts:
            f = image_folder(source, m, tmp / f"mem{m}")
            r = run_measured(py + ["screen", str(f), "--model", model, "--out", str(tmp / f"m{m}")] + wd)
            mem[str(m)] = {k: r[k] for k in ("seconds", "returncode", "peak_rss_mb", "peak_pss_mb", "driver_peak_rss_mb")}
        out["memory"] = mem
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line of this benchmark (see the module)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--doc"]:  # regenerate the doc's block from the JSON already written
        write_doc_block(Path(argv[1]), Path(argv[2]) if len(argv) > 2 else DEFAULT_JSON)
        return 0
    if argv[:1] == ["--child-cluster"]:
        folder, model, out, wdir, nodes, cpus = argv[1:7]
        cluster_child(folder, model, out, wdir, int(nodes), int(cpus))
        return 0
    p = argparse.ArgumentParser(description="ONNX vs Keras and screen's scale-out (see the module)")
    p.add_argument("--out", required=True)
    p.add_argument("--source", default="/work/shared/data/aria_all/Original", help="folder of images")
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--model", default="proposed")
    p.add_argument("--onnx-models", nargs="*", default=["proposed", "efficientnet_b0", "resnet50", "inception_v3"])
    p.add_argument("--memory-counts", nargs="*", type=int, default=[500, 5000])
    p.add_argument("--write-doc", default="", help="also fill this file's scaling block (docs/scaling.md)")
    p.add_argument("--weights-dir", default="")
    p.add_argument("--skip-scaling", action="store_true")
    args = p.parse_args(argv)
    from ..tfstartup import import_tensorflow

    import_tensorflow()
    report = {"benchmark": "leukemia_core.bench.scaling", "machine": machine_info(),
              "onnx": bench_onnx(args.onnx_models, args.weights_dir or None)}
    from ..samples import SAMPLES_DIR
    from .loading import BENCH_IMAGE

    report["predict_start"] = bench_predict_start(args.model, args.weights_dir, SAMPLES_DIR / BENCH_IMAGE)
    if not args.skip_scaling:
        report["scaling"] = bench_scaling(Path(args.source), args.images, args.model, args.weights_dir,
                                          tuple(args.memory_counts))
    report["machine"]["loadavg_at_end"] = loadavg()
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    if args.write_doc:
        write_doc_block(Path(args.write_doc), Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
