"""Speed benchmark: ``python -m leukemia_core bench --out BENCH.json``.

For each model, at its shipped input size (the manifest's ``input_size``; the spec's default when
no manifest exists), in one process and one run, with a warm-up before every timed figure and
medians over interleaved rounds (so background load hits the project path and its floor alike):

* prediction, Grad-CAM, the naive tf-keras-vis Grad-CAM and a batch of 64, each against a plain
  ``tf.function`` around the same Keras model (:mod:`.inference`);
* the cell pipeline, decode -> find -> crop -> forward -> calibrate on every bundled sample, in
  cells per second against the forward passes alone on the same crops, and the cell finder alone
  (:mod:`.cells`), and finding an image's cells once for all models against once per model;
* training throughput on cell crops, ``balanced_batches`` with augmentation against in-memory
  batches without (:mod:`.training`);

then, once: resident memory of a fresh process holding every model as the app does
(:mod:`.memory`), and the machine's facts (:mod:`.machine`). Targets, verdicts and the printed
summary are in :mod:`.report`.

The app's cold start in a real browser is not measured here (that starts the Streamlit app, which
the core library never does): ``python tools/bench_app.py --bench BENCH.json`` adds it to the same
file; ``python -m leukemia_core bench`` runs it after the core figures unless ``--no-app``.

Models without shipped weights are benchmarked with random weights (said in the JSON). Timings in
unit tests are never compared with thresholds: the targets are checked here, in the JSON.
"""

from __future__ import annotations

import datetime as _dt
import logging
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

from .loading import BENCH_IMAGE, BenchImages, get_model, release_models, sample_images, weights_for_children
from .report import MODEL_TARGETS, TARGETS, finalize, format_summary, met
from ..timing import rnd

__all__ = ["TARGETS", "bench_model", "finalize", "format_summary", "get_model", "run_bench"]

log = logging.getLogger(__name__)

#: How ``app`` reads in a report the core benchmark wrote (tools/bench_app.py replaces it).
APP_NOT_MEASURED = "not measured by the core benchmark: python tools/bench_app.py --bench BENCH.json adds it"


def bench_model(name: str, weights_dir: Path, export_dir: Path | None, repeats: int, train_rounds: int,
                train_steps: int, images: BenchImages | None = None) -> dict:
    """All per-model figures (see the module docstring); the model is trained last."""
    from ..inference import Predictor
    from .cells import bench_cell_pipeline
    from .inference import bench_inference
    from .training import bench_training

    images = images or sample_images()
    loaded, weights, note, load_s = get_model(name, weights_dir, export_dir)
    log.info("bench %s at %d px (%s weights)", name, loaded.input_size, weights)
    result: dict = {"input_size": loaded.input_size, "cell_share": loaded.cell_share,
                    "mask_outside": loaded.mask_outside, "weights": weights}
    if note:
        result["weights_note"] = note
    figures, profile = bench_inference(loaded, images, repeats)
    result.update(figures)
    cell_figures, profile["cells"] = bench_cell_pipeline(Predictor(loaded), images, repeats)
    result.update(cell_figures)
    profile["load_s"] = rnd(load_s, 2)
    # training throughput last: it trains (and so changes) the model
    tr = bench_training(loaded, images, train_rounds, train_steps)
    result["train_img_s"] = rnd(tr["train_img_s"], 2)
    result["train_memory_img_s"] = rnd(tr["train_memory_img_s"], 2)
    result["pipeline_ratio"] = rnd(tr["pipeline_ratio"], 4)
    profile["train"] = tr["profile"]
    result["targets_met"] = {k: met(k, result[k]) for k in MODEL_TARGETS}
    result["profile"] = profile
    return result


def _settings(names: list[str], wdir: Path, repeats: int, train_rounds: int, train_steps: int) -> dict:
    from ..paths import weights_dir_label
    from .inference import BATCH
    from .training import TRAIN_BATCH

    return {
        "models": names, "weights_dir": weights_dir_label(wdir), "repeats": repeats,
        "batch_rounds": max(2, repeats // 4), "naive_rounds": max(2, repeats // 5),
        "cell_rounds": max(3, repeats // 2), "train_rounds": train_rounds, "train_steps_per_round": train_steps,
        "image": f"leukemia_core/samples/{BENCH_IMAGE}", "batch": BATCH, "train_batch": TRAIN_BATCH,
        "statistic": "median over interleaved rounds after warm-up",
        "floor": "tf.function(lambda x: model(x, training=False)) on the prepared float32 input, "
                 "result fetched with .numpy()",
        "predict_path": "Predictor.prepare(rgb) then Predictor.predict (uint8 RGB -> P(ALL))",
        "gradcam_path": "Predictor.prepare(rgb) then GradCAM(model, cam_layer)"
                        ".predict_and_explain (P(ALL) and the map at the input size)",
        "gradcam_naive": "prepare, eager model(x) for P(ALL), then a new tf_keras_vis Gradcam per image "
                         "(expand_cam and normalize_cam defaults)",
        "batch_path": "Predictor.predict on 64 prepared images (float32) vs the plain function on the same 64",
        "cell_path": "every bundled sample: read_image(file bytes), Predictor.find_cells, Predictor.analyze "
                     "(forward pass over the image's crops + calibration), in crops per second, vs "
                     "Predictor.predict alone on the same crops (float32, one call per image)",
        "train_path": "model.fit on pipeline.balanced_batches(cell crops of the samples, sample_weights, 32) through "
                      "train.training_model(classifier, augment=True) vs the classifier alone fitted on the same "
                      "batches held in memory (numpy, batch_size 32); median steady-state step",
    }


def run_bench(out: Path, models: Sequence[str] | None = None, weights_dir: Path | str | None = None,
              repeats: int = 20, memory: bool = True, train_steps: int = 3, train_rounds: int | None = None,
              printer: Callable[[str], None] | None = print) -> dict:
    """Run the benchmark, write ``out`` (JSON) and print a summary.

    Args:
        out: the JSON file to write.
        models: model names (default: the registered models, ``proposed`` first).
        weights_dir: shipped weights (default: ``$LEUKEMIA_WEIGHTS_DIR`` or ``model_weights/``).
        repeats: timed rounds for single-image figures; batch, naive, cell and training figures use
            fewer (``repeats // 4``, ``// 5``, ``// 2``, ``// 20``; at least 2, 2, 3 and 1; training
            at most 3).
        memory: measure RSS in a fresh process.
        train_steps: timed training steps per ``fit`` call.

    Returns:
        the report written (``app`` says it was not measured; see the module docstring).
    """
    from ..models import get_spec, list_models
    from ..jsonio import write_json
    from ..paths import weights_dir_or_default
    from .cells import bench_finder, bench_shared_cells
    from .machine import loadavg, machine_info
    from .memory import measure_memory

    names = list(models) if models else sorted(list_models(), key=lambda n: n != "proposed")
    for n in names:
        get_spec(n)  # unknown names fail before anything runs
    wdir = weights_dir_or_default(weights_dir)
    train_rounds = train_rounds if train_rounds is not None else max(1, min(3, repeats // 20))
    t_start = time.perf_counter()
    report: dict = {
        "benchmark": "leukemia_core bench",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": _settings(names, wdir, repeats, train_rounds, train_steps),
        "models": {},
    }
    images = sample_images()
    report["cell_finder"] = bench_finder(images, repeats)
    with tempfile.TemporaryDirectory(prefix="leukemia-bench-") as tmp:
        export_dir = Path(tmp)
        for n in names:
            t0 = time.perf_counter()
            report["models"][n] = bench_model(n, wdir, export_dir, repeats, train_rounds, train_steps, images)
            report["models"][n]["seconds"] = rnd(time.perf_counter() - t0, 1)
            release_models()
        keys = [(r["input_size"], r["cell_share"], r["mask_outside"]) for r in report["models"].values()]
        report["shared_cells"] = bench_shared_cells(images, keys, repeats)
        if memory:
            log.info("memory: loading %s in a fresh process", ", ".join(names))
            child_wdir = weights_for_children(names, wdir, export_dir)
            report["memory"] = _guarded(lambda: measure_memory(names, child_wdir), "rss_mb")
        else:
            report["memory"] = {"rss_mb": None, "reason": "skipped"}
    report["app"] = {"cold_start_s": None, "method": None, "reason": APP_NOT_MEASURED}
    finalize(report)
    report["machine"]["loadavg_at_end"] = loadavg()
    report["seconds"] = rnd(time.perf_counter() - t_start, 1)
    write_json(Path(out), report)
    if printer:
        printer(format_summary(report))
        printer(f"-> {out}")
    return report


def _guarded(measure: Callable[[], dict], key: str) -> dict:
    """``measure()``, or ``{key: None, "reason": ...}`` when it fails (the other figures are kept)."""
    try:
        return measure()
    except Exception as exc:  # a broken child process must not lose the model figures
        log.warning("%s not measured: %s", key, exc)
        return {key: None, "reason": f"failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
