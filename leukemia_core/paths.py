"""Where the project's folders and files are: the project root, the weights folder and the file
names of a model's artefacts in it (one resolver each)."""

from __future__ import annotations

import os
from pathlib import Path

#: The checkout's root (the folder holding ``leukemia_core/``, ``app.py`` and ``model_weights/``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Environment variable naming another weights folder.
WEIGHTS_ENV = "LEUKEMIA_WEIGHTS_DIR"


def default_weights_dir() -> Path:
    """``$LEUKEMIA_WEIGHTS_DIR`` if set, else the project's ``model_weights/``."""
    return Path(os.environ.get(WEIGHTS_ENV) or PROJECT_ROOT / "model_weights")


def weights_dir_label(weights_dir: str | Path | None = None) -> str:
    """How pages and reports name a weights folder without printing a path of this machine: the
    project's ``model_weights/``, the folder ``$LEUKEMIA_WEIGHTS_DIR`` names, or "the weights folder"."""
    wdir = Path(weights_dir_or_default(weights_dir)).resolve()
    if wdir == (PROJECT_ROOT / "model_weights").resolve():
        return "the project's model_weights/ folder"
    if os.environ.get(WEIGHTS_ENV) and wdir == Path(os.environ[WEIGHTS_ENV]).resolve():
        return f"the weights folder {WEIGHTS_ENV} names"
    return "the weights folder"


def folder_label(path: str | Path) -> str:
    """A data folder named without this machine's part of its path: its last two parts
    (``aria_all/Original``), as pages and reports show it."""
    return "/".join(Path(path).parts[-2:])


def weights_dir_or_default(weights_dir: str | Path | None) -> Path:
    """``weights_dir`` as a Path, or :func:`default_weights_dir` when it is None or empty."""
    return Path(weights_dir) if weights_dir else default_weights_dir()


#: Artefact kinds made on each machine from the weights, kept in :func:`exports_dir`, not the weights folder.
EXPORT_KINDS = ("onnx", "onnx_record")

#: A model's artefact files in the weights folder, by kind: ``<name><suffix>``. The one place these
#: names are spelled (:func:`artefact_path`; :mod:`leukemia_core.models.card` resolves them per model).
ARTEFACT_SUFFIXES = {
    "weights": ".weights.npz",          # train: the shipped weights
    "manifest": ".manifest.json",       # train: what the weights are (input size, sha256, training)
    "calibration": ".calibration.json",  # evaluate --calibrate: calibrator, threshold, refer band
    "report": ".report.json",           # evaluate / baseline: the scored sets
    "onnx": ".onnx",                     # export-onnx: the ONNX graph (in :func:`exports_dir`)
    "onnx_record": ".onnx.json",         # export-onnx: the graph's sha256, source weights, parity (beside it)
    "history": ".history.json",         # train: one entry per epoch
}


def artefact_file(name: str, kind: str) -> str:
    """File name of ``name``'s artefact ``kind`` (a key of :data:`ARTEFACT_SUFFIXES`): ``proposed.report.json``.

    Raises:
        KeyError: an unknown kind.
    """
    return f"{name}{ARTEFACT_SUFFIXES[kind]}"


def exports_dir(weights_dir: str | Path | None = None) -> Path:
    """The folder beside a weights folder that holds its ONNX exports: ``<weights_dir>-onnx``
    (``model_weights-onnx/`` for the shipped models).

    The exports are made from the weights on each machine (``export-onnx``, run by the install step)
    and are larger than the weights, so they live outside the shipped folder and its size budget.
    """
    wdir = weights_dir_or_default(weights_dir).resolve()
    return wdir.parent / f"{wdir.name}-onnx"


def pretrained_dir(weights_dir: str | Path | None = None) -> Path:
    """``<weights_dir>-pretrained``: weights converted from registry packages by the install step
    (pretrained encoders and training starts), beside the weights folder, git-ignored."""
    wdir = weights_dir_or_default(weights_dir).resolve()
    return wdir.parent / f"{wdir.name}-pretrained"


def artefact_path(name: str, kind: str, weights_dir: str | Path | None = None) -> Path:
    """``<weights_dir>/<name><suffix>`` (default folder: :func:`default_weights_dir`); an ONNX export
    and its record are in :func:`exports_dir` of that folder."""
    if kind in EXPORT_KINDS:
        return exports_dir(weights_dir) / artefact_file(name, kind)
    return weights_dir_or_default(weights_dir) / artefact_file(name, kind)
