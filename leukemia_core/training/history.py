"""A training run's ``history.json``: written whole after every epoch, and the time it records."""

from __future__ import annotations

import json
from pathlib import Path


def write_json_list(path: Path, items: list) -> None:
    """Write ``items`` as a JSON list, atomically (through a ``.tmp`` file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(items, indent=1) + "\n")
    tmp.replace(path)


def earlier_seconds(history_path: Path) -> float:
    """Seconds of the epochs a resumed run finished in earlier processes (0 without a history):
    a run's training time is this process's wall clock plus these."""
    if not Path(history_path).is_file():
        return 0.0
    return float(sum(h.get("seconds") or 0.0 for h in json.loads(Path(history_path).read_text())))
