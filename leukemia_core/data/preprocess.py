"""Preprocessing shared by training, evaluation and prediction: one function, one behaviour.

``prepare(rgb, size)`` pads to square, reduces noise, resizes, and returns ``uint8``;
``to_unit`` scales to float32 in [0, 1] (the range every registered model takes).

Noise reduction: an edge-preserving **bilateral filter** (OpenCV ``cv2.bilateralFilter``,
5-pixel neighbourhood, colour sigma 20, space sigma 3) at the image's own resolution. Smear
photographs carry sensor noise and JPEG block artefacts; a Gaussian or box blur would remove them
but also soften the nuclear membrane and chromatin texture that separate blasts from normal
lymphocytes, while a median filter posterises that texture. The bilateral filter smooths within
regions of similar colour and stops at strong edges (nucleus/cytoplasm, cell/background).
"""

from __future__ import annotations

import cv2
import numpy as np

#: The cell's diameter as a share of a cell crop's side: the one cell scale every model reads
#: (a model's manifest may record another; see models.registry.resolve_input_config).
CELL_SHARE = 0.75

#: Images larger than this (longest side, px) are shrunk before filtering, to bound the cost.
FILTER_MAX_SIDE = 1024


def pad_to_square(rgb: np.ndarray) -> np.ndarray:
    """Centre the image on a square canvas filled with the median colour of its border.

    Resizing a non-square image without padding would stretch the cells' shape.
    """
    h, w = rgb.shape[:2]
    if h == w:
        return rgb
    side = max(h, w)
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    fill = np.median(border, axis=0).astype(np.uint8)
    out = np.empty((side, side, 3), np.uint8)
    out[:] = fill
    y, x = (side - h) // 2, (side - w) // 2
    out[y:y + h, x:x + w] = rgb
    return out


#: Bilateral filter settings (see the module docstring).
BILATERAL_D, BILATERAL_SIGMA_COLOR, BILATERAL_SIGMA_SPACE = 5, 20, 3

#: Filter only the non-black part when it covers at most this share of the image.
_CROP_MAX_SHARE = 0.8


def denoise(rgb: np.ndarray) -> np.ndarray:
    """Bilateral filter (see module docstring). ``uint8 (H, W, 3)`` in and out.

    Segmented cells (C-NMC) sit on an exactly black background, which the filter leaves black.
    So only the bounding box of the non-black pixels, widened by twice the filter radius ``r``,
    is filtered and pasted on a black canvas. The result equals the full-image filter's bit for
    bit (tests check it): farther than ``r`` from the box every neighbourhood is black, so the
    output is black; nearer, the whole neighbourhood lies in the crop, or the crop meets the
    image edge where the full image's border rule applies too. On a 450x450 C-NMC cell this
    costs about a third of filtering the whole image; images without a black surround (Aria
    fields) are filtered whole, as before.
    """
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    if h == 0 or w == 0:
        return rgb.copy()
    x, y, bw, bh = cv2.boundingRect(rgb.reshape(h, w * 3))  # in bytes along a row
    if bw == 0:  # all black
        return rgb.copy()
    m = 2 * (BILATERAL_D // 2)
    x0, x1 = max(0, x // 3 - m), min(w, (x + bw - 1) // 3 + 1 + m)
    y0, y1 = max(0, y - m), min(h, y + bh + m)
    if (y1 - y0) * (x1 - x0) > _CROP_MAX_SHARE * h * w:
        return _bilateral(rgb)
    out = np.zeros_like(rgb)
    out[y0:y1, x0:x1] = _bilateral(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
    return out


def _bilateral(rgb: np.ndarray) -> np.ndarray:
    return cv2.bilateralFilter(rgb, d=BILATERAL_D, sigmaColor=BILATERAL_SIGMA_COLOR,
                               sigmaSpace=BILATERAL_SIGMA_SPACE)


def prepare(rgb: np.ndarray, size: int, noise_reduction: bool = True) -> np.ndarray:
    """Make a model input from a decoded image.

    Args:
        rgb: ``uint8 (H, W, 3)`` from :func:`leukemia_core.data.images.read_image`.
        size: output side in pixels.
        noise_reduction: apply :func:`denoise` before resizing.

    Returns:
        ``uint8 (size, size, 3)``.
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    img = pad_to_square(rgb)
    if img.shape[0] > FILTER_MAX_SIDE:
        img = cv2.resize(img, (FILTER_MAX_SIDE, FILTER_MAX_SIDE), interpolation=cv2.INTER_AREA)
    if noise_reduction:
        img = denoise(img)
    if img.shape[0] != size:
        interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_CUBIC
        img = cv2.resize(img, (size, size), interpolation=interp)
    return np.ascontiguousarray(img)


def to_unit(x: np.ndarray) -> np.ndarray:
    """``uint8`` -> ``float32`` in [0, 1] (any shape)."""
    return x.astype(np.float32) / np.float32(255.0)
