"""Class-activation maps: a small class family, one module per method, and overlays.

* :mod:`.base`: :class:`Explainer`, the base (one hook, ``raw_maps``; shared upsampling,
  normalisation, P(ALL), the called class's map);
* :mod:`.gradcam`: Grad-CAM (with a compiled one-pass path) and Grad-CAM++;
* :mod:`.scorecam`: Score-CAM;
* :mod:`.maps`: operations on maps (normalise, resize, place on an image, energy inside a mask);
* :mod:`.overlay`: drawing a map over an image.

Example::

    loaded = load_model("proposed")
    ex = create_explainer(loaded.model, loaded.cam_layer, "gradcam")
    p_all, maps = ex.predict_and_explain(x, class_index=1)   # x: float32 (N, S, S, 3) in [0, 1]
    picture = overlay(image_uint8, maps[0], alpha=0.4)
"""

from __future__ import annotations

from ..models.registry import BUILD_LOCK
from .base import Explainer
from .gradcam import GradCAM, GradCAMPlusPlus
from .scorecam import ScoreCAM

#: The methods by registry name.
EXPLAINERS: dict[str, type[Explainer]] = {cls.method: cls for cls in (GradCAM, GradCAMPlusPlus, ScoreCAM)}
#: Registry names, in the order the app offers them.
METHODS = tuple(EXPLAINERS)


def create_explainer(model, cam_layer: str, method: str = "gradcam", **kwargs) -> Explainer:
    """The explainer of ``method`` for ``model`` (keyword arguments go to its class, e.g.
    ``max_n`` for Score-CAM). Raises ValueError naming the methods for an unknown one."""
    if method not in EXPLAINERS:
        raise ValueError(f"unknown CAM method {method!r}; choose one of {', '.join(METHODS)}")
    with BUILD_LOCK:  # an explainer builds derived Keras models (see BUILD_LOCK)
        return EXPLAINERS[method](model, cam_layer, **kwargs)


def method_title(method: str) -> str:
    """``"gradcam"`` -> ``"Grad-CAM"``."""
    return EXPLAINERS[method].title
