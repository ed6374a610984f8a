"""The explainer base class: what every class-activation-map method shares.

A method subclasses :class:`Explainer` and implements one hook, :meth:`Explainer.raw_maps`
(the unnormalised maps at the explained layer's resolution). The base turns raw maps into maps at
the input size (:attr:`Explainer.postprocess`, by default :func:`.maps.upsample_and_normalize`;
pass another callable to change it), adds the forward pass for P(ALL), and picks each image's
map for the class it is called as (:meth:`Explainer.explain_called`).

An explainer is built once per model and method and reused for every image. It never changes the
model: it builds derived models that share the model's weights (one ending at the ``logits``
layer, since gradients of a saturated softmax vanish), so one explainer may be shared by several
sessions of the dashboard.
"""

from __future__ import annotations

import importlib
import time
from typing import Callable

import numpy as np

from ..models.registry import LOGITS_LAYER
from .maps import upsample_and_normalize

#: Post-processing of raw maps: ``(cams (N, h, w), size (H, W)) -> float32 (N, H, W) in [0, 1]``.
PostProcess = Callable[[np.ndarray, tuple], np.ndarray]


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, float64-stable."""
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def as_batch(x: np.ndarray) -> tuple[np.ndarray, bool]:
    """``x`` as float32 ``(N, H, W, 3)``, and whether it was one ``(H, W, 3)`` image."""
    x = np.asarray(x, np.float32)
    if x.ndim == 3:
        return x[None], True
    if x.ndim != 4:
        raise ValueError(f"expected (N, H, W, 3) or (H, W, 3) images, got shape {x.shape}")
    return x, False


class Explainer:
    """Class-activation maps for one model. Build once, call many times.

    Args:
        model: a registered model (a flat graph with a ``logits`` layer).
        cam_layer: name of the spatial layer to explain (``get_spec(name).cam_layer``).
        postprocess: raw maps to maps at the input size; default
            :func:`~leukemia_core.explain.maps.upsample_and_normalize`.

    Subclasses set :attr:`method` (the registry name) and :attr:`title` (for people) and implement
    :meth:`raw_maps`.
    """

    method: str = ""
    title: str = ""

    def __init__(self, model, cam_layer: str, postprocess: PostProcess | None = None):
        # lazy: Keras imports TensorFlow (about 4 s here); the app imports this package before any model is loaded
        import keras

        self.cam_layer = cam_layer
        self.layer_channels = int(model.get_layer(cam_layer).output.shape[-1])
        self.size = tuple(int(s) for s in model.inputs[0].shape[1:3])
        self.postprocess = postprocess or upsample_and_normalize
        self._model = model
        self._logits_model = keras.Model(model.inputs, model.get_layer(LOGITS_LAYER).output,
                                         name=f"{model.name}_logits")

    # -- the hook ----------------------------------------------------------------------------
    def raw_maps(self, x: np.ndarray, class_index: int) -> np.ndarray:
        """Unnormalised maps of ``class_index`` for a batch ``x`` (float32 ``(N, H, W, 3)`` in
        [0, 1]); float32 ``(N, h, w)`` at the explained layer's resolution (or any size: the
        post-processing resizes)."""
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------
    def heatmap(self, x: np.ndarray, *, class_index: int) -> np.ndarray:
        """Maps of ``class_index`` (1 explains ALL, 0 explains HEM).

        Args:
            x: float32 ``(N, H, W, 3)`` or ``(H, W, 3)`` in [0, 1], at the model's input size.

        Returns:
            float32 ``(N, H, W)`` (or ``(H, W)``) in [0, 1]; all zeros where a map is flat.
        """
        xb, single = as_batch(x)
        out = self.postprocess(np.asarray(self.raw_maps(xb, int(class_index)), np.float32), self.size)
        return out[0] if single else out

    __call__ = heatmap

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(ALL) (softmax of the logits), float32 ``(N,)``."""
        xb, _ = as_batch(x)
        logits = np.asarray(self._logits_model(xb, training=False), np.float64)
        return softmax(logits)[:, 1].astype(np.float32)

    def predict_and_explain(self, x: np.ndarray, *, class_index: int) -> tuple[np.ndarray, np.ndarray]:
        """P(ALL) and the maps of ``class_index`` for a batch.

        Returns:
            ``(p_all (N,), maps (N, H, W))``, both float32, maps in [0, 1].
        """
        xb, _ = as_batch(x)
        return self.predict(xb), self.heatmap(xb, class_index=class_index)

    def explain_called(self, x: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """P(ALL) and, for each image, the map of the class it is called as at ``threshold``
        (on the model's own P(ALL)): ALL evidence for an ALL call, HEM evidence for a HEM call (a
        second pass only for the images called HEM).

        Returns:
            ``(p_all (N,), maps (N, H, W))``, both float32, maps in [0, 1].
        """
        xb, _ = as_batch(x)
        p, maps = self.predict_and_explain(xb, class_index=1)
        maps = np.array(maps)
        hem = p < threshold
        if hem.any():
            maps[hem] = self.predict_and_explain(xb[hem], class_index=0)[1]
        return p, maps

    def warm(self) -> float:
        """Run one black image through :meth:`predict_and_explain` now (compiling what the method
        compiles); return the seconds. A server calls it ahead of its first user."""
        t0 = time.perf_counter()
        self.predict_and_explain(np.zeros((1, *self.size, 3), np.float32), class_index=1)
        return time.perf_counter() - t0


class VisExplainer(Explainer):
    """A method computed by tf-keras-vis on the logits model (``clone=False``: the derived model
    shares the loaded weights and tf-keras-vis does not modify it)."""

    #: the tf-keras-vis class, ``(module, name)``; imported when the explainer is built
    vis_class: tuple[str, str] = ("", "")

    def __init__(self, model, cam_layer: str, postprocess: PostProcess | None = None):
        super().__init__(model, cam_layer, postprocess)
        module, name = self.vis_class
        self._vis = getattr(importlib.import_module(module), name)(self._logits_model, clone=False)

    def vis_kwargs(self) -> dict:
        """Extra keyword arguments for the tf-keras-vis call (none by default)."""
        return {}

    def raw_maps(self, x: np.ndarray, class_index: int) -> np.ndarray:
        """Maps of ``class_index`` from tf-keras-vis: ``x`` ``float32 (N, S, S, 3)`` in [0, 1] ->
        ``float32 (N, h, w)`` at the CAM layer's resolution, not normalised.
        """
        # lazy: tf-keras-vis imports TensorFlow (about 4 s here)
        from tf_keras_vis.utils.scores import CategoricalScore

        cams = self._vis(CategoricalScore([class_index] * len(x)), x, penultimate_layer=self.cam_layer,
                         seek_penultimate_conv_layer=False, expand_cam=False, normalize_cam=False,
                         **self.vis_kwargs())
        cams = np.asarray(cams, np.float32)
        return cams.reshape(len(x), *cams.shape[-2:])
