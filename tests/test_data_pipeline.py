"""data.pipeline: sample weights (datasets then classes), balanced batches, batched prediction of arrays."""

import numpy as np
import pytest

from leukemia_core.data.pipeline import balanced_batches, predict_array, sample_weights


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


def test_sample_weights_by_class_keep_the_classes_even_with_a_lab_of_one_class():
    # aria: 1 HEM + 3 ALL; bccd: 2 HEM only; shares aria 0.55, bccd 0.15
    ds = ["aria", "aria", "bccd", "aria", "aria", "bccd"]
    y = np.array([0, 1, 0, 1, 1, 0])
    by_ds = sample_weights(y, ds, {"aria": 0.55, "bccd": 0.15})
    assert by_ds[y == 0].sum() == pytest.approx(0.55 / 0.7 / 2 + 0.15 / 0.7)  # BCCD tilts batches to HEM
    w = sample_weights(y, ds, {"aria": 0.55, "bccd": 0.15}, by="class")
    assert w[y == 0].sum() == pytest.approx(0.5) and w[y == 1].sum() == pytest.approx(0.5)
    hem = 0.5 / 0.7  # the HEM half, split aria 0.55 : bccd 0.15
    np.testing.assert_allclose(w, [hem * 0.55, 0.5 / 3, hem * 0.15 / 2, 0.5 / 3, 0.5 / 3, hem * 0.15 / 2])
    # with both classes in every dataset and equal shares, the two ways agree
    y2, ds2 = np.array([0, 1, 0, 1]), ["a", "a", "b", "b"]
    np.testing.assert_allclose(sample_weights(y2, ds2, by="class"), sample_weights(y2, ds2))
    with pytest.raises(ValueError, match="expected one of"):
        sample_weights(y, ds, by="lab")


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
