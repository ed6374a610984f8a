"""explain.scorecam: Score-CAM's channel cap on small layers; each image explained on its own."""

import numpy as np

from leukemia_core.explain import ScoreCAM, create_explainer


def test_scorecam_default_channels_capped_for_small_layers(tiny, batch):
    ex = create_explainer(tiny, "cam_conv", "scorecam")  # 64 by default; the layer has 16
    assert ex.max_n == 16
    assert ex.heatmap(batch, class_index=1).shape == (3, 32, 32)


def test_a_cells_map_does_not_depend_on_the_other_cells_of_the_call(tiny, samples):
    # tf-keras-vis picks the union of every image's top channels in one call: on these 11 real
    # images, one call for all gives maps up to 0.38 away from each image's own (checked)
    from leukemia_core.data.images import read_image
    from leukemia_core.data.preprocess import prepare, to_unit

    batch = np.stack([to_unit(prepare(read_image(s.path), 32)) for s in samples])
    ex = ScoreCAM(tiny, "cam_conv", max_n=2)
    together = ex.heatmap(batch, class_index=1)
    for i in range(len(batch)):
        alone = ex.heatmap(batch[i], class_index=1)
        np.testing.assert_allclose(together[i], alone, atol=1e-5)
    calls = []
    vis = ex._vis
    ex._vis = lambda score, x, **kw: calls.append(len(x)) or vis(score, x, **kw)
    ex.heatmap(batch, class_index=0)
    assert calls == [1] * len(batch)
