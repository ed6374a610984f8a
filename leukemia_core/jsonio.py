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


def _scalar(v) -> bool:
    return not isinstance(v, (dict, list))


def _one_line(o) -> bool:
    """A list of numbers, or a dict whose values are scalars or lists of numbers: one line reads
    as well as many (a cell's P(ALL) values, one image's row of a report, a calibration bin)."""
    if isinstance(o, list):
        return all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in o)
    if isinstance(o, dict):
        return all(_scalar(v) or (isinstance(v, list) and _one_line(v)) for v in o.values())
    return True


def _layout(o, depth: int) -> str:
    if not o or not isinstance(o, (dict, list)) or _one_line(o):
        return json.dumps(o)
    pad = " " * (depth + 1)
    if isinstance(o, dict):
        items = [f"{pad}{json.dumps(k)}: {_layout(v, depth + 1)}" for k, v in o.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"
    return "[\n" + ",\n".join(pad + _layout(v, depth + 1) for v in o) + "\n" + " " * depth + "]"


def dumps(data) -> str:
    """``data`` as the project writes JSON: indented one space per level, but each list of numbers
    and each dict of scalars (and lists of numbers) on one line: one value a line would make the
    files in model_weights/ a third larger and no easier to read. Lists of strings keep one item a
    line."""
    # one pass through json.dumps turns NumPy values, paths and tuples into plain JSON values
    return _layout(json.loads(json.dumps(data, default=_json_default)), 0)


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically (a crash never leaves half a file), as :func:`dumps` lays it out."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(dumps(data) + "\n")
    tmp.replace(path)


def with_other_models(path: Path, result: dict, same: tuple[str, ...]) -> dict:
    """``result`` (``{..., "models": {name: ...}}``) with the entries of the other models already in
    ``path``, kept only when that file's values of the keys ``same`` (data, role, method ...) equal
    ``result``'s: a run for one model then leaves the others' figures in place, and a run with other
    settings replaces the file whole."""
    old = read_json(path)
    if not isinstance(old, dict) or any(old.get(k) != result.get(k) for k in same):
        return result
    models = {k: v for k, v in (old.get("models") or {}).items() if k not in result["models"]}
    return {**result, "models": {**models, **result["models"]}}


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
