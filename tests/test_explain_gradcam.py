"""explain.gradcam: the compiled one-pass Grad-CAM agrees with tf-keras-vis (tiny and proposed models, both
classes)."""

import numpy as np
import pytest

from leukemia_core.explain import create_explainer
from leukemia_core.models import create_model


def test_fast_gradcam_matches_tf_keras_vis(tiny, batch):
    ex = create_explainer(tiny, "cam_conv", "gradcam")
    reference = ex.heatmap(batch, class_index=1)
    p, fast = ex.predict_and_explain(batch, class_index=1)
    np.testing.assert_allclose(p, tiny(batch).numpy()[:, 1], rtol=1e-5, atol=1e-6)
    for a, b in zip(reference, fast):
        if a.max() == 0:
            assert b.max() == 0
        else:
            assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


@pytest.mark.slow
def test_fast_gradcam_matches_on_the_proposed_model(batch):
    import cv2
    m = create_model("proposed", 64)
    x = np.stack([cv2.resize(b, (64, 64)) for b in batch])
    ex = create_explainer(m, "attention_map", "gradcam")
    ref, (_, fast) = ex.heatmap(x, class_index=1), ex.predict_and_explain(x, class_index=1)
    for a, b in zip(ref, fast):
        if a.max() > 0:
            assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


def test_fast_gradcam_matches_tf_keras_vis_for_both_classes(two_evidence, aria_fields):
    x, _, _ = aria_fields
    ex = create_explainer(two_evidence, "cam_conv", "gradcam")
    for c in (0, 1):
        ref = ex.heatmap(x, class_index=c)
        _, fast = ex.predict_and_explain(x, class_index=c)
        for a, b in zip(ref, fast):
            assert a.std() > 0.1
            assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99
