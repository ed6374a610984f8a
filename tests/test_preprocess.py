"""Preprocessing, augmentation and the input pipeline."""

import numpy as np
import pytest

from leukemia_core.data.augment import AugmentConfig, ColourJitter, ResolutionLoss, make_augmenter
from leukemia_core.data.images import read_image
from leukemia_core.data.pipeline import balanced_batches, predict_array, sample_weights
from leukemia_core.data.preprocess import denoise, pad_to_square, prepare, to_unit


def test_prepare_is_pad_then_denoise_then_resize(samples):
    import cv2
    for s in samples[:4]:
        rgb = read_image(s.path)
        x = prepare(rgb, 96)
        assert x.shape == (96, 96, 3) and x.dtype == np.uint8
        np.testing.assert_array_equal(x, cv2.resize(denoise(rgb), (96, 96), interpolation=cv2.INTER_AREA))
        raw = prepare(rgb, 96, noise_reduction=False)
        np.testing.assert_array_equal(raw, cv2.resize(rgb, (96, 96), interpolation=cv2.INTER_AREA))
        assert not np.array_equal(x, raw)  # the filter did something
        u = to_unit(x)
        assert u.dtype == np.float32
        np.testing.assert_array_equal(u, x.astype(np.float32) / 255)
    # a non-square crop is padded first; a smaller image is enlarged with cubic interpolation
    crop = read_image(samples[0].path)[:300, 40:]
    np.testing.assert_array_equal(prepare(crop, 96), cv2.resize(denoise(pad_to_square(crop)), (96, 96),
                                                                 interpolation=cv2.INTER_AREA))
    small = read_image(samples[3].path)  # 224 px Aria field
    assert small.shape[:2] == (224, 224)
    np.testing.assert_array_equal(prepare(small, 256), cv2.resize(denoise(small), (256, 256),
                                                                  interpolation=cv2.INTER_CUBIC))
    np.testing.assert_array_equal(prepare(small, 224), denoise(small))


def test_prepare_rejects_non_rgb():
    with pytest.raises(ValueError):
        prepare(np.zeros((10, 10), np.uint8), 8)


def test_pad_to_square_keeps_aspect_and_centres():
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :] = (10, 20, 30)
    img[5:15, 15:25] = 255
    out = pad_to_square(img)
    assert out.shape == (40, 40, 3)
    assert tuple(out[0, 0]) == (10, 20, 30)  # filled with the border colour
    assert out[20, 20].tolist() == [255, 255, 255]


def test_denoise_reduces_noise_but_keeps_edges():
    rng = np.random.default_rng(0)
    clean = np.zeros((64, 64, 3), np.uint8)
    clean[:, 32:] = 200
    noisy = np.clip(clean + rng.normal(0, 8, clean.shape), 0, 255).astype(np.uint8)
    out = denoise(noisy)
    flat_before = noisy[:, :28].astype(float).std()
    flat_after = out[:, :28].astype(float).std()
    assert flat_after < flat_before * 0.7
    edge_after = out[:, 34].astype(float).mean() - out[:, 29].astype(float).mean()
    assert edge_after > 180  # the step edge survives


def test_huge_images_are_bounded(tmp_path):
    big = np.random.default_rng(0).integers(0, 255, (3000, 2000, 3), dtype=np.uint8)
    assert prepare(big, 64).shape == (64, 64, 3)


NO_COLOUR = dict(hue=0, saturation=0, brightness=0, contrast=0, channel_gain=0, grayscale=0)


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
    geo = np.asarray(make_augmenter(AugmentConfig(resolution_loss=0, **NO_COLOUR), seed=0)(x, training=True))
    assert geo.min() >= 0 and geo.max() <= 1
    moved = np.abs(geo - x).mean(axis=(1, 2, 3))
    assert (moved > 0.05).all(), moved
    # ... and flips alone only mirror: each output is one of the four mirror images of its input
    # (to within the colour layer's YIQ round trip)
    flips = make_augmenter(AugmentConfig(rotation=0, zoom=0, shear=0, resolution_loss=0, **NO_COLOUR), seed=1)
    seen = set()
    for _ in range(6):
        got = np.asarray(flips(x, training=True))
        for g, a in zip(got, x):
            mirrors = (a, a[::-1], a[:, ::-1], a[::-1, ::-1])
            errs = [np.abs(g - m).max() for m in mirrors]
            assert min(errs) < 3e-3, errs
            seen.add(int(np.argmin(errs)))
    assert len(seen) >= 2  # the flips are random, not a fixed mirror


def test_sample_weights_share_datasets_then_balance_classes():
    # aria: 3 HEM + 1 ALL; cnmc: 1 HEM + 4 ALL; folder: 2 ALL only (interleaved on purpose)
    ds = ["aria", "cnmc", "aria", "cnmc", "folder", "aria", "cnmc", "cnmc", "aria", "cnmc", "folder"]
    y = np.array([0, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1])
    w = sample_weights(y, ds)
    # equal shares (1/3 each); inside a dataset each present class gets half (all of it when alone)
    a_hem, a_all = 1 / 3 / 2 / 3, 1 / 3 / 2 / 1
    c_hem, c_all = 1 / 3 / 2 / 1, 1 / 3 / 2 / 4
    f_all = 1 / 3 / 1 / 2
    expected = [a_hem, c_all, a_hem, c_hem, f_all, a_hem, c_all, c_all, a_all, c_all, f_all]
    np.testing.assert_allclose(w, expected, rtol=1e-12)
    assert w.sum() == pytest.approx(1.0)
    # given shares (a missing name counts 1): aria 3, cnmc 1, folder 1 -> 3/5, 1/5, 1/5
    w = sample_weights(y, ds, {"aria": 3.0, "cnmc": 1.0})
    expected = np.array([0.6 / 6, 0.2 / 8, 0.6 / 6, 0.2 / 2, 0.2 / 2, 0.6 / 6, 0.2 / 8, 0.2 / 8, 0.6 / 2,
                         0.2 / 8, 0.2 / 2])
    np.testing.assert_allclose(w, expected, rtol=1e-12)
    # one dataset, 3 HEM and 1 ALL: HEM images 1/6 each, the ALL image 1/2
    np.testing.assert_allclose(sample_weights(np.array([0, 0, 0, 1]), ["x"] * 4), [1 / 6, 1 / 6, 1 / 6, 1 / 2])


def _indexed(n=12, size=8):
    """uint8 images whose every pixel holds the image's own index (so a batch tells what was drawn)."""
    return np.repeat(np.arange(n, dtype=np.uint8), size * size * 3).reshape(n, size, size, 3)


def test_balanced_batches_shapes_labels_and_determinism():
    x = _indexed()
    y = np.array([0, 1] * 6, np.int32)
    w = sample_weights(y, ["d"] * 12)
    seq = balanced_batches(x, y, w, batch_size=5, steps=7, seed=3)
    assert len(seq) == 7
    xb, yb = seq[0]
    assert xb.shape == (5, 8, 8, 3) and xb.dtype == np.float32
    assert yb.shape == (5, 2) and yb.dtype == np.float32
    idx = np.rint(xb[:, 0, 0, 0] * 255).astype(int)
    np.testing.assert_array_equal(xb, x[idx].astype(np.float32) / 255)  # scaled to [0, 1]
    np.testing.assert_array_equal(yb, np.eye(2)[y[idx]])  # one-hot of each drawn image's label
    # batch i of epoch e depends only on (seed, e, i)
    again = balanced_batches(x, y, w, batch_size=5, steps=7, seed=3)
    for i in (0, 4):
        np.testing.assert_array_equal(again[i][0], seq[i][0])
        np.testing.assert_array_equal(seq[i][0], seq[i][0])
    draws = lambda s, i: np.rint(s[i][0][:, 0, 0, 0] * 255).astype(int).tolist()  # noqa: E731
    assert draws(seq, 1) != draws(seq, 2)
    assert draws(balanced_batches(x, y, w, 5, 7, seed=4), 0) != draws(seq, 0)
    first = draws(seq, 0)
    seq.on_epoch_end()
    assert draws(seq, 0) != first  # a new epoch draws new batches
    again.on_epoch_end()
    assert draws(again, 0) == draws(seq, 0)


def test_balanced_batches_follow_the_weights():
    x = _indexed(6, 2)
    y = np.array([0, 0, 0, 0, 1, 1], np.int32)
    w = np.array([0.1, 0.1, 0.1, 0.2, 0.5, 0.0])  # the last image must never be drawn
    seq = balanced_batches(x, y, w, batch_size=64, steps=100, seed=0)
    idx = np.concatenate([np.rint(seq[i][0][:, 0, 0, 0] * 255).astype(int) for i in range(len(seq))])
    freq = np.bincount(idx, minlength=6) / len(idx)
    assert freq[5] == 0
    np.testing.assert_allclose(freq, w, atol=0.015)  # 6,400 draws: standard error <= 0.0063
    labels = np.concatenate([seq[i][1][:, 1] for i in range(len(seq))])
    assert labels.mean() == pytest.approx(0.5, abs=0.02)  # ALL drawn half the time, though 2 of 6


def test_predict_array_batches_and_scales():
    calls = []

    def model(xb, training=None):  # P(ALL) = the batch's mean pixel, per image
        calls.append((len(xb), training, xb.dtype))
        m = xb.mean(axis=(1, 2, 3))
        return np.stack([1 - m, m], axis=1)

    x = np.random.default_rng(0).integers(0, 256, (7, 4, 4, 3), dtype=np.uint8)
    p = predict_array(model, x, batch_size=3)
    assert p.shape == (7,) and p.dtype == np.float64
    np.testing.assert_allclose(p, (x.astype(np.float64) / 255).mean(axis=(1, 2, 3)), rtol=1e-6)
    assert calls == [(3, False, np.float32), (3, False, np.float32), (1, False, np.float32)]
    assert predict_array(model, np.zeros((0, 4, 4, 3), np.uint8)).shape == (0,)


def test_pad_to_square_fill_is_the_median_of_the_four_edges():
    img = np.random.default_rng(1).integers(0, 256, (5, 8, 3)).astype(np.uint8)
    out = pad_to_square(img)
    # median over rows 0 and 4 and columns 0 and 7 (26 pixels), per channel
    assert out.shape == (8, 8, 3) and out[0, 0].tolist() == [127, 131, 139] and out[-1, -1].tolist() == [127, 131, 139]
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    assert out[0, 0].tolist() == np.median(border, axis=0).astype(np.uint8).tolist()
    # centred: 3 spare rows, 1 above and 2 below
    assert (out[1:6] == img).all()
    tall = pad_to_square(np.ascontiguousarray(img.transpose(1, 0, 2)))
    assert (tall[:, 1:6] == img.transpose(1, 0, 2)).all()
    wide = np.full((3, 9, 3), 7, np.uint8)
    wide[1] = 200  # border median 7 (20 of 22 border pixels); the middle row lands on row (9 - 3) // 2 + 1 = 4
    out = pad_to_square(wide)
    assert out.shape == (9, 9, 3) and out[:, :, 0].tolist() == [[7] * 9] * 4 + [[200] * 9] + [[7] * 9] * 4
    tall = pad_to_square(np.ascontiguousarray(wide.transpose(1, 0, 2)))
    assert (tall[:, 4] == 200).all() and (tall[:, 3] == 7).all() and (tall[:, 5] == 7).all()
    sq = np.zeros((4, 4, 3), np.uint8)
    assert pad_to_square(sq) is sq


def _spy_bilateral(monkeypatch):
    import leukemia_core.data.preprocess as pp
    shapes = []
    real = pp._bilateral

    def spy(rgb):
        shapes.append(rgb.shape[:2])
        return real(rgb)
    monkeypatch.setattr(pp, "_bilateral", spy)
    return shapes


@pytest.mark.parametrize("last", ["red", "blue"])
@pytest.mark.parametrize("box", [(40, 30, 10, 10), (0, 0, 7, 5), (90, 93, 10, 7), (0, 50, 100, 3), (45, 0, 3, 100)])
def test_denoise_on_black_equals_the_full_filter_bit_for_bit(box, last, monkeypatch):
    # dark noisy content (the filter spreads it into the black around it) in a box, black elsewhere;
    # the box's last pixel in a row has only red (or only blue), so the byte box ends on a pixel's
    # first (or last) byte
    from leukemia_core.data.preprocess import _bilateral
    y, x, h, w = box
    img = np.zeros((100, 100, 3), np.uint8)
    img[y:y + h, x:x + w] = np.random.default_rng(sum(box)).integers(0, 60, (h, w, 3))
    img[y:y + h, x + w - 1] = (50, 0, 0) if last == "red" else (0, 0, 50)
    full = _bilateral(img)
    assert (full[img.max(axis=2) == 0] > 0).any()  # the filter does reach into the black
    shapes = _spy_bilateral(monkeypatch)
    np.testing.assert_array_equal(denoise(img), full)
    # the crop is the box widened by 4 px (twice the filter radius), within the image
    assert shapes == [(min(100, y + h + 4) - max(0, y - 4), min(100, x + w + 4) - max(0, x - 4))]


def test_denoise_filters_whole_images_above_the_crop_share(monkeypatch):
    from leukemia_core.data.preprocess import _bilateral
    shapes = _spy_bilateral(monkeypatch)
    img = np.zeros((10, 10, 3), np.uint8)
    img[2:4, :] = 40  # crop rows 0-7 x all 10 columns: 80 px, exactly 0.8 of the image: cropped
    np.testing.assert_array_equal(denoise(img), _bilateral(img))
    img[2:5, :] = 40  # 90 px: the whole image
    np.testing.assert_array_equal(denoise(img), _bilateral(img))
    big = np.zeros((100, 100, 3), np.uint8)
    big[:, 80:] = 40  # columns 76-99: 2400 px of 10000, cropped
    denoise(big)
    full = np.full((100, 100, 3), 40, np.uint8)
    denoise(full)
    assert shapes == [(8, 10), (10, 10), (100, 24), (100, 100)]


def test_denoise_edge_cases(monkeypatch):
    shapes = _spy_bilateral(monkeypatch)
    black = np.zeros((6, 5, 3), np.uint8)
    out = denoise(black)
    assert out is not black and (out == 0).all() and shapes == []  # all black: nothing to filter
    one = np.zeros((6, 5, 3), np.uint8)
    one[2, 2, 2] = 90  # a single non-zero byte is filtered
    denoise(one)
    assert shapes == [(6, 5)]
    for shape in ((0, 5, 3), (5, 0, 3)):
        assert denoise(np.zeros(shape, np.uint8)).shape == shape
    row = np.full((1, 6, 3), 80, np.uint8)
    col = np.full((6, 1, 3), 80, np.uint8)
    denoise(row)
    denoise(col)
    assert shapes == [(6, 5), (1, 6), (6, 1)]


def test_bilateral_settings():
    import cv2

    from leukemia_core.data.preprocess import BILATERAL_D, BILATERAL_SIGMA_COLOR, BILATERAL_SIGMA_SPACE, _bilateral
    assert (BILATERAL_D, BILATERAL_SIGMA_COLOR, BILATERAL_SIGMA_SPACE) == (5, 20, 3)
    img = np.random.default_rng(3).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    np.testing.assert_array_equal(_bilateral(img), cv2.bilateralFilter(img, d=5, sigmaColor=20, sigmaSpace=3))


def test_prepare_shrinks_huge_images_by_area_before_filtering():
    import cv2
    img = np.random.default_rng(4).integers(0, 256, (2500, 1500, 3)).astype(np.uint8)  # by 2.44: area != linear
    out = prepare(img, 1024, noise_reduction=False)
    np.testing.assert_array_equal(out, cv2.resize(pad_to_square(img), (1024, 1024), interpolation=cv2.INTER_AREA))
    with pytest.raises(ValueError) as err:
        prepare(np.zeros((10, 10), np.uint8), 8)
    assert str(err.value) == "expected uint8 (H, W, 3), got uint8 (10, 10)"
    with pytest.raises(ValueError, match="got float32"):
        prepare(np.zeros((10, 10, 3), np.float32), 8)
    with pytest.raises(ValueError, match=r"\(10, 10, 4\)"):
        prepare(np.zeros((10, 10, 4), np.uint8), 8)
