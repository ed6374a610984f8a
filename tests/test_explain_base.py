"""explain.base: the Explainer family's shared behaviour (shape, range, no mutation, the class to explain,
one hook, injectable post-processing, maps that follow each class's evidence)."""

import numpy as np
import pytest

from leukemia_core.explain import Explainer, GradCAM, ScoreCAM, create_explainer
from leukemia_core.explain.maps import upsample_and_normalize


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "scorecam"])
def test_heatmap_shape_and_range(tiny, batch, method):
    ex = create_explainer(tiny, "cam_conv", method, **({"max_n": 8} if method == "scorecam" else {}))
    maps = ex.heatmap(batch, class_index=1)
    assert maps.shape == (3, 32, 32) and maps.dtype == np.float32
    assert maps.min() >= 0 and maps.max() <= 1
    single = ex.heatmap(batch[0], class_index=1)
    assert single.shape == (32, 32)
    p, maps2 = ex.predict_and_explain(batch, class_index=1)
    assert p.shape == (3,) and np.all((p >= 0) & (p <= 1)) and maps2.shape == (3, 32, 32)


def test_explainer_does_not_mutate_the_model(tiny, batch):
    before = [w.copy() for w in tiny.get_weights()]
    act = tiny.get_layer("probs").activation
    out_before = tiny(batch).numpy()
    for method in ("gradcam", "gradcam++", "scorecam"):
        create_explainer(tiny, "cam_conv", method, **({"max_n": 4} if method == "scorecam" else {})).predict_and_explain(batch, class_index=1)
    assert tiny.get_layer("probs").activation is act
    for a, b in zip(before, tiny.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(tiny(batch).numpy(), out_before)


def test_maps_explain_the_called_class(tiny, samples_module):
    ex = create_explainer(tiny, "cam_conv", "gradcam")
    x = samples_module[0]
    _, hem_map = ex.predict_and_explain(x, class_index=0)
    _, all_map = ex.predict_and_explain(x, class_index=1)
    _, called_hem = ex.explain_called(x, threshold=1.01)  # every image called HEM
    _, called_all = ex.explain_called(x, threshold=0.0)   # every image called ALL
    np.testing.assert_allclose(called_hem[0], hem_map[0])
    np.testing.assert_allclose(called_all[0], all_map[0])


def _check_class_maps(hem_maps, all_maps, purple, pale):
    for hem, all_, pu, pa in zip(hem_maps, all_maps, purple, pale):
        for m in (hem, all_):
            assert m.shape == (32, 32)
            assert m.std() > 0.1, "flat map"
            assert m.max() == pytest.approx(1.0, abs=1e-5)  # normalised, not all zeros
        assert np.abs(hem - all_).mean() > 0.15, "the map does not depend on the explained class"
        assert np.corrcoef(hem.ravel(), all_.ravel())[0, 1] < 0.9
        # the ALL map leans to the purple regions, the HEM map to the pale background
        assert (all_[pu].mean() - all_[pa].mean()) - (hem[pu].mean() - hem[pa].mean()) > 0.35
        # each map on its own evidence
        assert all_[pu].mean() > all_[pa].mean() + 0.3
        assert hem[pa].mean() > hem[pu].mean() + 0.3


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "scorecam"])
def test_every_method_explains_each_class_on_its_own_evidence(two_evidence, aria_fields, method):
    x, purple, pale = aria_fields
    ex = create_explainer(two_evidence, "cam_conv", method)
    _check_class_maps(ex.heatmap(x, class_index=0), ex.heatmap(x, class_index=1), purple, pale)
    # the path the app and the CLI use gives the same maps, and the model's own P(ALL)
    p_hem, hem_maps = ex.predict_and_explain(x, class_index=0)
    p_all, all_maps = ex.predict_and_explain(x, class_index=1)
    _check_class_maps(hem_maps, all_maps, purple, pale)
    expected_p = two_evidence(x).numpy()[:, 1]
    np.testing.assert_allclose(p_all, expected_p, atol=1e-5)
    np.testing.assert_allclose(p_hem, expected_p, atol=1e-5)
    # single image, as the app calls it
    _, one = ex.predict_and_explain(x[1], class_index=1)
    np.testing.assert_allclose(one[0], all_maps[1], atol=1e-4)


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "scorecam"])
def test_explain_called_picks_the_called_class_map(two_evidence, aria_fields, method):
    x, _, _ = aria_fields
    ex = create_explainer(two_evidence, "cam_conv", method)
    p = two_evidence(x).numpy()[:, 1]
    threshold = float(p.mean())  # one field called ALL, the other HEM
    called_all = p >= threshold
    assert called_all.tolist() in ([True, False], [False, True])
    got_p, maps = ex.explain_called(x, threshold)
    np.testing.assert_allclose(got_p, p, atol=1e-5)
    _, hem_maps = ex.predict_and_explain(x, class_index=0)
    _, all_maps = ex.predict_and_explain(x, class_index=1)
    for i in range(2):
        expected = all_maps[i] if called_all[i] else hem_maps[i]
        other = hem_maps[i] if called_all[i] else all_maps[i]
        np.testing.assert_allclose(maps[i], expected, atol=1e-5)
        assert np.abs(maps[i] - other).mean() > 0.15


def test_the_class_to_explain_is_an_explicit_argument(tiny, batch):
    ex = create_explainer(tiny, "cam_conv", "gradcam")
    with pytest.raises(TypeError):
        ex.heatmap(batch)
    with pytest.raises(TypeError):
        ex.predict_and_explain(batch)


def test_base_class_has_one_hook(tiny, batch):
    with pytest.raises(NotImplementedError):
        Explainer(tiny, "cam_conv").heatmap(batch, class_index=1)


def test_postprocessing_is_injectable_and_shared(tiny, batch):
    seen = []

    def keep_raw(cams, size):
        seen.append((cams.shape, size))
        return cams

    ex = GradCAM(tiny, "cam_conv", postprocess=keep_raw)
    raw = ex.heatmap(batch, class_index=1)
    layer_hw = tuple(tiny.get_layer("cam_conv").output.shape[1:3])
    assert raw.shape == (3, *layer_hw) and seen[0] == ((3, *layer_hw), (32, 32))
    # the compiled path hands its raw maps to the same post-processing
    _, fast = ex.predict_and_explain(batch, class_index=1)
    assert fast.shape == (3, *layer_hw) and len(seen) == 2
    np.testing.assert_allclose(upsample_and_normalize(raw, (32, 32)), GradCAM(tiny, "cam_conv").heatmap(
        batch, class_index=1), atol=1e-6)


def test_wrong_input_shapes_are_refused(tiny):
    ex = ScoreCAM(tiny, "cam_conv", max_n=4)
    with pytest.raises(ValueError, match="N, H, W, 3"):
        ex.heatmap(np.zeros((32, 32), np.float32), class_index=1)
