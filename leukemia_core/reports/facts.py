"""Facts about the models as tables: manifests (size, training), and per-model figures of
``bench.json`` and ``cam_check.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from ..models.weights import read_manifest
from ..paths import artefact_file, weights_dir_or_default
from .files import BASELINE, short_sha


def model_facts(names: Sequence[str], wdir: Path | None = None) -> pd.DataFrame:
    """One row per model with a manifest: parameters, file size, input size, training facts."""
    wdir = weights_dir_or_default(wdir)
    rows = []
    for n in names:
        man = read_manifest(n, wdir, missing_ok=True)
        if man is None:
            continue
        tr = man.get("training", {})
        wfile = wdir / man.get("weights_file", artefact_file(n, "weights"))
        sel = tr.get("selected_epoch") or {}
        rows.append({
            "model": n, "description": man.get("description", ""), "parameters": man.get("params"),
            "file size (MB)": round(wfile.stat().st_size / 2**20, 2) if wfile.is_file() else None,
            "input size (px)": man.get("input_size"), "initialisation": man.get("init"),
            "epochs run": tr.get("epochs_run"), "epochs max": tr.get("epochs_max"),
            "selected epoch": sel.get("epoch"),
            "training time (min)": round(tr["seconds"] / 60, 1) if tr.get("seconds") is not None else None,
            "seed": tr.get("seed"), "commit": short_sha(man.get("commit")), "date": man.get("date"),
        })
    return pd.DataFrame(rows, columns=["model", "description", "parameters", "file size (MB)", "input size (px)",
                                       "initialisation", "epochs run", "epochs max", "selected epoch",
                                       "training time (min)", "seed", "commit", "date"])


def training_data_table(name: str, wdir: Path | None = None) -> pd.DataFrame:
    """Image counts and groups per split the model's manifest records."""
    man = read_manifest(name, wdir, missing_ok=True) or {}
    tr = man.get("training", {})
    rows = []
    for role in ("train", "val"):
        summ = tr.get(role) or {}
        for key, count in (summ.get("images") or {}).items():
            rows.append({"used for": role, "dataset/split/label": key, "images": count})
        for key, count in (summ.get("groups") or {}).items():
            rows.append({"used for": role, "dataset/split/label": f"{key} (groups)", "images": count})
    return pd.DataFrame(rows, columns=["used for", "dataset/split/label", "images"])


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + " "))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = v
        elif isinstance(v, str) and len(v) < 40:
            out[key] = v
    return out


def per_model_table(data: dict | None, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Top-level figures per model from a ``{"models": {name: {...}}}`` file (bench, cam check).

    Nested detail (a bench ``profile``, per-image lists) is left out. A list of rows with a
    ``model`` field is also accepted. Empty without data.
    """
    if not data:
        return pd.DataFrame()
    models = data.get("models", data.get("results"))
    rows = []
    if isinstance(models, dict):
        rows = [{"model": n, **{k: x for k, x in v.items() if not isinstance(x, (dict, list))}}
                for n, v in models.items() if isinstance(v, dict)]
    elif isinstance(models, list):
        rows = [{"model": r.get("model", ""), **_flatten({k: v for k, v in r.items() if k != "model"})}
                for r in models if isinstance(r, dict)]
    df = pd.DataFrame(rows)
    if names is not None and not df.empty:
        df = df[df["model"].isin(list(names) + [BASELINE])]
    return df.reset_index(drop=True)
