"""data.augment: colour jitter, resolution loss and the augmenter (identity at inference, seeded, in range)."""

import numpy as np

from leukemia_core.data.augment import AugmentConfig, ColourJitter, ResolutionLoss, StainJitter, make_augmenter

NO_COLOUR = dict(hue=0, saturation=0, brightness=0, contrast=0, channel_gain=0, grayscale=0)
NO_STAIN = dict(stain_scale=0, stain_shift=0)


def _cells_on_black(n=4, size=16, seed=0):
    """Float32 (n, size, size, 3) in [0, 1]: random colours in the middle, an exact-black frame."""
    x = np.random.default_rng(seed).uniform(0.1, 1.0, (n, size, size, 3)).astype(np.float32)
    x[:, :4] = 0
    x[:, :, :4] = 0
    return x


def test_colour_jitter_is_identity_at_inference():
    x = _cells_on_black()
    layer = ColourJitter(seed=3)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)  # no training flag: inference


def test_colour_jitter_in_training_changes_colours_within_range():
    x = _cells_on_black(8)
    out = np.asarray(ColourJitter(seed=3)(x, training=True))
    assert out.shape == x.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    cell = x.max(axis=-1) > 0
    # every image's cell pixels move (mean change well above rounding), not only a few images
    change = np.array([np.abs(o[c] - i[c]).mean() for o, i, c in zip(out, x, cell)])
    assert (change > 0.01).all(), change
    # a second call draws new parameters; a new layer with the same seed repeats the first call
    again = np.asarray(ColourJitter(seed=3)(x, training=True))
    np.testing.assert_allclose(again, out, atol=1e-6)
    assert np.abs(np.asarray(ColourJitter(seed=4)(x, training=True)) - out).mean() > 0.01


def test_colour_jitter_keeps_black_pixels_black():
    x = _cells_on_black(8)
    x[:, 8, 8] = 0.02  # near-black (below the 0.03 cell level) counts as background too
    # strong brightness and contrast would lift the background if it were not masked
    out = np.asarray(ColourJitter(brightness=0.5, contrast=0.5, seed=1)(x, training=True))
    assert (out[:, :4] == 0).all() and (out[:, :, :4] == 0).all()
    assert (out[:, 8, 8] == 0).all()
    assert (out[:, 4:, 4:].max(axis=-1) > 0).mean() > 0.9  # while the cell keeps its pixels


def test_colour_jitter_without_jitter_only_rounds():
    x = _cells_on_black()
    out = np.asarray(ColourJitter(**NO_COLOUR, seed=0)(x, training=True))
    np.testing.assert_allclose(out, x, atol=3e-3)  # YIQ there and back: within rounding


def test_grayscale_jitter_removes_colour():
    x = _cells_on_black(8)
    out = np.asarray(ColourJitter(grayscale=1.0, seed=2)(x, training=True))
    np.testing.assert_allclose(out[..., 0], out[..., 1], atol=1e-6)
    np.testing.assert_allclose(out[..., 1], out[..., 2], atol=1e-6)
    assert out[:, 4:, 4:].std() > 0.05  # grey, but not flat
    # grayscale=0 keeps colour: channels differ
    kept = np.asarray(ColourJitter(grayscale=0.0, seed=2)(x, training=True))
    assert np.abs(kept[..., 0] - kept[..., 1]).mean() > 0.05


def test_resolution_loss_softens_only_in_training():
    x = _cells_on_black(8, 24)
    layer = ResolutionLoss(rate=1.0, seed=0)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    np.testing.assert_array_equal(np.asarray(ResolutionLoss(rate=0.0, seed=0)(x, training=True)), x)
    out = np.asarray(layer(x, training=True))
    assert out.shape == x.shape
    assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6
    # every image is shrunk and enlarged or blurred: less pixel-to-pixel detail than its input
    detail = lambda a: np.abs(np.diff(a[:, 4:, 4:], axis=2)).mean(axis=(1, 2, 3))  # noqa: E731
    assert (detail(out) < 0.8 * detail(x)).all(), (detail(out), detail(x))


def test_augmenter_is_identity_at_inference_and_seeded():
    x = _cells_on_black(2, 32)
    aug = make_augmenter(AugmentConfig(), seed=0)
    assert [layer.name for layer in aug.layers][-2:] == ["colour_jitter", "resolution_loss"]
    np.testing.assert_array_equal(np.asarray(aug(x, training=False)), x)
    out = np.asarray(aug(x, training=True))
    assert out.shape == (2, 32, 32, 3)
    assert out.min() >= 0 and out.max() <= 1 + 1e-6
    np.testing.assert_allclose(np.asarray(make_augmenter(AugmentConfig(), seed=0)(x, training=True)), out, atol=1e-5)


def test_geometric_augmentation_changes_images_but_not_range():
    rng = np.random.default_rng(7)
    x = rng.uniform(0.05, 1.0, (2, 32, 32, 3)).astype(np.float32)
    # geometry alone (colour jitter and resolution loss off) moves every image, compared with its input ...
    geo = np.asarray(make_augmenter(AugmentConfig(resolution_loss=0, **NO_COLOUR, **NO_STAIN), seed=0)(x, training=True))
    assert geo.min() >= 0 and geo.max() <= 1
    moved = np.abs(geo - x).mean(axis=(1, 2, 3))
    assert (moved > 0.05).all(), moved
    # ... and flips alone only mirror: each output is one of the four mirror images of its input
    # (to within the colour layer's YIQ round trip)
    flips = make_augmenter(AugmentConfig(rotation=0, zoom=0, shear=0, resolution_loss=0, **NO_COLOUR, **NO_STAIN), seed=1)
    seen = set()
    for _ in range(6):
        got = np.asarray(flips(x, training=True))
        for g, a in zip(got, x):
            mirrors = (a, a[::-1], a[:, ::-1], a[::-1, ::-1])
            errs = [np.abs(g - m).max() for m in mirrors]
            assert min(errs) < 3e-3, errs
            seen.add(int(np.argmin(errs)))
    assert len(seen) >= 2  # the flips are random, not a fixed mirror


def test_stain_jitter_round_trips_without_perturbation():
    x = _cells_on_black(seed=5)
    out = np.asarray(StainJitter(scale=0.0, shift=1e-9, seed=0)(x, training=True))
    cell = x.max(axis=-1) > 0.03
    # exact inverse up to the 1/255 floor of the optical density
    assert np.allclose(out[cell], np.maximum(x[cell], 1 / 255), atol=1e-4)


def test_stain_jitter_moves_stain_not_background():
    x = _cells_on_black(seed=6)
    layer = StainJitter(scale=0.3, shift=0.1, seed=2)
    assert np.array_equal(np.asarray(layer(x, training=False)), x)
    out = np.asarray(layer(x, training=True))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    black = x.max(axis=-1) <= 0.03
    assert np.all(out[black] == 0)
    cell = ~black
    assert np.abs(out[cell] - x[cell]).mean() > 0.01
    # a vanishing change of stain leaves the colours as they are
    darker = np.asarray(StainJitter(scale=1e-9, shift=0.0, seed=0)(x, training=True))
    assert np.allclose(darker[cell], np.maximum(x[cell], 1 / 255), atol=1e-4)


def test_augmenter_has_a_stain_step():
    names = [layer.name for layer in make_augmenter(AugmentConfig(), seed=0).layers]
    assert "stain_jitter" in names
    assert "stain_jitter" not in [layer.name for layer in
                                  make_augmenter(AugmentConfig(stain_scale=0, stain_shift=0), seed=0).layers]


def test_the_stain_ablation_drops_only_the_stain_step():
    cfg = AugmentConfig()
    assert cfg.with_stain(True) is cfg
    off = cfg.with_stain(False)
    assert (off.stain_scale, off.stain_shift) == (0.0, 0.0) and off.hue == cfg.hue and off.rotation == cfg.rotation
    names = [layer.name for layer in make_augmenter(off, seed=0).layers]
    assert "stain_jitter" not in names and "colour_jitter" in names
