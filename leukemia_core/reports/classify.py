"""What the pages need to explain cells: the CAM methods' names and an explainer per loaded model."""

from __future__ import annotations


#: Human names of the CAM methods of :mod:`leukemia_core.explain`.
CAM_METHOD_NAMES = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "scorecam": "Score-CAM"}


def make_explainer(loaded, method: str, scorecam_channels: int = 64):
    """An :class:`~leukemia_core.explain.Explainer` for a loaded model.

    Score-CAM uses at most ``scorecam_channels`` channels (the Explainer caps this at the number
    the explained layer has).
    """
    from ..explain import Explainer

    return Explainer(loaded.model, loaded.cam_layer, method, scorecam_max_n=scorecam_channels)
