"""Speed benchmark: ``python -m leukemia_core bench --out BENCH.json``.

For each model, at its shipped input size (the manifest's ``input_size``; the spec's default when
no manifest exists), in one process and one run, with a warm-up before every timed figure and
medians over interleaved rounds (so background load hits the project path and its floor alike):

* ``predict_ms``: one decoded image (``uint8`` RGB, as :func:`~leukemia_core.images.read_image`
  returns; the bundled 450x450 C-NMC sample) through the project's prediction path,
  ``Predictor.prepare`` then ``Predictor.predict``, to P(ALL);
* ``floor_ms``: the same model on the same, already prepared input through a plain
  ``tf.function`` around the Keras model; ``predict_ratio = predict_ms / floor_ms``;
* ``gradcam_ms``: prediction plus Grad-CAM map through the project's path (``prepare`` then
  ``Explainer.predict_and_explain``), ``gradcam_ratio = gradcam_ms / floor_ms``; and
  ``gradcam_naive_ms``, the naive tf-keras-vis use (an eager forward for P(ALL), then a new
  ``Gradcam`` per image, library defaults), as the before figure;
* ``batch_img_s``: 64 prepared images through ``Predictor.predict`` against the plain compiled
  model on the same 64 (``batch_ratio``);
* ``train_img_s``: ``model.fit`` steps fed by the real pipeline (``train_dataset`` with the
  training augmentation) against the same compiled model trained on the same, already augmented
  batches held in memory (``pipeline_ratio``); steady-state steps, the first step of each
  ``fit`` call (iterator start-up) left out and reported apart;
* ``rss_mb``: a fresh process that loads all benchmarked models the way the app does (weights,
  ``Predictor``, Grad-CAM ``Explainer``, one prediction each), its resident memory then;
* ``cold_start_s``: ``streamlit run app.py`` started, a real headless Chromium (Playwright)
  opens the Classify page and picks a bundled sample; seconds until the prediction is rendered.

Models without shipped weights are benchmarked with random weights (said in the JSON); the
app and the memory figure then load those random weights from a temporary folder. Timings in
unit tests are never compared with thresholds: the targets are checked here, in the JSON.
"""

from __future__ import annotations

import datetime as _dt
import gc
import json
import logging
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: The sample every single-image figure uses (450x450 C-NMC cell, as the app offers it).
BENCH_IMAGE = "all/UID_13_10_1_all.png"
#: A 224x224 Aria field, profiled for preprocessing only.
ARIA_IMAGE = "all/WBC-Malignant-Early-800.jpg"
BATCH = 64
TRAIN_BATCH = 32
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

#: figure -> (comparison, bound). rss in MiB, cold start in seconds.
TARGETS: dict[str, tuple[str, float]] = {
    "predict_ratio": ("<=", 1.2),
    "gradcam_ratio": ("<=", 3.0),
    "batch_ratio": (">=", 0.9),
    "pipeline_ratio": (">=", 0.9),
    "rss_mb": ("<=", 2048.0),
    "cold_start_s": ("<=", 10.0),
}


# ----------------------------------------------------------------------------- helpers

def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _met(key: str, value: float | None) -> bool | None:
    if value is None:
        return None
    op, bound = TARGETS[key]
    return value <= bound if op == "<=" else value >= bound


def time_interleaved(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 2) -> dict[str, list[float]]:
    """Run each function ``warmup`` times, then ``repeats`` rounds calling each once per round.

    Returns:
        seconds per call, per function (``repeats`` values each).
    """
    for f in fns.values():
        for _ in range(warmup):
            f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    gc.collect()
    for _ in range(max(1, repeats)):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return times


def _med_ms(values: Sequence[float]) -> float:
    return statistics.median(values) * 1e3


def _spread_ms(values: Sequence[float]) -> dict:
    v = sorted(values)
    return {"min": _r(v[0] * 1e3), "median": _r(_med_ms(v)), "max": _r(v[-1] * 1e3), "n": len(v)}


def machine_info() -> dict:
    """CPU model (``/proc/cpuinfo``), core counts, memory, library versions, load average."""
    import cv2
    import keras
    import tensorflow as tf

    cpu, flags = platform.processor() or "unknown", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu in ("unknown", platform.processor()):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1]
    except OSError:
        pass
    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_total = round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_model": cpu,
        "cpu_flags": [f for f in ("avx2", "avx512f", "fma", "amx_tile") if f in flags.split()],
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_mib": mem_total,
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "opencv": cv2.__version__,
        "opencv_threads": cv2.getNumThreads(),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _rss_mib() -> tuple[float | None, float | None]:
    """Current and peak resident memory of this process, MiB (Linux ``/proc/self/status``)."""
    cur = peak = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    return cur, peak


# ----------------------------------------------------------------------------- models

def _input_size(name: str, weights_dir: Path) -> tuple[int, str]:
    from .errors import WeightsError
    from .models import get_spec
    from .weights import read_manifest

    try:
        return int(read_manifest(weights_dir, name).get("input_size", get_spec(name).input_size)), "manifest"
    except WeightsError:
        return get_spec(name).input_size, "spec default (no manifest)"


def _get_model(name: str, weights_dir: Path, export_dir: Path | None):
    """The shipped model, or the architecture with random weights (exported to ``export_dir``).

    Returns:
        ``(LoadedModel, weights description, note or None, load seconds)``.
    """
    from .inference import LoadedModel, load_model, weights_status

    size, size_from = _input_size(name, weights_dir)
    status = weights_status(name, weights_dir)
    t0 = time.perf_counter()
    if status == "ok":
        loaded = load_model(name, weights_dir)
        return loaded, "shipped", None, time.perf_counter() - t0
    import keras

    from .models import create_model, get_spec
    from .weights import save_weights_npz, write_json

    keras.utils.set_random_seed(0)
    model = create_model(name, size)
    seconds = time.perf_counter() - t0
    manifest = {"name": name, "input_size": size, "cam_layer": get_spec(name).cam_layer,
                "weights_file": get_spec(name).weights_file,
                "training": {"noise_reduction": True},
                "note": "random weights written by the benchmark; not a trained model"}
    if export_dir is not None:
        manifest["weights_sha256"] = save_weights_npz(model, get_spec(name).weights_path(export_dir))
        write_json(export_dir / f"{name}.manifest.json", manifest)
    note = (f"weights absent ({status}); the architecture was benchmarked with random weights at "
            f"{size} px ({size_from})")
    return LoadedModel(name, model, manifest, size, True), "random", note, seconds


def _sample_images() -> tuple[np.ndarray, np.ndarray, list, np.ndarray]:
    """The bench image, an Aria image, all samples (decoded) and their labels (1 = ALL)."""
    from .images import read_image
    from .samples import SAMPLES_DIR, list_samples

    samples = list_samples()
    decoded = [read_image(s.path) for s in samples]
    labels = np.array([1 if s.label == "all" else 0 for s in samples], np.int32)
    return read_image(SAMPLES_DIR / BENCH_IMAGE), read_image(SAMPLES_DIR / ARIA_IMAGE), decoded, labels


def profile_preprocessing(rgb: np.ndarray, size: int, repeats: int) -> dict:
    """Milliseconds of each preprocessing step on one decoded image (median).

    ``denoise_uncropped_ms`` is the bilateral filter over the whole image, as before it was limited
    to the non-black part (``denoise_ms``, what ``prepare`` runs; same output).
    """
    import cv2

    from .preprocess import _bilateral, denoise, pad_to_square, prepare, to_unit

    sq = pad_to_square(rgb)
    den = denoise(sq)
    interp = cv2.INTER_AREA if sq.shape[0] > size else cv2.INTER_CUBIC
    small = prepare(rgb, size)
    t = time_interleaved({
        "prepare_ms": lambda: to_unit(prepare(rgb, size)),
        "pad_ms": lambda: pad_to_square(rgb),
        "denoise_ms": lambda: denoise(sq),
        "denoise_uncropped_ms": lambda: _bilateral(sq),
        "resize_ms": lambda: cv2.resize(den, (size, size), interpolation=interp),
        "to_unit_ms": lambda: to_unit(small),
    }, max(repeats, 10))
    out = {k: _r(_med_ms(v)) for k, v in t.items()}
    out["image"] = f"{rgb.shape[1]}x{rgb.shape[0]}"
    out["size"] = size
    return out


def _profile_display(rgb: np.ndarray, cam: np.ndarray, repeats: int) -> float | None:
    """Milliseconds the Classify page spends drawing one map over the image (not in gradcam_ms)."""
    try:
        from .reports import display_copy, heatmap_on_image
    except ImportError:
        return None
    from .explain import overlay

    def draw():
        shown = display_copy(rgb)
        return overlay(shown, heatmap_on_image(cam, shown.shape[:2]), 0.4, "jet")

    return _r(_med_ms(time_interleaved({"draw": draw}, max(repeats, 10))["draw"]))


def _naive_gradcam(model, logits_model, cam_layer: str, rgb: np.ndarray, size: int, nr: bool):
    """The naive way: prepare, an eager forward for P(ALL), a new tf-keras-vis Gradcam per image."""
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.scores import CategoricalScore

    from .preprocess import prepare, to_unit

    x = to_unit(prepare(rgb, size, nr))[None]
    p = float(np.asarray(model(x, training=False))[0, 1])
    cam = Gradcam(logits_model)(CategoricalScore([1]), x, penultimate_layer=cam_layer,
                                seek_penultimate_conv_layer=False)
    return p, cam


class _StepTimer:
    """Keras callback factory: timestamps at each train-batch end (built lazily: keras import)."""

    @staticmethod
    def make():
        import keras

        class StepTimer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.stamps: list[float] = []

            def on_train_begin(self, logs=None):
                self.stamps = [time.perf_counter()]

            def on_train_batch_end(self, batch, logs=None):
                self.stamps.append(time.perf_counter())

        return StepTimer()


def bench_training(loaded, x_u8: np.ndarray, y: np.ndarray, rounds: int, steps: int, seed: int = 0) -> dict:
    """Training throughput through ``train_dataset`` (augmented) against in-memory batches.

    Args:
        loaded: the model (it is compiled and trained here: bench it last).
        x_u8: uint8 ``(N, S, S, 3)`` prepared images, ``N = (steps + 1) * TRAIN_BATCH``.
        y: int ``(N,)`` labels.
        rounds: ``fit`` calls per source, alternating.
        steps: timed steps per call (the first of ``steps + 1`` is left out).
    """
    import keras
    import tensorflow as tf

    from .augment import AugmentConfig, make_augmenter
    from .pipeline import class_weights, train_dataset
    from .train import _compile

    model = loaded.model
    ds = train_dataset(x_u8, y, TRAIN_BATCH, seed, make_augmenter(AugmentConfig(), seed))
    n_batches = int(np.ceil(len(x_u8) / TRAIN_BATCH))
    # the pipeline alone (no model): what producing the batches costs
    iter_s = []
    images, labels = [], []
    for k in range(2):
        t0 = time.perf_counter()
        batches = [(a.numpy(), b.numpy()) for a, b in ds]
        iter_s.append(time.perf_counter() - t0)
        if k == 0:
            images = np.concatenate([a for a, _ in batches])
            labels = np.concatenate([b for _, b in batches])
    plain_ds = train_dataset(x_u8, y, TRAIN_BATCH, seed, None)
    plain_s = []
    for _ in range(2):
        t0 = time.perf_counter()
        for _b in plain_ds:
            pass
        plain_s.append(time.perf_counter() - t0)
    mem = tf.data.Dataset.from_tensor_slices((images, labels)).batch(TRAIN_BATCH)
    _compile(model, keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=1000, alpha=0.05))
    cw = class_weights(y)
    timer = _StepTimer.make()
    t0 = time.perf_counter()
    # warm-up: traces the train step (one step is enough)
    model.fit(ds, epochs=1, steps_per_epoch=1, class_weight=cw, verbose=0, shuffle=False, callbacks=[timer])
    warm_s = time.perf_counter() - t0
    steps_pipe, steps_mem, first_pipe, first_mem = [], [], [], []
    for _ in range(max(1, rounds)):
        for source, dest, first in ((ds, steps_pipe, first_pipe), (mem, steps_mem, first_mem)):
            gc.collect()
            model.fit(source, epochs=1, class_weight=cw, verbose=0, shuffle=False, callbacks=[timer])
            d = np.diff(timer.stamps)
            first.append(d[0])
            dest.extend(d[1:].tolist())
    pipe_s, mem_s = statistics.median(steps_pipe), statistics.median(steps_mem)
    return {
        "train_img_s": TRAIN_BATCH / pipe_s,
        "train_memory_img_s": TRAIN_BATCH / mem_s,
        "profile": {
            "train_batch": TRAIN_BATCH,
            "step_ms_pipeline": _spread_ms(steps_pipe),
            "step_ms_memory": _spread_ms(steps_mem),
            "first_step_ms_pipeline": _r(_med_ms(first_pipe)),
            "first_step_ms_memory": _r(_med_ms(first_mem)),
            "pipeline_alone_ms_per_batch": _r(min(iter_s) * 1e3 / n_batches),
            "pipeline_without_augmentation_ms_per_batch": _r(min(plain_s) * 1e3 / n_batches),
            "warmup_fit_s": _r(warm_s, 2),
        },
    }


def bench_model(name: str, weights_dir: Path, export_dir: Path | None, repeats: int,
                train_rounds: int, train_steps: int, images: tuple | None = None) -> dict:
    """All per-model figures (see the module docstring)."""
    import tensorflow as tf

    from .explain import Explainer
    from .inference import Predictor
    from .preprocess import prepare, to_unit

    rgb, aria, decoded, labels = images or _sample_images()
    loaded, weights, note, load_s = _get_model(name, weights_dir, export_dir)
    model, size, nr = loaded.model, loaded.input_size, loaded.noise_reduction
    log.info("bench %s at %d px (%s weights)", name, size, weights)

    t0 = time.perf_counter()
    pred = Predictor(loaded)
    predictor_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ex = Explainer(model, loaded.cam_layer, "gradcam")
    explainer_s = time.perf_counter() - t0

    @tf.function
    def plain(x):
        return model(x, training=False)

    x1 = pred.prepare(rgb)[None]
    t0 = time.perf_counter()
    plain(x1)
    floor_trace_s = time.perf_counter() - t0

    # single image: project path, its parts, and the floor, interleaved
    t = time_interleaved({
        "floor": lambda: plain(x1).numpy(),
        "predict": lambda: pred.predict(pred.prepare(rgb)),
        "gradcam": lambda: ex.predict_and_explain(pred.prepare(rgb)),
        "forward": lambda: pred.predict(x1),
        "cam_pass": lambda: ex.predict_and_explain(x1),
        "prepare": lambda: pred.prepare(rgb),
    }, repeats)
    floor_ms, predict_ms, gradcam_ms = (_med_ms(t[k]) for k in ("floor", "predict", "gradcam"))

    display_ms = _profile_display(rgb, ex.predict_and_explain(x1)[1][0], repeats)

    # the naive tf-keras-vis path (slow: fewer rounds)
    naive_rounds = max(2, repeats // 5)
    tn = time_interleaved({"naive": lambda: _naive_gradcam(model, ex._logits_model, loaded.cam_layer,
                                                         rgb, size, nr)}, naive_rounds, warmup=1)
    naive_ms = _med_ms(tn["naive"])

    # batch of 64 prepared images
    xb = np.stack([to_unit(prepare(decoded[i % len(decoded)], size, nr)) for i in range(BATCH)])
    batch_rounds = max(2, repeats // 4)
    tb = time_interleaved({"floor": lambda: plain(xb).numpy(), "batch": lambda: pred.predict(xb)}, batch_rounds,
                          warmup=1)
    batch_img_s = BATCH / statistics.median(tb["batch"])
    batch_floor_img_s = BATCH / statistics.median(tb["floor"])

    result = {
        "input_size": size,
        "weights": weights,
        "predict_ms": _r(predict_ms),
        "floor_ms": _r(floor_ms),
        "predict_ratio": _r(_ratio(predict_ms, floor_ms), 4),
        "gradcam_ms": _r(gradcam_ms),
        "gradcam_ratio": _r(_ratio(gradcam_ms, floor_ms), 4),
        "gradcam_naive_ms": _r(naive_ms),
        "gradcam_naive_ratio": _r(_ratio(naive_ms, floor_ms), 4),
        "batch_img_s": _r(batch_img_s, 2),
        "batch_floor_img_s": _r(batch_floor_img_s, 2),
        "batch_ratio": _r(_ratio(batch_img_s, batch_floor_img_s), 4),
    }
    if note:
        result["weights_note"] = note
    profile = {
        "prepare_ms": _r(_med_ms(t["prepare"])),
        "forward_ms": _r(_med_ms(t["forward"])),
        "python_overhead_ms": _r(_med_ms(t["forward"]) - floor_ms),
        "cam_pass_ms": _r(_med_ms(t["cam_pass"])),
        "cam_pass_over_floor": _r(_ratio(_med_ms(t["cam_pass"]), floor_ms), 4),
        "spread_ms": {k: _spread_ms(v) for k, v in t.items()},
        "batch_ms": {"project": _spread_ms(tb["batch"]), "floor": _spread_ms(tb["floor"]),
                     "chunk": pred.batch_size},
        "naive_ms": _spread_ms(tn["naive"]),
        "display_overlay_ms": display_ms,
        "preprocess_cnmc": profile_preprocessing(rgb, size, repeats),
        "preprocess_aria": profile_preprocessing(aria, size, repeats),
        "load_s": _r(load_s, 2),
        "predictor_init_s": _r(predictor_s, 2),
        "explainer_init_s": _r(explainer_s, 2),
        "floor_first_call_s": _r(floor_trace_s, 2),
    }
    del xb
    gc.collect()

    # training throughput last: it trains (and so changes) the model
    n_train = (train_steps + 1) * TRAIN_BATCH
    x_u8 = np.stack([prepare(decoded[i % len(decoded)], size, nr) for i in range(n_train)])
    y = labels[np.arange(n_train) % len(labels)]
    tr = bench_training(loaded, x_u8, y, train_rounds, train_steps)
    result["train_img_s"] = _r(tr["train_img_s"], 2)
    result["train_memory_img_s"] = _r(tr["train_memory_img_s"], 2)
    result["pipeline_ratio"] = _r(_ratio(tr["train_img_s"], tr["train_memory_img_s"]), 4)
    profile["train"] = tr["profile"]
    result["targets_met"] = {k: _met(k, result[k]) for k in ("predict_ratio", "gradcam_ratio", "batch_ratio",
                                                             "pipeline_ratio")}
    result["profile"] = profile
    return result


# ----------------------------------------------------------------------------- memory

def _memory_child(names: list[str], weights_dir: str) -> None:
    """Runs in a fresh interpreter: load every model as the app does, print one JSON line."""
    t_start = time.perf_counter()
    import tensorflow  # noqa: F401

    from .explain import Explainer
    from .images import read_image
    from .inference import Predictor, load_model
    from .samples import SAMPLES_DIR

    import_s = time.perf_counter() - t_start
    rgb = read_image(SAMPLES_DIR / BENCH_IMAGE)
    per = {}
    keep = []
    for n in names:
        t0 = time.perf_counter()
        loaded = load_model(n, Path(weights_dir))
        t1 = time.perf_counter()
        pred = Predictor(loaded)
        t2 = time.perf_counter()
        ex = Explainer(loaded.model, loaded.cam_layer, "gradcam")
        t3 = time.perf_counter()
        x = pred.prepare(rgb)
        ex.predict_and_explain(x)  # what the app's Classify page runs
        t4 = time.perf_counter()
        pred.predict(x)
        t5 = time.perf_counter()
        per[n] = {"load_s": _r(t1 - t0, 2), "predictor_init_s": _r(t2 - t1, 2),
                  "explainer_init_s": _r(t3 - t2, 2), "first_prepare_and_gradcam_s": _r(t4 - t3, 2),
                  "first_predict_s": _r(t5 - t4, 2), "rss_mb_after": _r(_rss_mib()[0], 1)}
        keep.append((loaded, pred, ex))
    gc.collect()
    cur, peak = _rss_mib()
    print("BENCH-MEMORY " + json.dumps({"rss_mb": cur, "peak_rss_mb": peak, "imports_s": import_s,
                                        "total_s": time.perf_counter() - t_start, "models": per}))


def measure_memory(names: list[str], weights_dir: Path, timeout: float = 900) -> dict:
    """RSS of a fresh process holding all ``names`` loaded (weights, Predictor, Explainer)."""
    code = ("import sys; from leukemia_core.bench import _memory_child; "
            "_memory_child(sys.argv[1].split(','), sys.argv[2])")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    try:
        res = subprocess.run([sys.executable, "-c", code, ",".join(names), str(weights_dir)], cwd=PROJECT_ROOT,
                             env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"rss_mb": None, "reason": f"the loading process took over {timeout:.0f} s"}
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("BENCH-MEMORY ")), None)
    if res.returncode != 0 or line is None:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        return {"rss_mb": None, "reason": "the loading process failed: " + " | ".join(tail)}
    data = json.loads(line.split(" ", 1)[1])
    return {"rss_mb": _r(data["rss_mb"], 1), "peak_rss_mb": _r(data["peak_rss_mb"], 1), "models_loaded": names,
            "method": "fresh Python process: load_model + Predictor + Grad-CAM Explainer per model, one "
                      "prediction and map each, then VmRSS from /proc/self/status (MiB); imports_s is "
                      "TensorFlow, Keras and the package",
            "imports_s": _r(data["imports_s"], 2), "total_s": _r(data["total_s"], 2),
            "per_model": data["models"]}


# ----------------------------------------------------------------------------- app cold start

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, deadline: float, proc: subprocess.Popen) -> bool:
    import urllib.request

    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


#: JavaScript test for a rendered prediction: the Classify page's verdict line, e.g.
#: "ALL (P(ALL) = 0.873, model proposed)".
_PREDICTION_JS = r"""() => {
  const t = document.body ? document.body.innerText : "";
  return /\b(ALL|HEM)\b[^\n]{0,8}\(?P\(ALL\) = [01]\.\d+/.test(t);
}"""


def measure_cold_start(weights_dir: Path, timeout: float = 120.0, page_path: str = "classify",
                       app_models: Sequence[str] | None = None) -> dict:
    """Seconds from ``streamlit run app.py`` to the first prediction rendered in a real browser.

    The browser is started first (its start-up is not the app's); the clock starts when the
    Streamlit process is spawned and stops when the page shows a verdict and a P(ALL) figure.
    Returns ``cold_start_s`` None with ``reason`` when the app, Playwright or Chromium is missing,
    or no prediction appeared within ``timeout``. ``app_models`` restricts the models the app
    offers (``$LEUKEMIA_APP_MODELS``); by default it offers all and classifies with ``proposed``.
    """
    out: dict = {"cold_start_s": None, "method": "playwright+chromium (headless)",
                 "measures": "clock starts when `streamlit run app.py` is spawned (browser already running) and "
                             "stops when the Classify page shows the verdict line 'ALL|HEM (P(ALL) = 0.xxx ...)' "
                             f"for the bundled sample {BENCH_IMAGE.split('/')[-1]}, picked as soon as the "
                             "picker appears",
                 "weights_dir": str(weights_dir)}
    app = PROJECT_ROOT / "app.py"
    if not app.is_file():
        out["reason"] = "app.py not found"
        return out
    if not Path(CHROMIUM).is_file():
        out["reason"] = f"browser absent: {CHROMIUM} not found (Debian package chromium)"
        return out
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        out["reason"] = "playwright not installed"
        return out
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, LEUKEMIA_WEIGHTS_DIR=str(weights_dir), TF_CPP_MIN_LOG_LEVEL="2",
               STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    env.pop("LEUKEMIA_APP_MODELS", None)
    if app_models:
        env["LEUKEMIA_APP_MODELS"] = ",".join(app_models)
        out["app_models"] = list(app_models)
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless=true",
           f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
           "--server.fileWatcherType=none"]
    log_file = tempfile.NamedTemporaryFile("w+", suffix=".streamlit.log", delete=False)
    proc = None
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
            deadline = t0 + timeout
            if not _wait_http(f"{url}/_stcore/health", deadline, proc):
                out["reason"] = "the Streamlit server did not come up (see its log: " + log_file.name + ")"
                return out
            out["server_ready_s"] = _r(time.perf_counter() - t0, 2)
            page.goto(f"{url}/{page_path}", wait_until="domcontentloaded")
            out["page_loaded_s"] = _r(time.perf_counter() - t0, 2)
            steps = _drive_classify_page(page, deadline, t0, out)
            remaining_ms = max(1000.0, (deadline - time.perf_counter()) * 1000)
            try:
                page.wait_for_function(_PREDICTION_JS, timeout=remaining_ms, polling=50)
            except PlaywrightError:
                out["reason"] = (f"no prediction rendered within {timeout:.0f} s; page text starts: "
                                 + page.inner_text("body")[:300].replace("\n", " | "))
                return out
            out["cold_start_s"] = _r(time.perf_counter() - t0, 2)
            out["interaction"] = steps
            browser.close()
    except PlaywrightError as exc:
        out["reason"] = f"browser error: {str(exc).splitlines()[0]}"
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        log_file.close()
    return out


def _drive_classify_page(page, deadline: float, t0: float, out: dict) -> list[str]:
    """Pick the bench's bundled sample on the Classify page, as a user would.

    Opens the page's sample picker (a multiselect) and clicks the sample's entry; where there is
    no such picker, uploads the file instead. Returns the steps taken and
    records in ``out`` when the picker appeared (``picker_ready_s``) and when the sample was
    chosen (``sample_chosen_s``), seconds since ``t0``.
    """
    from playwright.sync_api import Error as PlaywrightError

    from .samples import SAMPLES_DIR

    path = SAMPLES_DIR / BENCH_IMAGE

    def left_ms() -> float:
        return max(1000.0, (deadline - time.perf_counter()) * 1000)

    picker = page.locator('[data-testid="stMultiSelect"]').filter(has_text="sample").first
    upload = page.locator('input[type="file"]').first
    try:
        picker.or_(upload).first.wait_for(state="attached", timeout=left_ms())
    except PlaywrightError:
        return ["no sample picker or upload field appeared"]
    try:
        picker.wait_for(state="visible", timeout=2000)
    except PlaywrightError:
        pass
    out["picker_ready_s"] = _r(time.perf_counter() - t0, 2)
    if picker.count():
        try:
            picker.locator("input").first.click(timeout=left_ms())
            page.get_by_role("option", name=path.name, exact=False).first.click(timeout=min(left_ms(), 15000))
            out["sample_chosen_s"] = _r(time.perf_counter() - t0, 2)
            return [f"picked the bundled sample {path.name} in the sample picker"]
        except PlaywrightError:
            pass
    upload.set_input_files(str(path), timeout=left_ms())
    out["sample_chosen_s"] = _r(time.perf_counter() - t0, 2)
    return [f"uploaded the bundled sample {path.name}"]


# ----------------------------------------------------------------------------- driver

def _prepare_weights_dir(names: list[str], weights_dir: Path, export_dir: Path) -> Path:
    """Folder holding every model's weights for the child processes: the real one when all are
    shipped; else a temporary one with the shipped files linked and random weights exported."""
    from .inference import weights_status
    from .models import get_spec

    if all(weights_status(n, weights_dir) == "ok" for n in names):
        return weights_dir
    for n in names:
        if weights_status(n, weights_dir) == "ok":
            for f in (get_spec(n).weights_file, f"{n}.manifest.json"):
                dst = export_dir / f
                if not dst.exists():
                    dst.symlink_to((weights_dir / f).resolve())
    return export_dir


def explain_misses(report: dict) -> dict[str, list[str]]:
    """For each missed target, one line per model (or for the app) citing the profile figures."""
    out: dict[str, list[str]] = {}
    for name, r in report["models"].items():
        p, met = r["profile"], r["targets_met"]
        if met["predict_ratio"] is False:
            out.setdefault("predict_ratio", []).append(
                f"{name}: preprocessing {p['prepare_ms']} ms (bilateral filter {p['preprocess_cnmc']['denoise_ms']} ms, "
                f"resize {p['preprocess_cnmc']['resize_ms']} ms) + forward {p['forward_ms']} ms against a floor of "
                f"{r['floor_ms']} ms")
        if met["gradcam_ratio"] is False:
            out.setdefault("gradcam_ratio", []).append(
                f"{name}: preprocessing {p['prepare_ms']} ms + compiled Grad-CAM pass {p['cam_pass_ms']} ms "
                f"({p['cam_pass_over_floor']}x the floor of {r['floor_ms']} ms)")
        if met["batch_ratio"] is False:
            out.setdefault("batch_ratio", []).append(
                f"{name}: {p['batch_ms']['project']['median']} ms for 64 in chunks of {p['batch_ms']['chunk']} "
                f"against {p['batch_ms']['floor']['median']} ms in one call")
        if met["pipeline_ratio"] is False:
            t = p["train"]
            out.setdefault("pipeline_ratio", []).append(
                f"{name}: a training step takes {t['step_ms_pipeline']['median']} ms fed by the pipeline and "
                f"{t['step_ms_memory']['median']} ms from memory; producing a batch alone costs "
                f"{t['pipeline_alone_ms_per_batch']} ms, of which augmentation is all but "
                f"{t['pipeline_without_augmentation_ms_per_batch']} ms (it competes with the step for the CPU)")
    if report["targets_met"].get("rss_mb") is False:
        mem = report["memory"]
        out["rss_mb"] = [f"{n}: {v['rss_mb_after']} MiB after loading" for n, v in mem.get("per_model", {}).items()]
    if report["targets_met"].get("cold_start_s") is False:
        a = report["app"]
        prof = a.get("profile", {})
        out["cold_start_s"] = [
            f"server up at {a.get('server_ready_s')} s, page at {a.get('page_loaded_s')} s, sample picker at "
            f"{a.get('picker_ready_s')} s (the page imports TensorFlow first: {prof.get('imports_s')} s in a fresh "
            f"process), sample chosen at {a.get('sample_chosen_s')} s; then loading the model "
            f"({prof.get('load_model_s')} s) and compiling plus running Grad-CAM "
            f"({prof.get('first_prepare_and_gradcam_s')} s) before the verdict at {a.get('cold_start_s')} s"]
    return out


def format_summary(report: dict) -> str:
    """Human-readable table of the report's figures and targets."""
    m = report["machine"]
    lines = [f"benchmark on {m['cpu_model']} ({m['usable_cores']} cores), TensorFlow {m['tensorflow']}; "
             f"load average at start {m['loadavg_at_start'][0]}",
             "times in ms (medians), throughput in images/s; ratio = project path / plain model",
             f"{'model':<16}{'px':>4}{'predict':>9}{'floor':>8}{'ratio':>7}{'gradcam':>9}{'ratio':>7}"
             f"{'naive':>8}{'batch':>8}{'ratio':>7}{'train':>8}{'ratio':>7}  weights"]
    for name, r in report["models"].items():
        lines.append(f"{name:<16}{r['input_size']:>4}{r['predict_ms']:>9.1f}{r['floor_ms']:>8.1f}"
                     f"{r['predict_ratio']:>7.2f}{r['gradcam_ms']:>9.1f}{r['gradcam_ratio']:>7.2f}"
                     f"{r['gradcam_naive_ms']:>8.0f}{r['batch_img_s']:>8.1f}{r['batch_ratio']:>7.2f}"
                     f"{r['train_img_s']:>8.1f}{r['pipeline_ratio']:>7.2f}  {r['weights']}")
        p = r["profile"]
        lines.append(f"{'':<16}    prepare {p['prepare_ms']:.2f} ms + forward {p['forward_ms']:.1f} ms "
                     f"(python {p['python_overhead_ms']:+.2f} ms); cam pass {p['cam_pass_ms']:.1f} ms")
    mem, app = report["memory"], report["app"]
    lines.append(f"rss with {len(mem.get('models_loaded') or [])} model(s) loaded: "
                 + (f"{mem['rss_mb']:.0f} MiB" if mem.get("rss_mb") is not None else f"n/a ({mem.get('reason')})"))
    lines.append("app cold start to first prediction: "
                 + (f"{app['cold_start_s']:.1f} s ({app['method']})" if app.get("cold_start_s") is not None
                    else f"n/a ({app.get('reason')})"))
    met = report["targets_met"]
    bad = [k for k, v in met.items() if v is False]
    unk = [k for k, v in met.items() if v is None]
    lines.append("targets: " + ("all met" if not bad and not unk else
                                f"missed: {', '.join(bad) or 'none'}; not measured: {', '.join(unk) or 'none'}"))
    for key, why in report.get("missed_because", {}).items():
        lines.extend(f"  {key} missed: {w}" for w in why)
    return "\n".join(lines)


def run_bench(out: Path, models: Sequence[str] | None = None, weights_dir: Path | str | None = None,
              repeats: int = 20, app: bool = True, memory: bool = True, train_steps: int = 3,
              train_rounds: int | None = None, cold_start_timeout: float = 120.0,
              printer: Callable[[str], None] | None = print) -> dict:
    """Run the benchmark, write ``out`` (JSON) and print a summary.

    Args:
        out: the JSON file to write.
        models: model names (default: the four registered models).
        weights_dir: shipped weights (default: ``$LEUKEMIA_WEIGHTS_DIR`` or ``model_weights/``).
        repeats: timed rounds for single-image figures; batch, naive and training figures use
            fewer (``repeats // 4``, ``// 5``, ``// 20``, at least 2, 2 and 1; training at most 3).
        app: measure the app's cold start in a browser.
        memory: measure RSS in a fresh process.
        train_steps: timed training steps per ``fit`` call.

    Returns:
        the report written.
    """
    from .inference import default_weights_dir
    from .models import get_spec, list_models
    from .weights import write_json

    names = list(models) if models else sorted(list_models(), key=lambda n: n != "proposed")
    for n in names:
        get_spec(n)  # unknown names fail before anything runs
    wdir = Path(weights_dir) if weights_dir else default_weights_dir()
    train_rounds = train_rounds if train_rounds is not None else max(1, min(3, repeats // 20))
    t_start = time.perf_counter()
    report: dict = {
        "benchmark": "leukemia_core bench",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {
            "models": names, "weights_dir": str(wdir), "repeats": repeats,
            "batch_rounds": max(2, repeats // 4), "naive_rounds": max(2, repeats // 5),
            "train_rounds": train_rounds, "train_steps_per_round": train_steps,
            "image": f"leukemia_core/samples/{BENCH_IMAGE}", "batch": BATCH, "train_batch": TRAIN_BATCH,
            "statistic": "median over interleaved rounds after warm-up",
            "floor": "tf.function(lambda x: model(x, training=False)) on the prepared float32 input, "
                     "result fetched with .numpy()",
            "predict_path": "Predictor.prepare(rgb) then Predictor.predict (uint8 RGB -> P(ALL))",
            "gradcam_path": "Predictor.prepare(rgb) then Explainer(model, cam_layer, 'gradcam')"
                            ".predict_and_explain (P(ALL) and the map at the input size)",
            "gradcam_naive": "prepare, eager model(x) for P(ALL), then a new tf_keras_vis Gradcam per image "
                             "(expand_cam and normalize_cam defaults)",
            "batch_path": "Predictor.predict on 64 prepared images (float32) vs the plain function on the same 64",
            "train_path": "model.fit on train_dataset(x_uint8, y, 32, augment=make_augmenter()) vs model.fit on "
                          "the same augmented batches already in memory (tf.data from_tensor_slices of float32 "
                          "arrays, batched); median steady-state step, class weights in both",
        },
        "targets": {k: f"{op} {bound:g}" for k, (op, bound) in TARGETS.items()},
        "models": {},
    }
    images = _sample_images()
    with tempfile.TemporaryDirectory(prefix="leukemia-bench-") as tmp:
        export_dir = Path(tmp)
        for n in names:
            t0 = time.perf_counter()
            report["models"][n] = bench_model(n, wdir, export_dir, repeats, train_rounds, train_steps, images)
            report["models"][n]["seconds"] = _r(time.perf_counter() - t0, 1)
            _release_models()
        child_wdir = _prepare_weights_dir(names, wdir, export_dir)
        if memory:
            log.info("memory: loading %s in a fresh process", ", ".join(names))
            report["memory"] = _guarded(lambda: measure_memory(names, child_wdir), "rss_mb")
        else:
            report["memory"] = {"rss_mb": None, "reason": "skipped"}
        if app:
            log.info("app cold start")
            offered = None if set(names) >= set(list_models()) else names
            report["app"] = _guarded(lambda: measure_cold_start(child_wdir, cold_start_timeout, app_models=offered),
                                     "cold_start_s")
            if child_wdir != wdir:
                report["app"]["weights_note"] = "models without shipped weights served with random weights"
        else:
            report["app"] = {"cold_start_s": None, "method": None, "reason": "skipped (--no-app)"}
    app_model = "proposed" if "proposed" in names else names[0]  # the app's default (reports.default_model)
    per = (report["memory"].get("per_model") or {}).get(app_model)
    if per and report["app"].get("cold_start_s") is not None:
        report["app"]["profile"] = {
            "note": f"where a cold start goes, from the fresh loading process (memory figure) for {app_model}, "
                    "the model the Classify page loads by default",
            "imports_s": report["memory"].get("imports_s"),
            "load_model_s": per["load_s"],
            "first_prepare_and_gradcam_s": per["first_prepare_and_gradcam_s"],
        }
    met: dict[str, bool | None] = {}
    for k in ("predict_ratio", "gradcam_ratio", "batch_ratio", "pipeline_ratio"):
        vals = [r["targets_met"][k] for r in report["models"].values()]
        met[k] = None if any(v is None for v in vals) else all(vals)
    met["rss_mb"] = _met("rss_mb", report["memory"].get("rss_mb"))
    met["cold_start_s"] = _met("cold_start_s", report["app"].get("cold_start_s"))
    report["targets_met"] = met
    report["missed_because"] = explain_misses(report)
    report["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["seconds"] = _r(time.perf_counter() - t_start, 1)
    write_json(Path(out), report)
    if printer:
        printer(format_summary(report))
        printer(f"-> {out}")
    return report


def _guarded(measure: Callable[[], dict], key: str) -> dict:
    """``measure()``, or ``{key: None, "reason": ...}`` when it fails (the other figures are kept)."""
    try:
        return measure()
    except Exception as exc:  # a broken app or browser must not lose the model figures
        log.warning("%s not measured: %s", key, exc)
        return {key: None, "reason": f"failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}


def _release_models() -> None:
    import keras

    keras.backend.clear_session()
    gc.collect()
