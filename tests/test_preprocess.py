"""Preprocessing, augmentation and the input pipeline."""

import numpy as np
import pytest

from leukemia_core.augment import AugmentConfig, colour_jitter, make_augmenter
from leukemia_core.images import read_image
from leukemia_core.pipeline import class_weights, eval_dataset, load_images, train_dataset
from leukemia_core.preprocess import denoise, pad_to_square, prepare, to_unit


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


def test_colour_jitter_range_shape_and_reproducibility():
    import tensorflow as tf
    x = tf.random.stateless_uniform([4, 16, 16, 3], [1, 2])
    seed = tf.constant([3, 4], tf.int64)
    a = colour_jitter(x, AugmentConfig(), seed)
    b = colour_jitter(x, AugmentConfig(), seed)
    assert a.shape == x.shape
    assert float(tf.reduce_min(a)) >= 0.0 and float(tf.reduce_max(a)) <= 1.0
    np.testing.assert_allclose(a.numpy(), b.numpy())
    assert not np.allclose(a.numpy(), x.numpy())


def test_grayscale_jitter_removes_colour():
    import tensorflow as tf
    x = tf.random.stateless_uniform([8, 8, 8, 3], [5, 6])
    cfg = AugmentConfig(grayscale=1.0)
    out = colour_jitter(x, cfg, tf.constant([1, 1], tf.int64)).numpy()
    np.testing.assert_allclose(out[..., 0], out[..., 1], atol=1e-5)


def test_geometric_augmentation_changes_images_but_not_range():
    import tensorflow as tf
    aug = make_augmenter(AugmentConfig(), seed=0)
    x = tf.random.stateless_uniform([2, 32, 32, 3], [7, 8])
    out = aug(x, tf.constant(0, tf.int64))
    assert out.shape == (2, 32, 32, 3)
    assert float(tf.reduce_min(out)) >= 0 and float(tf.reduce_max(out)) <= 1
    # geometry alone (colour jitter off) moves every image, compared with its input ...
    no_colour = dict(hue=0, saturation=0, brightness=0, contrast=0, channel_gain=0, grayscale=0)
    geo = make_augmenter(AugmentConfig(**no_colour), seed=0)(x, tf.constant(0, tf.int64)).numpy()
    moved = np.abs(geo - x.numpy()).mean(axis=(1, 2, 3))
    assert (moved > 0.05).all(), moved
    # ... and flips alone only mirror: each output is one of the four mirror images of its input
    flips = make_augmenter(AugmentConfig(rotation=0, zoom=0, shear=0, **no_colour), seed=1)
    xs = x.numpy()
    for _ in range(3):
        got = flips(x, tf.constant(0, tf.int64)).numpy()
        for g, a in zip(got, xs):
            mirrors = (a, a[::-1], a[:, ::-1], a[::-1, ::-1])
            assert min(np.abs(g - m).max() for m in mirrors) < 1e-5


def test_pipeline_decodes_once_and_caches(samples, tmp_path):
    from leukemia_core.datasets import read_folder
    import shutil
    for s in samples:
        (tmp_path / "d" / s.label).mkdir(parents=True, exist_ok=True)
        shutil.copy(s.path, tmp_path / "d" / s.label)
    (tmp_path / "d" / "all" / "broken.png").write_bytes(b"not a png")
    recs = read_folder(tmp_path / "d")
    x, y, kept, bad = load_images(recs, 32, cache_dir=tmp_path / "cache")
    assert x.shape == (len(samples), 32, 32, 3) and x.dtype == np.uint8
    assert len(bad) == 1 and "broken.png" in str(bad[0][0].path)
    assert list((tmp_path / "cache").glob("*.npz"))
    x2, y2, kept2, bad2 = load_images(recs, 32, cache_dir=tmp_path / "cache")
    assert np.array_equal(x, x2) and np.array_equal(y, y2) and len(kept2) == len(kept) and len(bad2) == 1
    ds = train_dataset(x, y, 4, seed=0, augment=make_augmenter(seed=0))
    images, labels = next(iter(ds))
    assert images.shape == (4, 32, 32, 3) and labels.shape == (4, 2)
    assert float(images.numpy().max()) <= 1.0
    ev = list(eval_dataset(x, y, 8))
    assert sum(len(b[0]) for b in ev) == len(x)


def test_class_weights_balance_the_classes():
    w = class_weights(np.array([1, 1, 1, 0]))
    assert w[0] == pytest.approx(2.0) and w[1] == pytest.approx(4 / 6)
    assert class_weights(np.array([1, 1])) == {0: 1.0, 1: 1.0}
