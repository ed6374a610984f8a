"""Class-activation maps (Grad-CAM, Grad-CAM++, Score-CAM) and overlays.

Computing a map (:class:`Explainer`) is kept apart from drawing it (:func:`overlay`).
An explainer is built once per model and method and reused for every image; it never changes the
loaded model: it builds derived models that share the model's weights (one ending at the
``logits`` layer, since gradients of a saturated softmax vanish).

* ``gradcam``: Selvaraju et al., ICCV 2017. Besides the tf-keras-vis path, a compiled path
  (:meth:`Explainer.predict_and_explain`) computes P(ALL) and the map in one forward pass and a
  backward pass through the head only (explained layer to logits; only the head is recorded on
  the gradient tape, which also keeps the one-off tracing short); tests check that it matches
  tf-keras-vis.
* ``gradcam++``: Chattopadhyay et al., WACV 2018 (tf-keras-vis ``GradcamPlusPlus``).
* ``scorecam``: Wang et al., CVPR-W 2020 (tf-keras-vis ``Scorecam``), on the ``max_n``
  most active channels (Faster Score-CAM); 64 by default, which is what the app shows. It is
  given the logits model too: tf-keras-vis takes the softmax of the scores itself.

Example::

    loaded = load_model("proposed")
    ex = Explainer(loaded.model, loaded.cam_layer, "gradcam")
    p_all, maps = ex.predict_and_explain(x)       # x: float32 (N, S, S, 3) in [0, 1]
    picture = overlay(image_uint8, maps[0], alpha=0.4)
"""

from __future__ import annotations

import cv2
import numpy as np

from .models.registry import LOGITS_LAYER

METHODS = ("gradcam", "gradcam++", "scorecam")
COLORMAPS = {
    "jet": cv2.COLORMAP_JET,
    "turbo": cv2.COLORMAP_TURBO,
    "inferno": cv2.COLORMAP_INFERNO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "magma": cv2.COLORMAP_MAGMA,
    "hot": cv2.COLORMAP_HOT,
}


def normalize_heatmap(cam: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Scale each map of ``(H, W)`` or ``(N, H, W)`` to [0, 1]; a flat map becomes all zeros."""
    cam = np.nan_to_num(np.asarray(cam, np.float32))
    single = cam.ndim == 2
    cams = cam[None] if single else cam
    lo = cams.min(axis=(1, 2), keepdims=True)
    span = cams.max(axis=(1, 2), keepdims=True) - lo
    out = np.where(span > eps, (cams - lo) / np.maximum(span, eps), 0.0).astype(np.float32)
    return out[0] if single else out


def resize_heatmap(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of one ``(h, w)`` map to ``size = (H, W)``."""
    return cv2.resize(np.asarray(cam, np.float32), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def heatmap_on_image(heatmap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Map a CAM of the padded square model input back onto an ``(H, W)`` image.

    The model sees the image centred on a square canvas (:func:`~leukemia_core.preprocess.pad_to_square`);
    the map is resized to that square and the image's own region is cut out, so the overlay lines
    up with non-square images too. Returns float32 ``(H, W)``.
    """
    h, w = shape
    side = max(h, w)
    big = cv2.resize(np.asarray(heatmap, np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
    y, x = (side - h) // 2, (side - w) // 2
    return np.ascontiguousarray(big[y:y + h, x:x + w])


class Explainer:
    """CAMs for one model and method. Build once, call many times.

    Args:
        model: a registered model (flat graph with a ``logits`` layer).
        cam_layer: name of the spatial layer to explain (``get_spec(name).cam_layer``).
        method: one of :data:`METHODS`.
        scorecam_max_n: channels used by Score-CAM.
    """

    def __init__(self, model, cam_layer: str, method: str = "gradcam", scorecam_max_n: int = 64):
        import keras
        import tensorflow as tf

        if method not in METHODS:
            raise ValueError(f"unknown CAM method {method!r}; choose one of {', '.join(METHODS)}")
        channels = int(model.get_layer(cam_layer).output.shape[-1])
        # Score-CAM cannot use more channels than the layer has (small models)
        self.method, self.cam_layer, self.max_n = method, cam_layer, min(scorecam_max_n, channels)
        self.size = tuple(model.inputs[0].shape[1:3])
        self._model = model
        self._logits_model = keras.Model(model.inputs, model.get_layer(LOGITS_LAYER).output,
                                         name=f"{model.name}_logits")
        if method == "gradcam":
            from tf_keras_vis.gradcam import Gradcam

            self._vis = Gradcam(self._logits_model, clone=False)
        elif method == "gradcam++":
            from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus

            self._vis = GradcamPlusPlus(self._logits_model, clone=False)
        else:
            from tf_keras_vis.scorecam import Scorecam

            # tf-keras-vis applies softmax to the scores of the masked inputs itself: give it the
            # logits, or the softmax is applied twice and every channel weight is squeezed
            # into [0.27, 0.73]
            self._vis = Scorecam(self._logits_model, clone=False)

        h, w = self.size
        feats_out = model.get_layer(cam_layer).output
        logits_out = model.get_layer(LOGITS_LAYER).output
        try:
            # backbone up to the explained layer, and the head from it to the logits (shared weights):
            # the tape then records only the head, which is all the gradient needs
            feat_model = keras.Model(model.inputs[0], feats_out, name=f"{model.name}_to_{cam_layer}")
            head_model = keras.Model(feats_out, logits_out, name=f"{model.name}_head")
        except ValueError:  # the head also reads layers before cam_layer: record the whole pass
            feat_model = head_model = None
            grad_model = keras.Model(model.inputs, [feats_out, logits_out])
        #: True when the compiled Grad-CAM records only the head on its gradient tape.
        self.split_head = head_model is not None
        whole_pass = head_model is None

        def feats_and_logits(x, tape):
            if head_model is None:
                return grad_model(x, training=False)
            feats = feat_model(x, training=False)
            tape.watch(feats)
            return feats, head_model(feats, training=False)

        @tf.function(input_signature=[tf.TensorSpec([None, h, w, 3], tf.float32),
                                      tf.TensorSpec([], tf.int32)], reduce_retracing=True)
        def fast_gradcam(x, class_index):
            with tf.GradientTape(watch_accessed_variables=whole_pass) as tape:
                feats, logits = feats_and_logits(x, tape)
                score = tf.reduce_sum(logits[:, class_index])
            grads = tape.gradient(score, feats)
            weights = tf.reduce_mean(grads, axis=[1, 2], keepdims=True)
            cam = tf.nn.relu(tf.reduce_sum(feats * weights, axis=-1))
            cam = tf.image.resize(cam[..., None], (h, w), method="bilinear")[..., 0]
            lo = tf.reduce_min(cam, axis=[1, 2], keepdims=True)
            span = tf.reduce_max(cam, axis=[1, 2], keepdims=True) - lo
            cam = tf.where(span > 1e-8, (cam - lo) / tf.maximum(span, 1e-8), tf.zeros_like(cam))
            return tf.nn.softmax(logits)[:, 1], cam

        self._fast = fast_gradcam

    def warm(self) -> float:
        """Compile the Grad-CAM path now (trace and one run on a black image); return the seconds.

        The first :meth:`predict_and_explain` call pays this otherwise; a server can call it ahead
        of its first user. A no-op (0.0) for the other methods.
        """
        import time

        if self.method != "gradcam":
            return 0.0
        t0 = time.perf_counter()
        self.predict_and_explain(np.zeros((1, *self.size, 3), np.float32))
        return time.perf_counter() - t0

    def heatmap(self, x: np.ndarray, class_index: int = 1) -> np.ndarray:
        """Maps for a batch through tf-keras-vis.

        Args:
            x: float32 ``(N, H, W, 3)`` or ``(H, W, 3)`` in [0, 1], at the model's input size.
            class_index: 1 explains ALL, 0 explains HEM.

        Returns:
            float32 ``(N, H, W)`` (or ``(H, W)``) in [0, 1]; all zeros where the map is flat.
        """
        from tf_keras_vis.utils.scores import CategoricalScore

        x = np.asarray(x, np.float32)
        single = x.ndim == 3
        xb = x[None] if single else x
        kw = dict(penultimate_layer=self.cam_layer, seek_penultimate_conv_layer=False,
                  expand_cam=False, normalize_cam=False)
        if self.method == "scorecam":
            kw["max_N"] = self.max_n
        cams = self._vis(CategoricalScore([class_index] * len(xb)), xb, **kw)
        cams = np.asarray(cams, np.float32).reshape(len(xb), *np.asarray(cams).shape[-2:])
        out = normalize_heatmap(np.stack([resize_heatmap(c, self.size) for c in cams]))
        return out[0] if single else out

    def predict_and_explain(self, x: np.ndarray, class_index: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """P(ALL) and the map for a batch in one pass.

        Grad-CAM uses the compiled path; the other methods add their own passes to a forward pass.

        Returns:
            ``(p_all (N,), maps (N, H, W))``, both float32, maps in [0, 1].
        """
        x = np.asarray(x, np.float32)
        if x.ndim == 3:
            x = x[None]
        if self.method == "gradcam":
            p, cam = self._fast(x, np.int32(class_index))
            return p.numpy(), cam.numpy()
        logits = self._logits_model(x, training=False)
        p = np.asarray(_softmax(np.asarray(logits))[:, 1], np.float32)
        return p, self.heatmap(x, class_index)


    def explain_called(self, x: np.ndarray, threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
        """P(ALL) and, for each image, the map of the class it is called as at ``threshold``.

        ALL evidence for an ALL call, HEM evidence for a HEM call (a second pass only for the
        images called HEM).

        Returns:
            ``(p_all (N,), maps (N, H, W))``, both float32, maps in [0, 1].
        """
        x = np.asarray(x, np.float32)
        if x.ndim == 3:
            x = x[None]
        p, maps = self.predict_and_explain(x, class_index=1)
        maps = np.array(maps)
        hem = p < threshold
        if hem.any():
            maps[hem] = self.predict_and_explain(x[hem], class_index=0)[1]
        return p, maps


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.4, colormap: str = "jet") -> np.ndarray:
    """Blend a heatmap over an image.

    Args:
        image: RGB ``uint8 (H, W, 3)``, or float in [0, 1] (refused outside that range).
        heatmap: ``(h, w)`` in [0, 1]; resized to the image when sizes differ.
        alpha: heatmap opacity in [0, 1].
        colormap: one of :data:`COLORMAPS`.

    Returns:
        RGB ``uint8 (H, W, 3)`` (colours converted from OpenCV's BGR).
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3), got {img.shape}")
    if img.dtype != np.uint8:
        if img.size and (np.nanmin(img) < 0 or np.nanmax(img) > 1):
            raise ValueError("float images must be in [0, 1]; pass uint8 for 0-255 data")
        img = np.round(img * 255).astype(np.uint8)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must be in [0, 1]")
    if colormap not in COLORMAPS:
        raise ValueError(f"unknown colormap {colormap!r}; choose one of {', '.join(COLORMAPS)}")
    h = np.clip(np.nan_to_num(np.asarray(heatmap, np.float32)), 0, 1)
    if h.shape != img.shape[:2]:
        h = resize_heatmap(h, img.shape[:2])
    colour = cv2.cvtColor(cv2.applyColorMap(np.round(h * 255).astype(np.uint8), COLORMAPS[colormap]),
                          cv2.COLOR_BGR2RGB)
    out = (1 - alpha) * img.astype(np.float32) + alpha * colour.astype(np.float32)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def energy_inside(heatmap: np.ndarray, mask: np.ndarray) -> float | None:
    """Share of a map's total energy that falls where ``mask`` is true (None for an all-zero map)."""
    h = np.asarray(heatmap, np.float64)
    m = np.asarray(mask, bool)
    if m.shape != h.shape:
        m = cv2.resize(m.astype(np.uint8), (h.shape[1], h.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    total = h.sum()
    return float(h[m].sum() / total) if total > 0 else None
