"""JSON files of the project (reports, manifests, calibrations, results): read with a clear error,
written atomically so a crash never leaves half a file."""

from __future__ import annotations

import json
import re
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


#: A JSON number as ``json.dumps`` writes it (NaN and infinities included).
_NUMBER = r"-?(?:\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|NaN|Infinity)"
#: A list holding only numbers, as ``json.dumps(indent=...)`` spreads it over one line per number.
#: The line breaks are required: a string never holds one (``json.dumps`` escapes it), so text
#: inside a string that looks like a list is never touched.
_NUMBER_LIST = re.compile(r"\[\n\s*(" + _NUMBER + r"(?:,\n\s*" + _NUMBER + r")*)\n\s*\]")


def dumps(data) -> str:
    """``data`` as the project writes JSON: indented one space per level, but each list of numbers
    on one line (feature means, coefficients, a cell's P(ALL) values: one number a line would make
    the files in model_weights/ a third larger and no easier to read)."""
    text = json.dumps(data, indent=1, sort_keys=False, default=_json_default)
    return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text)


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically (a crash never leaves half a file), as :func:`dumps` lays it out."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(dumps(data) + "\n")
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
