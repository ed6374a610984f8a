"""The recipe comparisons (``<!-- ablations:start -->`` in docs/results.md): each variant of a shipped
model trained with one thing changed (input size, no stain jitter ...) beside the shipped model, on
the cross-lab validation score that chooses the epoch and on the same-lab test blocks.

A variant lives in ``model_weights/ablations/<stem>.{report,manifest,history}.json``: the manifest
and history its ``train`` run exported, the report its ``evaluate`` wrote. Its weights are not
shipped. What a variant changed is read from its manifest against the shipped model's (input
size, start, crop, stain jitter, backbone normalisation, labs, epochs), never typed by hand.
"""

from __future__ import annotations

from pathlib import Path

from ..models.weights import read_manifest
from ..jsonio import read_json
from ..paths import artefact_path
from ..docblocks import markers
from .tables import ba_auc, called_all, crop_of, fmt, md_header, md_row, stain_of, start_of

ABLATIONS_BLOCK = "ablations"
ABLATIONS_START, ABLATIONS_END = markers(ABLATIONS_BLOCK)
ABLATIONS_DIR = "ablations"
ABLATIONS_HEADER = ["weights", "start", "input px", "crop", "stain jitter", "backbone norm", "training", "cross-lab val score (chose the epoch)",
                    "val cells AUC: Aria / C-NMC / BCCD", "Aria test fields: bal. acc. / AUC",
                    "C-NMC fold_2 cells: bal. acc. / AUC", "BCCD test cells called ALL"]


def variant_files(weights_dir: Path) -> dict[str, dict]:
    """``{stem: {"report", "manifest", "history"}}`` of every variant with all three files."""
    folder = Path(weights_dir) / ABLATIONS_DIR
    out = {}
    for rep in sorted(folder.glob("*.report.json")):
        stem = rep.name.removesuffix(".report.json")
        files = {"report": read_json(rep), "manifest": read_manifest(stem, folder, missing_ok=True),
                 "history": read_json(artefact_path(stem, "history", folder))}
        if all(files.values()):
            out[stem] = files
    return out


def _selected(manifest: dict, history: list) -> dict:
    """The history entry of the epoch the run chose (its manifest's ``selected_epoch``)."""
    sel = manifest.get("training", {}).get("selected_epoch") or {}
    return next((h for h in history if h.get("phase") == sel.get("phase") and h.get("epoch") == sel.get("epoch")), {})


def _row_of(label: str, files: dict) -> str:
    man, hist, rep = files["manifest"], files["history"], files["report"]
    tr = man.get("training", {})
    h = _selected(man, hist)
    sets = {s["key"]: s for s in rep.get("sets", [])}
    budget = (f"{tr.get('epochs_run')} x {tr.get('steps_per_epoch')} batches, {tr['seconds'] / 60:.0f} min"
              if tr.get("seconds") else "–")
    return md_row([label, start_of(man), str(man.get("input_size", "–")), crop_of(man), stain_of(man, "H/E", "none"),
                 man.get("norm", "batch"), budget,
                 f"{fmt(h.get('val_score'))} (epoch {h.get('epoch', '–')})",
                 " / ".join(fmt(h.get(f"val_{lab}_auc")) for lab in ("aria", "cnmc", "bccd")),
                 ba_auc((sets.get("aria-original/test") or {}).get("metrics") or {}),
                 ba_auc((sets.get("cnmc/test") or {}).get("cell_metrics") or {}),
                 called_all((sets.get("bccd/test") or {}).get("cell_metrics") or {})])


def build_ablations(weights_dir: Path) -> str:
    """The comparison table: per architecture with a variant, the shipped model's row, then each
    variant's; the shipped rows come from ``model_weights/<model>.*``."""
    wdir = Path(weights_dir)
    variants = variant_files(wdir)
    if not variants:
        return ("_No recipe variant measured yet: train one with `--weights-dir runs/<variant>`, evaluate it, and "
                f"copy its report, manifest and history to `model_weights/{ABLATIONS_DIR}/`._")
    lines = [*md_header(ABLATIONS_HEADER)]
    for model in sorted({v["manifest"].get("name") for v in variants.values()}):
        shipped = {"report": read_json(artefact_path(model, "report", wdir)),
                   "manifest": read_manifest(model, wdir, missing_ok=True),
                   "history": read_json(artefact_path(model, "history", wdir))}
        if all(shipped.values()):
            lines.append(_row_of(f"shipped `{model}`", shipped))
        lines += [_row_of(f"`{model}`, variant `{stem.removeprefix(model + '-')}`", f) for stem, f in variants.items()
                  if f["manifest"].get("name") == model]
    lines += ["", "Each variant ran the shipped model's command with what its row's columns show changed (same "
                  "labs, seed, epochs and batches); it chose its epoch by the cross-lab validation score, so that score "
                  "is a validation figure, not a test. The test blocks chose nothing. Weights of the variants are "
                  f"not shipped; their files are in `model_weights/{ABLATIONS_DIR}/`."]
    return "\n".join(lines)
