"""Score-CAM (Wang et al., CVPR-W 2020) on the ``max_n`` most active channels (Faster Score-CAM)."""

from __future__ import annotations

import numpy as np

from .base import PostProcess, VisExplainer


class ScoreCAM(VisExplainer):
    """Score-CAM: each channel, upsampled, masks the input; the class score of the masked input
    weights the channel. Gradient-free, one forward pass per channel and image.

    Args:
        max_n: channels used (the most active ones); capped at the explained layer's channels.
            64, the default, is what the app shows.

    Each image is explained on its own: tf-keras-vis picks the union of the top channels of every
    image of a call, so a cell's map would otherwise depend on the other cells of its field (and a
    field of N cells would mask every cell with up to N x ``max_n`` channels).

    It is given the logits model like the others: tf-keras-vis takes the softmax of the scores
    itself (given probabilities it would apply softmax twice and squeeze every weight into
    [0.27, 0.73]).
    """

    method, title = "scorecam", "Score-CAM"
    vis_class = ("tf_keras_vis.scorecam", "Scorecam")

    def __init__(self, model, cam_layer: str, postprocess: PostProcess | None = None, max_n: int = 64):
        super().__init__(model, cam_layer, postprocess)
        self.max_n = min(int(max_n), self.layer_channels)

    def vis_kwargs(self) -> dict:
        """``max_N``: how many of the layer's channels Score-CAM scores."""
        return {"max_N": self.max_n}

    def raw_maps(self, x: np.ndarray, class_index: int) -> np.ndarray:
        """One tf-keras-vis call per image (see the class): float32 ``(N, h, w)``."""
        one_call = super().raw_maps  # bound here: a comprehension has no zero-argument super()
        if len(x) <= 1:
            return one_call(x, class_index)
        return np.concatenate([one_call(x[i:i + 1], class_index) for i in range(len(x))])
