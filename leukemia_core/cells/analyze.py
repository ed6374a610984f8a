"""Classify an image cell by cell: find its white cells, crop each at the fixed scale, score each
crop, and sum up the image.

The image rule (:meth:`ImageAnalysis.verdict`, said in one sentence by :meth:`ImageAnalysis.rule`):
an image gets a call only from the cells that count and have a call (whole cells, or every cell when
all are cut by the image edge; NO CALL cells left out). It is ALL when their mean calibrated
P(ALL) reaches the image threshold (one such cell: the cell threshold; several: the field
threshold, both chosen on validation, see :mod:`leukemia_core.models.calibration`), or when at
least :data:`BLAST_LIMIT_PCT` % of its cells with a call are called ALL, so an image is never HEM
beside a blast % at or above that limit; HEM otherwise; NO CALL when no cell that counts has a call.
An image in which no white cell is found is classified whole (padded to square and resized), and says so.

:class:`ImageAnalysis` is one model's reading of one image everywhere: :func:`analyze` (the CLI's
and screening's calls), :func:`read_cells` (calls and both maps per cell, as the app shows them),
:func:`read_calls` then :func:`add_maps` (calls first, maps when the explainer is ready).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from ..models.calibration import Calibration, threshold_in_use
from ..models.lymphoid import REASON_NOT_LYMPHOID, differential, not_lymphoid
from ..models.ood import NOTE_OOD, is_outside, outside_features
from .finder import Cell
# what a reading is made from, importable from here too (callers read cells and calls from one module)
from .found import CropKey, FoundCells, ImageCells, crop_key, find_and_crop, find_and_crop_each  # noqa: F401
from .outcome import NO_CALL, NO_CALL_NOTES, REASON_BORDERLINE, REASON_NO_CALLED_CELL, REASON_OUTSIDE

#: An image with at least this share (%) of its cells with a call called ALL is never called HEM.
BLAST_LIMIT_PCT = 50.0


class ImageCall(NamedTuple):
    """The image rule applied at one cell threshold (:meth:`ImageAnalysis.image_call`).

    Attributes:
        call: ``"ALL"``, ``"HEM"`` or NO CALL; ``reason``: why NO CALL (``""`` otherwise).
        used: ``bool (N,)``, the cells the call is made from (they count and have a call).
        mean: their mean calibrated P(ALL) (of every counted cell when none has a call).
        threshold: the image threshold the mean was compared with.
        blast_pct: share (%) of the cells with a call called ALL; None when no cell has one.
    """

    call: str
    reason: str
    used: np.ndarray
    mean: float
    threshold: float
    blast_pct: float | None


def counted_cells(touches_border) -> np.ndarray:
    """The image rule, the one place it is written: ``bool (N,)``, the cells that count for an
    image's call given whether each touches the image edge: the whole cells, or every cell when all
    of them touch it (an empty array for an image without cells)."""
    border = np.asarray(touches_border, bool).reshape(-1)
    whole = ~border
    return whole if whole.any() else np.ones(len(border), bool)


@dataclass
class ImageAnalysis:
    """One model's reading of one image: the one type the CLI writes, the app shows and keeps, the
    case report prints and the load test checks.

    Every figure of the image is computed from these fields at a cell threshold given to each
    method (the page re-labels a stored reading at any threshold without running the model again);
    :meth:`summary` gives them all at once.

    Attributes:
        found: the cells and crops.
        p_raw: ``float (N,)`` the model's P(ALL) per crop.
        p_all: ``float (N,)`` calibrated P(ALL) per crop.
        calibration: the calibration applied (threshold, refer band): the model's stored one, or a
            site profile's.
        maps_all: ``float16 (N, S, S)`` evidence for ALL per crop; None when no map was made (yet).
        maps_hem: ``float16 (N, S, S)`` evidence for HEM per crop; None likewise.
        site_profile: the name of the site profile whose calibration was applied; None for the
            model's stored calibration.
        threshold: the cell threshold applied; None for the calibration's (chosen on validation).
        outside: ``bool (N,)``, each crop's features lie outside the training cells of its
            predicted class (:mod:`leukemia_core.models.ood`); None where not measured.
        not_lymphoid: ``bool (N,)``, the lymphoid gate (:mod:`leukemia_core.models.lymphoid`) stops
            the cell as another white cell; None where the model has no gate.
    """

    found: FoundCells
    p_raw: np.ndarray
    p_all: np.ndarray
    calibration: Calibration
    maps_all: np.ndarray | None = None
    maps_hem: np.ndarray | None = None
    site_profile: str | None = None
    threshold: float | None = None
    outside: np.ndarray | None = None
    not_lymphoid: np.ndarray | None = None

    @property
    def cells(self) -> list[Cell]:
        """The found cells (empty when the image was classified whole)."""
        return self.found.cells

    @property
    def crops(self) -> np.ndarray:
        """``uint8 (N, S, S, 3)`` the crops scored (one whole-image crop when no cell was found)."""
        return self.found.crops

    @property
    def whole_image(self) -> bool:
        """True when no white cell was found and the whole image was classified."""
        return self.found.whole_image

    @property
    def notes(self) -> list[str]:
        """What to check by eye (grayscale, no cell, crowded, outside the reference ...)."""
        return self.found.notes

    @property
    def n_cells(self) -> int:
        """Cells found in the image (0 when it was classified whole)."""
        return len(self.found.cells)

    @property
    def cell_threshold(self) -> float:
        """:attr:`threshold`, or the calibration's threshold when none was set."""
        return threshold_in_use(self.threshold, self.calibration.threshold)

    @property
    def has_maps(self) -> bool:
        """True when both maps are kept (False for calls made before the explainer was ready)."""
        return self.maps_all is not None and self.maps_hem is not None

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays kept for the page (crops, P(ALL), both maps): what a session store counts."""
        maps = sum(m.nbytes for m in (self.maps_all, self.maps_hem) if m is not None)
        return int(self.crops.nbytes + self.p_all.nbytes + maps)

    def counted(self) -> np.ndarray:
        """``bool (N,)``: the crops that count for the image call: the whole cells, or every cell
        when all touch the image edge (one ``True`` for a whole-image crop).
        """
        if self.found.whole_image:
            return np.ones(1, bool)
        return counted_cells([c.touches_border for c in self.found.cells])

    def differential(self) -> dict[str, int] | None:
        """The found cells by kind, from the lymphoid gate: ``lymphoid`` and ``other white cell``
        (:func:`~leukemia_core.models.lymphoid.differential`; the gate's type head is measured but not
        shown: it names the other types no better than chance on a lab it never saw); None without a
        gate or cells."""
        if self.found.whole_image or not self.n_cells:
            return None
        return differential(self.not_lymphoid)

    def image_call(self, threshold: float) -> ImageCall:
        """The image rule (module docstring) at cell threshold ``threshold``, each cell's outcome
        computed once: the call, the cells it is made from, their mean, the image threshold used
        (the cell threshold for one such cell, the field threshold for several) and the blast %."""
        labels = np.array(self.outcomes(threshold)[0])
        counted = self.counted()
        used = counted & (labels != NO_CALL)
        mean = float(self.p_all[used if used.any() else counted].mean())
        limit = self.calibration.image_threshold(threshold, 0 if self.found.whole_image else int(used.sum()))
        blast = self._blast(labels)
        if degenerate := self.image_reason():
            call, reason = NO_CALL, degenerate
        elif not used.any():
            call, reason = NO_CALL, REASON_NO_CALLED_CELL
        else:
            call, reason = ("ALL" if mean >= limit or (blast or 0.0) >= BLAST_LIMIT_PCT else "HEM"), ""
        return ImageCall(call, reason, used, mean, limit, blast)

    def image_mean(self, threshold: float) -> float:
        """The mean calibrated P(ALL) the image call at ``threshold`` is made from (:meth:`image_call`)."""
        return self.image_call(threshold).mean

    @property
    def image_p_all(self) -> float:
        """:meth:`image_mean` at the reading's own cell threshold."""
        return self.image_mean(self.cell_threshold)

    def calls(self, threshold: float) -> np.ndarray:
        """``bool (N,)``: each crop called ALL at ``threshold``."""
        return self.p_all >= threshold

    def image_reason(self) -> str:
        """Why the whole image gets no call (a degenerate image: too small, grayscale, no white cell,
        not a smear field); ``""`` when its cells can be called."""
        return next((NO_CALL_NOTES[n] for n in self.found.notes if n in NO_CALL_NOTES), "")

    def outcomes(self, threshold: float) -> tuple[list[str], list[str]]:
        """Per crop at ``threshold``: its label (``"ALL"``, ``"HEM"`` or :data:`NO_CALL`) and the reason
        for a NO CALL (``""`` for a call); see :data:`NO_CALL`."""
        whole = self.image_reason()
        refer, calls = self.refer(threshold), self.calls(threshold)
        outside = self.outside if self.outside is not None else np.zeros(len(calls), bool)
        other = self.not_lymphoid if self.not_lymphoid is not None else np.zeros(len(calls), bool)
        labels, reasons = [], []
        for c, r, o, g in zip(calls, refer, outside, other):
            reason = whole or (REASON_NOT_LYMPHOID if g else REASON_BORDERLINE if r else REASON_OUTSIDE if o else "")
            labels.append(NO_CALL if reason else "ALL" if c else "HEM")
            reasons.append(reason)
        return labels, reasons

    def cell_labels(self, threshold: float) -> list[str]:
        """``"ALL"``/``"HEM"``/``"NO CALL"`` per crop at ``threshold`` (as
        :func:`~leukemia_core.cells.draw.draw_cells` takes)."""
        return self.outcomes(threshold)[0]

    def refer(self, threshold: float) -> np.ndarray:
        """``bool (N,)``: each crop's P(ALL) is inside the refer band around ``threshold``."""
        return self.calibration.refer(self.p_all, threshold)

    def image_threshold(self, threshold: float) -> float:
        """The threshold the image's mean P(ALL) is compared with at ``threshold`` (:meth:`image_call`)."""
        return self.image_call(threshold).threshold

    def verdict(self, threshold: float) -> tuple[str, str]:
        """The image's outcome at cell threshold ``threshold`` and the reason for a NO CALL (a
        degenerate image, or no cell that counts has a call): :meth:`image_call`."""
        ic = self.image_call(threshold)
        return ic.call, ic.reason

    def rule(self, threshold: float) -> str:
        """The image rule applied at ``threshold``, in one sentence with the thresholds it used."""
        return self._rule_text(self.image_call(threshold))

    def _rule_text(self, ic: ImageCall) -> str:
        call, mean, limit = ic.call, ic.mean, ic.threshold
        if ic.reason:
            return f"NO CALL: {ic.reason}"
        n = int(ic.used.sum())
        if self.found.whole_image:
            return (f"{call}: the whole image's P(ALL) {mean:.2f} is {'at or above' if mean >= limit else 'below'} "
                    f"the threshold {limit:.2f}")
        kind = "cell threshold" if n == 1 else "field threshold"
        whole = "whole" if any(not c.touches_border for c in self.found.cells) else "edge-cut"  # what counts
        text = (f"{call}: mean P(ALL) {mean:.2f} of the {n} {whole} {'cell' if n == 1 else 'cells'} with a call "
                f"is {'at or above' if mean >= limit else 'below'} the image threshold {limit:.2f} ({kind})")
        blast = ic.blast_pct or 0.0
        if n > 1 or blast >= BLAST_LIMIT_PCT:
            text += (f"; {blast:.0f} % of the cells with a call are called ALL "
                     f"({'at or above' if blast >= BLAST_LIMIT_PCT else 'below'} the {BLAST_LIMIT_PCT:.0f} % limit "
                     f"that makes an image ALL)")
        return text

    def label(self, threshold: float) -> str:
        """The image's outcome at cell threshold ``threshold``: ``"ALL"``, ``"HEM"`` or NO CALL."""
        return self.verdict(threshold)[0]

    def blast_pct(self, threshold: float) -> float | None:
        """Share (%) of the cells with a call that are called ALL; None when no cell has one."""
        return self._blast(self.outcomes(threshold)[0])

    def _blast(self, labels) -> float | None:
        called = [lab for lab in labels if lab != NO_CALL]
        if self.found.whole_image or not called:
            return None
        return 100.0 * called.count("ALL") / len(called)

    def size_of(self, i: int) -> float | None:
        """Cell ``i``'s diameter in red-cell diameters; None where it could not be measured."""
        sizes = self.found.sizes
        return sizes[i] if i < len(sizes) else None

    def map_of(self, i: int, threshold: float) -> np.ndarray:
        """The map explaining crop ``i``'s call at ``threshold``: ``float32 (S, S)`` in [0, 1]
        (zeros while the maps are not made)."""
        if not self.has_maps:
            return np.zeros(self.crops.shape[1:3], np.float32)
        return (self.maps_all[i] if self.p_all[i] >= threshold else self.maps_hem[i]).astype(np.float32)

    def summary(self, threshold: float | None = None) -> dict:
        """The image's figures at cell threshold ``threshold`` (default :attr:`cell_threshold`), unrounded:
        the one summary row the CLI's CSV, the app's results table and the case report format.

        Returns:
            ``call`` (the image's: ALL, HEM or NO CALL), ``reason`` (why NO CALL; ``""`` otherwise),
            ``rule`` (:meth:`rule`: the call in one sentence with its thresholds), ``p_all``
            (:meth:`image_mean`), ``cells`` (found; 0 for a whole-image read),
            ``all_cells`` (called ALL), ``no_call`` (cells without a call), ``not_lymphoid`` (of them,
            stopped by the lymphoid gate: the other white cells of the differential), ``blast_pct`` (``100 *
            all_cells`` over the cells with a call; None without one), ``refer`` (cells in the refer
            band), ``image_threshold`` (the one the call used), ``cell_threshold``, ``whole_image``,
            ``notes`` (a new list).
        """
        thr = threshold_in_use(threshold, self.cell_threshold)
        n = 0 if self.found.whole_image else self.n_cells
        labels, reasons = self.outcomes(thr) if n else ([], [])
        ic = self.image_call(thr)
        return {"call": ic.call, "reason": ic.reason, "rule": self._rule_text(ic), "p_all": ic.mean, "cells": n,
                "differential": self.differential(),
                "all_cells": labels.count("ALL"), "no_call": labels.count(NO_CALL),
                "not_lymphoid": reasons.count(REASON_NOT_LYMPHOID),
                "blast_pct": ic.blast_pct, "refer": int(self.refer(thr).sum()),
                "image_threshold": ic.threshold, "cell_threshold": thr,
                "whole_image": bool(self.found.whole_image), "notes": list(self.found.notes)}


def feature_marks(found: FoundCells, features, calibration: Calibration | None,
                  p_raw: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(outside, not_lymphoid)``, each ``bool (N,)`` or None, from one pass of the model's features
    (``features``: ``float32 [0, 1] (N, S, S, 3) -> (N, F)``, or None): the cells whose features lie
    outside the training cells of the class the model calls them (the calibration's feature
    reference) and the cells the lymphoid gate stops (its ``lymphoid_gate``). None where it cannot
    be measured (no reference or gate, no features, an image read whole)."""
    ref = calibration.feature_reference if calibration is not None else None
    gate = calibration.lymphoid_gate if calibration is not None else None
    if not (ref or gate) or features is None or found.whole_image or not len(found.crops):
        return None, None
    feats = features(_unit(found.crops))
    if feats is None:
        return None, None
    out = outside_features(ref, feats, calibration.apply(p_raw) >= calibration.threshold) if ref else None
    return out, not_lymphoid(gate, feats)


def analyze(found: FoundCells, predict, calibration: Calibration, features=None) -> ImageAnalysis:
    """Score ``found``'s crops with ``predict`` (``float32 [0, 1] (N, S, S, 3) -> P(ALL) (N,)``);
    with ``features`` (the model's, same input) and a feature reference in ``calibration``, mark the
    cells outside what the model can read and those its lymphoid gate stops (:func:`feature_marks`)."""
    p_raw = np.asarray(predict(found.crops.astype(np.float32) / np.float32(255.0)), np.float64)
    if not found.whole_image and NOTE_OOD not in found.notes and is_outside(calibration.reference, found.crops):
        found = replace(found, notes=found.notes + [NOTE_OOD])
    outside, other = feature_marks(found, features, calibration, p_raw)
    return ImageAnalysis(found, p_raw, calibration.apply(p_raw), calibration, outside=outside, not_lymphoid=other)


def _unit(crops: np.ndarray) -> np.ndarray:
    return crops.astype(np.float32) / np.float32(255.0)


def _with_reference_note(found: FoundCells, calibration: Calibration) -> FoundCells:
    """``found`` with the "outside the reference" note set by ``calibration``'s colour reference alone."""
    notes = [n for n in found.notes if n != NOTE_OOD]
    if not found.whole_image and is_outside(calibration.reference, found.crops):
        notes.append(NOTE_OOD)
    return replace(found, notes=notes)


def read_cells(rgb: np.ndarray, predictor, explainer, calibration: Calibration | None = None,
               site_profile: str | None = None, cells: ImageCells | None = None) -> ImageAnalysis:
    """Find, crop, score and explain (both classes) every white cell of ``rgb``, as the app does.

    ``predictor``: ``find_cells(rgb)`` and ``loaded.calibration`` (a
    :class:`~leukemia_core.inference.Predictor`); ``explainer``: ``predict_and_explain(x,
    class_index)`` (:mod:`leukemia_core.explain`), whose P(ALL) is the call. ``calibration`` (a
    site profile's, named ``site_profile``) replaces the model's stored one when given. ``cells``:
    ``rgb``'s cells already found for another model (:class:`ImageCells`), so the finder runs once.
    """
    found = cells.for_model(predictor) if cells is not None else predictor.find_cells(rgb)
    x = _unit(found.crops)
    p_raw, maps_all = explainer.predict_and_explain(x, class_index=1)
    _, maps_hem = explainer.predict_and_explain(x, class_index=0)
    cal = calibration or predictor.loaded.calibration
    p_raw = np.asarray(p_raw, np.float64)
    outside, other = feature_marks(found, getattr(predictor, "features", None), predictor.loaded.calibration, p_raw)
    return ImageAnalysis(_with_reference_note(found, cal), p_raw, cal.apply(p_raw), cal,
                         np.asarray(maps_all, np.float16), np.asarray(maps_hem, np.float16), site_profile,
                         outside=outside, not_lymphoid=other)


def read_calls(rgb: np.ndarray, predictor, calibration: Calibration | None = None,
               site_profile: str | None = None, cells: ImageCells | None = None) -> ImageAnalysis:
    """:func:`read_cells` without the maps (an ONNX Runtime predictor: no TensorFlow);
    :func:`add_maps` adds them when the explainer is ready."""
    a = predictor.analyze(cells.for_model(predictor) if cells is not None else predictor.find_cells(rgb))
    cal = calibration or predictor.loaded.calibration
    return ImageAnalysis(_with_reference_note(a.found, cal), a.p_raw, cal.apply(a.p_raw), cal,
                         site_profile=site_profile, outside=a.outside, not_lymphoid=a.not_lymphoid)


def add_maps(a: ImageAnalysis, explainer) -> ImageAnalysis:
    """``a`` with both maps of every crop from ``explainer``; its P(ALL) (the call) is kept."""
    x = _unit(a.crops)
    _, maps_all = explainer.predict_and_explain(x, class_index=1)
    _, maps_hem = explainer.predict_and_explain(x, class_index=0)
    return replace(a, maps_all=np.asarray(maps_all, np.float16), maps_hem=np.asarray(maps_hem, np.float16))
