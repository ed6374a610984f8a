"""data.preprocess: pad to square, denoise (bilateral filter), prepare (pad, denoise, resize) and to_unit."""

import numpy as np
import pytest

from leukemia_core.data.images import read_image
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
