"""explain.scorecam: Score-CAM's channel cap on small layers."""


from leukemia_core.explain import create_explainer


def test_scorecam_default_channels_capped_for_small_layers(tiny, batch):
    ex = create_explainer(tiny, "cam_conv", "scorecam")  # 64 by default; the layer has 16
    assert ex.max_n == 16
    assert ex.heatmap(batch, class_index=1).shape == (3, 32, 32)
