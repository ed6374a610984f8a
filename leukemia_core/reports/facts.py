"""Facts about the models as tables: manifests (size, training), and per-model figures of
``bench.json`` and ``cam_check.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from ..models import get_spec
from ..models.weights import read_manifest
from ..paths import artefact_file, weights_dir_or_default
from .files import BASELINE, short_sha
from .tables import crop_of, sampling_of, start_of, trained_labs


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
            "input size (px)": man.get("input_size"), "initialisation": start_of(man),
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


def card_text(name: str, man: dict) -> list[str]:
    """A model card's two paragraphs, read from the manifest: what the model is (description,
    input, class-activation layer, parameters, weights sha256, commit), then how it was trained
    (labs by dataset name, never a path of this machine; crop; where its weights started; epochs;
    how the kept epoch was chosen; seed, batch and learning rate)."""
    spec = get_spec(name)
    tr = man.get("training", {})
    sel = tr.get("selected_epoch") or {}
    chosen = tr.get("selection") or "a validation figure"
    recipe = "; ".join(filter(None, [crop_of(man), sampling_of(man)]))
    return [
        f"**{spec.description}**. Input {man.get('input_size')} px RGB in [0, 1]; class-activation layer "
        f"`{spec.cam_layer}`; {man.get('params', 'n/a')} parameters; weights sha256 "
        f"`{str(man.get('weights_sha256', ''))[:16]}...`; commit `{str(man.get('commit', ''))[:12]}`, "
        f"{man.get('date', '')}.",
        f"Trained on {' + '.join(trained_labs(tr)) or 'n/a'} ({recipe}; weights started: {start_of(man)}); "
        f"{tr.get('epochs_run', 'n/a')} epochs run of {tr.get('epochs_max', 'n/a')}; weights of epoch "
        f"{sel.get('epoch', 'n/a')} ({sel.get('phase', '')}) kept, chosen as the {chosen} (the validation role: "
        f"not a test set); seed {tr.get('seed', 'n/a')}; batch {tr.get('batch_size', 'n/a')}, learning rate "
        f"{tr.get('learning_rate', 'n/a')}.",
    ]
