"""One registry maps each model name to its builder and spec (input size, Grad-CAM layer, weights file).

Nothing else in the project hard-codes an input size or a layer name: ask :func:`get_spec`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..data.preprocess import CELL_SHARE
from ..errors import UnknownModelError
from ..paths import artefact_file
from ..tfstartup import import_tensorflow
from .weights import load_weights_into

#: Output layer names every registered model carries (Grad-CAM scores the logits).
LOGITS_LAYER = "logits"
PROBS_LAYER = "probs"
INPUT_NAME = "image"
#: How a model's input treats colour (the manifest's ``colour``; ``train --colour``): the crop as it
#: is, each crop's colour standardised inside the graph (:class:`.layers.CellColourStandardise`), or
#: its haematoxylin density alone (:class:`.layers.HaematoxylinDensity`).
COLOURS = ("as is", "standardised", "haematoxylin")


@dataclass(frozen=True)
class ModelSpec:
    """What the rest of the project needs to know about a model.

    Attributes:
        name: registry name.
        builder: ``builder(input_size, weights, **kw) -> keras.Model``; ``weights`` is ``None`` or
            ``"imagenet"`` (for the backbone).
        input_size: default square input size in pixels (a parameter of :func:`create_model`).
        cam_layer: the layer whose output Grad-CAM uses (spatial, ``(h, w, c)``).
        description: one line for listings.
        input_range: what the model's input must hold; every model here takes RGB in [0, 1]
            and does its backbone's own normalisation inside the graph.
        test_only: tiny models that exist so tests run in seconds.
    """

    name: str
    builder: Callable
    input_size: int
    cam_layer: str
    description: str
    input_range: str = "RGB float32 in [0, 1]"
    test_only: bool = False
    imagenet: bool = True

    @property
    def weights_file(self) -> str:
        """File name of the shipped weights inside ``model_weights/``."""
        return artefact_file(self.name, "weights")

    def weights_path(self, weights_dir: Path) -> Path:
        """The model's weights file in ``weights_dir``."""
        return Path(weights_dir) / self.weights_file


_REGISTRY: dict[str, ModelSpec] = {}

#: Held while a Keras graph is built (:func:`create_model`, :func:`leukemia_core.explain.create_explainer`).
#: Keras does not promise thread-safe graph building, and its layer-naming state can be reset from
#: another thread (Streamlit's clean-up after a script run does that, which breaks a build under way
#: with 'The name "conv2d" is used 4 times in the model'; see pages/_streamlit_fixes.py). Builds are
#: serialised on purpose (they are CPU-bound anyway); calling built models is not.
BUILD_LOCK = threading.RLock()


def register_model(name: str, *, input_size: int, cam_layer: str, description: str,
                   test_only: bool = False, imagenet: bool = True):
    """Decorator: register ``builder`` under ``name``."""

    def wrap(builder: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelSpec(name, builder, input_size, cam_layer, description,
                                    test_only=test_only, imagenet=imagenet)
        return builder

    return wrap


def list_models(include_test: bool = False) -> list[str]:
    """Registered names, in registration order: the proposed model first, then the baselines
    (tiny test models only when asked)."""
    return [n for n, s in _REGISTRY.items() if include_test or not s.test_only]


def get_spec(name: str) -> ModelSpec:
    """The spec of ``name``.

    Raises:
        UnknownModelError: naming the valid models.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; choose one of: {', '.join(list_models())}") from None


def create_model(name: str, input_size: int | None = None, init: str = "random", norm: str = "batch",
                 colour: str = "as is", **kwargs):
    """Build a registered model.

    Args:
        name: a name from :func:`list_models`.
        input_size: square input side in pixels; default the spec's ``input_size``.
        init: ``"random"``, ``"imagenet"`` (backbone only; needs the network once to download),
            or a path to a weights file (``.weights.npz`` shipped here or Keras ``.weights.h5``).
        norm: the backbone's normalisation, ``"batch"`` (as built) or ``"group"``
            (:mod:`leukemia_core.models.norm`; the manifest's ``norm``).
        colour: ``"as is"``, ``"standardised"`` (each crop's colour standardised inside the graph,
            :class:`~leukemia_core.models.layers.CellColourStandardise`) or ``"haematoxylin"`` (its
            haematoxylin density alone, :class:`~leukemia_core.models.layers.HaematoxylinDensity`);
            the manifest's ``colour``.
        **kwargs: passed to the builder (e.g. ``dropout``).

    Returns:
        A flat ``keras.Model`` from ``image`` ``(None, S, S, 3)`` float32 in [0, 1] to ``probs``
        ``(None, 2)`` (softmax over HEM, ALL), with a ``logits`` layer before it.
    """
    spec = get_spec(name)
    size = int(input_size or spec.input_size)
    if init not in ("random", "imagenet") and not Path(init).suffix:
        raise ValueError(f"init must be 'random', 'imagenet' or a weights file path, not {init!r}")
    if init == "imagenet" and not spec.imagenet:
        raise ValueError(f"model {name!r} has no ImageNet weights")
    from .norm import NORMS, swap_batch_norm

    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, not {norm!r}")
    import_tensorflow()  # under its lock: a builder's ``import keras`` may race another thread's
    with BUILD_LOCK:
        model = spec.builder(size, "imagenet" if init == "imagenet" else None, colour=colour, **kwargs)
        if norm == "group":
            model = swap_batch_norm(model)
    if init not in ("random", "imagenet"):
        load_weights_into(model, Path(init))
    return model


@dataclass(frozen=True)
class InputConfig:
    """How a model's inputs are made: the one place that resolves them (as timm's
    ``resolve_data_config``): the manifest's values where it has them, else the defaults.

    Attributes:
        input_size: side of the square crop in pixels.
        cell_share: the cell's diameter as a share of the crop (:data:`~leukemia_core.data.preprocess.CELL_SHARE`).
        noise_reduction: whether crops are smoothed before the model (``training.noise_reduction``).
        source: ``"manifest"`` or ``"defaults (no manifest)"``.
        mask_outside: the crops show the cell alone on black (the manifest's ``mask_outside``;
            False for a model trained ``--with-surroundings``).
    """

    input_size: int
    cell_share: float
    noise_reduction: bool
    source: str
    mask_outside: bool = True


def resolve_input_config(name: str, manifest: dict | None) -> InputConfig:
    """The :class:`InputConfig` of ``name`` given its manifest (None: the registry's defaults)."""
    spec = get_spec(name)
    if manifest is None:
        return InputConfig(spec.input_size, CELL_SHARE, True, "defaults (no manifest)")
    return InputConfig(int(manifest.get("input_size", spec.input_size)),
                       float(manifest.get("cell_share", CELL_SHARE)),
                       bool(manifest.get("training", {}).get("noise_reduction", True)), "manifest",
                       bool(manifest.get("mask_outside", True)))
