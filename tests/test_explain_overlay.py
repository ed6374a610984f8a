"""explain.overlay: drawing a map over an image (colours and range)."""

import numpy as np
import pytest

from leukemia_core.explain.overlay import overlay


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
