"""Export a shipped model's forward pass to ONNX, check it against Keras and record it beside the file.

``python -m leukemia_core export-onnx --model NAME`` (and ``evaluate``, after it has scored the
model) runs :func:`export_onnx`: it loads the shipped weights exactly as :func:`~leukemia_core.inference.load_model`
does, wraps ``model(x, training=False)`` in one ``tf.function`` with input ``image`` ``float32
(None, S, S, 3)`` in [0, 1] (the models normalise inside their graph: Rescaling, EfficientNet's
Normalization, ResNet's Caffe input, so the ONNX graph takes the very same input as Keras), and
converts it with tf2onnx (the converter Keras' own ``model.export(format="onnx")`` calls). Outputs
``probs`` ``float32 (None, 2)`` (HEM, ALL) and ``features`` ``float32 (None, F)`` (what the head
reads: the out-of-distribution check of :mod:`leukemia_core.models.ood` needs it).

Why not ``model.export(format="onnx")`` itself: Keras passes every captured tensor of the traced
function to the converter as a graph input, and EfficientNet's Normalization layer keeps its mean
and variance as captured constants, so its ONNX file asked for two extra inputs. Here only the
image is an input; captured constants and variables are frozen into the graph.

Then the P(ALL) of ONNX Runtime and of the compiled Keras pass are compared on every cell crop of
the bundled samples (plus two synthetic crops, black and white); the export is refused when they
differ by more than :data:`PARITY_TOL`. Only then is ``<name>.onnx`` written (atomically, in the exports
folder beside the weights folder: :func:`~leukemia_core.paths.exports_dir`) with its record
``<name>.onnx.json`` beside it: file, sha256, size, the weights' sha256 it was made from, opset,
versions, and the measured difference. The shipped manifest is not touched: the converter's bytes
differ from one conversion to the next, and an export made at install would otherwise leave the
checkout with changed tracked files. A model retrained later has other weights than its record
names, so serving falls back to Keras until the export is run again
(:func:`leukemia_core.onnx_calls.onnx_status`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from .errors import WeightsError
from .paths import artefact_path, weights_dir_or_default
from .models.weights import read_manifest, sha256_of
from .jsonio import write_json

log = logging.getLogger(__name__)

#: Largest allowed |P(ALL) ONNX - P(ALL) Keras| on the check cells.
PARITY_TOL = 1e-4
#: ONNX opset written (ONNX Runtime 1.32 runs up to 23; tf2onnx 1.17 converts up to 18).
OPSET = 17
INPUT = "image"
OUTPUT = "probs"
FEATURES = "features"


def check_inputs(input_size: int, cell_share: float, masked: bool = True) -> np.ndarray:
    """The parity check's inputs: every cell crop of the bundled samples at the model's scale, a
    black and a white crop; ``float32 (N, S, S, 3)`` in [0, 1]."""
    from .cells.analyze import find_and_crop
    from .data.images import read_image
    from .samples import list_samples

    crops = [find_and_crop(read_image(s.path), input_size, cell_share, masked).crops for s in list_samples()]
    s = input_size
    crops += [np.zeros((1, s, s, 3), np.uint8), np.full((1, s, s, 3), 255, np.uint8)]
    return np.concatenate(crops).astype(np.float32) / np.float32(255.0)


def _patch_tf2onnx() -> None:
    # tf2onnx 1.17 still reads numpy's removed aliases; Keras ships the same patch for its export
    from keras.src.export.tf2onnx_lib import patch_tf2onnx

    patch_tf2onnx()


def convert(model, input_size: int, opset: int = OPSET):
    """``model`` (a registered Keras model) -> ONNX ``ModelProto`` with the one input ``image``
    ``float32 (None, S, S, 3)`` and the outputs ``probs`` ``float32 (None, 2)`` and ``features``
    (see the module)."""
    import tensorflow as tf
    from tf2onnx import tf_loader
    from tf2onnx.convert import _convert_common

    _patch_tf2onnx()
    spec = tf.TensorSpec([None, input_size, input_size, 3], tf.float32, name=INPUT)

    import keras

    from .models.registry import LOGITS_LAYER

    both = keras.Model(model.inputs, [model.output, model.get_layer(LOGITS_LAYER).input])

    @tf.function(input_signature=[spec])
    def forward(image):
        probs, feats = both(image, training=False)
        return {OUTPUT: probs, FEATURES: feats}

    concrete = forward.get_concrete_function()
    inputs = [concrete.inputs[0].name]  # the image only: captured tensors are frozen, not inputs
    outputs = [t.name for t in concrete.outputs]  # flattened in the order of the sorted keys
    rename = {inputs[0]: INPUT, **dict(zip(outputs, sorted([OUTPUT, FEATURES])))}
    with tf.device("/cpu:0"):
        frozen = tf_loader.from_function(concrete, inputs, outputs)
        proto, _ = _convert_common(frozen, name=model.name, continue_on_error=False, opset=opset,
                                   input_names=inputs, output_names=outputs, tensors_to_rename=rename)
    return canonical(proto)


def canonical(proto):
    """``proto`` with deterministic names (nodes ``n0..``, tensors ``t0..`` in graph order, the
    batch dimension ``batch``), initializers in that order and no ``value_info``: tf2onnx numbers
    its names with a process-wide counter, so two exports of the same weights in one process
    differed in bytes; canonical, they are identical. Exports made by separate installs can still
    differ by a few bytes (their Keras parity too), so the sha256 is kept in the record beside the
    file, made with it, not in the shipped manifest."""
    g = proto.graph
    if any(a.type in (a.GRAPH, a.GRAPHS) for node in g.node for a in node.attribute):
        return proto  # control flow with subgraphs (none in the registered models): names are referenced inside
    keep = {v.name for v in g.input} | {v.name for v in g.output}
    names: dict[str, str] = {}

    def rename(x: str) -> str:
        if not x or x in keep:
            return x
        return names.setdefault(x, f"t{len(names)}")

    for i, node in enumerate(g.node):
        node.name = f"n{i}"
        node.input[:] = [rename(x) for x in node.input]
        node.output[:] = [rename(x) for x in node.output]
    inits = [t for t in g.initializer if t.name in names]
    for t in inits:
        t.name = names[t.name]
    inits.sort(key=lambda t: int(t.name[1:]))
    del g.initializer[:]
    g.initializer.extend(inits)
    del g.value_info[:]
    for v in list(g.input) + list(g.output):
        for d in v.type.tensor_type.shape.dim:
            if d.dim_param:
                d.dim_param = "batch"
    return proto


def onnx_p_all(path_or_bytes, x: np.ndarray, threads: int | None = None) -> np.ndarray:
    """P(ALL) ``float32 (N,)`` of an ONNX file (or its bytes) on ``x`` ``float32 (N, S, S, 3)``, in chunks of 32."""
    from .onnx_calls import OnnxForward

    fwd = OnnxForward(path_or_bytes, threads=threads)
    return np.concatenate([fwd(x[i:i + 32]) for i in range(0, len(x), 32)])


def export_onnx(name: str, weights_dir: str | Path | None = None, opset: int = OPSET,
                tol: float = PARITY_TOL) -> dict:
    """Export ``name``'s shipped model to ``<weights_dir>-onnx/<name>.onnx`` (:func:`~leukemia_core.paths.exports_dir`)
    and record it beside the file (see the module); return the record.

    Raises:
        WeightsError: weights or manifest missing or altered; ONNX and Keras disagree by more
            than ``tol`` (nothing is written then).
    """
    import onnx
    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    from .inference import Predictor, load_model

    wdir = weights_dir_or_default(weights_dir)
    t0 = time.perf_counter()
    loaded = load_model(name, wdir)
    proto = convert(loaded.model, loaded.input_size, opset)
    data = proto.SerializeToString()
    x = check_inputs(loaded.input_size, loaded.cell_share, loaded.mask_outside)
    keras_p = Predictor(loaded).predict(x)
    onnx_p = onnx_p_all(data, x)
    diff = float(np.abs(keras_p.astype(np.float64) - onnx_p).max())
    if not diff <= tol:
        raise WeightsError(f"{name}: ONNX and Keras P(ALL) differ by up to {diff:.2e} on {len(x)} check cells "
                           f"(allowed {tol:g}); nothing written")
    out = artefact_path(name, "onnx", wdir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out)
    entry = {"file": out.name, "sha256": sha256_of(out), "bytes": out.stat().st_size,
             "weights_sha256": loaded.manifest.get("weights_sha256"), "opset": opset,
             "input": f"{INPUT} float32 (None, {loaded.input_size}, {loaded.input_size}, 3) in [0, 1]",
             "output": f"{OUTPUT} float32 (None, 2): P(HEM), P(ALL)",
             "outputs": [OUTPUT, FEATURES],
             "parity": {"max_abs_diff_p_all": diff, "tolerance": tol, "cells": int(len(x)),
                        "inputs": "every cell crop of the bundled samples + a black and a white crop"},
             "made_with": {"tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__, "onnx": onnx.__version__,
                           "onnxruntime": onnxruntime.__version__}}
    if read_manifest(name, wdir).get("weights_sha256") != entry["weights_sha256"]:
        raise WeightsError(f"{name}: the weights changed during the export; run it again")
    write_json(artefact_path(name, "onnx_record", wdir), entry)
    log.info("%s: ONNX %s (%.1f MB) in %.0f s, max |dP(ALL)| %.1e on %d cells", name, out, entry["bytes"] / 1e6,
             time.perf_counter() - t0, diff, len(x))
    return entry
