"""models.layers: CaffeInput (ResNet-50's BGR input), CellColourStandardise (each crop's colour in L*a*b*) and
HaematoxylinDensity (the crop's haematoxylin alone)."""

import keras
import pytest
import numpy as np

from leukemia_core.models.layers import CaffeInput


def test_caffe_input_flips_scales_and_centres():
    x = np.random.default_rng(0).uniform(0, 1, (2, 4, 5, 3)).astype(np.float32)
    y = np.asarray(CaffeInput()(x))
    assert y.shape == x.shape and y.dtype == np.float32
    want = x[..., ::-1] * 255.0 - np.array([103.939, 116.779, 123.68], np.float32)
    np.testing.assert_allclose(y, want, rtol=0, atol=1e-4)
    black = np.asarray(CaffeInput()(np.zeros((1, 1, 1, 3), np.float32)))[0, 0, 0]
    np.testing.assert_allclose(black, [-103.939, -116.779, -123.68], atol=1e-4)


def test_caffe_input_survives_saving(tmp_path):
    inp = keras.Input((4, 4, 3))
    model = keras.Model(inp, CaffeInput()(inp))
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")  # registered: no custom_objects needed
    x = np.full((1, 4, 4, 3), 0.5, np.float32)
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), atol=1e-5)


def _cell_on_black(gain=(1.0, 1.0, 1.0), offset=0.0):
    """A 24 px disc of a purple nucleus in a paler cytoplasm on black, with a lab-like colour cast."""
    yy, xx = np.mgrid[:24, :24]
    r = np.hypot(yy - 12, xx - 12)
    img = np.zeros((24, 24, 3), np.float32)
    img[r < 10] = (0.75, 0.65, 0.85)
    img[r < 6] = (0.45, 0.25, 0.60)
    cast = np.clip(img * np.array(gain, np.float32) + offset, 0, 1)
    return np.where(r[..., None] < 10, cast, 0.0).astype(np.float32)


def test_colour_standardise_matches_cie_lab_and_keeps_black():
    from leukemia_core.models.layers import CellColourStandardise

    layer = CellColourStandardise()
    x = _cell_on_black()[None]
    lab = np.asarray(layer._to_lab(x))[0]
    ref = np.array([[[100.0, 0.0, 0.0]]])  # white in L*a*b*
    np.testing.assert_allclose(np.asarray(layer._to_lab(np.ones((1, 1, 1, 3), np.float32)))[0], ref, atol=0.05)
    np.testing.assert_allclose(np.asarray(layer._to_rgb(layer._to_lab(x))), x, atol=1e-4)  # round trip
    out = np.asarray(layer(x))[0]
    inside = x[0].max(-1) > 8 / 255
    assert np.all(out[~inside] == 0)  # the black around a cell stays black
    stats = np.asarray(layer._to_lab(out[None]))[0][inside]
    np.testing.assert_allclose(stats.mean(0), CellColourStandardise.TARGET_MEAN, atol=2.5)
    assert lab[inside].std(0)[0] != pytest.approx(stats.std(0)[0], abs=0.5)  # the spread was set, not kept


def test_colour_standardise_removes_a_labs_colour_cast_but_keeps_the_nucleus():
    from leukemia_core.models.layers import CellColourStandardise

    layer = CellColourStandardise()
    a, b = _cell_on_black()[None], _cell_on_black(gain=(0.85, 1.0, 1.15), offset=0.04)[None]
    before = np.abs(a - b).mean()
    after = np.abs(np.asarray(layer(a)) - np.asarray(layer(b))).mean()
    assert after < before / 2
    out = np.asarray(layer(b))[0]
    assert out[12, 12].sum() < out[12, 3].sum()  # the nucleus stays darker than the cytoplasm


def test_colour_standardise_passes_a_nearly_black_crop_unchanged():
    from leukemia_core.models.layers import CellColourStandardise

    x = np.zeros((1, 16, 16, 3), np.float32)
    x[0, :2, :2] = 0.5  # 4 pixels: too few to standardise
    np.testing.assert_array_equal(np.asarray(CellColourStandardise()(x)), x)


def _stained(h_density: float, e_density: float) -> np.ndarray:
    """The RGB of a pixel holding the given haematoxylin and eosin densities (Beer-Lambert, the
    Ruifrok-Johnston vectors)."""
    s = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11]])
    s /= np.linalg.norm(s, axis=1, keepdims=True)
    return np.exp(-(h_density * s[0] + e_density * s[1])).astype(np.float32)


def test_haematoxylin_density_reads_the_haematoxylin_whatever_the_eosin():
    from leukemia_core.models.layers import HaematoxylinDensity

    layer = HaematoxylinDensity()
    for h in (0.1, 0.6, 1.2):
        px = np.stack([_stained(h, e) for e in (0.0, 0.3, 0.8)])[None]  # (1, 3, 3)
        np.testing.assert_allclose(np.asarray(layer.density(px))[0, :, 0], h, atol=2e-3)


def test_haematoxylin_input_is_standardised_per_crop_and_keeps_black():
    from leukemia_core.models.layers import HaematoxylinDensity

    layer = HaematoxylinDensity(spread=0.15)
    yy, xx = np.mgrid[:24, :24]
    r = np.hypot(yy - 12, xx - 12)
    light = np.where(r[..., None] < 6, _stained(0.5, 0.2), _stained(0.1, 0.4))
    crops = np.stack([np.where(r[..., None] < 10, light, 0.0),  # a cell on black
                      np.where(r[..., None] < 10, np.where(r[..., None] < 6, _stained(1.5, 0.2),
                                                           _stained(0.3, 0.4)), 0.0)]).astype(np.float32)
    y = np.asarray(layer(crops))
    assert y.shape == crops.shape and np.array_equal(y[..., 0], y[..., 2])
    cell = r < 10
    assert not y[:, ~cell].any()  # black stays black
    assert y[0, 12, 12, 0] > 0.5 > y[0, 12, 3, 0] > 0  # nucleus above the crop's mean, cytoplasm below
    np.testing.assert_allclose(y[0], y[1], atol=1e-3)  # three times the stain, the same picture
    np.testing.assert_allclose(y[0, cell, 0].mean(), 0.5, atol=1e-3)
    assert not np.asarray(layer(np.zeros((1, 8, 8, 3), np.float32))).any()


def test_a_model_takes_the_haematoxylin_input_and_refuses_an_unknown_one():
    from leukemia_core.models import create_model

    model = create_model("tiny_cnn", 24, colour="haematoxylin")
    assert any(la.name == "haematoxylin_density" for la in model.layers)
    with pytest.raises(ValueError, match="colour must be one of"):
        create_model("tiny_cnn", 24, colour="sepia")
