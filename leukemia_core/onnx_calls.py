"""Calls without TensorFlow: the forward pass on ONNX Runtime when the model's ONNX file is shipped.

:func:`fast_predictor` is what ``predict``, ``screen`` and the app use for calls: an
:class:`OnnxPredictor` when ``<name>.onnx`` is in the weights folder's exports folder
(:func:`~leukemia_core.paths.exports_dir`, beside it) and its manifest entry is
current (:func:`onnx_status`: the file's sha256 as recorded, exported from the weights the manifest
names now), else the Keras :class:`~leukemia_core.inference.Predictor`. Both take the same inputs
(``float32 (N, S, S, 3)`` in [0, 1], the models normalise inside their graph), find the same cells
and apply the same calibration; only the forward pass differs, within
:data:`~leukemia_core.onnx_export.PARITY_TOL` (checked at export and by the tests). Nothing
here imports TensorFlow; Grad-CAM and the other maps still need it (:mod:`leukemia_core.explain`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import WeightsError
from .inference import LoadedModel, Predictor, load_model
from .models.card import onnx_path, read_onnx_record, resolve_card
from .models.weights import read_manifest, sha256_of
from .paths import weights_dir_or_default

#: ``LEUKEMIA_ONNX=0`` turns the ONNX path off (every call through Keras), e.g. to compare.
ONNX_ENV = "LEUKEMIA_ONNX"


class OnnxForward:
    """One ONNX Runtime session: ``float32 (N, S, S, 3)`` in [0, 1] -> P(ALL) ``float32 (N,)``.

    ``threads``: ONNX Runtime's intra-op threads (None: its default, one per core); a Ray actor
    given one CPU passes 1. Sessions are thread-safe for ``run``.
    """

    def __init__(self, path_or_bytes, threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.inter_op_num_threads = 1
        if threads:
            opts.intra_op_num_threads = int(threads)
        src = str(path_or_bytes) if isinstance(path_or_bytes, Path) else path_or_bytes
        self.session = ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        names = [o.name for o in self.session.get_outputs()]
        self.output = "probs" if "probs" in names else names[0]
        #: the features output's name; None for an export without one (then no feature check)
        self.features_output = "features" if "features" in names else None

    def probs(self, x: np.ndarray) -> np.ndarray:
        """Softmax ``float32 (N, 2)`` (P(HEM), P(ALL)) for ``x`` ``float32 (N, S, S, 3)``."""
        return self.session.run([self.output], {self.input: np.ascontiguousarray(x, np.float32)})[0]

    def features(self, x: np.ndarray) -> np.ndarray | None:
        """``float32 (N, F)``: what the head reads; None when the export has no features output."""
        if self.features_output is None:
            return None
        return self.session.run([self.features_output], {self.input: np.ascontiguousarray(x, np.float32)})[0]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """P(ALL) ``float32 (N,)`` for ``x`` ``float32 (N, S, S, 3)`` in [0, 1]."""
        return self.probs(x)[:, 1]


def onnx_enabled() -> bool:
    """False when ``$LEUKEMIA_ONNX`` is ``0``/``false``/``no`` (the ONNX path is on by default)."""
    import os

    return os.environ.get(ONNX_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def onnx_status(name: str, weights_dir: str | Path | None = None, manifest: dict | None = None,
                verify: bool = False) -> str:
    """``"ok"`` when ``name``'s ONNX file can serve calls, else why not (a sentence).

    Checks the export's record (:func:`~leukemia_core.models.card.read_onnx_record`), the file, and
    that it was exported from the weights the manifest names now; with ``verify`` also the file's
    sha256 (reads the file).
    """
    wdir = weights_dir_or_default(weights_dir)
    try:
        man = manifest if manifest is not None else read_manifest(name, wdir)
    except WeightsError as exc:
        return str(exc)
    entry = read_onnx_record(name, wdir)
    if not entry:
        return f"no ONNX export recorded for {name}; run: python -m leukemia_core export-onnx --model {name}"
    path = onnx_path(name, wdir, entry)
    if not path.is_file():
        return f"ONNX file {path.name} missing in {path.parent}; run: python -m leukemia_core export-onnx --model {name}"
    if entry.get("weights_sha256") != man.get("weights_sha256"):
        return f"{path.name} was exported from other weights; run: python -m leukemia_core export-onnx --model {name}"
    if "features" not in entry.get("outputs", []):
        return (f"{path.name} was exported without the features output; run: python -m leukemia_core export-onnx "
                f"--model {name}")
    if verify and sha256_of(path) != entry.get("sha256"):
        return f"{path}: sha256 does not match its export record's; the file was altered"
    return "ok"


class OnnxPredictor(Predictor):
    """A :class:`~leukemia_core.inference.Predictor` whose forward pass is ONNX Runtime (no TensorFlow).

    ``loaded.model`` is None: maps need the Keras model (:func:`~leukemia_core.inference.load_model`).
    ``predict(x)``: ``float32 (N, S, S, 3)`` in [0, 1] -> P(ALL) ``float32 (N,)``, in chunks of
    ``batch_size``.
    """

    backend = "onnxruntime"

    def __init__(self, loaded: LoadedModel, forward: OnnxForward, batch_size: int = 32):  # noqa: D107
        self.loaded = loaded
        self.batch_size = batch_size
        self._onnx = forward

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(ALL) ``float32 (N,)`` of ``x`` ``float32 (N, S, S, 3)`` (or one ``(S, S, 3)``) in [0, 1]."""
        x = np.asarray(x, np.float32)
        if x.ndim == 3:
            x = x[None]
        out = [self._onnx(x[i:i + self.batch_size]) for i in range(0, len(x), self.batch_size)]
        return np.concatenate(out) if out else np.zeros((0,), np.float32)

    def features(self, x: np.ndarray) -> np.ndarray | None:
        """What the head reads, ``float32 (N, F)``; None when the export has no features output."""
        if self._onnx.features_output is None:
            return None
        x = np.asarray(x, np.float32)
        out = [self._onnx.features(x[i:i + self.batch_size]) for i in range(0, len(x), self.batch_size)]
        return np.concatenate(out) if out else None


def load_onnx_predictor(name: str, weights_dir: str | Path | None = None, threads: int | None = None,
                        verify: bool = True) -> OnnxPredictor:
    """``name``'s :class:`OnnxPredictor`: the manifest's input configuration and calibration, the
    ONNX file (sha256 checked against the manifest).

    Raises:
        WeightsError: no usable ONNX file (:func:`onnx_status`), or the calibration was fitted on
            other weights.
    """
    wdir = weights_dir_or_default(weights_dir)
    manifest = read_manifest(name, wdir)
    status = onnx_status(name, wdir, manifest, verify=verify)
    if status != "ok":
        raise WeightsError(status)
    card = resolve_card(name, wdir, require_manifest=True)
    loaded = LoadedModel.from_card(card)  # refuses a calibration fitted on other weights
    return OnnxPredictor(loaded, OnnxForward(card.paths.onnx, threads))


def fast_predictor(name: str, weights_dir: str | Path | None = None, threads: int | None = None) -> Predictor:
    """The predictor for calls: :func:`load_onnx_predictor` when its ONNX file is current and
    ONNX is on (:func:`onnx_enabled`), else the Keras ``Predictor(load_model(name))`` (imports
    TensorFlow). Its ``backend`` attribute says which (``"onnxruntime"`` or ``"keras"``)."""
    if onnx_enabled() and onnx_status(name, weights_dir) == "ok":
        return load_onnx_predictor(name, weights_dir, threads)
    from .tfstartup import import_tensorflow

    import_tensorflow()
    pred = Predictor(load_model(name, weights_dir))
    pred.backend = "keras"
    return pred


def predictor_backend(pred) -> str:
    """``"onnxruntime"`` or ``"keras"``: which forward pass ``pred`` runs."""
    return getattr(pred, "backend", "keras")


def with_loaded(pred: Predictor, loaded: LoadedModel) -> Predictor:
    """``pred`` reading with ``loaded`` (e.g. a site profile's calibration applied to
    ``pred.loaded``): the same forward pass (ONNX session, or Keras model rebuilt into a
    ``Predictor``); ``pred`` itself when ``loaded`` is already its own."""
    if loaded is pred.loaded:
        return pred
    if isinstance(pred, OnnxPredictor):
        return OnnxPredictor(loaded, pred._onnx, pred.batch_size)
    out = Predictor(loaded, pred.batch_size)
    out.backend = predictor_backend(pred)
    return out
