"""Shipped weights: a compact ``.npz`` format, checksums and manifests.

Large float arrays are stored as float16 (halving the files); small ones (biases, batch-norm
statistics) stay float32. Loading restores exactly the values in the file, and every evaluation
report is computed from the loaded, shipped values, so the reports describe what ships.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.preprocess import CELL_SHARE
from ..errors import WeightsError
from ..paths import ARTEFACT_SUFFIXES, weights_dir_or_default
from .registry import get_spec

#: File name of a model's manifest: ``<name>.manifest.json``.
MANIFEST_SUFFIX = ARTEFACT_SUFFIXES["manifest"]

FLOAT16_MIN_SIZE = 4096


def sha256_of(path: Path) -> str:
    """Hex sha256 of the file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_weights_npz(model, path: Path) -> str:
    """Write ``model``'s variables, in order, to ``path``; return the file's sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for i, v in enumerate(model.weights):
        a = np.asarray(v.numpy() if hasattr(v, "numpy") else v)
        if a.dtype == np.float32 and a.size >= FLOAT16_MIN_SIZE:
            a = a.astype(np.float16)
        arrays[f"w{i:05d}"] = a
    arrays["names"] = np.array([v.path for v in model.weights])
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return sha256_of(path)


def load_weights_into(model, path: Path, sha256: str | None = None) -> None:
    """Load weights into ``model`` (``.weights.npz`` written here, or Keras ``.weights.h5``).

    Raises:
        WeightsError: the file is missing, its sha256 differs from ``sha256``, or it does not
            fit the model (another architecture or input size).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    if sha256 is not None:
        actual = sha256_of(path)
        if actual != sha256:
            raise WeightsError(f"{path}: sha256 {actual[:12]}... does not match the manifest's "
                               f"{sha256[:12]}...; the file was altered or belongs to another model")
    if path.name.endswith(".h5") or path.name.endswith(".keras"):
        try:
            model.load_weights(path)
        except Exception as exc:  # keras raises many types here
            raise WeightsError(f"{path}: does not fit model {model.name} ({exc})") from None
        return
    try:
        with np.load(path, allow_pickle=False) as z:
            n = sum(1 for k in z.files if k.startswith("w"))
            if n != len(model.weights):
                raise WeightsError(f"{path}: holds {n} arrays, model {model.name} has {len(model.weights)}; "
                                   f"it belongs to another model or input size")
            for i, v in enumerate(model.weights):
                a = z[f"w{i:05d}"]
                if tuple(a.shape) != tuple(v.shape):
                    raise WeightsError(f"{path}: array {i} ({v.path}) has shape {a.shape}, model expects "
                                       f"{tuple(v.shape)}; wrong model or input size")
                v.assign(a.astype(v.dtype))
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"{path}: not a readable weights file ({exc})") from None


def load_matching_weights(model, path: Path) -> tuple[int, int]:
    """Load from a ``.weights.npz`` every array whose variable name and shape match one of
    ``model``'s (e.g. a trained EfficientNet-B0's backbone into ``proposed``, which shares its layer
    names); the rest keeps its initialisation. Returns ``(loaded, model's variable count)``.

    Raises:
        WeightsError: the file is missing, unreadable, or not one of this project's npz files.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "names" not in z.files:
                raise WeightsError(f"{path}: has no variable names; only .weights.npz files written here work")
            source = {str(n): z[f"w{i:05d}"] for i, n in enumerate(z["names"])}
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"{path}: not a readable weights file ({exc})") from None
    loaded = 0
    for v in model.weights:
        a = source.get(v.path)
        if a is not None and tuple(a.shape) == tuple(v.shape):
            v.assign(a.astype(v.dtype))
            loaded += 1
    return loaded, len(model.weights)


def read_json(path: Path) -> Any:
    """Parsed JSON of ``path``; None when the file does not exist.

    Raises:
        WeightsError: the file exists but is not readable JSON.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{path}: unreadable JSON file ({exc})") from None


def manifest_path(name: str, weights_dir: str | Path | None = None) -> Path:
    """``<weights_dir>/<name>.manifest.json`` (default folder: :func:`~leukemia_core.paths.default_weights_dir`)."""
    return weights_dir_or_default(weights_dir) / f"{name}{MANIFEST_SUFFIX}"


def read_manifest(name: str, weights_dir: str | Path | None = None, *, missing_ok: bool = False) -> dict | None:
    """The manifest ``train`` wrote for ``name``: the one reader of manifests.

    Returns None for a missing file when ``missing_ok``.

    Raises:
        WeightsError: missing (unless ``missing_ok``), unreadable, or not a JSON object.
    """
    p = manifest_path(name, weights_dir)
    man = read_json(p)
    if man is None:
        if missing_ok:
            return None
        raise WeightsError(f"no manifest for model {name!r} in {p.parent} (expected {p.name}); "
                           f"train it with: python -m leukemia_core train --model {name} ...")
    if not isinstance(man, dict):
        raise WeightsError(f"{p}: not a manifest (expected a JSON object)")
    return man


@dataclass(frozen=True)
class InputConfig:
    """How a model's inputs are made: the one place that resolves them (as timm's
    ``resolve_data_config``): the manifest's values where it has them, else the defaults.

    Attributes:
        input_size: side of the square crop in pixels.
        cell_share: the cell's diameter as a share of the crop (:data:`~leukemia_core.data.preprocess.CELL_SHARE`).
        noise_reduction: whether crops are smoothed before the model (``training.noise_reduction``).
        source: ``"manifest"`` or ``"defaults (no manifest)"``.
        mask_outside: the crops show the cell alone on black (the manifest's ``mask_outside``;
            False for a model trained ``--with-surroundings``).
    """

    input_size: int
    cell_share: float
    noise_reduction: bool
    source: str
    mask_outside: bool = True


def resolve_input_config(name: str, manifest: dict | None) -> InputConfig:
    """The :class:`InputConfig` of ``name`` given its manifest (None: the registry's defaults)."""
    spec = get_spec(name)
    if manifest is None:
        return InputConfig(spec.input_size, CELL_SHARE, True, "defaults (no manifest)")
    return InputConfig(int(manifest.get("input_size", spec.input_size)),
                       float(manifest.get("cell_share", CELL_SHARE)),
                       bool(manifest.get("training", {}).get("noise_reduction", True)), "manifest",
                       bool(manifest.get("mask_outside", True)))


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically (a crash never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False, default=_json_default) + "\n")
    tmp.replace(path)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")
