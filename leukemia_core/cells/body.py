"""The whole white cell around its nucleus on single-cell images (CellaVision-type crops).

The finder's violet regions hold a white cell's nucleus and the cytoplasm that takes the basic stain.
On images of one cell at high magnification that falls short two ways: a lobed nucleus with pale
cytoplasm (granulocytes, monocytes) gives several small regions where there is one cell, and red cells
that look violet in a stain join the white cell's region. Here the nucleus pixels are grouped into
cells (:func:`nucleus_groups`) and each group is grown into its cell body (:func:`grow_bodies`) with a
marker watershed on the image, whose borders fall on the strongest colour edges between markers:

* the nuclei, one marker per group;
* the background: pale pixels (near the colour of the image's brightest pixels) open to the image's
  edge, so pale cytoplasm enclosed by the cell's rim is left to the watershed;
* whatever lies farther from a nucleus than :data:`REACH` of its size;
* objects beside the cell (red cells touching it): foreground pixels outside a thin ring around the
  nuclei whose colour is nearer that of the foreground far from any nucleus than that of the ring.
  When the ring is the nucleus's dark rim (much darker than the far objects, which are then faint
  red-cell ghosts the background marker handles) no pixel is marked so; when the ring has the far
  objects' colour (red cells pressed against a thin cytoplasm) every foreground pixel outside it is.

The constants were set on wbcseg's two labs (expert masks of single cells); the finder calls this only
on single-cell images (:func:`leukemia_core.cells.finder.find_cells`).
"""

from __future__ import annotations

import cv2
import numpy as np

#: Nucleus regions closer than this share of the largest region's equivalent diameter are one cell.
LOBE_GAP = 0.6
#: A cell body reaches at most this share of its nucleus group's equivalent diameter beyond it.
REACH = 0.6
#: Pale pixels: Lab distance to the background colour under this share of the foreground threshold.
SURE_BACKGROUND = 0.5
#: Lowest foreground threshold in Lab distance units (8-bit Lab), whatever Otsu says.
MIN_FOREGROUND = 8.0
#: The share of brightest pixels whose median colour is the background colour.
BRIGHT_SHARE = 0.25
#: Width of the ring around the nuclei whose colour is the cytoplasm's, as a share of the largest
#: group's equivalent diameter.
RING = 0.06
#: Fewest pixels a colour is estimated from.
MIN_PIXELS = 30
#: The ring is the nucleus's rim when it stands this many times farther from the background colour
#: than the far objects do.
RIM = 1.5
#: Two colours closer than this (8-bit Lab units) are one.
SAME_COLOUR = 8.0
#: A pixel is coloured like the far objects when it is at most this share as far from their colour
#: as from the ring's.
CLOSER = 0.5


def _equivalent_diameter(mask: np.ndarray) -> float:
    return float(2.0 * np.sqrt(mask.sum() / np.pi))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` (``uint8`` in {0, 1}) with every hole of its regions filled: its outer outlines drawn filled."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = np.zeros_like(mask)
    cv2.drawContours(out, contours, -1, 1, thickness=cv2.FILLED)
    return out


def _distance_from(mask: np.ndarray) -> np.ndarray:
    """Each pixel's distance in px to the nearest pixel of ``mask`` (``bool``)."""
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)


def _quantile_u8(values: np.ndarray, q: float) -> float:
    """``np.quantile(values, q)`` (linear interpolation) of integer values in 0-255, from their histogram:
    the same number, without sorting a large array."""
    cum = np.cumsum(np.bincount(values.astype(np.intp), minlength=256))
    pos = q * (int(cum[-1]) - 1)
    lo = int(np.floor(pos))
    a = int(np.searchsorted(cum, lo + 1))
    b = int(np.searchsorted(cum, min(lo + 2, int(cum[-1]))))
    return float(a + (pos - lo) * (b - a))


def _median_colour(lab: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-channel median of ``lab`` (8-bit Lab, ``uint8``) over ``mask``, as ``float32 (3,)``."""
    px = lab[mask]
    return np.array([_quantile_u8(px[:, c], 0.5) for c in range(3)], np.float32)


def _box(mask: np.ndarray, margin: int, shape: tuple) -> tuple[int, int, int, int]:
    """``(y0, x0, y1, x1)``: the bounding box of ``mask``'s pixels widened by ``margin``, within ``shape``."""
    ys, xs = np.nonzero(mask)
    return (max(0, int(ys.min()) - margin), max(0, int(xs.min()) - margin),
            min(shape[0], int(ys.max()) + margin + 1), min(shape[1], int(xs.max()) + margin + 1))


def nucleus_groups(nuclei: list[np.ndarray]) -> list[list[int]]:
    """Indices of ``nuclei`` (full-image ``bool`` masks) grouped into cells: regions whose gap is under
    :data:`LOBE_GAP` of the largest region's equivalent diameter belong together.

    Example:
        >>> a = np.zeros((40, 60), bool); b = a.copy(); c = a.copy()
        >>> a[10:20, 5:15] = True; b[10:20, 18:28] = True; c[10:20, 48:58] = True
        >>> nucleus_groups([a, b, c])
        [[0, 1], [2]]
    """
    if not nuclei:
        return []
    r = max(1, int(round(LOBE_GAP * max(_equivalent_diameter(m) for m in nuclei) / 2)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    union = np.logical_or.reduce(nuclei).astype(np.uint8)
    # dilate only the nuclei's box widened by the kernel: the same result, a fraction of the pixels
    y0, x0, y1, x1 = _box(union > 0, r, union.shape)
    grown = np.zeros_like(union)
    grown[y0:y1, x0:x1] = cv2.dilate(union[y0:y1, x0:x1], kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    _, labels = cv2.connectedComponents(grown, connectivity=8)
    groups: dict[int, list[int]] = {}
    for i, m in enumerate(nuclei):
        if m.any():
            groups.setdefault(int(np.bincount(labels[m]).argmax()), []).append(i)
    return list(groups.values())


def solidity(mask: np.ndarray) -> float:
    """Area over convex-hull area of ``mask``'s (``uint8``) largest outline (1.0 for a disc)."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    c = max(contours, key=cv2.contourArea)
    hull = cv2.contourArea(cv2.convexHull(c))
    return float(cv2.contourArea(c) / hull) if hull > 0 else 0.0


def whole_nuclei(nucleus: np.ndarray, groups: list[np.ndarray]) -> list[np.ndarray]:
    """Each group (full-image ``bool``) with every connected part of ``nucleus`` (``bool``) it overlaps:
    a lobed nucleus whose colour regions hold only its lobes' cores, made whole again."""
    _, parts = cv2.connectedComponents(nucleus.astype(np.uint8), connectivity=8)
    out = []
    for g in groups:
        ids = np.unique(parts[g])
        out.append(g | np.isin(parts, ids[ids > 0]))
    return out


def grow_bodies(rgb: np.ndarray, groups: list[np.ndarray]) -> list[np.ndarray]:
    """Each nucleus group (full-image ``bool`` mask, not empty) grown into its cell body: ``bool (H, W)``
    each, hole-filled, holding at least its group."""
    if not groups:
        return []
    lab8 = cv2.cvtColor(cv2.GaussianBlur(rgb, (0, 0), 1.0), cv2.COLOR_RGB2LAB)
    light = lab8[..., 0]
    bg = _median_colour(lab8, light >= _quantile_u8(light.ravel(), 1 - BRIGHT_SHARE))
    lab = lab8.astype(np.float32)
    d = np.linalg.norm(lab - bg, axis=2)
    anyg = np.logical_or.reduce(groups)
    outside = _distance_from(anyg) > RING * max(_equivalent_diameter(g) for g in groups)
    otsu, _ = cv2.threshold(np.clip(d[outside], 0, 255).astype(np.uint8), 0, 255,
                            cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    fg_level = max(float(otsu), MIN_FOREGROUND)
    fg = d > fg_level
    markers = np.zeros(d.shape, np.int32)
    n, labels = cv2.connectedComponents((d < SURE_BACKGROUND * fg_level).astype(np.uint8), connectivity=4)
    open_to_edge = np.zeros(n, bool)
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    open_to_edge[edge[edge > 0]] = True
    markers[open_to_edge[labels]] = 1
    far = np.logical_and.reduce([_distance_from(g) > REACH * _equivalent_diameter(g) for g in groups])
    markers[far] = 1
    markers[_beside(lab8, bg, fg, anyg, outside, far)] = 1
    for k, g in enumerate(groups):
        markers[g] = k + 2
    # the watershed runs on the box of what a body can reach, framed by far markers (the same result:
    # no basin crosses a marker), a fraction of a large image
    y0, x0, y1, x1 = _box(~far, 3, far.shape)
    roi = np.ascontiguousarray(markers[y0:y1, x0:x1])
    cv2.watershed(np.ascontiguousarray(cv2.cvtColor(rgb[y0:y1, x0:x1], cv2.COLOR_RGB2BGR)), roi)
    markers[y0:y1, x0:x1] = roi
    out = []
    for k, g in enumerate(groups):
        out.append(fill_holes(((markers == k + 2) | g).astype(np.uint8)).astype(bool))
    return out


def _beside(lab: np.ndarray, bg: np.ndarray, fg: np.ndarray, nuclei: np.ndarray, outside: np.ndarray,
            far: np.ndarray) -> np.ndarray:
    """``bool (H, W)``: foreground pixels beside the cell coloured like the objects far from it (see
    the module)."""
    ring = fg & ~nuclei & ~outside
    far_fg = fg & far
    none = np.zeros(fg.shape, bool)
    if ring.sum() < MIN_PIXELS or far_fg.sum() < MIN_PIXELS:
        return none
    near_colour, far_colour = _median_colour(lab, ring), _median_colour(lab, far_fg)
    if np.linalg.norm(near_colour - bg) > RIM * np.linalg.norm(far_colour - bg):
        return none
    candidates = fg & outside
    if np.linalg.norm(near_colour - far_colour) >= SAME_COLOUR:
        px = lab[candidates].astype(np.float32)
        candidates[candidates] = (np.linalg.norm(px - far_colour, axis=1)
                                  < CLOSER * np.linalg.norm(px - near_colour, axis=1))
    opened = cv2.morphologyEx(candidates.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return opened > 0
