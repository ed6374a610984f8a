"""Training cells in one file: the crops a ``train`` run cuts, so that a machine without the
datasets (the GPU machine of the JAX path, which receives at most 64 MiB) trains on exactly them.

``python -m leukemia_core cells-pack`` finds and crops the training and validation cells as
``train`` would (same records, leakage check, crop and size; border cells left out of training) and
writes one ``.npz``: the crops JPEG-coded as one mosaic (quality 90 by default, colour at full
resolution; each crop in its own 8-pixel-aligned tile, so it is coded as if alone),
the class, image index and border flag of each cell, and each image's record. ``train --cells-pack
FILE`` then reads the crops from the file instead of the images; its manifest names the file, its
sha256, the datasets the pack was cut from and the mean absolute pixel error the JPEG coding left
(measured when the pack is written), so the training data stay traceable. Only NumPy arrays of
numbers and strings are stored: the file loads without pickle.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import cv2
import numpy as np

from ..cells.dataset import CellSet
from ..data.datasets import Record
from ..errors import LeukemiaCoreError
from ..models.weights import sha256_of

PACK_FORMAT = 1
ROLES = ("train", "val")
PER_ROW = 64  # crops per row of the JPEG mosaic
#: colour at full resolution (4:4:4): stain colour is what the models must not lose on small crops
_FULL_CHROMA = ([cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
                if hasattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR") else [])


def _encode(x: np.ndarray, quality: int) -> tuple[np.ndarray, float]:
    """The crops ``x`` (``uint8 (N, S, S, 3)``) as one JPEG mosaic, :data:`PER_ROW` crops a row,
    each in a tile padded to a multiple of 8 pixels so that no JPEG block spans two crops (one
    header for all crops, and each crop coded as if alone). Returns the file's bytes and the mean
    absolute pixel error of the decoded crops."""
    n, size = len(x), x.shape[1]
    if not n:
        return np.zeros(0, np.uint8), 0.0
    tile = -(-size // 8) * 8
    rows = -(-n // PER_ROW)
    mosaic = np.zeros((rows * tile, PER_ROW * tile, 3), np.uint8)
    for i, crop in enumerate(x):
        r, c = divmod(i, PER_ROW)
        mosaic[r * tile:r * tile + size, c * tile:c * tile + size] = crop
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(mosaic, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality, *_FULL_CHROMA])
    if not ok:
        raise LeukemiaCoreError("the crops could not be JPEG-coded")
    err = float(np.abs(_decode(buf.ravel(), n, size).astype(np.int16) - x).mean())
    return buf.ravel(), err


def _decode(buf: np.ndarray, n: int, size: int) -> np.ndarray:
    """The ``n`` crops of side ``size`` of a mosaic written by :func:`_encode`."""
    if not n:
        return np.zeros((0, size, size, 3), np.uint8)
    mosaic = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    tile = -(-size // 8) * 8
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        r, c = divmod(i, PER_ROW)
        out[i] = mosaic[r * tile:r * tile + size, c * tile:c * tile + size]
    return out


def write_pack(out: Path, cells: dict[str, tuple[list[Record], CellSet]], settings: dict,
               quality: int = 90) -> dict:
    """Write ``cells`` (``{"train" | "val": (records, CellSet)}``) to ``out``; return the pack's
    description (also stored in it). ``settings``: ``input_size``, ``cell_share``, ``mask_outside``,
    ``data`` and ``exclude_parts`` of the cut, checked again when a run reads the pack."""
    arrays, counts, errors = {}, {}, []
    for role, (records, cs) in cells.items():
        data, err = _encode(cs.x, quality)
        arrays.update({f"{role}_jpeg": data, f"{role}_y": cs.y,
                       f"{role}_image_index": cs.image_index, f"{role}_border": cs.border,
                       f"{role}_n_cells": cs.n_cells,
                       f"{role}_records": np.array([json.dumps(r.as_dict()) for r in records], dtype=str)})
        counts[role] = int(len(cs.y))
        errors.append((err, len(cs.y)))
    n = sum(k for _, k in errors)
    meta = {"format": PACK_FORMAT, **settings, "jpeg_quality": quality, "cells": counts,
            "jpeg_mean_abs_error": round(sum(e * k for e, k in errors) / max(1, n), 3),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
    tmp.replace(out)
    return meta


def read_pack(path: Path, settings: dict) -> tuple[dict[str, tuple[list[Record], CellSet]], dict]:
    """The cells of a pack and its description (with ``file`` and ``sha256`` added).

    Raises:
        LeukemiaCoreError: no such file, not a pack, or cut with another input size, cell share
            or crop than ``settings`` asks for.
    """
    path = Path(path)
    if not path.is_file():
        raise LeukemiaCoreError(f"{path}: no such cells pack (write one with cells-pack)")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] for k in z.files if k != "meta"}
    except (OSError, ValueError, KeyError) as exc:
        raise LeukemiaCoreError(f"{path}: not a cells pack ({exc})") from None
    if meta.get("format") != PACK_FORMAT:
        raise LeukemiaCoreError(f"{path}: cells pack format {meta.get('format')}, expected {PACK_FORMAT}")
    differ = [f"{k} {meta.get(k)} (asked: {v})" for k, v in settings.items() if meta.get(k) != v]
    if differ:
        raise LeukemiaCoreError(f"{path}: the pack was cut otherwise: {'; '.join(differ)}")
    out = {}
    for role in ROLES:
        if f"{role}_y" not in arrays:
            continue
        x = _decode(arrays[f"{role}_jpeg"], len(arrays[f"{role}_y"]), int(meta["input_size"]))
        records = [_record(json.loads(s)) for s in arrays[f"{role}_records"]]
        cs = CellSet(x, arrays[f"{role}_y"],
                     arrays[f"{role}_image_index"], arrays[f"{role}_border"], records, arrays[f"{role}_n_cells"], [])
        out[role] = (records, cs)
    return out, {**meta, "file": path.name, "sha256": sha256_of(path)}


def _record(d: dict) -> Record:
    return Record(**{**d, "path": Path(d["path"])})
