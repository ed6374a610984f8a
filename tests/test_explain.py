"""CAMs: shape, range, zero-safety, agreement with tf-keras-vis, no mutation; overlays."""

import numpy as np
import pytest

from leukemia_core.explain import EXPLAINERS, Explainer, GradCAM, ScoreCAM, create_explainer
from leukemia_core.explain.maps import energy_inside, normalize_heatmap, upsample_and_normalize
from leukemia_core.explain.overlay import overlay
from leukemia_core.models import create_model


@pytest.fixture(scope="module")
def tiny():
    import keras
    keras.utils.set_random_seed(0)
    return create_model("tiny_cnn", 32)


@pytest.fixture(scope="module")
def batch(samples_module):
    return samples_module


@pytest.fixture(scope="module")
def samples_module():
    from leukemia_core.data.images import read_image
    from leukemia_core.data.preprocess import prepare, to_unit
    from leukemia_core.samples import list_samples
    return np.stack([to_unit(prepare(read_image(s.path), 32)) for s in list_samples()[:3]])


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


def test_unknown_method(tiny):
    with pytest.raises(ValueError, match="gradcam"):
        create_explainer(tiny, "cam_conv", "lime")


def test_normalize_is_safe_on_flat_maps():
    assert np.all(normalize_heatmap(np.zeros((5, 5))) == 0)
    assert np.all(normalize_heatmap(np.full((2, 5, 5), 3.0)) == 0)
    n = normalize_heatmap(np.array([[1.0, 3.0], [2.0, np.nan]]))
    assert n.max() == 1.0 and n.min() == 0.0


def test_overlay_colours_and_range():
    img = np.zeros((10, 12, 3), np.uint8)
    hot = np.ones((5, 6), np.float32)
    out = overlay(img, hot, alpha=1.0, colormap="jet")
    assert out.shape == (10, 12, 3) and out.dtype == np.uint8
    # jet at 1.0 is red: channel order must be RGB, not OpenCV's BGR
    assert out[0, 0, 0] > 100 and out[0, 0, 2] < 50
    assert np.array_equal(overlay(img, hot, alpha=0.0), img)
    np.testing.assert_array_equal(overlay(img.astype(np.float32) / 255, hot, 0.0), img)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        overlay(img.astype(np.float32) * 2 + 5, hot)
    with pytest.raises(ValueError, match="colormap"):
        overlay(img, hot, colormap="rainbow-unicorn")


def test_energy_inside_mask():
    h = np.zeros((4, 4))
    h[:2] = 1.0
    mask = np.zeros((4, 4), bool)
    mask[0] = True
    assert energy_inside(h, mask) == pytest.approx(0.5)
    assert energy_inside(np.zeros((4, 4)), mask) is None


def test_scorecam_default_channels_capped_for_small_layers(tiny, batch):
    ex = create_explainer(tiny, "cam_conv", "scorecam")  # 64 by default; the layer has 16
    assert ex.max_n == 16
    assert ex.heatmap(batch, class_index=1).shape == (3, 32, 32)


def test_heatmap_maps_back_onto_non_square_images():
    from leukemia_core.explain.maps import heatmap_on_image
    cam = np.zeros((32, 32), np.float32)
    cam[:, 16:] = 1.0  # right half hot on the padded square
    out = heatmap_on_image(cam, (20, 40))  # a wide image: padding above and below
    assert out.shape == (20, 40)
    assert out[:, :18].max() < 0.1 and out[:, 22:].min() > 0.9


def test_maps_explain_the_called_class(tiny, samples_module):
    ex = create_explainer(tiny, "cam_conv", "gradcam")
    x = samples_module[0]
    _, hem_map = ex.predict_and_explain(x, class_index=0)
    _, all_map = ex.predict_and_explain(x, class_index=1)
    _, called_hem = ex.explain_called(x, threshold=1.01)  # every image called HEM
    _, called_all = ex.explain_called(x, threshold=0.0)   # every image called ALL
    np.testing.assert_allclose(called_hem[0], hem_map[0])
    np.testing.assert_allclose(called_all[0], all_map[0])


# ---------------------------------------------------------------------------------------------
# Maps that carry information: a tiny model whose two classes rest on different evidence.


@pytest.fixture(scope="module")
def two_evidence():
    """tiny_cnn with set weights: purple pixels (blue well above green: stained nuclei) are
    evidence for ALL, pale pixels (bright green: the field's background) evidence for HEM.

    Every method must then explain ALL on the purple regions and HEM on the pale ones.
    """
    model = create_model("tiny_cnn", 32)
    k1, b1 = np.zeros((3, 3, 3, 8), np.float32), np.zeros(8, np.float32)
    k1[1, 1, 2, 0], k1[1, 1, 1, 0], b1[0] = 1.0, -1.0, -0.25   # relu(B - G - 0.25): purple
    k1[1, 1, 1, 1], b1[1] = 1.0, -0.8                         # relu(G - 0.8): pale
    k2, b2 = np.zeros((3, 3, 8, 16), np.float32), np.zeros(16, np.float32)
    k2[1, 1, 0, 0] = 1.0  # cam_conv channel 0: purple
    k2[1, 1, 1, 1] = 1.0  # cam_conv channel 1: pale
    w = np.zeros((16, 2), np.float32)
    w[0] = (-100.0, 100.0)  # purple -> ALL
    w[1] = (100.0, -100.0)  # pale -> HEM
    model.get_layer("conv1").set_weights([k1, b1])
    model.get_layer("cam_conv").set_weights([k2, b2])
    model.get_layer("logits").set_weights([w, np.zeros(2, np.float32)])
    return model


@pytest.fixture(scope="module")
def aria_fields():
    """Two real Aria fields (one ALL, one HEM) as 32 px model inputs, with their purple and pale masks."""
    from leukemia_core.data.images import read_image
    from leukemia_core.data.preprocess import prepare, to_unit
    from leukemia_core.samples import SAMPLES_DIR
    x = np.stack([to_unit(prepare(read_image(SAMPLES_DIR / p), 32))
                  for p in ("all/WBC-Malignant-Early-800.jpg", "hem/WBC-Benign-400.jpg")])
    purple = x[..., 2] - x[..., 1] > 0.3
    pale = x[..., 1] > 0.85
    assert purple.sum(axis=(1, 2)).min() >= 20 and pale.sum(axis=(1, 2)).min() >= 300  # both kinds present
    return x, purple, pale


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


def test_fast_gradcam_matches_tf_keras_vis_for_both_classes(two_evidence, aria_fields):
    x, _, _ = aria_fields
    ex = create_explainer(two_evidence, "cam_conv", "gradcam")
    for c in (0, 1):
        ref = ex.heatmap(x, class_index=c)
        _, fast = ex.predict_and_explain(x, class_index=c)
        for a, b in zip(ref, fast):
            assert a.std() > 0.1
            assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


# ---------------------------------------------------------------------------------------------
# The class family


def test_registry_names_each_method_once_and_titles_it():
    from leukemia_core.explain import METHODS, method_title
    assert METHODS == ("gradcam", "gradcam++", "scorecam")
    assert [EXPLAINERS[m].method for m in METHODS] == list(METHODS)
    assert [method_title(m) for m in METHODS] == ["Grad-CAM", "Grad-CAM++", "Score-CAM"]
    assert all(issubclass(c, Explainer) for c in EXPLAINERS.values())


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


def test_upsample_and_normalize_shapes():
    cams = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    out = upsample_and_normalize(cams, (12, 9))
    assert out.shape == (2, 12, 9) and out.dtype == np.float32 and out.min() == 0 and out.max() == 1
    assert upsample_and_normalize(np.zeros((0, 3, 3)), (8, 8)).shape == (0, 8, 8)
    with pytest.raises(ValueError, match="N, h, w"):
        upsample_and_normalize(np.zeros((3, 3)), (8, 8))


def test_wrong_input_shapes_are_refused(tiny):
    ex = ScoreCAM(tiny, "cam_conv", max_n=4)
    with pytest.raises(ValueError, match="N, H, W, 3"):
        ex.heatmap(np.zeros((32, 32), np.float32), class_index=1)
