"""Levers against the lab shortcut, measured on frozen ImageNet features: does a linear head on a
pretrained DenseNet121's features (the encoder the install step builds) carry from one lab to
another, and which input lever helps? Writes model_weights/levers_frozen.json and the
``frozen-levers`` block of docs/training.md.

    .venv/bin/python tools/frozen_levers.py [--data ../shared/data]

Cells: C-NMC's 129 images (the centre cell), 300 Aria training fields and 200 Aria test fields (150 / 100
per class, drawn with seed 0; their whole cells), every BCCD image, 200 wbcseg images. Inputs
(levers): the cell with its surroundings (the encoder's own crop), the cell on black, on black in
grayscale, on black with each cell's colour standardised in Lab space (mean and spread of its pixels
set to fixed values: a per-cell stain normalisation). For each: a logistic regression on the
standardised features, trained on the other labs, scored by ROC AUC on a left-out lab (C-NMC left
out: trained on Aria's training fields, with or without BCCD's and wbcseg's normal cells, with or
without batches weighted per (lab, class); Aria left out: trained on C-NMC + BCCD, scored on Aria's
test fields); and the lab probe of :mod:`leukemia_core.evaluation.lab_probe` on the normal cells.
Nothing here trains a network: it asks whether pretrained features alone read the cell.
"""
import argparse
import csv
import dataclasses
import datetime as dt
import random
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from leukemia_core.adaptation.features import encoder_source, lab_features  # noqa: E402
from leukemia_core.data.datasets import Record, read_dataset  # noqa: E402
from leukemia_core.docblocks import write_block  # noqa: E402
from leukemia_core.evaluation.lab_probe import probe  # noqa: E402
from leukemia_core.jsonio import write_json  # noqa: E402

OUT = ROOT / "model_weights" / "levers_frozen.json"
DOC = ROOT / "docs" / "training.md"
LAB_MEAN, LAB_STD = np.array([55.0, 150.0, 110.0]), np.array([18.0, 10.0, 10.0])


def _sample(recs, n, rng):
    recs = list(recs)
    rng.shuffle(recs)
    return recs[:n]


def labs_of(data: Path) -> dict:
    rng = random.Random(0)
    aria = [r for r in read_dataset(data / "aria_all") if r.part == "Original"]
    pick = {role: _sample([r for r in aria if r.split == role and r.label == "hem"], n, rng)
            + _sample([r for r in aria if r.split == role and r.label == "all"], n, rng)
            for role, n in (("train", 150), ("test", 100))}
    wb = [Record(data / "wbcseg" / row["image"], "hem", f"wbcseg{row['dataset']}-{i // 20}", "wbcseg", "test",
                 f"dataset{row['dataset']}", row["wbc_type"])
          for i, row in enumerate(csv.DictReader(open(data / "wbcseg" / "index.csv")))]
    return {"cnmc": (read_dataset(data / "cnmc2019"), "centre"), "aria_train": (pick["train"], "all"),
            "aria_test": (pick["test"], "all"), "bccd": (read_dataset(data / "bccd"), "all"),
            "wbcseg": (_sample(wb, 200, rng), "centre")}


def gray(c):
    g = cv2.cvtColor(c, cv2.COLOR_RGB2GRAY)
    return np.repeat(g[..., None], 3, -1)


def lab_standardised(c):
    m = c.max(-1) > 8
    if m.sum() < 20:
        return c
    lab = cv2.cvtColor(c, cv2.COLOR_RGB2LAB).astype(np.float32)
    px = lab[m]
    lab[m] = (px - px.mean(0)) / (px.std(0) + 1e-3) * LAB_STD + LAB_MEAN
    out = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    out[~m] = 0
    return out


def features(labs: dict) -> dict:
    """``{lever: {lab: (x, y, groups)}}`` for the four input levers."""
    base = encoder_source("densenet121")
    masked = dataclasses.replace(base, mask_outside=True)
    out = {k: {} for k in ("with surroundings", "on black", "on black, grayscale", "on black, Lab-standardised")}
    for lab, (recs, rule) in labs.items():
        lc = lab_features(base, recs, rule=rule)
        out["with surroundings"][lab] = (lc.x, lc.y, lc.groups)
        lc = lab_features(masked, recs, rule=rule)
        out["on black"][lab] = (lc.x, lc.y, lc.groups)
        for name, fn in (("on black, grayscale", gray), ("on black, Lab-standardised", lab_standardised)):
            out[name][lab] = (masked.features(np.stack([fn(c) for c in lc.crops])), lc.y, lc.groups)
        print(lab, len(lc.y), "cells", flush=True)
    return out


def head_auc(feats: dict, train: list[str], test: str, balance: bool) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([feats[t][0] for t in train])
    y = np.concatenate([feats[t][1] for t in train])
    lab = np.concatenate([[t] * len(feats[t][1]) for t in train])
    w = None
    if balance:  # every (lab, class) weighs the same
        keys = np.array([f"{a}|{b}" for a, b in zip(lab, y)])
        u, c = np.unique(keys, return_counts=True)
        w = np.array([1.0 / dict(zip(u, c))[k] for k in keys])
        w *= len(w) / w.sum()
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000,
                                                                class_weight=None if balance else "balanced"))
    model.fit(x, y, logisticregression__sample_weight=w)
    return float(roc_auc_score(feats[test][1], model.predict_proba(feats[test][0])[:, 1]))


TRAININGS = [("C-NMC left out", ["aria_train"], "cnmc", False, "Aria"),
             ("C-NMC left out", ["aria_train", "bccd"], "cnmc", False, "Aria + BCCD"),
             ("C-NMC left out", ["aria_train", "bccd"], "cnmc", True, "Aria + BCCD, balanced per (lab, class)"),
             ("C-NMC left out", ["aria_train", "bccd", "wbcseg"], "cnmc", True,
              "Aria + BCCD + wbcseg, balanced per (lab, class)"),
             ("Aria left out", ["cnmc", "bccd"], "aria_test", False, "C-NMC + BCCD")]


def measure(feats_by_lever: dict) -> dict:
    out = {}
    for lever, feats in feats_by_lever.items():
        rows = [{"left_out": lo, "trained_on": name, "roc_auc": head_auc(feats, tr, te, bal)}
                for lo, tr, te, bal, name in TRAININGS]
        hem = [(lab, *feats[lab]) for lab in ("cnmc", "aria_train", "bccd", "wbcseg")]
        x = np.concatenate([f[k] for _, f, y, _ in hem for k in [y == 0]])
        labs = np.concatenate([[lab] * int((y == 0).sum()) for lab, _, y, _ in hem])
        groups = np.concatenate([[f"{lab}:{g}" for g in gs[y == 0]] for lab, _, y, gs in hem])
        hem_probe = probe(x, labs, np.zeros(len(labs), int), groups)["HEM"]
        out[lever] = {"heads": rows, "lab_probe_normal_cells": {
            "balanced_accuracy": hem_probe["balanced_accuracy"], "chance": hem_probe["chance"],
            "labs": hem_probe["labs"]}}
    return out


def table(result: dict) -> str:
    levers = list(result["levers"])
    head = ["head trained on", "lab left out"] + [f"ROC AUC: {lv}" for lv in levers]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * len(levers)) + "|"]
    for i, (lo, _, _, _, name) in enumerate(TRAININGS):
        lines.append("| " + " | ".join([name, lo] + [f"{result['levers'][lv]['heads'][i]['roc_auc']:.3f}"
                                                      for lv in levers]) + " |")
    probes = [result["levers"][lv]["lab_probe_normal_cells"] for lv in levers]
    lines.append("| lab probe, normal cells of 4 labs (bal. acc.; chance "
                 f"{probes[0]['chance']:.2f}) | - | " + " | ".join(f"{p['balanced_accuracy']:.3f}" for p in probes)
                 + " |")
    lines += ["", f"Generated by `.venv/bin/python tools/frozen_levers.py` ({result['created']}); cells per lab: "
              + ", ".join(f"{k} {v}" for k, v in result["cells"].items()) + "."]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--no-doc", action="store_true")
    args = p.parse_args(argv)
    labs = labs_of(Path(args.data))
    feats = features(labs)
    result = {"format": "leukemia_core.levers_frozen/1", "encoder": "densenet121 (ImageNet, frozen)",
              "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "cells": {lab: int(len(v[1])) for lab, v in feats["on black"].items()}, "levers": measure(feats)}
    write_json(OUT, result)
    text = table(result)
    print(text)
    if not args.no_doc:
        write_block(DOC, "frozen-levers", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
