"""explain.maps: normalising, upsampling, placing maps back on images, energy inside a mask."""

import numpy as np
import pytest

from leukemia_core.explain.maps import energy_inside, normalize_heatmap, upsample_and_normalize


def test_normalize_is_safe_on_flat_maps():
    assert np.all(normalize_heatmap(np.zeros((5, 5))) == 0)
    assert np.all(normalize_heatmap(np.full((2, 5, 5), 3.0)) == 0)
    n = normalize_heatmap(np.array([[1.0, 3.0], [2.0, np.nan]]))
    assert n.max() == 1.0 and n.min() == 0.0


def test_energy_inside_mask():
    h = np.zeros((4, 4))
    h[:2] = 1.0
    mask = np.zeros((4, 4), bool)
    mask[0] = True
    assert energy_inside(h, mask) == pytest.approx(0.5)
    assert energy_inside(np.zeros((4, 4)), mask) is None


def test_heatmap_maps_back_onto_non_square_images():
    from leukemia_core.explain.maps import heatmap_on_image
    cam = np.zeros((32, 32), np.float32)
    cam[:, 16:] = 1.0  # right half hot on the padded square
    out = heatmap_on_image(cam, (20, 40))  # a wide image: padding above and below
    assert out.shape == (20, 40)
    assert out[:, :18].max() < 0.1 and out[:, 22:].min() > 0.9


def test_upsample_and_normalize_shapes():
    cams = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    out = upsample_and_normalize(cams, (12, 9))
    assert out.shape == (2, 12, 9) and out.dtype == np.float32 and out.min() == 0 and out.max() == 1
    assert upsample_and_normalize(np.zeros((0, 3, 3)), (8, 8)).shape == (0, 8, 8)
    with pytest.raises(ValueError, match="N, h, w"):
        upsample_and_normalize(np.zeros((3, 3)), (8, 8))
