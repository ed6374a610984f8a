"""JSON files of the project (reports, manifests, calibrations, results): read with a clear error,
written atomically so a crash never leaves half a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .errors import WeightsError


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
