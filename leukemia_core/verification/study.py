"""A verification study: the lab's labelled images through a model, and its figures.

Input: folders in any layout :func:`leukemia_core.data.datasets.read_dataset` reads (``all/``,
``hem/``; C-NMC; Aria), or a CSV of file names and labels (:func:`read_labels_csv`). Each image is
read cell by cell as ``predict`` reads it (whole cells count for the image; an image without a
found cell is classified whole), and every cell's *raw* P(ALL) is kept, so the figures can be
computed under the stored calibration and under a site profile without running the model again.

The fit/report split of a site calibration is grouped: all images of one group (a patient from a
C-NMC file name or the CSV's ``group`` column; a block of fields on Aria; else the file itself)
fall on one side, so the lab's figures after calibration are measured on cells the calibration
never saw.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from ..cells.analyze import counted_cells
from ..cells.crop import whole_image_crop
from ..cells.dataset import extract_cells
from ..data.datasets import LABELS, Record, patient_or_file, read_many
from ..data.images import HeldImage, read_image
from ..errors import DatasetLayoutError, ImageReadError, LeukemiaCoreError
from ..models.calibration import Calibration, reliability, threshold_in_use
from ..models.ood import is_outside
from ..stats import binary_figures, bootstrap_auc

#: Label spellings a CSV may use, per class.
LABEL_WORDS = {"all": "all", "1": "all", "all (leukemic)": "all", "blast": "all", "leukemic": "all",
               "hem": "hem", "0": "hem", "normal": "hem", "hem (normal)": "hem"}
_FILE_COLUMNS = ("file", "filename", "file_name", "path", "image", "name", "new_names")
_LABEL_COLUMNS = ("label", "labels", "class", "truth", "diagnosis")
_GROUP_COLUMNS = ("group", "patient", "patient_id", "slide", "case")


class VerificationError(LeukemiaCoreError):
    """The lab's images cannot be verified as given (no labels, one class only, nothing readable)."""


def read_labels_csv(path: Path) -> list[Record]:
    """Records from a CSV of file names and labels (columns ``file``/``path``/``image`` ...,
    ``label`` = all/hem (or 1/0), optional ``group``/``patient``). Files are relative to the
    CSV's folder. Raises :class:`VerificationError` naming the rows it cannot use."""
    path = Path(path)
    try:
        rows = list(csv.DictReader(path.open(newline="", encoding="utf-8-sig")))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise VerificationError(f"{path}: unreadable label CSV ({exc})") from None
    cols = {c.strip().lower(): c for c in (rows[0].keys() if rows else [])}
    fcol = next((cols[c] for c in _FILE_COLUMNS if c in cols), None)
    lcol = next((cols[c] for c in _LABEL_COLUMNS if c in cols), None)
    gcol = next((cols[c] for c in _GROUP_COLUMNS if c in cols), None)
    if fcol is None or lcol is None:
        raise VerificationError(f"{path}: no labels found: expected a column of file names ({', '.join(_FILE_COLUMNS)})"
                                f" and one of labels ({', '.join(_LABEL_COLUMNS)}: all/hem or 1/0)")
    out, bad = [], []
    for i, row in enumerate(rows, 2):
        name, word = (row.get(fcol) or "").strip(), (row.get(lcol) or "").strip().lower()
        label = LABEL_WORDS.get(word)
        if not name or label is None:
            bad.append(f"line {i}: {name or '(no file)'} {word or '(no label)'}")
            continue
        p = Path(name) if Path(name).is_absolute() else path.parent / name
        group = ((row.get(gcol) or "").strip() if gcol else "") or patient_or_file(p.name, name)
        out.append(Record(p, label, group, "site", "unsplit", "csv"))
    if bad:
        raise VerificationError(f"{path}: {len(bad)} row(s) without a file name or a label all/hem: "
                                + "; ".join(bad[:5]) + (" ..." if len(bad) > 5 else ""))
    return out


def read_labelled(paths: Sequence[str | Path] = (), labels_csv: str | Path | None = None,
                  exclude_parts: Sequence[str] = ("Segmented",),
                  uploads: Mapping[str, Sequence[tuple[str, bytes]]] | None = None) -> list[Record]:
    """The lab's labelled images: from folders (any layout the loader reads), a label CSV and/or
    ``uploads`` (``{"all" | "hem": [(file name, bytes), ...]}``, read from memory: nothing is
    written to disk). An uploaded file's group is its C-NMC patient where its name gives one, else
    the file itself, as for a folder.

    Raises:
        VerificationError: no labelled image found, or only one class, or an unknown upload label.
    """
    records: list[Record] = []
    for label, files in (uploads or {}).items():
        if label not in LABELS:
            raise VerificationError(f"uploads labelled {label!r}: expected one of {', '.join(LABELS)}")
        for name, data in files:
            name = Path(name).name
            group = patient_or_file(name, f"{label}/{name}")
            records.append(Record(HeldImage(name, bytes(data)), label, group, "folder", "unsplit", "upload"))
    for p in paths:
        if not Path(p).exists():
            raise VerificationError(f"{p}: no such folder")
        try:
            records += [r for r in read_many([p]) if r.part not in exclude_parts]
        except DatasetLayoutError as exc:
            raise VerificationError(f"no labels found. {exc}") from None
    if labels_csv:
        records += read_labels_csv(Path(labels_csv))
    check_classes(records)
    return records


def check_classes(records: Sequence[Record]) -> None:
    """Raise :class:`VerificationError` unless there are images of both classes."""
    n = {lab: sum(r.label == lab for r in records) for lab in LABELS}
    if not records:
        raise VerificationError("no labelled images found: give folders all/ and hem/, or a CSV of file names "
                                "and labels")
    missing = [lab.upper() for lab, k in n.items() if not k]
    if missing:
        have = next(lab.upper() for lab, k in n.items() if k)
        raise VerificationError(f"one class only: {n[have.lower()]} {have} image(s) and no {missing[0]} image: "
                                "sensitivity and specificity need labelled images of both classes")


@dataclass
class ScoredImages:
    """One model's reading of the lab's images (those that could be read).

    Attributes:
        model, weights_sha256: the model and the weights file it ran with.
        records: the images read, in order.
        raw: per image, ``float64 (C_i,)`` the raw (uncalibrated) P(ALL) of the cells that count for
            its call (whole cells; all cells when every one touches the edge; the whole image when
            no cell was found).
        crops: per image, ``uint8 (C_i, S, S, 3)`` those cells' crops (empty for a whole-image call).
        n_found: ``int (M,)`` cells found per image (0: classified whole).
        skipped: ``{path, error}`` of images that could not be read.
    """

    model: str
    weights_sha256: str
    records: list[Record]
    raw: list[np.ndarray]
    crops: list[np.ndarray]
    n_found: np.ndarray
    skipped: list[dict] = field(default_factory=list)

    @property
    def y(self) -> np.ndarray:
        """``int (M,)`` the images' labels (0 HEM, 1 ALL)."""
        return np.array([r.y for r in self.records], int)

    def subset(self, idx: Sequence[int]) -> "ScoredImages":
        """The images at ``idx`` only."""
        idx = list(idx)
        return ScoredImages(self.model, self.weights_sha256, [self.records[i] for i in idx],
                            [self.raw[i] for i in idx], [self.crops[i] for i in idx], self.n_found[idx],
                            self.skipped)


def score_images(loaded, records: Sequence[Record], progress: Callable[[int, int], None] | None = None,
                 chunk: int = 16, cache_dir: Path | None = None, batch_size: int = 64) -> ScoredImages:
    """Read every record cell by cell with ``loaded`` (a :class:`~leukemia_core.inference.LoadedModel`).

    ``progress(done, total)`` is called after each chunk of ``chunk`` images. Unreadable images go
    to ``skipped``. Raises :class:`VerificationError` when no image can be read.
    """
    from ..inference import Predictor

    pred = Predictor(loaded, batch_size)
    records = list(records)
    kept, raw, crops, n_found, skipped = [], [], [], [], []
    for start in range(0, len(records), chunk):
        part = records[start:start + chunk]
        cs = extract_cells(part, loaded.input_size, loaded.cell_share, cache_dir, masked=loaded.mask_outside)
        bad = {id(r): msg for r, msg in cs.errors}
        p = pred.predict(cs.x.astype(np.float32) / 255.0).astype(np.float64) if len(cs.x) else np.zeros(0)
        for i, r in enumerate(part):
            if id(r) in bad:
                skipped.append({"path": str(r.path), "error": bad[id(r)]})
                continue
            sel = np.flatnonzero(cs.image_index == i)
            use = sel[counted_cells(cs.border[sel])]
            if not len(use):  # no cell found: the whole image, as predict does
                try:
                    x = whole_image_crop(read_image(r.path), loaded.input_size)[None]
                except ImageReadError as exc:
                    skipped.append({"path": str(r.path), "error": str(exc)})
                    continue
                raw.append(pred.predict(x.astype(np.float32) / 255.0).astype(np.float64))
                crops.append(np.zeros((0,) + cs.x.shape[1:], np.uint8))
            else:
                raw.append(p[use])
                crops.append(cs.x[use])
            kept.append(r)
            n_found.append(int(cs.n_cells[i]))
        if progress:
            progress(min(start + chunk, len(records)), len(records))
    if not kept:
        raise VerificationError(f"none of the {len(records)} image(s) could be read: "
                                + "; ".join(s["error"] for s in skipped[:3]))
    return ScoredImages(loaded.name, str(loaded.manifest.get("weights_sha256", "")), kept, raw, crops,
                        np.array(n_found, int), skipped)


def level_arrays(scored: ScoredImages, cal: Calibration, threshold: float | None = None) -> dict:
    """Calibrated scores and calls at both levels: ``{"cell": (y, p, called, image_of),
    "image": (y, p, called, image_of)}`` (arrays; ``image_of`` = index of each row's image)."""
    thr = threshold_in_use(threshold, cal.threshold)
    cells_p = [cal.apply(r) for r in scored.raw]
    y_img = scored.y
    p_img = np.array([c.mean() for c in cells_p])
    img_thr = np.array([cal.image_threshold(thr, int(k)) for k in scored.n_found])
    cy = np.concatenate([[y] * len(c) for y, c in zip(y_img, cells_p)]).astype(int)
    cp = np.concatenate(cells_p)
    of = np.concatenate([[i] * len(c) for i, c in enumerate(cells_p)]).astype(int)
    return {"cell": (cy, cp, cp >= thr, of), "image": (y_img, p_img, p_img >= img_thr, np.arange(len(y_img)))}


def figures(scored: ScoredImages, cal: Calibration, threshold: float | None = None, n_boot: int = 1000,
            seed: int = 0) -> dict:
    """The study's figures under ``cal`` (and ``threshold``; default the calibration's own).

    Returns ``{"threshold", "cell": F, "image": F, "ood_flagged"}``, ``F`` = :func:`binary_figures`
    plus ``roc_auc`` (bootstrap interval; cells resampled by image), ``roc`` (``fpr``/``tpr``
    lists), ``reliability`` (10 bins) and ``n``. ``ood_flagged``: share of multi-cell images the
    colour check flags under ``cal``'s reference.
    """
    from ..evaluation.metrics import roc_points

    thr = threshold_in_use(threshold, cal.threshold)
    out = {"threshold": thr}
    for level, (y, p, called, of) in level_arrays(scored, cal, thr).items():
        f = binary_figures(y, called)
        f["roc_auc"] = bootstrap_auc(y, p, groups=of if level == "cell" else None, n_boot=n_boot, seed=seed)
        roc = roc_points(y, p)
        f["roc"] = {"fpr": roc["fpr"], "tpr": roc["tpr"]}
        f["reliability"] = reliability(y, p)
        f["n"] = int(len(y))
        out[level] = f
    fields = [c for c, k in zip(scored.crops, scored.n_found) if len(c)]
    out["ood_flagged"] = (float(np.mean([is_outside(cal.reference, c) for c in fields])) if fields and cal.reference
                          else None)
    return out


def acceptance(figs: dict, min_sensitivity: float | None, min_specificity: float | None,
               level: str = "cell") -> dict:
    """The lab's acceptance criteria against ``figs[level]``: ``{met, criteria: [...]}``.

    A criterion is met when the point estimate reaches it; ``lower_bound_met`` says whether the
    95 % interval's lower bound does too (the stricter reading of CLSI EP12). ``met`` is None when
    no criterion was given.
    """
    crit = []
    for key, need in (("sensitivity", min_sensitivity), ("specificity", min_specificity)):
        if need is None:
            continue
        v = figs[level][key]
        crit.append({"figure": key, "level": level, "minimum": float(need), "value": v["value"], "low": v["low"],
                     "met": v["value"] is not None and v["value"] >= need,
                     "lower_bound_met": v["low"] is not None and v["low"] >= need})
    return {"met": all(c["met"] for c in crit) if crit else None, "criteria": crit}


def grouped_split(records: Sequence[Record], fit_share: float = 0.5, seed: int = 0) -> tuple[list[int], list[int]]:
    """``(fit, report)`` image indices: whole groups (a group goes with its majority class); per
    class, groups drawn at random go to the fit part until it holds ``fit_share`` of that class's
    images, and at least one group of each class stays in the report part.

    Raises:
        VerificationError: a class has fewer than two groups (nothing left to report on).
    """
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault(r.group, []).append(i)
    major = {g: LABELS[int(np.mean([records[i].y for i in idx]) >= 0.5)] for g, idx in groups.items()}
    fit_groups: set[str] = set()
    for lab in LABELS:
        names = sorted(g for g in groups if major[g] == lab)
        if len(names) < 2:
            raise VerificationError(f"{lab.upper()} images come from {len(names)} group(s) (patient or file): a "
                                    "site calibration needs two or more per class, one to fit and one to check")
        total, taken = sum(len(groups[g]) for g in names), 0
        for g in [names[i] for i in rng.permutation(len(names))][:-1]:  # the last one always reports
            if taken >= fit_share * total:
                break
            fit_groups.add(g)
            taken += len(groups[g])
    fit = [i for i, r in enumerate(records) if r.group in fit_groups]
    report = [i for i, r in enumerate(records) if r.group not in fit_groups]
    return fit, report


def kshot_split(records: Sequence[Record], k: int, seed: int = 0) -> tuple[list[int], list[int]] | None:
    """``(fit, report)``: ``k`` images per class drawn group by group for the fit part; the report
    part holds every image of the groups not drawn from. None when a class has too few images to
    leave a group for the report part."""
    rng = np.random.default_rng(seed)
    fit: list[int] = []
    used: set[str] = set()
    for lab in LABELS:
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(records):
            if r.label == lab:
                groups.setdefault(r.group, []).append(i)
        names = sorted(groups)
        need = k
        for g in (names[i] for i in rng.permutation(len(names))):
            if need <= 0:
                break
            members = list(groups[g])
            take = [members[i] for i in rng.permutation(len(members))][:need]
            fit += take
            need -= len(take)
            used.add(g)
        if need > 0:
            return None
    report = [i for i, r in enumerate(records) if r.group not in used]
    if {records[i].label for i in report} != set(LABELS):
        return None
    return sorted(fit), report
