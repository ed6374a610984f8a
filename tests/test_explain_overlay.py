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


def test_the_default_scale_is_perceptually_uniform_viridis():
    from leukemia_core.explain.overlay import COLORMAPS, DEFAULT_COLORMAP

    assert DEFAULT_COLORMAP == "viridis" == next(iter(COLORMAPS))  # the app's selector offers it first
    ramp = overlay(np.zeros((1, 256, 3), np.uint8), np.linspace(0, 1, 256, dtype=np.float32)[None], 1.0)
    top, bottom = ramp[0, -1], ramp[0, 0]
    assert top[0] > 200 and top[1] > 200 and top[2] < 80  # strongest: yellow (RGB)
    assert bottom[2] > bottom[1] and bottom[0] < 90  # none: dark purple
    lum = ramp[0].astype(float) @ [0.299, 0.587, 0.114]
    assert np.all(np.diff(lum[::16]) > 0)  # brighter with every step of evidence
