"""One card per model: every fact the rest of the project needs about a shipped model, resolved in
one place (in the spirit of timm's ``PretrainedCfg`` / ``resolve_data_config``).

:func:`resolve_card` builds a :class:`ModelCard` from the registry spec
(:func:`~leukemia_core.models.registry.get_spec`), the manifest
(:func:`~leukemia_core.models.weights.read_manifest`) and the calibration
(:func:`~leukemia_core.models.calibration.read_calibration`):

* the artefact paths in the weights folder (``weights_dir``, else ``$LEUKEMIA_WEIGHTS_DIR``, else
  ``model_weights/``; file names from :data:`~leukemia_core.paths.ARTEFACT_SUFFIXES`) and the
  sha256 the manifest records for the weights and this machine's ONNX record for its export
  (:func:`read_onnx_record`);
* the input config: input size, cell share and noise reduction from the manifest (else the
  registry's input size and :data:`~leukemia_core.data.preprocess.CELL_SHARE`), the input range
  and the Grad-CAM layer from the registry (the architecture is built from it);
* the calibration applied to the model's probabilities (the file's, else the identity) and the
  decision values: cell threshold, field threshold and refer band.

**Precedence of a model's decision values** (threshold, field threshold, refer half-width), the
one order every reader gets:

1. the model's calibration file ``<name>.calibration.json``, when it exists;
2. else the values stored in the model's report ``<name>.report.json``, as :func:`report_thresholds`
   resolves them (a report that cannot be read counts as absent);
3. else :data:`~leukemia_core.models.calibration.DEFAULT_THRESHOLD` (0.5), no field threshold
   (every image takes the cell threshold) and no refer band.

**The values a stored report was made with** (:func:`report_thresholds`; readers of reports ask
it, never the dict). Evaluation reports store ``threshold``, ``field_threshold`` and
``calibration``; a verification report's site-calibration summary stores ``threshold``,
``field_threshold`` and ``refer_half_width``:

* cell threshold: the top-level ``threshold`` (the one the report's calls were made at, possibly a
  ``--threshold`` override), else ``calibration.threshold``, else 0.5;
* field threshold: the top-level ``field_threshold``, else ``calibration.field_threshold``, else
  None;
* refer half-width: a fitted ``calibration``'s ``refer_half_width`` (0 for an unfitted one), else
  (no calibration at all) a top-level ``refer_half_width``, else 0 (no band);
* the refer band lies around the resolved cell threshold; an image of several cells is compared
  with the field threshold moved by as much as the cell threshold is from the fitted one
  (:meth:`~leukemia_core.models.calibration.Calibration.image_threshold`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import WeightsError
from ..paths import artefact_path, exports_dir, weights_dir_or_default
from .calibration import (DEFAULT_THRESHOLD, Calibration, band_around, calibration_path, read_calibration,
                          threshold_in_use)
from .registry import get_spec
from .weights import manifest_path, read_manifest
from .registry import InputConfig, resolve_input_config
from ..jsonio import read_json


def _float_or_none(v) -> float | None:
    return None if v is None else float(v)


@dataclass(frozen=True)
class Thresholds:
    """The decision values of a model or of a stored report (see the module docstring for where
    each comes from).

    Attributes:
        threshold: cell threshold on calibrated P(ALL) (also for images of one cell).
        field_threshold: threshold on the mean P(ALL) of an image of several cells, at the fitted
            cell threshold (None: the cell threshold for every image).
        refer_half_width: half-width of the refer band (0: no band).
        calibration: the fitted calibration these values belong to (its ``threshold`` is the
            fitted one, which a report's ``threshold`` may override).
        stated_threshold: the cell threshold the source states itself (None: it states none and
            ``threshold`` is the default).
        source: ``"calibration file"``, ``"report"`` or ``"default"``.
    """

    threshold: float = DEFAULT_THRESHOLD
    field_threshold: float | None = None
    refer_half_width: float = 0.0
    calibration: Calibration = field(default_factory=Calibration)
    stated_threshold: float | None = None
    source: str = "default"

    def image_threshold(self, n_cells: int, threshold: float | None = None) -> float:
        """The threshold an image of ``n_cells`` cells is called at, for cell threshold
        ``threshold`` (default :attr:`threshold`): the field rule for several cells, else the cell threshold."""
        return self.calibration.image_threshold(threshold_in_use(threshold, self.threshold), n_cells)

    def band_at(self, threshold: float | None = None) -> tuple[float, float] | None:
        """``(low, high)`` of the refer band around ``threshold`` (default :attr:`threshold`), clipped
        to [0, 1]; None without a band."""
        if not self.refer_half_width > 0:
            return None
        return band_around(threshold_in_use(threshold, self.threshold), self.refer_half_width)

    @property
    def refer_band(self) -> tuple[float, float] | None:
        """The refer band around :attr:`threshold` (None without one)."""
        return self.band_at()

    def refers(self, p_cal, threshold: float | None = None) -> np.ndarray:
        """``bool`` of ``p_cal``'s shape: calibrated P(ALL) inside the refer band around ``threshold``
        (default :attr:`threshold`); all False without a band. The test is the calibration's own."""
        band = replace(self.calibration, refer_half_width=self.refer_half_width)
        return band.refer(np.asarray(p_cal, np.float64), threshold_in_use(threshold, self.threshold))


def report_thresholds(report: dict | None) -> Thresholds:
    """The decision values ``report`` was made with (an evaluation report, a verification report's
    site-calibration summary, or any dict storing ``threshold``; None: the defaults). The one
    reader of a report's thresholds; precedence in the module docstring."""
    if not isinstance(report, dict):
        return Thresholds()
    cal = report.get("calibration")
    cal = dict(cal) if isinstance(cal, dict) else None
    stated = _float_or_none(report.get("threshold"))
    if stated is None and cal is not None:
        stated = _float_or_none(cal.get("threshold"))
    ft = _float_or_none(report.get("field_threshold"))
    if ft is None and cal is not None:
        ft = _float_or_none(cal.get("field_threshold"))
    if cal is not None:
        half = float(cal.get("refer_half_width") or 0.0) if cal.get("fitted") else 0.0
    else:
        half = float(report.get("refer_half_width") or 0.0)
    thr = DEFAULT_THRESHOLD if stated is None else stated
    fitted_thr = _float_or_none((cal or {}).get("threshold"))
    fitted = Calibration.from_json({**(cal or {}), "threshold": thr if fitted_thr is None else fitted_thr,
                                    "field_threshold": ft})
    return Thresholds(thr, ft, half, fitted, stated, "report")


def calibration_thresholds(cal: Calibration, source: str = "calibration file") -> Thresholds:
    """The decision values of a :class:`~leukemia_core.models.calibration.Calibration` (a model's file,
    or a site profile's)."""
    return Thresholds(float(cal.threshold), _float_or_none(cal.field_threshold), float(cal.refer_half_width or 0.0),
                      cal, float(cal.threshold), source)


def read_onnx_record(name: str, weights_dir: Path) -> dict:
    """What ``export-onnx`` recorded about ``name``'s ONNX file on this machine
    (``<weights_dir>-onnx/<name>.onnx.json``: file, sha256, the weights' sha256 it was made from,
    parity); ``{}`` when there is none or it cannot be read (then the model serves from Keras).

    The record lives beside the export, not in the shipped manifest: an export is made on each
    machine and its bytes differ between conversions, so it must not rewrite a committed file.
    """
    try:
        rec = read_json(artefact_path(name, "onnx_record", weights_dir))
    except WeightsError:
        return {}
    return rec if isinstance(rec, dict) else {}


def onnx_path(name: str, weights_dir: Path, entry: dict) -> Path:
    """Where ``name``'s ONNX export is: the file its ONNX record ``entry`` names, else ``<name>.onnx``,
    in the exports folder beside ``weights_dir``."""
    return exports_dir(weights_dir) / entry["file"] if entry.get("file") else artefact_path(name, "onnx", weights_dir)


@dataclass(frozen=True)
class ArtefactPaths:
    """Where a model's files are (each may be missing): ``weights`` (``.weights.npz``), ``manifest``,
    ``calibration``, ``report``, ``onnx`` (in the exports folder beside the weights
    folder: the manifest's recorded file, else ``<name>.onnx``) and ``history``."""

    weights: Path
    manifest: Path
    calibration: Path
    report: Path
    onnx: Path
    history: Path


@dataclass(frozen=True)
class ModelCard:
    """Everything known about one model without building it (read-only; see the module docstring).

    Attributes:
        name: registry name.
        weights_dir: the folder its files were resolved in.
        paths: its :class:`ArtefactPaths`.
        sha256: ``{"weights": ..., "onnx": ...}``, the hashes the manifest and the ONNX record hold
            (absent keys: none recorded).
        input: the :class:`~leukemia_core.models.registry.InputConfig` (input size, cell share, noise reduction).
        input_range: what the model's input must hold (registry).
        cam_layer: the layer Grad-CAM uses (registry).
        manifest: the manifest, or None when there is none.
        calibration: the calibration applied to the model's probabilities (the file's, else the identity).
        decision: the decision values (:class:`Thresholds`), in the documented precedence.
    """

    name: str
    weights_dir: Path
    paths: ArtefactPaths
    sha256: dict
    input: InputConfig
    input_range: str
    cam_layer: str
    manifest: dict | None
    calibration: Calibration
    decision: Thresholds

    @property
    def input_size(self) -> int:
        """Side of the square input in pixels."""
        return self.input.input_size

    @property
    def cell_share(self) -> float:
        """The cell's diameter as a share of the crop."""
        return self.input.cell_share

    @property
    def mask_outside(self) -> bool:
        """True when the crops show the cell alone on black (False: with its surroundings)."""
        return self.input.mask_outside

    @property
    def norm(self) -> str:
        """The backbone's normalisation the model was trained with (manifest ``norm``): ``"batch"`` or ``"group"``."""
        return str((self.manifest or {}).get("norm", "batch"))

    @property
    def colour(self) -> str:
        """How the model's input treats colour (manifest ``colour``): one of
        :data:`~leukemia_core.models.registry.COLOURS`."""
        return str((self.manifest or {}).get("colour", "as is"))

    @property
    def threshold(self) -> float:
        """The cell threshold on calibrated P(ALL)."""
        return self.decision.threshold

    @property
    def field_threshold(self) -> float | None:
        """The threshold for images of several cells (None: the cell threshold)."""
        return self.decision.field_threshold

    @property
    def refer_band(self) -> tuple[float, float] | None:
        """``(low, high)`` of the refer band around the threshold, or None without one."""
        return self.decision.refer_band

    @property
    def calibration_matches_weights(self) -> bool:
        """False when a fitted calibration records other weights' sha256 than the manifest's."""
        fitted_on = self.calibration.info.get("weights_sha256") if self.calibration.fitted else None
        return fitted_on is None or fitted_on == (self.manifest or {}).get("weights_sha256")


def _report_of(name: str, wdir: Path) -> dict | None:
    try:
        rep = read_json(artefact_path(name, "report", wdir))
    except WeightsError:
        return None  # an unreadable report counts as absent (its own readers say what is wrong)
    return rep if isinstance(rep, dict) else None


def resolve_card(name: str, weights_dir: str | Path | None = None, *, report: dict | None = None,
                 require_manifest: bool = False) -> ModelCard:
    """The :class:`ModelCard` of ``name`` in ``weights_dir`` (default: ``$LEUKEMIA_WEIGHTS_DIR``, else
    ``model_weights/``).

    ``report``: the model's report when the caller has it loaded (else it is read from the folder,
    and only when there is no calibration file). ``require_manifest``: raise instead of using the
    registry's defaults when the manifest is missing.

    Raises:
        UnknownModelError: ``name`` is not registered.
        WeightsError: the manifest is unreadable (or missing, with ``require_manifest``).
    """
    spec = get_spec(name)
    wdir = weights_dir_or_default(weights_dir)
    manifest = read_manifest(name, wdir, missing_ok=not require_manifest)
    man = manifest or {}
    onnx_entry = read_onnx_record(name, wdir)
    paths = ArtefactPaths(weights=spec.weights_path(wdir), manifest=manifest_path(name, wdir),
                          calibration=calibration_path(wdir, name), report=artefact_path(name, "report", wdir),
                          onnx=onnx_path(name, wdir, onnx_entry),
                          history=artefact_path(name, "history", wdir))
    sha = {k: v for k, v in (("weights", man.get("weights_sha256")), ("onnx", onnx_entry.get("sha256"))) if v}
    cal = read_calibration(wdir, name)
    if paths.calibration.is_file():
        decision = calibration_thresholds(cal)
    else:
        rep = report if report is not None else _report_of(name, wdir)
        decision = report_thresholds(rep) if rep is not None else Thresholds()
        if rep is not None and decision.stated_threshold is None:
            decision = replace(decision, source="default")
    return ModelCard(name, wdir, paths, sha, resolve_input_config(name, manifest), spec.input_range, spec.cam_layer,
                     manifest, cal, decision)
