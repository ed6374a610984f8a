"""Score-CAM (Wang et al., CVPR-W 2020) on the ``max_n`` most active channels (Faster Score-CAM)."""

from __future__ import annotations

from .base import PostProcess, VisExplainer


class ScoreCAM(VisExplainer):
    """Score-CAM: each channel, upsampled, masks the input; the class score of the masked input
    weights the channel. Gradient-free, one forward pass per channel and image.

    Args:
        max_n: channels used (the most active ones); capped at the explained layer's channels.
            64, the default, is what the app shows.

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
