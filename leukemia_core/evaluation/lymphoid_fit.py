"""``python -m leukemia_core lymphoid-gate``: fit a model's lymphoid gate and measure it on cells and
labs it was not fitted on.

Cells with a type: BCCD's (one type per image) and wbcseg's two labs (400 single cells); lymphoid
cells without a type label: C-NMC's and Aria's (B-lymphoid, ALL and normal), a fixed-seed sample of
their training role. Only images with one type and exactly one whole cell found are used (the typed
cell is then the found one). Measured, each time with the measured cells out of the fit:

* **BCCD test role**: the gate fitted on BCCD's training and validation roles, both wbcseg labs and
  the C-NMC / Aria sample;
* **each wbcseg lab left out**: fitted on BCCD (training and validation), the other wbcseg lab and the
  sample: a lab the gate never saw;
* **C-NMC and Aria test roles**: the share of their (lymphoid) cells the gate lets through.

The gate stored in the model's calibration (``lymphoid_gate``) is the first fit (BCCD's test role
stays out of it). Writes ``model_weights/lymphoid_gate.json`` (``{"models": {name: result}}``) and
the ``lymphoid-gate`` block of docs/results.md.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..cells.dataset import extract_cells
from ..data.datasets import read_many
from ..data.names import NON_LYMPHOID
from ..errors import LeukemiaCoreError
from ..inference import Predictor, load_model
from ..jsonio import with_other_models, write_json
from ..models.calibration import calibration_path
from ..models.lymphoid import GATE_FORMAT, OTHER_TYPES, fit_gate, fit_types, not_lymphoid, other_types
from ..paths import weights_dir_or_default

#: Datasets whose images carry a white-cell type (one typed cell per image).
TYPED = ("bccd", "wbcseg")
#: Untyped lymphoid cells per lab and role drawn for a fit or a pass-rate (fixed seed).
MAX_LAB_CELLS = 300


def _typed(records) -> list:
    """Records of one white-cell type (no ``a+b``, no empty type)."""
    return [r for r in records if r.subclass and "+" not in r.subclass]


def _cells(records, pred: Predictor, cache_dir, max_cells: int | None = None, seed: int = 0) -> dict:
    """``{x: features, lymphoid, type, group, lab}`` of the whole cells of ``records`` (typed images:
    only those with exactly one cell found)."""
    loaded = pred.loaded
    cs = extract_cells(records, loaded.input_size, loaded.cell_share, cache_dir, masked=loaded.mask_outside)
    keep = []
    for i, img in enumerate(cs.image_index):
        rec = cs.records[img]
        if cs.border[i] or (rec.dataset in TYPED and cs.n_cells[img] != 1):
            continue
        keep.append(i)
    keep = np.asarray(keep, int)
    if max_cells and len(keep) > max_cells:
        keep = np.sort(np.random.default_rng(seed).choice(keep, max_cells, replace=False))
    recs = [cs.records[cs.image_index[i]] for i in keep]
    types = np.array([r.subclass if r.dataset in TYPED else "lymphoid (B)" for r in recs])
    x = cs.x[keep].astype(np.float32) / np.float32(255.0)
    return {"x": pred.features(x) if len(keep) else np.zeros((0, 1)), "type": types,
            "lymphoid": np.array([t not in NON_LYMPHOID for t in types], bool),
            "group": np.array([r.group for r in recs]), "lab": np.array([r.part if r.dataset == "wbcseg" else
                                                                          r.dataset for r in recs])}


def _join(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _rates(gate: dict, cells: dict) -> dict:
    if not len(cells["type"]):
        return {"cells": 0}
    stop = not_lymphoid(gate, cells["x"])
    lym, other = cells["lymphoid"], ~cells["lymphoid"]
    kinds = other_types(gate, cells["x"])
    by_type = {}
    for t in sorted(set(cells["type"].tolist())):
        sel = cells["type"] == t
        by_type[t] = {"cells": int(sel.sum()), "stopped": float(stop[sel].mean())}
        if kinds is not None and t in OTHER_TYPES:  # the type head's name for it, stopped or not
            by_type[t]["named_right"] = float((np.asarray(kinds)[sel] == t).mean())
    return {"cells": int(len(stop)), "lymphoid_cells": int(lym.sum()), "other_cells": int(other.sum()),
            "lymphoid_pass": float((~stop[lym]).mean()) if lym.any() else None,
            "other_stopped": float(stop[other].mean()) if other.any() else None, "by_type": by_type}


def fit_and_measure(name: str, data: list[Path], weights_dir=None, cache_dir=None, write: bool = True) -> dict:
    """Fit ``name``'s gate, store it in its calibration (``write``) and return the measured figures."""
    wdir = weights_dir_or_default(weights_dir)
    loaded = load_model(name, wdir)
    pred = Predictor(loaded)
    records = read_many(data)
    by = {}
    for key, pick, cap in (("bccd_fit", lambda r: r.dataset == "bccd" and r.split in ("train", "val"), None),
                           ("bccd_test", lambda r: r.dataset == "bccd" and r.split == "test", None),
                           ("wbcseg_dataset1", lambda r: r.dataset == "wbcseg" and r.part == "dataset1", None),
                           ("wbcseg_dataset2", lambda r: r.dataset == "wbcseg" and r.part == "dataset2", None),
                           ("lab_fit", lambda r: r.dataset in ("cnmc", "aria") and r.split == "train"
                            and r.part != "Segmented", MAX_LAB_CELLS),
                           ("cnmc_test", lambda r: r.dataset == "cnmc" and r.split == "test", MAX_LAB_CELLS),
                           ("aria_test", lambda r: r.dataset == "aria" and r.split == "test"
                            and r.part != "Segmented", MAX_LAB_CELLS)):
        recs = [r for r in records if pick(r)]
        recs = _typed(recs) if key.startswith(("bccd", "wbcseg")) else recs
        by[key] = _cells(recs, pred, cache_dir, cap)
    if not len(by["bccd_fit"]["type"]) or not len(by["lab_fit"]["type"]):
        raise LeukemiaCoreError("the lymphoid gate needs BCCD's typed cells and C-NMC or Aria cells among the data")

    def fit(parts):
        j = _join([by[p] for p in parts])
        gate = fit_gate(j["x"], j["lymphoid"], j["group"])
        gate["types"] = fit_types(gate, j["x"], j["type"])  # the differential's other types
        return gate

    shipped = fit(["bccd_fit", "wbcseg_dataset1", "wbcseg_dataset2", "lab_fit"])
    shipped["weights_sha256"] = loaded.manifest.get("weights_sha256")
    sets = {"bccd/test": _rates(shipped, by["bccd_test"]), "cnmc/test": _rates(shipped, by["cnmc_test"]),
            "aria/test": _rates(shipped, by["aria_test"])}
    for lab, other in (("wbcseg_dataset1", "wbcseg_dataset2"), ("wbcseg_dataset2", "wbcseg_dataset1")):
        sets[f"{lab.replace('_', ' ')}/left-out"] = _rates(fit(["bccd_fit", other, "lab_fit"]), by[lab])
    if write:  # the type head is measured, not served (it does not carry to another lab)
        served = {k: v for k, v in shipped.items() if k != "types"}
        write_json(calibration_path(wdir, name), replace(loaded.calibration, lymphoid_gate=served).to_json())
    return {"format": GATE_FORMAT, "model": name, "weights_sha256": shipped["weights_sha256"],
            "threshold": shipped["threshold"], "keep_lymphoid": shipped["keep_lymphoid"],
            "fitted_on": shipped["n_cells"], "out_of_fold": shipped["out_of_fold"], "sets": sets}


def write_result(result: dict, out: Path) -> None:
    """Write one model's result into ``out`` (``{"models": {name: result}}``), keeping the others."""
    write_json(out, with_other_models(out, {"format": GATE_FORMAT, "models": {result["model"]: result}}, ()))


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def _named(s: dict) -> str:
    """``neutrophil 91 % (67), ...``: each other type's cells the type head names right."""
    parts = [f"{t} {_pct(v['named_right'])} ({v['cells']})" for t, v in s.get("by_type", {}).items()
             if v.get("named_right") is not None]
    return "; ".join(parts) or "–"


def table(doc: dict) -> str:
    """The docs block: per model and set, other white cells stopped, lymphoid cells let through, and
    each other type named right by the gate's type head (the differential)."""
    lines = ["| model | cells | other white cells stopped | lymphoid cells let through | type named right (cells) |",
             "|---|---|---:|---:|---|"]
    for name, r in sorted(doc.get("models", {}).items()):
        for key, s in r["sets"].items():
            if not s.get("cells"):
                continue
            lines.append(f"| {name} | {key} ({s['other_cells']} other, {s['lymphoid_cells']} lymphoid) | "
                         f"{_pct(s['other_stopped'])} | {_pct(s['lymphoid_pass'])} | {_named(s)} |")
    lines += ["", "Generated by `python -m leukemia_core lymphoid-gate --model all --data ../shared/data/bccd "
              "--data ../shared/data/wbcseg --data ../shared/data/cnmc2019 --data ../shared/data/aria_all`. "
              "Targets: other white cells stopped >= 95 %, lymphocytes let through >= 95 %."]
    return "\n".join(lines)
