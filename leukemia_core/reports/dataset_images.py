"""Finding the dataset images a report names: they live in the user's data folder
(``$LEUKEMIA_DATA`` or the path as stored)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..paths import PROJECT_ROOT

#: Environment variable naming the folder that holds the datasets (for report images).
DATA_ENV = "LEUKEMIA_DATA"


def resolve_image(stored: str, data_roots: Sequence[str] = (), data_env: str | None = None) -> Path | None:
    """Find an image named in a report on this machine, or None.

    Tries, in order: the path as stored (absolute, or relative to the working directory and to the
    project); then, under ``$LEUKEMIA_DATA`` (or ``data_env``): the path relative to the data
    folder the report was made from (with and without that folder's own name), and the stored
    path's trailing parts, longest first.
    """
    p = Path(stored)
    cands = [p] if p.is_absolute() else [Path.cwd() / p, PROJECT_ROOT / p]
    base = data_env if data_env is not None else os.environ.get(DATA_ENV, "")
    if base:
        root = Path(base).expanduser()
        for d in data_roots:
            dp = Path(d)
            try:
                rel = p.relative_to(dp)
            except ValueError:
                continue
            cands += [root / rel, root / dp.name / rel]
        parts = p.parts[1:] if p.is_absolute() else p.parts
        parts = tuple(x for x in parts if x not in ("..", "."))
        cands += [root.joinpath(*parts[i:]) for i in range(max(0, len(parts) - 6), len(parts))]
    for c in cands:
        if c.is_file():
            return c
    return None


def data_hint(report: dict | None = None) -> str:
    """Where to point ``$LEUKEMIA_DATA`` so that report images are found."""
    roots = ", ".join((report or {}).get("data", [])) or "the dataset folder"
    now = os.environ.get(DATA_ENV)
    state = f"It is now {now!r}." if now else "It is not set."
    return (f"The image files of this report are not reachable from here. Set the environment variable "
            f"{DATA_ENV} to the folder that holds the data the report was made from ({roots}), "
            f"then restart the app. {state}")
