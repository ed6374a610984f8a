"""wbcseg (Zheng et al., Micron 2018): single normal white cells from two labs, with expert masks.

Layout, as distributed::

    <root>/dataset1/NNN.bmp + NNN.png     120x120 single-cell images (one lab, a rapid stain)
    <root>/dataset2/NNN.bmp + NNN.png     300x300 single-cell images (CellaVision-type, red cells around)
    <root>/index.csv                      image, mask, dataset, wbc_type, label, ... per image

Each image shows one white cell; its mask marks the nucleus (255) and the cytoplasm (128), the rest
(background and red cells) is 0. Every cell is normal (``hem``): the two labs serve the finder (one
cell, its outline against the expert mask), the lymphoid gate (the cell types) and measures of how
a model reads labs it never saw. They are never training data for ALL/HEM here: a lab of one class
teaches "a new look means HEM". Every record is a ``test`` record (reported only); groups are blocks
of :data:`WBCSEG_BLOCK` consecutive images of one lab.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetLayoutError

WBCSEG_BLOCK = 20
INDEX = "index.csv"
#: Mask values above this are nucleus, from :data:`CYTOPLASM_MIN` up to it cytoplasm (a few masks
#: carry stray values around 128 and 255).
NUCLEUS_MIN, CYTOPLASM_MIN = 200, 64


@dataclass(frozen=True)
class WbcsegImage:
    """One image of the set: its file, its expert mask file, its lab (``dataset1``/``dataset2``) and
    the cell's type (``lymphocyte``, ``neutrophil``, ``monocyte``, ``eosinophil``, ``basophil``);
    ``group``: its block of :data:`WBCSEG_BLOCK` consecutive images of its lab."""

    image: Path
    mask: Path
    lab: str
    wbc_type: str
    group: str


def is_wbcseg(root: Path) -> bool:
    """True when ``root`` holds wbcseg's ``index.csv`` (with a ``mask`` column) and ``dataset1/``."""
    root = Path(root)
    index = root / INDEX
    if not (index.is_file() and (root / "dataset1").is_dir()):
        return False
    with open(index, newline="") as f:
        return {"image", "mask", "wbc_type"} <= set(next(csv.reader(f), []))


def wbcseg_images(root: Path) -> list[WbcsegImage]:
    """Every image of the index, in its order.

    Raises:
        DatasetLayoutError: no readable index, or an index naming no image.
    """
    root = Path(root)
    try:
        with open(root / INDEX, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise DatasetLayoutError(f"{root}: no readable wbcseg {INDEX} ({exc.strerror or exc})") from None
    out, seen = [], {}
    for r in rows:
        if not r.get("image"):
            continue
        lab = f"dataset{r['dataset']}"
        seen[lab] = seen.get(lab, -1) + 1
        out.append(WbcsegImage(root / r["image"], root / r["mask"], lab, r["wbc_type"],
                               f"wbcseg-{lab}-{seen[lab] // WBCSEG_BLOCK:03d}"))
    if not out:
        raise DatasetLayoutError(f"{root}: the wbcseg {INDEX} names no image")
    return out


def read_mask(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(nucleus, cell)`` boolean masks of an expert mask file (``cell`` = nucleus or cytoplasm).

    Raises:
        DatasetLayoutError: the file cannot be read as an image.
    """
    import cv2

    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise DatasetLayoutError(f"{path}: not a readable mask image")
    return m > NUCLEUS_MIN, m >= CYTOPLASM_MIN
