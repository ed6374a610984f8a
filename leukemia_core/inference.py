"""Loading shipped models and predicting on images, cell by cell.

``load_model(name)`` resolves the model's card (:func:`~leukemia_core.models.card.resolve_card`:
manifest, input config, calibration), verifies the weights file's sha256, builds the registered
architecture at the manifest's input size, loads the weights and the model's calibration. A :class:`Predictor` runs the forward pass through one compiled
``tf.function`` (fixed input signature), which avoids ``model.predict``'s per-call set-up and
eager overhead. :func:`predict_files` finds the white cells of each image once, scores them with
every model and sums up the image (:mod:`leukemia_core.cells.analyze`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from .cells.analyze import FoundCells, ImageAnalysis, ImageCells, analyze
from .data.images import IMAGE_SUFFIXES, is_image_path, read_image
from .data.preprocess import CELL_SHARE, prepare, to_unit
from .errors import ImageReadError, WeightsError
from .models import create_model, get_spec
from .models.calibration import DEFAULT_THRESHOLD, Calibration, threshold_in_use
from .models.card import resolve_card
from .models.weights import load_weights_into, read_manifest
from .paths import weights_dir_or_default
from .rows import error_row


@dataclass
class LoadedModel:
    """A model with its spec and manifest. Treat as read-only: it may be shared between users."""

    name: str
    model: object
    manifest: dict
    input_size: int
    noise_reduction: bool = True
    calibration: Calibration = Calibration()
    cell_share: float = CELL_SHARE
    mask_outside: bool = True  # crops show the cell alone (False: with its surroundings)

    @property
    def cam_layer(self) -> str:
        """The registered model's Grad-CAM layer; for a site model on a pretrained encoder (not a
        registered model) the one its manifest names."""
        from .errors import UnknownModelError

        try:
            return get_spec(self.name).cam_layer
        except UnknownModelError:
            return str(self.manifest["cam_layer"])

    @classmethod
    def from_card(cls, card, model=None) -> "LoadedModel":
        """The one way a shipped model's reading is made from its card
        (:class:`~leukemia_core.models.card.ModelCard`): ``model`` is the Keras model, or None where
        an ONNX forward pass (or a worker) reads it.

        Raises:
            WeightsError: the calibration file was fitted on other weights than the manifest's.
        """
        if not card.calibration_matches_weights:
            raise WeightsError(f"{card.name}: the calibration file was fitted on other weights; rerun evaluate")
        return cls(card.name, model, card.manifest, card.input_size, card.input.noise_reduction, card.calibration,
                   card.cell_share, card.mask_outside)


def weights_status(name: str, weights_dir: Path | None = None) -> str:
    """``"ok"``, or a sentence saying what is missing (for listings; reads no weights)."""
    wdir = weights_dir_or_default(weights_dir)
    spec = get_spec(name)
    try:
        read_manifest(name, wdir)
    except WeightsError as exc:
        return str(exc)
    if not spec.weights_path(wdir).is_file():
        return f"weights file {spec.weights_file} missing in {wdir}"
    return "ok"


def load_model(name: str, weights_dir: Path | None = None, verify: bool = True) -> LoadedModel:
    """Build ``name`` and load its shipped weights.

    Raises:
        UnknownModelError: ``name`` is not registered.
        WeightsError: manifest or weights file missing, altered (sha256) or not fitting.
    """
    card = resolve_card(name, weights_dir, require_manifest=True)
    path = card.paths.weights
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}; train the model or restore the file")
    reading = LoadedModel.from_card(card)  # the calibration check runs before the costly build
    model = create_model(name, card.input_size, norm=card.norm, colour=card.colour)
    load_weights_into(model, path, card.sha256.get("weights") if verify else None)
    return replace(reading, model=model)


class Predictor:
    """Fast forward passes for one loaded model (build once, reuse).

    ``predict(x)`` takes float32 ``(N, S, S, 3)`` in [0, 1] and returns P(ALL) ``(N,)``, running
    the compiled forward pass on chunks of ``batch_size`` images. The pass is compiled on first
    use; :meth:`warm` does it ahead of time.
    """

    def __init__(self, loaded: LoadedModel, batch_size: int = 32):
        import tensorflow as tf

        self.loaded = loaded
        self.batch_size = batch_size
        s = loaded.input_size
        model = loaded.model

        # autograph off: nothing here needs it, and its source parsing (ast.parse) is not thread-safe
        # on CPython 3.11, where it can break a page script being parsed at the same time
        @tf.function(input_signature=[tf.TensorSpec([None, s, s, 3], tf.float32)], reduce_retracing=True,
                     autograph=False)
        def forward(x):
            return model(x, training=False)[:, 1]

        self._forward = forward
        self._features = None

    def features(self, x: np.ndarray) -> np.ndarray:
        """``float32 (N, F)``: what the model's head reads (the input of its ``logits`` layer) for
        inputs like :meth:`predict`'s; the pass is compiled on first use."""
        if self._features is None:
            import keras
            import tensorflow as tf

            from .models.registry import LOGITS_LAYER

            model = self.loaded.model
            sub = keras.Model(model.inputs, model.get_layer(LOGITS_LAYER).input)
            s = self.loaded.input_size

            @tf.function(input_signature=[tf.TensorSpec([None, s, s, 3], tf.float32)], autograph=False)
            def feats(x):
                return sub(x, training=False)

            self._features = feats
        x = np.asarray(x, np.float32)
        out = [self._features(x[i:i + self.batch_size]).numpy() for i in range(0, len(x), self.batch_size)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)

    def warm(self) -> float:
        """Compile the forward pass now (trace and one run on a black image); return the seconds.

        The first :meth:`predict` call pays this otherwise; a server can call it ahead of its first
        user.
        """
        import time

        t0 = time.perf_counter()
        s = self.loaded.input_size
        self.predict(np.zeros((1, s, s, 3), np.float32))
        return time.perf_counter() - t0

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        """Decoded ``uint8`` image -> model input ``float32 (S, S, 3)`` in [0, 1]."""
        return to_unit(prepare(rgb, self.loaded.input_size, self.loaded.noise_reduction))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(ALL) ``float32 (N,)`` (raw, before calibration) of ``float32 (N, S, S, 3)`` inputs in [0, 1]
        (one ``(S, S, 3)`` input is taken as a batch of one)."""
        x = np.asarray(x, np.float32)
        if x.ndim == 3:
            x = x[None]
        out = [self._forward(x[i:i + self.batch_size]).numpy() for i in range(0, len(x), self.batch_size)]
        return np.concatenate(out) if out else np.zeros((0,), np.float32)

    def find_cells(self, rgb: np.ndarray) -> FoundCells:
        """The white cells of a decoded image, cropped for this model."""
        return ImageCells(rgb).for_model(self)

    def analyze(self, found: FoundCells) -> ImageAnalysis:
        """Score every cell crop of ``found`` (calibrated), and mark the cells outside what the model
        can read when its calibration holds a feature reference."""
        return analyze(found, self.predict, self.loaded.calibration, self.features)


def label_of(p_all: float, threshold: float = DEFAULT_THRESHOLD) -> str:
    """``"ALL"`` when ``p_all >= threshold`` else ``"HEM"``."""
    return "ALL" if p_all >= threshold else "HEM"


#: Image formats this program does not classify (the app's uploader refuses them too). A folder
#: search still picks them up so that they become error rows, as when such a file is named directly.
OTHER_IMAGE_SUFFIXES = (".gif", ".webp", ".heic", ".heif", ".avif", ".jxl", ".jp2", ".j2k", ".jpf", ".jpx",
                        ".jfif", ".jpe", ".svg", ".ico", ".tga", ".ppm", ".pgm", ".pbm", ".pnm", ".psd",
                        ".dcm", ".dicom", ".svs", ".ndpi", ".scn", ".mrxs", ".vsi", ".czi", ".lif", ".nd2")


def is_image_like(path: Path) -> bool:
    """True for a non-hidden file whose suffix names an image format, supported or not."""
    return is_image_path(path) or (path.suffix.lower() in OTHER_IMAGE_SUFFIXES and not path.name.startswith("."))


def unsupported_type(path: Path) -> str:
    """An error message when ``path``'s suffix is not one of :data:`IMAGE_SUFFIXES`, else ``""``."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ""
    kind = f"'{path.suffix}'" if path.suffix else "(no suffix)"
    return f"{path}: unsupported file type {kind} (expected BMP, PNG, JPEG or TIFF)"


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders searched recursively; sorted, duplicates removed.

    A folder contributes every non-hidden file with an image suffix (:func:`is_image_like`),
    including formats this program does not read, so that :func:`predict_files` reports those as
    error rows exactly as when they are named directly. Other files (notes, CSVs) are not inputs.
    Paths that do not exist are kept, so the caller reports them as errors.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file() and is_image_like(q)))
        else:
            out.append(p)
    seen, uniq = set(), []
    for p in out:
        if p not in seen:
            seen.add(p)
            uniq.append(p)
    return uniq


def threshold_of(pred: "Predictor", threshold: float | None) -> float:
    """``threshold`` when given, else the model's validation-chosen threshold."""
    return threshold_in_use(threshold, pred.loaded.calibration.threshold)


def image_row(path, name: str, a: ImageAnalysis, threshold: float) -> dict:
    """The CSV row of one image read by one model at cell threshold ``threshold``: the figures of
    :meth:`ImageAnalysis.summary`, rounded (``analysis`` is kept for callers, not written)."""
    s = a.summary(threshold)
    return {"path": str(path), "model": name, "label": s["call"], "reason": s["reason"], "p_all": round(s["p_all"], 6),
            "n_cells": s["cells"], "n_no_call": s["no_call"], "n_not_lymphoid": s["not_lymphoid"],
            "blast_pct": "" if s["blast_pct"] is None else round(s["blast_pct"], 1),
            "n_refer": s["refer"], "threshold": round(s["image_threshold"], 4),
            "cell_threshold": round(s["cell_threshold"], 4),
            "notes": "; ".join(s["notes"]), "error": "", "analysis": a}


def cell_rows(row: dict, threshold: float) -> list[dict]:
    """One row per cell of an image row (none for an error row or a whole-image call);
    ``size_red_cells`` is the cell's diameter in red-cell diameters (empty where not measured)."""
    a: ImageAnalysis | None = row.get("analysis")
    if a is None or a.found.whole_image:
        return []
    (labels, reasons), refer = a.outcomes(threshold), a.refer(threshold)
    return [{"path": row["path"], "model": row["model"], **c.as_dict(), "label": labels[i], "reason": reasons[i],
             "p_all": round(float(a.p_all[i]), 6), "refer": bool(refer[i]),
             "size_red_cells": "" if a.size_of(i) is None else round(a.size_of(i), 2)}
            for i, c in enumerate(a.found.cells)]


def predict_files(paths: Sequence[Path], predictors: dict[str, Predictor], threshold: float | None = None,
                  on_result=None, site_profiles: Mapping[str, str] | None = None) -> list[dict]:
    """Read every file cell by cell with every model; a bad file fills ``error`` and the batch goes on.

    The cells of an image are found once and cropped for each model's input size. A file whose
    suffix is not one of :data:`IMAGE_SUFFIXES` (a GIF, a DICOM ...) is an error row whether it was
    named or found in a folder; it is not decoded.

    Args:
        threshold: calibrated P(ALL) threshold; None = each model's own (chosen on validation).
        site_profiles: per model name, the site profile whose calibration its predictor applies
            (recorded in each row's ``analysis``).

    Returns:
        rows ``{path, model, label, p_all, n_cells, blast_pct, n_refer, threshold, cell_threshold, notes,
        error, analysis}``; ``label``/``p_all`` are the image's call and mean cell P(ALL) (``threshold``
        the one the call used), empty on error.
    """
    rows = []
    for path in paths:
        path = Path(path)
        err = unsupported_type(path) if path.is_file() else ""
        rgb = None
        if not err:
            try:
                rgb = read_image(path)
            except ImageReadError as exc:
                err = str(exc)
        cells = ImageCells(rgb) if rgb is not None else None  # found once for every model
        for name, pred in predictors.items():
            if rgb is None:
                row = {**error_row(path, name, err), "analysis": None}
            else:
                a = pred.analyze(cells.for_model(pred))
                a.threshold, a.site_profile = threshold_of(pred, threshold), (site_profiles or {}).get(name)
                row = image_row(path, name, a, a.cell_threshold)
            rows.append(row)
            if on_result:
                on_result(row, rgb)
    return rows


# ----------------------------------------------------- memory bounds of a server (the dashboard)
#: Models (weights + Keras graph, 20-200 MB each) the server keeps: the four registered models, so
#: that "Compare all models" never reloads one between images. A fifth (new weights, another
#: weights folder) evicts the least recently used.
MAX_MODELS = 4
#: Explainers the server keeps, all methods together: one method for each of the four models. An
#: explainer holds derived models sharing the loaded weights, and its traced functions; switching
#: the method for all models evicts the least recently used ones (rebuilt in about a second).
MAX_EXPLAINERS = 4


def release_memory(_evicted=None) -> None:
    """Called when a cached model or explainer is evicted (``on_release``): collect the
    reference cycles Keras objects form and hand freed heap pages back to the system
    (``malloc_trim``, glibc only). The evicted object itself is left alone: a session still using
    it keeps a working reference."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
