"""Prediction figures for one model: one image through ``Predictor.prepare`` then ``predict``,
Grad-CAM through ``Explainer.predict_and_explain``, the naive tf-keras-vis Grad-CAM (the before
figure), 64 prepared images, each against a plain ``tf.function`` around the same Keras model on
the same input; plus where a single prediction's time goes (preprocessing steps, drawing)."""

from __future__ import annotations

import gc
import statistics
import time

import numpy as np

from .loading import BenchImages
from ..timing import med_ms, ratio, rnd, spread_ms, time_interleaved

#: Prepared images in the batch figure.
BATCH = 64


def profile_preprocessing(rgb: np.ndarray, size: int, repeats: int) -> dict:
    """Milliseconds of each preprocessing step on one decoded image (median).

    ``denoise_uncropped_ms`` is the bilateral filter over the whole image (OpenCV with the
    project's settings), as before :func:`~leukemia_core.data.preprocess.denoise` limited it to the
    non-black part (``denoise_ms``, what ``prepare`` runs; same output).
    """
    import cv2

    from ..data.preprocess import (
        BILATERAL_D,
        BILATERAL_SIGMA_COLOR,
        BILATERAL_SIGMA_SPACE,
        denoise,
        pad_to_square,
        prepare,
        to_unit,
    )

    sq = pad_to_square(rgb)
    den = denoise(sq)
    interp = cv2.INTER_AREA if sq.shape[0] > size else cv2.INTER_CUBIC
    small = prepare(rgb, size)
    t = time_interleaved({
        "prepare_ms": lambda: to_unit(prepare(rgb, size)),
        "pad_ms": lambda: pad_to_square(rgb),
        "denoise_ms": lambda: denoise(sq),
        "denoise_uncropped_ms": lambda: cv2.bilateralFilter(sq, BILATERAL_D, BILATERAL_SIGMA_COLOR,
                                                            BILATERAL_SIGMA_SPACE),
        "resize_ms": lambda: cv2.resize(den, (size, size), interpolation=interp),
        "to_unit_ms": lambda: to_unit(small),
    }, max(repeats, 10))
    out = {k: rnd(med_ms(v)) for k, v in t.items()}
    out["image"] = f"{rgb.shape[1]}x{rgb.shape[0]}"
    out["size"] = size
    return out


def profile_display(rgb: np.ndarray, cam: np.ndarray, repeats: int) -> float | None:
    """Milliseconds the dashboard spends drawing one map over the image (not in gradcam_ms)."""
    try:
        from ..reports.inputs import display_copy
    except ImportError:
        return None
    from ..explain.maps import heatmap_on_image
    from ..explain.overlay import overlay

    def draw():
        shown = display_copy(rgb)
        return overlay(shown, heatmap_on_image(cam, shown.shape[:2]), 0.4, "jet")

    return rnd(med_ms(time_interleaved({"draw": draw}, max(repeats, 10))["draw"]))


def logits_model(model):
    """The model up to its ``logits`` layer (shared weights), as tf-keras-vis wants it."""
    import keras

    from ..models.registry import LOGITS_LAYER

    return keras.Model(model.inputs, model.get_layer(LOGITS_LAYER).output)


def naive_gradcam(model, logits, cam_layer: str, rgb: np.ndarray, size: int, nr: bool):
    """The naive way: prepare, an eager forward for P(ALL), a new tf-keras-vis Gradcam per image."""
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.scores import CategoricalScore

    from ..data.preprocess import prepare, to_unit

    x = to_unit(prepare(rgb, size, nr))[None]
    p = float(np.asarray(model(x, training=False))[0, 1])
    cam = Gradcam(logits)(CategoricalScore([1]), x, penultimate_layer=cam_layer, seek_penultimate_conv_layer=False)
    return p, cam


def bench_inference(loaded, images: BenchImages, repeats: int) -> tuple[dict, dict]:
    """Single-image, Grad-CAM, naive Grad-CAM and batch figures of one model.

    Returns:
        ``(figures, profile)``: the top-level figures (``predict_ms``, ``floor_ms``, ratios ...)
        and where the time goes.
    """
    import tensorflow as tf

    from ..data.preprocess import prepare, to_unit
    from ..explain import GradCAM
    from ..inference import Predictor

    model, size, nr, rgb = loaded.model, loaded.input_size, loaded.noise_reduction, images.rgb
    t0 = time.perf_counter()
    pred = Predictor(loaded)
    predictor_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ex = GradCAM(model, loaded.cam_layer)
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
        "gradcam": lambda: ex.predict_and_explain(pred.prepare(rgb), class_index=1),
        "forward": lambda: pred.predict(x1),
        "cam_pass": lambda: ex.predict_and_explain(x1, class_index=1),
        "prepare": lambda: pred.prepare(rgb),
    }, repeats)
    floor_ms, predict_ms, gradcam_ms = (med_ms(t[k]) for k in ("floor", "predict", "gradcam"))
    display_ms = profile_display(rgb, ex.predict_and_explain(x1, class_index=1)[1][0], repeats)

    # the naive tf-keras-vis path (slow: fewer rounds)
    logits = logits_model(model)
    tn = time_interleaved({"naive": lambda: naive_gradcam(model, logits, loaded.cam_layer, rgb, size, nr)},
                          max(2, repeats // 5), warmup=1)
    naive_ms = med_ms(tn["naive"])

    # a batch of 64 prepared images
    decoded = images.decoded
    xb = np.stack([to_unit(prepare(decoded[i % len(decoded)], size, nr)) for i in range(BATCH)])
    tb = time_interleaved({"floor": lambda: plain(xb).numpy(), "batch": lambda: pred.predict(xb)},
                          max(2, repeats // 4), warmup=1)
    batch_img_s = BATCH / statistics.median(tb["batch"])
    batch_floor_img_s = BATCH / statistics.median(tb["floor"])
    del xb
    gc.collect()

    figures = {
        "predict_ms": rnd(predict_ms),
        "floor_ms": rnd(floor_ms),
        "predict_ratio": rnd(ratio(predict_ms, floor_ms), 4),
        "gradcam_ms": rnd(gradcam_ms),
        "gradcam_ratio": rnd(ratio(gradcam_ms, floor_ms), 4),
        "gradcam_naive_ms": rnd(naive_ms),
        "gradcam_naive_ratio": rnd(ratio(naive_ms, floor_ms), 4),
        "batch_img_s": rnd(batch_img_s, 2),
        "batch_floor_img_s": rnd(batch_floor_img_s, 2),
        "batch_ratio": rnd(ratio(batch_img_s, batch_floor_img_s), 4),
    }
    profile = {
        "prepare_ms": rnd(med_ms(t["prepare"])),
        "forward_ms": rnd(med_ms(t["forward"])),
        "python_overhead_ms": rnd(med_ms(t["forward"]) - floor_ms),
        "cam_pass_ms": rnd(med_ms(t["cam_pass"])),
        "cam_pass_over_floor": rnd(ratio(med_ms(t["cam_pass"]), floor_ms), 4),
        "spread_ms": {k: spread_ms(v) for k, v in t.items()},
        "batch_ms": {"project": spread_ms(tb["batch"]), "floor": spread_ms(tb["floor"]), "chunk": pred.batch_size},
        "naive_ms": spread_ms(tn["naive"]),
        "display_overlay_ms": display_ms,
        "preprocess_cnmc": profile_preprocessing(rgb, size, repeats),
        "preprocess_aria": profile_preprocessing(images.aria, size, repeats),
        "predictor_init_s": rnd(predictor_s, 2),
        "explainer_init_s": rnd(explainer_s, 2),
        "floor_first_call_s": rnd(floor_trace_s, 2),
    }
    return figures, profile
