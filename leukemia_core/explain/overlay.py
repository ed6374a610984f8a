"""Drawing a map over an image (kept apart from computing it)."""

from __future__ import annotations

import cv2
import numpy as np

from .maps import resize_heatmap

#: Colour maps offered for overlays (OpenCV's).
#: The maps' colour scales, the default first: viridis is perceptually uniform (equal steps of
#: evidence look like equal steps of colour, in gray print too); jet, kept for those used to it, is not.
COLORMAPS = {
    "viridis": cv2.COLORMAP_VIRIDIS,
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "turbo": cv2.COLORMAP_TURBO,
    "hot": cv2.COLORMAP_HOT,
    "jet": cv2.COLORMAP_JET,
}
DEFAULT_COLORMAP = "viridis"


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.4, colormap: str = DEFAULT_COLORMAP) -> np.ndarray:
    """Blend a heatmap over an image.

    Args:
        image: RGB ``uint8 (H, W, 3)``, or float in [0, 1] (refused outside that range).
        heatmap: ``(h, w)`` in [0, 1] (clipped); resized to the image when sizes differ.
        alpha: heatmap opacity in [0, 1].
        colormap: one of :data:`COLORMAPS`.

    Returns:
        RGB ``uint8 (H, W, 3)`` (colours converted from OpenCV's BGR).
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3), got {img.shape}")
    if img.dtype != np.uint8:
        if img.size and (np.nanmin(img) < 0 or np.nanmax(img) > 1):
            raise ValueError("float images must be in [0, 1]; pass uint8 for 0-255 data")
        img = np.round(img * 255).astype(np.uint8)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must be in [0, 1]")
    if colormap not in COLORMAPS:
        raise ValueError(f"unknown colormap {colormap!r}; choose one of {', '.join(COLORMAPS)}")
    h = np.clip(np.nan_to_num(np.asarray(heatmap, np.float32)), 0, 1)
    if h.shape != img.shape[:2]:
        h = resize_heatmap(h, img.shape[:2])
    colour = cv2.cvtColor(cv2.applyColorMap(np.round(h * 255).astype(np.uint8), COLORMAPS[colormap]),
                          cv2.COLOR_BGR2RGB)
    out = (1 - alpha) * img.astype(np.float32) + alpha * colour.astype(np.float32)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
