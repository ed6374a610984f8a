"""Serving a site model: its head in place of the model's own, on every backend.

A head is a two-logit linear layer (:meth:`~.head.Head.dense_weights`), so a site model is the
served model with its ``logits`` layer replaced:

* Keras (:func:`~leukemia_core.verification.profile.apply_profile`, with
  :func:`~leukemia_core.models.site_head.headed_graph`): a new graph from the same input to a new
  ``logits`` and ``probs``, sharing every backbone layer (nothing is copied); Grad-CAM and the
  other maps read it as any registered model;
* ONNX Runtime (:func:`site_predictor`): the exported graph with the ``logits`` kernel and bias
  initialisers replaced (found by their values), run from memory;
* a pretrained encoder (:func:`encoder_loaded`): the encoder graph with the head on its pooled
  features, as a :class:`~leukemia_core.inference.LoadedModel` of its own.

:func:`site_predictor` is the one entry: a predictor plus a profile (calibration-only or site
model) -> the predictor that reads as the profile says.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import WeightsError
from ..models.site_head import Head, headed_graph


def encoder_loaded(profile, weights_dir: str | Path | None = None, encoder=None):
    """The site model ``profile`` of a pretrained encoder as a LoadedModel (Keras).

    ``encoder``: an already built features model (tests); else the built encoder, whose sha256
    must be the profile's.

    Raises:
        ProfileError: the profile was fitted on another build of the encoder.
        WeightsError: the encoder is not built on this machine.
    """
    from .encoders import get_encoder_spec, load_encoder

    spec = get_encoder_spec(profile.model)
    sha = profile.weights_sha256
    if encoder is None:
        encoder, sha = load_encoder(profile.model, weights_dir)
    profile.check(profile.model, sha)
    model = headed_graph(encoder, Head.from_json(profile.head), feature_layer="features")
    extra = {"cam_layer": spec.cam_layer, "init": f"pretrained encoder ({spec.package} {spec.version})",
             "site_model": profile.name}
    return encoder_reading(profile, model, extra)


def encoder_reading(profile, model=None, manifest_extra: dict | None = None):
    """The one way a site model on a pretrained encoder becomes a
    :class:`~leukemia_core.inference.LoadedModel`: input size, crop and calibration from the
    profile (``model``: the headed Keras graph, or None where a worker reads it)."""
    from ..inference import LoadedModel
    from ..models.calibration import Calibration
    from .encoders import get_encoder_spec

    base = profile.base
    size = int(base.get("input_size", get_encoder_spec(profile.model).input_size))
    manifest = {"name": profile.model, "weights_sha256": profile.weights_sha256, **(manifest_extra or {})}
    calibration = profile.calibration if isinstance(profile.calibration, Calibration) else Calibration()
    return LoadedModel(profile.model, model, manifest, size, False, calibration,
                       float(base.get("cell_share", 0.75)), bool(base.get("mask_outside", False)))


def patched_onnx(source: Path | bytes, old_kernel: np.ndarray, old_bias: np.ndarray, head: Head) -> bytes:
    """The ONNX graph (a file or its bytes) with the initialisers equal to the shipped ``logits``
    kernel and bias replaced by the head's (serialised). Raises :class:`WeightsError` when they are
    not found exactly once each."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(source) if isinstance(source, bytes) else onnx.load(str(source))
    kernel, bias = head.dense_weights()
    found = {"kernel": 0, "bias": 0}
    for init in graph.graph.initializer:
        a = numpy_helper.to_array(init)
        for key, old, new in (("kernel", old_kernel, kernel), ("bias", old_bias, bias)):
            for cand, repl in ((old, new), (old.T, new.T)):
                if a.shape == cand.shape and np.allclose(a, cand, atol=1e-6):
                    init.CopyFrom(numpy_helper.from_array(repl.astype(a.dtype), init.name))
                    found[key] += 1
                    break
    if found != {"kernel": 1, "bias": 1}:
        raise WeightsError(f"could not find the logits layer's weights in the ONNX graph ({found})")
    return graph.SerializeToString()


def site_predictor(pred, profile, weights_dir: str | Path | None = None):
    """The predictor reading as ``profile`` says (None: ``pred`` itself).

    * calibration-only profile: ``pred``'s forward pass with the profile's calibration;
    * site model on the served model: its head in place of the model's (Keras or ONNX Runtime);
    * site model on an encoder: the encoder's site model (Keras), whatever ``pred`` was.

    Raises:
        ProfileError: the profile is for other weights or another model.
    """
    from ..inference import Predictor
    from ..onnx_calls import OnnxForward, OnnxPredictor, predictor_backend, with_loaded
    from ..verification.profile import apply_profile

    if profile is None:
        return pred
    if profile.reads_with_encoder:
        out = Predictor(encoder_loaded(profile, weights_dir))
        out.backend = "keras"
        return out
    loaded = pred.loaded
    profile.check(loaded.name, loaded.manifest.get("weights_sha256"))
    if not profile.is_site_model:
        return with_loaded(pred, replace(loaded, calibration=profile.calibration))
    if isinstance(pred, OnnxPredictor):
        from ..models.card import onnx_path, read_onnx_record
        from ..paths import weights_dir_or_default

        wdir = weights_dir_or_default(weights_dir)
        kernel, bias = logits_weights(loaded.name, wdir)
        data = patched_onnx(onnx_path(loaded.name, wdir, read_onnx_record(loaded.name, wdir)), kernel, bias,
                             Head.from_json(profile.head))
        return OnnxPredictor(replace(loaded, calibration=profile.calibration), OnnxForward(data), pred.batch_size)
    out = Predictor(apply_profile(loaded, profile), pred.batch_size)
    out.backend = predictor_backend(pred)
    return out


def logits_weights(name: str, weights_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The shipped ``logits`` kernel ``(F, 2)`` and bias ``(2,)`` of ``name``, read from its weights
    file without TensorFlow (the last kernel-and-bias pair of the ``logits`` layer)."""
    from ..models.registry import LOGITS_LAYER
    from ..models.weights import read_manifest

    path = Path(weights_dir) / read_manifest(name, weights_dir)["weights_file"]
    with np.load(path, allow_pickle=False) as z:
        names = [str(n) for n in z["names"]]
        idx = [i for i, n in enumerate(names) if n.startswith(f"{LOGITS_LAYER}/")]
        if len(idx) != 2:
            raise WeightsError(f"{path.name}: no logits kernel and bias in the weights file")
        arrays = [z[f"w{i:05d}"].astype(np.float32) for i in idx]
    kernel = next(a for a in arrays if a.ndim == 2)
    bias = next(a for a in arrays if a.ndim == 1)
    return kernel, bias
