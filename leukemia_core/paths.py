"""Where the project's folders are: the project root and the weights folder (one resolver)."""

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


def weights_dir_or_default(weights_dir: str | Path | None) -> Path:
    """``weights_dir`` as a Path, or :func:`default_weights_dir` when it is None or empty."""
    return Path(weights_dir) if weights_dir else default_weights_dir()
