"""Operations on class-activation maps, shared by every method: upsampling, normalising, placing
a map on a non-square image, and measuring where its energy falls.

Every map here is float32; "normalised" means each map scaled to [0, 1] on its own (min to 0,
max to 1), with a flat map (nothing to show) all zeros.
"""

from __future__ import annotations

import cv2
import numpy as np


def normalize_heatmap(cam: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """Scale each map of ``(H, W)`` or ``(N, H, W)`` to [0, 1]; a flat map becomes all zeros.

    NaN and inf are treated as 0 first. Returns float32 of the input's shape.
    """
    cam = np.nan_to_num(np.asarray(cam, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    single = cam.ndim == 2
    cams = cam[None] if single else cam
    lo = cams.min(axis=(1, 2), keepdims=True)
    span = cams.max(axis=(1, 2), keepdims=True) - lo
    out = np.where(span > eps, (cams - lo) / np.maximum(span, eps), 0.0).astype(np.float32)
    return out[0] if single else out


def resize_heatmap(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of one ``(h, w)`` map to ``size = (H, W)``; float32 ``(H, W)``."""
    return cv2.resize(np.asarray(cam, np.float32), (int(size[1]), int(size[0])), interpolation=cv2.INTER_LINEAR)


def upsample_and_normalize(cams: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The default post-processing of raw maps: bilinear resize of each ``(h, w)`` map of a
    ``(N, h, w)`` batch to ``size = (H, W)``, then :func:`normalize_heatmap`.

    Returns float32 ``(N, H, W)`` in [0, 1].
    """
    cams = np.asarray(cams, np.float32)
    if cams.ndim != 3:
        raise ValueError(f"raw maps must be (N, h, w), got shape {cams.shape}")
    if cams.shape[1:] != tuple(size):
        cams = np.stack([resize_heatmap(c, size) for c in cams]) if len(cams) else cams.reshape(0, *size)
    return normalize_heatmap(cams)


def heatmap_on_image(heatmap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Map a CAM of a padded square model input back onto an ``(H, W)`` image.

    The image sits centred on a square canvas (:func:`~leukemia_core.data.preprocess.pad_to_square`);
    the map is resized to that square and the image's own region is cut out, so the overlay lines
    up with non-square images too. Returns float32 ``(H, W)``.
    """
    h, w = shape
    side = max(h, w)
    big = cv2.resize(np.asarray(heatmap, np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
    y, x = (side - h) // 2, (side - w) // 2
    return np.ascontiguousarray(big[y:y + h, x:x + w])


def energy_inside(heatmap: np.ndarray, mask: np.ndarray) -> float | None:
    """Share in [0, 1] of a map's total energy that falls where ``mask`` is true.

    ``mask`` is resized (nearest) to the map when shapes differ. None for an all-zero map.
    """
    h = np.asarray(heatmap, np.float64)
    m = np.asarray(mask, bool)
    if m.shape != h.shape:
        m = cv2.resize(m.astype(np.uint8), (h.shape[1], h.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    total = h.sum()
    return float(h[m].sum() / total) if total > 0 else None
