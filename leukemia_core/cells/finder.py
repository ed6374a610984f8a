"""Find the white cells in a microscope image with classical image processing.

Three kinds of input are handled by one function, :func:`find_cells`:

* a **smear field** with several white cells among red cells (Aria-like, low magnification);
* a **single-cell image** with red cells around it (CellaVision / ALL-IDB-like);
* a **segmented cell on black** (C-NMC): the cell is every pixel that is not black.

How (fields and single-cell images): white-cell nuclei and cytoplasm take up the basic
(hematoxylin/azure) stain and look violet/blue, while red cells are pink-grey and the background
is pale. The per-pixel *violet excess* ``(R + B) / 2 - G`` is high on white cells and near zero
or negative elsewhere. It is thresholded with Otsu's method (never below
:data:`MIN_VIOLET`), closed and hole-filled so a lobed nucleus is one region, opened to drop
platelets and specks, and split with a distance-transform watershed where two cells touch.
Regions much smaller than the largest one are debris or platelets and are dropped.

A region is kept only when it holds a **nucleus**: white-cell nuclei take the basic stain far more
strongly than any red cell, so their blue-minus-red ``B - R`` stands well above the image's own
median level (background and red cells, which are most of any field), while a red cell that looks
violet in a given stain does not. The gate is relative to each image (:data:`NUCLEUS_MARGIN` above
its median), so it follows the lab's stain instead of a fixed colour; a region needs at least
:data:`NUCLEUS_SHARE` of its pixels above it. Pale smudges without a nucleus are dropped by the same
rule.

On single-cell images (CellaVision-type crops) each nucleus is grown into its whole cell
(:mod:`.body`), and where the stain leaves nuclei hardly bluer than a white background a dark,
not-red nucleus stands in for the blue one (:func:`dark_nucleus_mask`); an image-filling cell is its colour region.

Reference: N. Otsu, "A threshold selection method from gray-level histograms", IEEE SMC 1979.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .body import fill_holes, grow_bodies, nucleus_groups, solidity, whole_nuclei

#: A pixel darker than this in every channel is background in a segmented (on black) image.
BLACK_LEVEL = 18
#: An image whose share of black pixels exceeds this is treated as segmented on black.
BLACK_SHARE = 0.25
#: Lowest violet-excess threshold (0-255 units) whatever Otsu says: keeps pale fields empty.
MIN_VIOLET = 22.0
#: Cytoplasm threshold as a share of the nucleus threshold: weaker violet pixels joined to a
#: nucleus belong to its cell (hysteresis thresholding).
CYTOPLASM_FACTOR = 0.85
#: A region smaller than this share of the largest region is debris or a platelet.
MIN_RELATIVE_AREA = 0.05
#: A nucleated region smaller than this share of the largest nucleated region is a platelet or debris.
MIN_RELATIVE_NUCLEATED = 0.16
#: The largest nucleated region has at least this many pixels (about 70 px across): a white cell
#: imaged at high resolution, where platelets are large enough to pass the area floors.
HIGH_MAGNIFICATION_PX = 4000
#: Smallest white cell in pixels of area, whatever the magnification (about 8 px across).
MIN_AREA_PX = 50
#: Smallest white cell as a share of the image's area (100 px in a 224 x 224 field).
MIN_AREA_SHARE = 0.002
#: Watershed splits a region only when it is this far from convex (area / hull area below).
SPLIT_SOLIDITY = 0.75
#: Watershed seeds: pixels farther from the edge than this share of the region's deepest point.
PEAK_FRACTION = 0.5
#: A nucleus pixel's ``B - R`` (0-255 units, after the same blur) is at least this far above the
#: image's median ``B - R`` (chosen on the Aria val block and BCCD's own train list).
NUCLEUS_MARGIN = 20.0
#: A white cell has at least this share of its pixels in the nucleus.
NUCLEUS_SHARE = 0.2
#: Single-cell images (the largest found cell covers at least :data:`SINGLE_CELL_SHARE` of the
#: image, as in CellaVision-type crops): a region whose nucleus stain (90th percentile of ``B - R``
#: above the image's median) is below :data:`RELATIVE_NUCLEUS` of the strongest region's is a red
#: cell or debris beside the white cell, not a second white cell. Both set on wbcseg's two labs and
#: Aria's val block (where no field has a cell that large: unchanged).
SINGLE_CELL_SHARE = 0.08
RELATIVE_NUCLEUS = 0.5
#: Whole cell bodies (:func:`_single_cell_bodies`, :mod:`.body`) on single-cell images: the largest
#: region covers at least :data:`BODY_SHARE` of the image and :data:`DOMINANT` of the strongly
#: stained regions' area; at most :data:`SINGLE_CELL_GROUPS` cells; each body at least
#: :data:`BODY_SOLIDITY` solid. Set on wbcseg's two labs, BCCD's train block and Aria's val block.
BODY_SHARE = 0.035
DOMINANT = 0.4
SINGLE_CELL_GROUPS = 2
BODY_SOLIDITY = 0.7
#: Fallback nucleus (no region bluer than the median): this much darker than the median lightness.
DARK_MARGIN = 100
#: A region covering :data:`LARGE_CELL_SHARE` of the image or more is one cell at high magnification;
#: it needs only :data:`LARGE_CELL_NUCLEUS` of its pixels dark or blue (granular cells: wbcseg).
LARGE_CELL_SHARE = 0.2
LARGE_CELL_NUCLEUS = 0.05


@dataclass(frozen=True)
class Cell:
    """One white cell found in an image (pixel coordinates of the image given).

    Attributes:
        id: 1-based number, in reading order (top to bottom, then left to right).
        bbox: ``(x, y, w, h)``.
        area: pixels inside the contour.
        centre: ``(x, y)`` centroid, float.
        contour: ``int32 (N, 2)`` outline points ``(x, y)``.
        touches_border: the cell is cut by the image edge (its crop is incomplete).
    """

    id: int
    bbox: tuple[int, int, int, int]
    area: int
    centre: tuple[float, float]
    contour: np.ndarray
    touches_border: bool

    @property
    def diameter(self) -> float:
        """Longest side of the bounding box, px: the size a crop is scaled by."""
        return float(max(self.bbox[2], self.bbox[3]))

    def as_dict(self) -> dict:
        """The cell as a flat table row: id, ``x, y, w, h`` (px), area (px), centre rounded to 0.1 px,
        ``touches_border``.
        """
        x, y, w, h = self.bbox
        return {"cell": self.id, "x": x, "y": y, "w": w, "h": h, "area": self.area,
                "cx": round(self.centre[0], 1), "cy": round(self.centre[1], 1),
                "touches_border": self.touches_border}


def channel_max(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel maximum of the three channels, ``(H, W)`` of ``rgb``'s dtype (``rgb.max(axis=2)``,
    about 20 times faster: NumPy reduces a short last axis slowly)."""
    return np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])


def is_segmented_on_black(rgb: np.ndarray) -> bool:
    """True when more than :data:`BLACK_SHARE` of the pixels are black (a pre-segmented cell).

    ``rgb``: ``uint8 (H, W, 3)``; a pixel is black when all three channels are at most :data:`BLACK_LEVEL`.
    """
    black = channel_max(rgb) <= BLACK_LEVEL
    return float(black.mean()) > BLACK_SHARE


def violet_excess(rgb: np.ndarray) -> np.ndarray:
    """``(R + B) / 2 - G`` as float32 ``(H, W)``, in 0-255 units (about -128..255)."""
    f = rgb.astype(np.float32)
    return (f[..., 0] + f[..., 2]) * 0.5 - f[..., 1]


def nucleus_score(rgb: np.ndarray) -> np.ndarray:
    """``B - R`` as float32 ``(H, W)`` in 0-255 units (-255..255): high on stained nuclei."""
    f = rgb.astype(np.float32)
    return f[..., 2] - f[..., 0]


def _blur_sigma(rgb: np.ndarray) -> float:
    return max(0.8, max(rgb.shape[:2]) / 400)


def stain_levels(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """The blurred ``B - R`` (``float32 (H, W)``) and its median, once per image for every stain rule."""
    s = cv2.GaussianBlur(nucleus_score(rgb), (0, 0), _blur_sigma(rgb))
    return s, float(np.median(s))


def nucleus_mask(rgb: np.ndarray, levels: tuple[np.ndarray, float] | None = None) -> np.ndarray:
    """``bool (H, W)``: pixels whose blurred ``B - R`` is :data:`NUCLEUS_MARGIN` above the image's median
    (``levels``: :func:`stain_levels` of ``rgb`` when the caller has them already)."""
    s, median = levels or stain_levels(rgb)
    return s > median + NUCLEUS_MARGIN


def dark_nucleus_mask(rgb: np.ndarray, levels: tuple[np.ndarray, float] | None = None) -> np.ndarray:
    """``bool (H, W)``: pixels :data:`DARK_MARGIN` darker (8-bit Lab lightness, blurred) than the
    image's median and not red (``B >= R``): nuclei where the stain leaves them hardly bluer than a
    white background (``levels``: :func:`stain_levels` of ``rgb`` when the caller has them)."""
    light = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)[..., 0], (0, 0), _blur_sigma(rgb))
    s, _ = levels or stain_levels(rgb)
    return (light.astype(np.float32) < float(np.median(light)) - DARK_MARGIN) & (s >= 0)


def cell_mask(rgb: np.ndarray, on_black: bool | None = None) -> np.ndarray:
    """Binary white-cell mask, ``uint8 (H, W)`` in {0, 1}, before splitting into cells
    (``on_black``: :func:`is_segmented_on_black` of ``rgb`` when the caller has it already)."""
    h, w = rgb.shape[:2]
    side = max(h, w)
    k = max(3, int(round(side / 75)) | 1)  # morphology scale follows the image size
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    if on_black is None:
        on_black = is_segmented_on_black(rgb)
    if on_black:
        mask = (channel_max(rgb) > BLACK_LEVEL).astype(np.uint8)
    else:
        f = cv2.GaussianBlur(violet_excess(rgb), (0, 0), _blur_sigma(rgb))
        clipped = np.clip(f, 0, 255).astype(np.uint8)
        otsu, _ = cv2.threshold(clipped, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        high = max(float(otsu), MIN_VIOLET)
        mask = _hysteresis(f > high, f > high * CYTOPLASM_FACTOR)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    mask = fill_holes(mask)
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)


def _hysteresis(strong: np.ndarray, weak: np.ndarray) -> np.ndarray:
    """Regions of ``weak`` that contain a ``strong`` pixel (nucleus seeds grown into cytoplasm)."""
    n, labels = cv2.connectedComponents(weak.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[strong])] = True
    keep[0] = False
    return keep[labels].astype(np.uint8)


def _split_touching(region: np.ndarray) -> list[np.ndarray]:
    """Split one binary region into cells with a distance-transform watershed (or keep it whole)."""
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    c = max(contours, key=cv2.contourArea)
    hull = cv2.contourArea(cv2.convexHull(c))
    if hull <= 0 or cv2.contourArea(c) / hull >= SPLIT_SOLIDITY:
        return [region]
    dist = cv2.distanceTransform(region, cv2.DIST_L2, 5)
    peaks = (dist > PEAK_FRACTION * dist.max()).astype(np.uint8)
    n, markers = cv2.connectedComponents(peaks)
    if n <= 2:  # background + one peak: one cell
        return [region]
    markers = markers.astype(np.int32) + 1
    markers[(region > 0) & (peaks == 0)] = 0  # unknown: let the watershed decide
    shaded = cv2.cvtColor((255 - np.clip(dist / dist.max() * 255, 0, 255)).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    cv2.watershed(shaded, markers)
    parts = [((markers == m) & (region > 0)).astype(np.uint8) for m in range(2, n + 1)]
    return [p for p in parts if p.any()] or [region]


def _clipped(shape: tuple, part: np.ndarray, ox: int, oy: int) -> tuple[tuple[slice, slice], np.ndarray]:
    """Region ``part`` (offset ``ox, oy``, possibly past the image's edge) clipped to an image of
    ``shape``: the image's slices it covers and its ``bool`` pixels there."""
    h, w = shape[:2]
    y0, x0, y1, x1 = max(0, oy), max(0, ox), min(h, oy + part.shape[0]), min(w, ox + part.shape[1])
    return (slice(y0, y1), slice(x0, x1)), part[y0 - oy:y1 - oy, x0 - ox:x1 - ox].astype(bool)


def _has_nucleus(part: np.ndarray, nucleus: np.ndarray, ox: int, oy: int, share: float = NUCLEUS_SHARE) -> bool:
    """True when at least ``share`` of the region ``part`` (offset ``ox, oy``, with a 1-px border
    that may lie outside the image) is nucleus."""
    box, inside = _clipped(nucleus.shape, part, ox, oy)
    return bool(inside.any()) and float(nucleus[box][inside].mean()) >= share


def _stain(centred: np.ndarray, mask: np.ndarray) -> float:
    """A region's nucleus stain: 90th percentile of ``centred`` (blurred B - R less median) over ``mask``."""
    return float(np.percentile(centred[mask], 90)) if mask.any() else 0.0


def _drop_weak_beside_one_cell(rgb: np.ndarray, regions: list, centred: np.ndarray) -> list:
    """On a single-cell image (:data:`SINGLE_CELL_SHARE`), the regions whose nucleus stain reaches
    :data:`RELATIVE_NUCLEUS` of the strongest region's; elsewhere ``regions`` as they are."""
    h, w = rgb.shape[:2]
    if max(int(p.sum()) for p, _, _ in regions) < SINGLE_CELL_SHARE * h * w:
        return regions
    stain = [_stain(centred, _full(rgb.shape, *r)) for r in regions]
    best = max(stain)
    return [r for r, v in zip(regions, stain) if v >= RELATIVE_NUCLEUS * best]


def _full(shape: tuple, part: np.ndarray, ox: int, oy: int) -> np.ndarray:
    """Region ``part`` (offset ``ox, oy``, possibly past the image's edge) as a ``bool`` mask of ``shape``."""
    full = np.zeros(shape[:2], bool)
    box, inside = _clipped(shape, part, ox, oy)
    full[box] = inside
    return full


def _single_cell_bodies(rgb: np.ndarray, regions: list, nucleus: np.ndarray, centred: np.ndarray) -> list | None:
    """On a single-cell image, one region per white cell, its whole body; ``None`` on other images.

    A single-cell image: its largest region covers :data:`BODY_SHARE` of it or more and holds at least
    :data:`DOMINANT` of the strongly stained regions' area (a smear field has many cells of like
    size). There the nucleus pixels are grouped into cells (lobes together, :mod:`.body`), groups
    whose nucleus stain is under :data:`RELATIVE_NUCLEUS` of the strongest are dropped (red cells,
    debris) and each other group is grown into its body. ``None`` too where more than
    :data:`SINGLE_CELL_GROUPS` groups remain or a body is not round (solidity under
    :data:`BODY_SOLIDITY`: a clump of touching cells, which the colour regions split better). A lone
    group whose body is not round (lobe cores under a pale cytoplasm) regrows from its whole nucleus.
    """
    h, w = rgb.shape[:2]
    areas = [int(p.sum()) for p, _, _ in regions]
    if max(areas) < BODY_SHARE * h * w:
        return None
    nuclei = [_full(rgb.shape, *r) & nucleus for r in regions]
    level = [_stain(centred, m) for m in nuclei]
    if max(level) <= 0:  # no region stained above the image's median: nothing to rank by
        return None
    strong = [a for a, v in zip(areas, level) if v >= RELATIVE_NUCLEUS * max(level)]
    if max(strong) < DOMINANT * sum(strong):
        return None
    groups = [np.logical_or.reduce([nuclei[i] for i in g]) for g in nucleus_groups(nuclei)]
    level = [_stain(centred, g) for g in groups]
    groups = [g for g, v in zip(groups, level) if v >= RELATIVE_NUCLEUS * max(level)]
    if not groups or len(groups) > SINGLE_CELL_GROUPS:
        return None
    bodies = [b.astype(np.uint8) for b in grow_bodies(rgb, groups)]
    solid = [solidity(b) for b in bodies]
    if len(groups) == 1 and solid[0] < BODY_SOLIDITY:  # one lobed nucleus, pale cytoplasm
        bodies = [b.astype(np.uint8) for b in grow_bodies(rgb, whole_nuclei(nucleus, groups))]
        solid = [solidity(bodies[0])]
    if min(solid) < BODY_SOLIDITY:
        return None
    return [(b, 0, 0) for b in bodies]


def find_cells(rgb: np.ndarray, nucleus_gate: bool = True) -> list[Cell]:
    """Find the white cells in an image.

    Args:
        rgb: ``uint8 (H, W, 3)`` RGB, as :func:`leukemia_core.data.images.read_image` returns.
        nucleus_gate: keep only regions that hold a nucleus and drop platelets beside a large
            cell; ``False`` gives the colour-only regions (``cells-check`` times it as the speed
            baseline).

    Returns:
        The cells, numbered 1.. in reading order; an empty list when no white cell is found
        (a pale, blank or unstained image).

    Example:
        >>> rgb = np.full((64, 64, 3), 235, np.uint8)
        >>> _ = cv2.circle(rgb, (32, 32), 12, (120, 60, 170), -1)
        >>> [c.bbox for c in find_cells(rgb)]
        [(20, 20, 25, 25)]
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    h, w = rgb.shape[:2]
    on_black = is_segmented_on_black(rgb)
    mask = cell_mask(rgb, on_black)
    # on black (a segmented cell) every non-black region is the cell: no nucleus gate
    levels = None if not nucleus_gate or on_black else stain_levels(rgb)
    nucleus = None if levels is None else nucleus_mask(rgb, levels)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return []
    largest = stats[1:, cv2.CC_STAT_AREA].max()
    min_area = max(MIN_AREA_PX, MIN_AREA_SHARE * h * w, MIN_RELATIVE_AREA * largest)
    regions, unstained = [], []
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] < min_area:
            continue
        x, y, bw, bh = stats[i, :4]
        sub = (labels[y:y + bh, x:x + bw] == i).astype(np.uint8)
        sub = cv2.copyMakeBorder(sub, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
        for part in _split_touching(sub):
            if part.sum() < min_area * 0.5:
                continue
            if nucleus is not None and not _has_nucleus(part, nucleus, x - 1, y - 1):
                unstained.append((part, x - 1, y - 1))
                continue
            regions.append((part, x - 1, y - 1))
    if not regions and unstained:
        # no region is bluer than the image's median: a white background, on which a nucleus is
        # the dark, not-red part of a large region (a single-cell image only)
        blue, nucleus = nucleus, dark_nucleus_mask(rgb, levels)
        biggest = max(unstained, key=lambda r: int(r[0].sum()))
        if biggest[0].sum() >= BODY_SHARE * h * w and _has_nucleus(biggest[0], nucleus, biggest[1], biggest[2]):
            regions = [biggest]
        elif (biggest[0].sum() >= LARGE_CELL_SHARE * h * w  # a granular cell filling the image: its
              and _has_nucleus(biggest[0], nucleus | blue, biggest[1], biggest[2], LARGE_CELL_NUCLEUS)):
            regions, nucleus = [biggest], None  # colour region is its outline (no body grown)
    # At high magnification (a white cell spans thousands of pixels) platelets and debris beside it
    # are small against it; at low magnification small and large white cells mix. On black
    # (a segmented cell) there is no nucleus mask and every region is the cell.
    if regions and nucleus is not None:
        biggest = max(int(p.sum()) for p, _, _ in regions)
        if biggest >= HIGH_MAGNIFICATION_PX:
            regions = [r for r in regions if r[0].sum() >= MIN_RELATIVE_NUCLEATED * biggest]
    if regions and nucleus is not None:
        centred = levels[0] - levels[1]
        whole = _single_cell_bodies(rgb, regions, nucleus, centred)
        if whole is not None:
            regions = whole
        elif len(regions) > 1:
            regions = _drop_weak_beside_one_cell(rgb, regions, centred)
    cells = []
    for part, ox, oy in regions:
        contours, _ = cv2.findContours(part, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        c = max(contours, key=cv2.contourArea) + np.array([ox, oy], np.int32)
        bx, by, bw, bh = cv2.boundingRect(c)
        m = cv2.moments(c)
        area = int(part.sum())
        cx, cy = (m["m10"] / m["m00"], m["m01"] / m["m00"]) if m["m00"] else (bx + bw / 2, by + bh / 2)
        border = bx <= 0 or by <= 0 or bx + bw >= w or by + bh >= h
        cells.append((by + bh / 2, bx, (bx, by, bw, bh), area, (cx, cy), c.reshape(-1, 2), border))
    cells.sort(key=lambda t: (round(t[0] / max(1.0, h / 8)), t[1]))
    return [Cell(i + 1, t[2], t[3], t[4], t[5], t[6]) for i, t in enumerate(cells)]


def cell_masks(shape: tuple[int, int], cells: list[Cell]) -> list[np.ndarray]:
    """Each cell's filled outline as a ``bool (H, W)`` mask of an image of ``shape``."""
    out = []
    for cell in cells:
        m = np.zeros(shape[:2], np.uint8)
        cv2.drawContours(m, [cell.contour.reshape(-1, 1, 2)], -1, 1, thickness=cv2.FILLED)
        out.append(m.astype(bool))
    return out
