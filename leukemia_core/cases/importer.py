"""Results into a case: a reading made by the app, a ``predict`` CSV (with its ``--cells`` CSV), a
``screen`` output folder (Parquet) or a folder of images run through the models here.

* :func:`run_from_cells` / :func:`run_from_analysis` turn one model's reading of one image into a
  :class:`~.views.RunInput`, with a small PNG of every crop and of the map of its call (the gallery
  then draws from the store, no model run).
* :func:`import_rows` stores rows shaped as ``predict`` writes them (image rows and cell rows); it
  serves the CSV and the Parquet readers (:func:`read_predict_csv`, :func:`read_screen_output`).
* :func:`import_folder` runs the models on a folder (ONNX Runtime where the export is current).
* :func:`import_path` picks one of these from what the path is.

Image files must still be where the rows say (their bytes are stored once by sha256); a row whose
image is missing or whose ``error`` is filled is skipped and reported, never half stored.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..cells.analyze import FoundCells, ImageAnalysis
from ..models.calibration import Calibration
from .db import Store
from .errors import CaseInputError, CaseNotFoundError
from .repository import add_reading, create_case, get_case
from .views import CellInput, RunInput

#: Side of the crop and map pictures kept per cell (px): enough for a gallery tile, small in the store.
THUMB = 96


def png(image: np.ndarray, side: int = THUMB) -> bytes:
    """``uint8 (H, W, 3)`` RGB or ``(H, W)`` gray (floats in [0, 1] are scaled) -> PNG bytes at ``side`` px."""
    import cv2

    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = np.clip(np.nan_to_num(a.astype(np.float32)) * 255.0, 0, 255).astype(np.uint8)
    a = cv2.resize(a, (side, side), interpolation=cv2.INTER_AREA)
    if a.ndim == 3:
        a = cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", a)
    if not ok:
        raise CaseInputError("a cell picture could not be encoded as PNG")
    return buf.tobytes()


def run_from_cells(model: str, cells: Sequence, crops: np.ndarray, p_all: np.ndarray, calibration, threshold: float,
                   whole_image: bool, notes: Sequence[str], weights_sha256: str = "", image_shape=None,
                   maps_all: np.ndarray | None = None, maps_hem: np.ndarray | None = None,
                   site_profile: str | None = None, source: str = "app") -> RunInput:
    """One model's reading of one image, given as arrays, as a :class:`RunInput` at cell threshold
    ``threshold`` (read by :func:`run_from_analysis`, so the calls follow the one reading type).

    ``cells`` are :class:`~leukemia_core.cells.finder.Cell` (empty for an image classified whole:
    then one cell covering ``image_shape`` ``(H, W)`` is stored); ``p_all`` calibrated; ``maps_all``/
    ``maps_hem`` the maps of each class (the one of each cell's call is kept), None when not made.
    """
    p = np.asarray(p_all, np.float64)
    found = FoundCells([] if whole_image else list(cells), np.asarray(crops), bool(whole_image), list(notes))
    a = ImageAnalysis(found, p, p, calibration if calibration is not None else Calibration(threshold=float(threshold)),
                      maps_all, maps_hem)
    return run_from_analysis(model, a, threshold, weights_sha256, image_shape, site_profile, source)


def run_from_analysis(model: str, analysis, threshold: float, weights_sha256: str = "", image_shape=None,
                      site_profile: str | None = None, source: str = "app") -> RunInput:
    """A :class:`~leukemia_core.cells.analyze.ImageAnalysis` (``Predictor.analyze``, or ``read_cells``
    with both maps: the map of each cell's call is kept) as a :class:`RunInput`: each cell's outcome
    (ALL, HEM or NO CALL, with its reason among the flags) and the image's, at ``threshold``."""
    a, thr = analysis, float(threshold)
    labels, reasons = a.outcomes(thr)
    refer, calls = a.refer(thr), a.calls(thr)
    out = []
    for i in range(len(a.p_all)):
        if a.whole_image:
            h, w = (image_shape or a.crops.shape[1:3])[:2]
            box, border = (0, 0, int(w), int(h)), False
        else:
            box, border = tuple(int(v) for v in a.cells[i].bbox), bool(a.cells[i].touches_border)
        m = png(a.maps_all[i] if calls[i] else a.maps_hem[i]) if a.has_maps else None
        flags = (("whole image",) if a.whole_image else ()) + ((reasons[i],) if reasons[i] else ())
        out.append(CellInput(i + 1, box, float(a.p_all[i]), labels[i], bool(refer[i]), border, flags,
                             png(a.crops[i]), m))
    return RunInput(model=model, weights_sha256=weights_sha256 or "", threshold=thr,
                    image_threshold=float(a.image_threshold(thr)), p_image=float(a.image_mean(thr)),
                    image_call=a.label(thr), cells=out, whole_image=bool(a.whole_image), notes=tuple(a.notes),
                    refer_half_width=float(getattr(a.calibration, "refer_half_width", 0.0) or 0.0),
                    site_profile=site_profile, source=source)


@dataclass
class ImportReport:
    """What an import did: case, images and runs stored, rows skipped with why."""

    case_id: str
    images: int = 0
    runs: int = 0
    cells: int = 0
    skipped: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for a person."""
        skip = f"; {len(self.skipped)} skipped" if self.skipped else ""
        return f"case {self.case_id}: {self.images} image(s), {self.runs} run(s), {self.cells} cell(s) stored{skip}"


def ensure_case(store: Store, case_id: str, user: str, note: str = "", sample: Mapping | None = None) -> None:
    """Create ``case_id`` unless it exists (an import may add to an open case); a new case needs
    ``sample``: ``{specimen_id, sample_date, patient_ref}`` (see :func:`~.repository.validate_sample`).

    Raises:
        CaseInputError: the case is new and ``sample`` is missing or malformed.
    """
    try:
        get_case(store, case_id)
    except CaseNotFoundError:
        if not sample:
            raise CaseInputError(f"case {case_id!r} does not exist yet: a new case needs its specimen ID, sample "
                                 "date and patient reference (--specimen, --sample-date, --patient-ref)") from None
        create_case(store, case_id, user, sample.get("sample_date"), note, specimen_id=sample.get("specimen_id"),
                    patient_ref=sample.get("patient_ref"))


def _float(v, default=None):
    if v is None or v == "":
        return default
    return float(v)


def _flag(v) -> bool:
    return v is True or str(v).strip().lower() in ("true", "1", "yes")


def import_rows(store: Store, case_id: str, image_rows: Iterable[dict], cell_rows: Iterable[dict], user: str,
                source: str, weights: dict[str, str] | None = None, base: Path | None = None,
                sample: Mapping | None = None) -> ImportReport:
    """Store ``predict``-shaped rows into ``case_id`` (created when absent): one run per image row,
    its cells from the cell rows of the same (path, model). ``weights``: model -> weights' sha256
    when the rows lack a ``weights_sha256`` column; ``base``: where to look for a relative path not
    found from the working folder."""
    ensure_case(store, case_id, user, sample=sample)
    by_image: dict[tuple[str, str], list[dict]] = {}
    for c in cell_rows:
        by_image.setdefault((str(c["path"]), str(c["model"])), []).append(c)
    report, seen = ImportReport(case_id), set()
    for row in image_rows:
        path, model = str(row["path"]), str(row["model"])
        if row.get("error"):
            report.skipped.append(f"{path} ({model}): {row['error']}")
            continue
        file = Path(path)  # as predict wrote it: relative to where it ran, else to the CSV's folder
        if not file.is_absolute() and not file.exists() and base is not None:
            file = base / path
        try:
            data = file.read_bytes()
        except OSError as exc:
            report.skipped.append(f"{path}: image file not readable ({exc.strerror or exc})")
            continue
        thr = _float(row.get("cell_threshold"), _float(row.get("threshold")))
        if thr is None:  # the row does not say what it was called at: nothing is made up
            report.skipped.append(f"{path} ({model}): no threshold recorded in the row; export it again with predict")
            continue
        cells = sorted(by_image.get((path, model), []), key=lambda c: int(c["cell"]))
        ins = [CellInput(int(c["cell"]), (int(c["x"]), int(c["y"]), int(c["w"]), int(c["h"])), float(c["p_all"]),
                         str(c["label"]), _flag(c.get("refer")), _flag(c.get("touches_border"))) for c in cells]
        whole = not ins
        if whole:  # classified whole (no cell found): one cell, the image
            ins = [CellInput(1, (0, 0, 0, 0), float(row["p_all"]), str(row["label"]),
                             flags=("whole image",) + ((str(row["reason"]),) if row.get("reason") else ()))]
        notes = [n.strip() for n in str(row.get("notes") or "").split(";") if n.strip()]
        sha = str(row.get("weights_sha256") or (weights or {}).get(model, ""))
        run = RunInput(model=model, weights_sha256=sha, threshold=thr,
                       image_threshold=_float(row.get("threshold"), thr), p_image=float(row["p_all"]),
                       image_call=str(row["label"]), cells=ins, whole_image=whole, notes=notes,
                       site_profile=str(row.get("profile") or "") or None, source=source)
        add_reading(store, case_id, file.name, data, run, user)
        report.images += file not in seen
        seen.add(file)
        report.runs += 1
        report.cells += 0 if whole else len(ins)
    return report


def read_predict_csv(path: Path, cells: Path | None = None) -> tuple[list[dict], list[dict]]:
    """The rows of a ``predict --out`` CSV and of its ``--cells`` CSV (when given)."""
    def rows(p):
        with open(p, newline="") as f:
            return list(csv.DictReader(f))

    image_rows = rows(path)
    if image_rows and not {"path", "model", "label", "p_all"} <= set(image_rows[0]):
        raise CaseInputError(f"{path} is not a predict CSV (no path, model, label, p_all columns)")
    return image_rows, rows(cells) if cells else []


def read_screen_output(folder: Path) -> tuple[list[dict], list[dict]]:
    """The image and cell rows of a ``screen --out`` folder (``images/`` and ``cells/`` Parquet parts)."""
    from ..rows import read_table

    return (read_table(Path(folder), "images").to_pylist(), read_table(Path(folder), "cells").to_pylist())


def _manifest_shas(models: Iterable[str], weights_dir) -> dict[str, str]:
    from ..models.weights import read_manifest

    out = {}
    for m in set(models):
        try:
            out[m] = str((read_manifest(m, weights_dir, missing_ok=True) or {}).get("weights_sha256", ""))
        except Exception:  # noqa: BLE001 - an unknown or unreadable model: no sha to record
            out[m] = ""
    return out


def import_folder(store: Store, case_id: str, paths: Sequence[Path], models: Sequence[str], user: str,
                  weights_dir=None, threshold: float | None = None, sample: Mapping | None = None) -> ImportReport:
    """Run ``models`` on the image files under ``paths`` and store every reading in ``case_id``."""
    from ..data.images import read_image
    from ..inference import expand_paths, predict_files, threshold_of
    from ..onnx_calls import fast_predictor

    files = expand_paths([str(p) for p in paths])
    if not files:
        raise CaseInputError("no image files found in " + ", ".join(str(p) for p in paths))
    predictors = {m: fast_predictor(m, weights_dir) for m in models}
    shas = _manifest_shas(models, weights_dir)
    ensure_case(store, case_id, user, sample=sample)
    report = ImportReport(case_id)
    for row in predict_files(files, predictors, threshold):
        a = row.get("analysis")
        if a is None:
            report.skipped.append(f"{row['path']}: {row['error']}")
            continue
        data = Path(row["path"]).read_bytes()
        shape = read_image(Path(row["path"])).shape if a.found.whole_image else None
        run = run_from_analysis(row["model"], a, threshold_of(predictors[row["model"]], threshold),
                                shas[row["model"]], shape, source="cli folder")
        before = len(get_case(store, case_id).images)
        add_reading(store, case_id, Path(row["path"]).name, data, run, user)
        report.images += len(get_case(store, case_id).images) - before
        report.runs += 1
        report.cells += 0 if a.found.whole_image else len(run.cells)
    return report


def import_path(store: Store, case_id: str, path: Path, user: str, models: Sequence[str] = (),
                cells: Path | None = None, weights_dir=None, sample: Mapping | None = None) -> ImportReport:
    """Import what ``path`` is: a ``predict`` CSV (``cells``: its cell CSV), a ``screen`` output
    folder (``images/*.parquet``), or image files / a folder of them (run with ``models``);
    ``sample`` creates the case when it is new (see :func:`ensure_case`)."""
    path = Path(path)
    if not path.exists():
        raise CaseInputError(f"no such file or folder: {path}")
    if path.is_file() and path.suffix.lower() == ".csv":
        images, cell_rows = read_predict_csv(path, cells)
        return import_rows(store, case_id, images, cell_rows, user, "predict csv",
                           _manifest_shas({r["model"] for r in images}, weights_dir), base=path.parent, sample=sample)
    if path.is_dir() and any((path / "images").glob("part-*.parquet")):
        images, cell_rows = read_screen_output(path)
        return import_rows(store, case_id, images, cell_rows, user, "screen parquet", sample=sample)
    if not models:
        raise CaseInputError(f"{path} holds images: name the model(s) to run on them (--model)")
    return import_folder(store, case_id, [path], models, user, weights_dir, sample=sample)
