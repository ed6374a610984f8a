"""Cell-level datasets: every white cell of every labelled image, cropped at the fixed cell scale.

Each cell carries its image's label, group and role. On Aria this is a **weak label**: a field is
labelled from the patient's flow cytometry, so every white cell in an ALL field is called ALL,
although some may be normal cells. C-NMC images hold one segmented cell each, with its own label.
Cells of one image (and so of one group) always share the image's role, so the group-level
leakage check on images covers cells too.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.datasets import Record
from ..data.images import HeldImage, read_image
from ..errors import ImageReadError
from .crop import CELL_SHARE, crop_cell
from .finder import find_cells

#: Datasets whose images each hold exactly one cell: keep only the largest region found.
SINGLE_CELL_DATASETS = ("cnmc",)
#: Bump when the finder or the crop changes, so cached crops are rebuilt.
CELLS_VERSION = "cells-v2"


@dataclass
class CellSet:
    """Cell crops of a list of image records.

    Attributes:
        x: ``uint8 (N, S, S, 3)`` crops.
        y: ``int32 (N,)`` class ids (0 HEM, 1 ALL) from the source image.
        image_index: ``int32 (N,)`` index into ``records`` of each cell's source image.
        border: ``bool (N,)`` the cell is cut by its image's edge.
        records: the image records (including those in which no cell was found).
        n_cells: ``int32 (len(records),)`` cells found per image (0 for unreadable images too).
        errors: ``(record, message)`` for images that could not be read.
    """

    x: np.ndarray
    y: np.ndarray
    image_index: np.ndarray
    border: np.ndarray
    records: list[Record]
    n_cells: np.ndarray
    errors: list[tuple[Record, str]]

    def subset(self, keep: np.ndarray) -> "CellSet":
        """The cells where ``keep`` (bool ``(N,)``) is true; records are kept whole."""
        return CellSet(self.x[keep], self.y[keep], self.image_index[keep], self.border[keep], self.records,
                       self.n_cells, self.errors)


def _cells_of(record: Record, size: int, share: float, masked: bool = True):
    try:
        rgb = read_image(record.path)
    except ImageReadError as exc:
        return None, str(exc)
    cells = find_cells(rgb)
    if record.dataset in SINGLE_CELL_DATASETS and len(cells) > 1:
        cells = [max(cells, key=lambda c: c.area)]
    crops = [crop_cell(rgb, c, size, share, masked) for c in cells]
    return (np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8),
            np.array([c.touches_border for c in cells], bool)), None


def _cache_key(records: Sequence[Record], size: int, share: float, masked: bool = True) -> str:
    """A short key for these settings applied to these files (path, size and mtime of each)."""
    h = hashlib.sha1(f"{CELLS_VERSION}|{size}|{share}{'' if masked else '|surroundings'}".encode())
    for r in records:
        if isinstance(r.path, HeldImage):  # an upload: its name and content
            h.update(f"{r.path.name}|{hashlib.sha1(r.path.data).hexdigest()}\n".encode())
            continue
        st = r.path.stat()
        h.update(f"{r.path.resolve()}|{st.st_size}|{int(st.st_mtime)}\n".encode())
    return h.hexdigest()[:20]


def extract_cells(records: Sequence[Record], size: int, share: float = CELL_SHARE,
                  cache_dir: Path | None = None, workers: int | None = None, masked: bool = True) -> CellSet:
    """Find and crop every white cell of every record (decoded once; optionally cached on disk);
    ``masked`` False keeps each cell's surroundings in its crop."""
    records = list(records)
    cache = Path(cache_dir) / f"cells-{_cache_key(records, size, share, masked)}.npz" if cache_dir and records else None
    if cache is not None and cache.is_file():
        with np.load(cache) as z:
            err = [(records[i], "could not be read (cached result)") for i in z["bad"]]
            return CellSet(z["x"], z["y"], z["image_index"], z["border"], records, z["n_cells"], err)
    workers = workers or min(8, (os.cpu_count() or 2) * 2)
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda r: _cells_of(r, size, share, masked), records))
    xs, idx, borders, errors, bad = [], [], [], [], []
    n_cells = np.zeros(len(records), np.int32)
    for i, (r, (res, err)) in enumerate(zip(records, results)):
        if res is None:
            errors.append((r, err))
            bad.append(i)
            continue
        crops, border = res
        n_cells[i] = len(crops)
        xs.append(crops)
        borders.append(border)
        idx.extend([i] * len(crops))
    x = np.concatenate(xs) if xs else np.zeros((0, size, size, 3), np.uint8)
    image_index = np.array(idx, np.int32)
    y = np.array([records[i].y for i in image_index], np.int32)
    border = np.concatenate(borders) if borders else np.zeros(0, bool)
    out = CellSet(x, y, image_index, border, records, n_cells, errors)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, x=x, y=y, image_index=image_index, border=border, n_cells=n_cells,
                 bad=np.array(bad, np.int32))
        tmp.replace(cache)
    return out
