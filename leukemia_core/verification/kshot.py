"""How many of its own cells a lab needs: a site profile fitted on k images per class of one lab,
scored on the rest of that lab, against no profile and against the oracle threshold.

For each lab folder (C-NMC, Aria ...) only the images of one role are used (default ``test``:
never used to train or choose anything for the shipped model), so the lab's images are new to the
model although the lab's other images were in its training data; this is said in the output.
Per k and random draw: :func:`~.study.kshot_split` draws k images per class group by group (the
fit part), :func:`~.profile.fit_profile` fits the profile on them, and the rest (every image of
the groups not drawn from) is scored three ways:

* **no profile**: the stored calibration and threshold;
* **profile**: the site profile's calibration, threshold and field threshold;
* **oracle**: the best threshold chosen on the scored images themselves (an upper bound).

Balanced accuracy is reported per level (cell; image = the field's call) as the mean over draws.
The result is ``model_weights/site_kshot.json`` (format :data:`KSHOT_FORMAT`); :func:`kshot_table`
makes the README's table from it.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..data.datasets import read_dataset
from ..docblocks import markers, write_block_from_json
from ..errors import LeukemiaCoreError
from ..jsonio import write_json
from ..paths import weights_dir_or_default
from .profile import fit_profile
from ..stats import balanced_accuracy, best_threshold_balanced_accuracy
from .study import kshot_split, level_arrays, score_images

KSHOT_FORMAT = "leukemia_core.site_kshot/1"
BLOCK = "site-kshot"
START, END = markers(BLOCK)
#: The issue's targets: a profile within this of the oracle, and at least this above no profile
#: where the stored threshold is off.
ORACLE_MARGIN, GAIN = 0.05, 0.10
#: Seeds tried per draw wanted (a seed whose fit part leaves no group of a class to score is skipped).
MAX_TRIES = 5


def _three(part, stored, prof_cal) -> dict:
    """Balanced accuracy of ``part`` per level: no profile, profile, oracle."""
    none, prof = level_arrays(part, stored), level_arrays(part, prof_cal)
    out = {}
    for level in ("cell", "image"):
        y, p, called, _ = none[level]
        out[level] = {"none": balanced_accuracy(y, called), "profile": balanced_accuracy(prof[level][0], prof[level][2]),
                      "oracle": best_threshold_balanced_accuracy(y, p)[1]}
    return out


def _summary(values: list[dict]) -> dict:
    out = {}
    for level in ("cell", "image"):
        out[level] = {}
        for how in ("none", "profile", "oracle"):
            v = np.array([d[level][how] for d in values if d[level][how] is not None], float)
            out[level][how] = float(v.mean()) if len(v) else None
            out[level][how + "_sd"] = float(v.std(ddof=1)) if len(v) > 1 else None
    return out


def kshot_lab(scored, stored, ks: Sequence[int], draws: int) -> dict:
    """The k-shot figures of one lab's scored images (:class:`~.study.ScoredImages`)."""
    whole = _three(scored, stored, stored)
    out = {"images": {"all": int(np.sum(scored.y == 1)), "hem": int(np.sum(scored.y == 0))},
           "cells": int(sum(len(r) for r in scored.raw)), "groups": len({r.group for r in scored.records}),
           "all_images": {lvl: {"none": whole[lvl]["none"], "oracle": whole[lvl]["oracle"]} for lvl in whole},
           "k": {}}
    for k in ks:
        runs, sizes = [], []
        for d in range(draws * MAX_TRIES):  # a draw that leaves a class nothing to score is skipped
            if len(runs) == draws:
                break
            split = kshot_split(scored.records, k, seed=d)
            if split is None:
                continue
            fit, rep = split
            prof = fit_profile(scored, fit, f"k{k}-draw{d}", stored, seed=d)
            runs.append(_three(scored.subset(rep), stored, prof.calibration))
            sizes.append(len(rep))
        if not runs:
            out["k"][str(k)] = {"draws": 0, "note": f"fewer than {k} images per class plus one group left to score"}
            continue
        row = {"draws": len(runs), "report_images_mean": float(np.mean(sizes)), **_summary(runs)}
        for level in ("cell", "image"):
            r = row[level]
            if None not in (r["none"], r["profile"], r["oracle"]):
                r["gain"], r["gap_to_oracle"] = r["profile"] - r["none"], r["oracle"] - r["profile"]
                r["within_oracle_margin"] = bool(r["gap_to_oracle"] <= ORACLE_MARGIN)
                r["gain_reached"] = bool(r["gain"] >= GAIN)
        out["k"][str(k)] = row
    return out


def run_kshot(model: str, data: Sequence[str], ks: Sequence[int] = (10, 20, 50), draws: int = 20,
              role: str = "test", weights_dir: Path | None = None, out: Path | None = None,
              cache_dir: Path | None = None, progress: Callable[[str], None] | None = None) -> dict:
    """Measure k-shot site profiles of ``model`` on each lab folder of ``data`` (its ``role``
    images); write the JSON to ``out`` when given and return it."""
    from ..inference import load_model
    from ..provenance import git_commit

    wdir = weights_dir_or_default(weights_dir)
    loaded = load_model(model, wdir)
    labs = {}
    for folder in data:
        recs = [r for r in read_dataset(Path(folder)) if r.split == role and r.part != "Segmented"]
        if not recs:
            raise LeukemiaCoreError(f"{folder}: no {role}-role images")
        name = recs[0].dataset
        if progress:
            progress(f"{model}: scoring {len(recs)} {role}-role images of {folder}")
        scored = score_images(loaded, recs, cache_dir=cache_dir)
        lab = kshot_lab(scored, loaded.calibration, ks, draws)
        lab.update({"data": str(folder), "set": f"{name}/{role}", "role": role, "skipped": len(scored.skipped)})
        labs[name] = lab
    result = {"format": KSHOT_FORMAT, "model": model, "weights_sha256": loaded.manifest.get("weights_sha256"),
              "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "commit": git_commit(),
              "role": role, "ks": list(ks), "draws": draws, "stored_threshold": loaded.calibration.threshold,
              "method": "per lab: its " + role + "-role images only (never used to train or choose anything for the "
                        "model; the lab's other images were in its training data). Per k and draw: k images per "
                        "class drawn group by group (patients on C-NMC, blocks of fields on Aria) fit a site "
                        "profile; every image of the other groups is scored. Balanced accuracy: mean over draws. "
                        "oracle = best threshold chosen on the scored images themselves (upper bound).",
              "labs": labs}
    if out is not None:
        write_json(Path(out), result)
    return result


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def kshot_table(result: dict) -> str:
    """The README's Markdown table of a :func:`run_kshot` result (cell and image level)."""
    lines = [f"Site profiles of `{result['model']}` (weights {str(result['weights_sha256'])[:12]}), "
             f"{result['draws']} random draws per k; balanced accuracy on the rest of each lab's "
             f"{result['role']}-role images, mean (sd) over draws. Written by `python -m leukemia_core verify-kshot` "
             "into `model_weights/site_kshot.json`.", "",
             "| lab (set) | k per class | draws | images scored | level | no profile | profile | oracle "
             "| profile - no profile | oracle - profile |",
             "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for name, lab in result["labs"].items():
        for k, row in lab["k"].items():
            if not row.get("draws"):
                lines.append(f"| {name} ({lab['set']}) | {k} | 0 | – | – | – | – | – | – | – |")
                continue
            for level in ("cell", "image"):
                r = row[level]
                sd = f" ({r['profile_sd']:.3f})" if r.get("profile_sd") is not None else ""
                lines.append(f"| {name} ({lab['set']}) | {k} | {row['draws']} | {row['report_images_mean']:.0f} | "
                             f"{level} | {_f(r['none'])} | {_f(r['profile'])}{sd} | {_f(r['oracle'])} | "
                             f"{_f(r.get('gain'))} | {_f(r.get('gap_to_oracle'))} |")
    lines += ["", "No profile: the stored calibration and threshold (fitted on the model's validation cells). "
              "Oracle: the best threshold on the scored images themselves, an upper bound no lab can choose (on a "
              "handful of scored images it is optimistic). Targets (issue 17, k = 20): oracle - profile <= "
              f"{ORACLE_MARGIN:.2f}; profile - no profile >= {GAIN:.2f} where the stored threshold is off. "
              "An image of C-NMC is one cell (both levels agree); an Aria image is a smear field whose cells carry "
              "the field's label."]
    return "\n".join(lines)


def write_readme_block(readme: Path, result_path: Path) -> str:
    """Replace the text between :data:`START` and :data:`END` in ``readme`` with the table of the
    JSON at ``result_path``; return the table. Raises LeukemiaCoreError without the markers."""
    return write_block_from_json(Path(readme), BLOCK, Path(result_path), kshot_table, "verify-kshot")
