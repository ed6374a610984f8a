"""Pieces the results tables share: Markdown rows, number formats, and a training run's facts read
from its manifest (labs, cells seen, crop, stain, recipe) and the left-out-lab reports beside it."""

from __future__ import annotations

from pathlib import Path

from ..evaluation.baseline import NAME as BASELINE
from ..jsonio import read_json
from ..models import list_models
from ..models.weights import read_manifest
from ..training import DEFAULT_SEED

#: Folder of the leave-one-lab-out reports and manifests inside the weights folder.
LOLO_DIR = "lolo"


def fmt(v, digits: int = 3) -> str:
    """``v`` with ``digits`` decimals; ``–`` for None."""
    return "–" if v is None else f"{v:.{digits}f}"


def probe_of(report: dict | None) -> str:
    """A report's lab probe on normal cells: ``"0.91 (0.25)"`` (balanced accuracy, chance); ``–`` without one."""
    hem = (((report or {}).get("lab_probe") or {}).get("classes") or {}).get("HEM") or {}
    if hem.get("balanced_accuracy") is None:
        return "–"
    return f"{fmt(hem['balanced_accuracy'], 2)} ({fmt(hem.get('chance'), 2)})"


def fmt_count(v) -> str:
    """``v`` as text; ``–`` for None."""
    return "–" if v is None else str(v)


def ba_auc(metrics: dict) -> str:
    """``"bal. acc. / AUC"`` of a metrics dict (``–`` without one)."""
    return f"{fmt(metrics.get('balanced_accuracy'))} / {fmt(metrics.get('roc_auc'))}" if metrics else "–"


def called_all(cell_metrics: dict) -> str:
    """The share of normal cells called ALL (1 - specificity), in per cent."""
    spec = cell_metrics.get("specificity")
    return "–" if spec is None else f"{100 * (1 - spec):.1f} %"


def md_row(cells: list[str]) -> str:
    """One Markdown table row of ``cells``."""
    return "| " + " | ".join(cells) + " |"


def md_header(cols: list[str]) -> list[str]:
    """A Markdown table's header row and its rule (first column left, the rest right-aligned)."""
    return [md_row(cols), "|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|"]


def role_of(s: dict) -> str:
    """A report set's role (``test``, ``val``, ``left-out``), read from its key when not stated."""
    return s.get("role") or s["key"].split("/")[-1]


def trained_labs(training: dict) -> list[str]:
    """The labs of a manifest's ``training`` images, sorted (``aria``, ``bccd``, ``cnmc``)."""
    return sorted({k.split("/")[0] for k in training.get("train", {}).get("images", {})})


def cells_seen(training: dict) -> int | None:
    """Cells a manifest's run drew: epochs x batches per epoch x batch size (None when unknown)."""
    epochs, steps, batch = training.get("epochs_run"), training.get("steps_per_epoch"), training.get("batch_size")
    return epochs * steps * batch if epochs and steps and batch else None


def lolo_reports(weights_dir: Path) -> list[tuple[dict, dict | None]]:
    """``(report, manifest)`` of each report in ``<weights_dir>/lolo/`` (``evaluate --left-out``,
    ``baseline --left-out``), with the training manifest of its weights where one is kept beside it
    (``<stem>.manifest.json``, else None): models in registry order, then the baseline; older
    weights first within a model."""
    folder = Path(weights_dir) / LOLO_DIR
    found = []
    for p in sorted(folder.glob("*.report.json")) if folder.is_dir() else []:
        rep = read_json(p)
        if rep:
            found.append((rep, read_manifest(p.name.removesuffix(".report.json"), folder, missing_ok=True)))
    order = [*list_models(), BASELINE]
    return sorted(found, key=lambda rm: (order.index(rm[0]["model"]) if rm[0]["model"] in order else len(order),
                                         rm[0].get("weights_date") or ""))


def crop_of(manifest: dict) -> str:
    """How a model crops each cell, read from its manifest's ``mask_outside``."""
    return "cell on black" if manifest.get("mask_outside", True) else "with surroundings"


def start_of(manifest: dict) -> str:
    """Where a model's weights started, read from its manifest: a pretrained start (by name),
    another model's trained weights (by file), or random initialisation."""
    start = manifest.get("init_start")
    if start:
        return f"ImageNet layers of {start['name']}"  # its source and licence: the model card
    if manifest.get("init_from"):
        return f"from {manifest['init_from']['file']} (this project's, same split)"
    return "random" if manifest.get("init", "random") == "random" else str(manifest["init"])


def stain_of(manifest: dict, jitter: str = "H/E stain jitter", none: str = "no stain jitter") -> str:
    """The stain augmentation a run trained with, read from its manifest: ``jitter`` when the H/E
    stain jitter was on, ``none`` when it was off, "no augmentation" without augmentation."""
    aug = manifest.get("training", {}).get("augmentation")
    if aug is None:
        return "no augmentation"
    return jitter if aug.get("stain_scale") or aug.get("stain_shift") else none


def sampling_of(manifest: dict) -> str | None:
    """How a run drew its batches when not by the datasets' shares (``"batches by class"``), read from
    its manifest; None for the default."""
    by = (manifest.get("training", {}).get("sampling") or {}).get("by", "dataset")
    return None if by == "dataset" else f"batches by {by}"


def recipe_of(manifest: dict | None) -> str:
    """What a training run did, read from its manifest: crop, stain jitter, colour standardising,
    backbone norm, pretrained start, instance teacher, input size and budget; ``–`` without a manifest."""
    if not manifest:
        return "–"
    tr = manifest.get("training", {})
    parts = [crop_of(manifest), stain_of(manifest)]
    if manifest.get("colour", "as is") != "as is":
        parts.append(f"colour {manifest['colour']}")
    if manifest.get("norm", "batch") != "batch":
        parts.append(f"{manifest['norm']} norm")
    start = manifest.get("init_start")
    if start:
        parts.append(f"pretrained start {start['name']}")
    if sampling := sampling_of(manifest):
        parts.append(sampling)
    inst = tr.get("instances")
    if inst:
        parts.append(f"instance teacher (left out {inst['dropped']:,} of {inst['weak_all_cells']:,} Aria ALL cells)")
    parts.append(f"{manifest.get('input_size', '–')} px")
    if tr.get("epochs_run") and tr.get("steps_per_epoch"):
        parts.append(f"{tr['epochs_run']} x {tr['steps_per_epoch']} batches")
    if tr.get("seed", DEFAULT_SEED) != DEFAULT_SEED:  # a repeat of a recipe with another seed
        parts.append(f"seed {tr['seed']}")
    return ", ".join(parts)
