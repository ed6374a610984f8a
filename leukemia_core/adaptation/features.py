"""Features of a lab's labelled cells, from a served model or a pretrained encoder (both frozen).

A :class:`FeatureSource` turns cell crops into the vector a head reads:

* a served model (``proposed``, ``efficientnet_b0`` ...): the input of its ``logits`` layer, the
  features its own head reads (crops as the model is served: its input size, cell scale and
  surroundings setting);
* a pretrained encoder (:mod:`.encoders`): its global-average-pooled last block, on crops with
  their surroundings at the encoder's input size.

:func:`lab_features` reads each labelled image once, finds its white cells and keeps the cells
that carry the image's label: ``"centre"`` (default; one labelled cell per image, as a lab's
single-cell images are) keeps the found cell nearest the image centre, ``"all"`` every whole cell
(fields labelled as a whole, as Aria's). Images that cannot be read, hold no white cell, or repeat
an earlier image byte for byte are listed with their reason and not used.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from ..cells.analyze import counted_cells
from ..cells.crop import CELL_SHARE, crop_cell
from ..cells.finder import find_cells
from ..data.datasets import Record
from ..data.images import read_image
from ..errors import ImageReadError, LeukemiaCoreError

CELL_RULES = ("centre", "all")


class AdaptationError(LeukemiaCoreError):
    """The lab's cells cannot be adapted to as given (one class, too few cells, other weights ...)."""


@dataclass
class FeatureSource:
    """What reads a crop into features: a served model or a pretrained encoder (frozen).

    Attributes:
        name: the model or encoder name; ``kind``: ``"model"`` or ``"encoder"``.
        sha256: the weights file's sha256 (a site model is bound to it).
        input_size, cell_share, mask_outside: how crops are made for it.
        model: Keras ``image -> features``; ``full``: the served model (None for an encoder).
        loaded: the served :class:`~leukemia_core.inference.LoadedModel` (None for an encoder).
    """

    name: str
    kind: str
    sha256: str
    input_size: int
    cell_share: float
    mask_outside: bool
    model: object
    loaded: object = None
    batch_size: int = 32
    _forward: object = field(default=None, repr=False)

    def features(self, crops: np.ndarray) -> np.ndarray:
        """``uint8 (N, S, S, 3)`` crops -> ``float32 (N, F)``."""
        if self._forward is None:
            import tensorflow as tf

            s, model = self.input_size, self.model

            @tf.function(input_signature=[tf.TensorSpec([None, s, s, 3], tf.float32)], autograph=False)
            def forward(x):
                return model(x, training=False)

            self._forward = forward
        x = np.asarray(crops)
        out = [self._forward(x[i:i + self.batch_size].astype(np.float32) / 255.0).numpy()
               for i in range(0, len(x), self.batch_size)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, int(self.model.output.shape[-1])),
                                                                           np.float32)


def served_source(loaded) -> FeatureSource:
    """The features a served model's own head reads (the input of its ``logits`` layer)."""
    import keras

    from ..models.registry import LOGITS_LAYER

    feats = keras.Model(loaded.model.inputs, loaded.model.get_layer(LOGITS_LAYER).input)
    return FeatureSource(loaded.name, "model", str(loaded.manifest.get("weights_sha256", "")), loaded.input_size,
                         loaded.cell_share, loaded.mask_outside, feats, loaded)


def encoder_source(name: str, weights_dir: str | Path | None = None, model=None, sha256: str | None = None,
                   size: int | None = None) -> FeatureSource:
    """A pretrained encoder as a feature source (``model``/``sha256``: an already built one, for tests)."""
    from .encoders import get_encoder_spec, load_encoder

    spec = get_encoder_spec(name)
    if model is None:
        model, sha256 = load_encoder(name, weights_dir)
    return FeatureSource(name, "encoder", sha256 or "", int(size or model.input_shape[1] or spec.input_size),
                         CELL_SHARE, False, model)


def feature_source(name: str, weights_dir: str | Path | None = None) -> FeatureSource:
    """``name`` as a feature source: a registered model (its shipped weights) or a pretrained encoder.

    Raises:
        AdaptationError: neither a model nor an encoder.
        WeightsError: the weights or the encoder are missing (with the command that makes them).
    """
    from ..models import list_models
    from .encoders import list_encoders

    if name in list_models(include_test=True):
        from ..inference import load_model

        return served_source(load_model(name, weights_dir))
    if name in list_encoders():
        return encoder_source(name, weights_dir)
    raise AdaptationError(f"unknown model or encoder {name!r}; choose one of: "
                          f"{', '.join(list_models() + list_encoders())}")


@dataclass
class LabCells:
    """The lab's labelled cells as one feature source reads them.

    Attributes:
        records: the images used, in order; ``y`` their labels (0 HEM, 1 ALL).
        x: ``float32 (N, F)`` features of the cells kept; ``image_of``: ``int (N,)`` index into
            ``records``; ``crops``: ``uint8 (N, S, S, 3)``.
        skipped: ``{path, reason}`` of images not used (unreadable, no white cell, a duplicate).
        source: the feature source's name, kind and weights sha256.
    """

    records: list[Record]
    x: np.ndarray
    image_of: np.ndarray
    crops: np.ndarray
    skipped: list[dict]
    source: dict

    @property
    def y_image(self) -> np.ndarray:
        """``int (M,)``: each image's label (0 HEM, 1 ALL)."""
        return np.array([r.y for r in self.records], int)

    @property
    def y(self) -> np.ndarray:
        """``int (N,)``: each cell's label (its image's)."""
        return self.y_image[self.image_of] if len(self.image_of) else np.zeros(0, int)

    @property
    def groups(self) -> np.ndarray:
        """Each cell's group (patient, block of fields, or file)."""
        return np.array([self.records[i].group for i in self.image_of])

    def cells_of(self, images: Sequence[int]) -> np.ndarray:
        """Indices of the cells of the images ``images``."""
        return np.flatnonzero(np.isin(self.image_of, np.asarray(list(images), int)))


def _kept_cells(rgb: np.ndarray, rule: str):
    """The found cells that carry the image's label under ``rule``; None when none was found."""
    cells = find_cells(rgb)
    if not cells:
        return None
    if rule == "centre":
        cy, cx = (rgb.shape[0] - 1) / 2, (rgb.shape[1] - 1) / 2
        return [min(cells, key=lambda c: (c.centre[0] - cx) ** 2 + (c.centre[1] - cy) ** 2)]
    return [c for c, n in zip(cells, counted_cells([c.touches_border for c in cells])) if n]


def lab_features(source: FeatureSource, records: Sequence[Record], rule: str = "centre",
                 blobs: Mapping[str, bytes] | None = None,
                 progress: Callable[[int, int], None] | None = None, chunk: int = 32) -> LabCells:
    """Read every labelled image (``blobs``: uploaded bytes by record path, else the file) and
    return the features of its kept cells (see the module docstring).

    Raises:
        AdaptationError: an unknown ``rule``, or no usable cell at all.
    """
    if rule not in CELL_RULES:
        raise AdaptationError(f"cell rule must be one of {', '.join(CELL_RULES)}, not {rule!r}")
    seen: dict[str, str] = {}
    kept: list[Record] = []
    crops, image_of, skipped = [], [], []
    records = list(records)
    for n, r in enumerate(records, 1):
        try:
            data = (blobs or {}).get(str(r.path))
            raw = data if data is not None else Path(r.path).read_bytes()
        except OSError as exc:
            skipped.append({"path": str(r.path), "reason": f"could not be read ({exc.strerror or exc})"})
            continue
        digest = hashlib.sha256(raw).hexdigest()
        if digest in seen:
            skipped.append({"path": str(r.path), "reason": f"the same image as {seen[digest]} (counted once)"})
            continue
        seen[digest] = str(r.path)
        try:
            rgb = read_image(raw)
        except ImageReadError as exc:
            skipped.append({"path": str(r.path), "reason": str(exc)})
            continue
        cells = _kept_cells(rgb, rule)
        if cells is None:
            skipped.append({"path": str(r.path), "reason": "no white cell found"})
            continue
        for c in cells:
            crops.append(crop_cell(rgb, c, source.input_size, source.cell_share, source.mask_outside))
            image_of.append(len(kept))
        kept.append(r)
        if progress and (n % chunk == 0 or n == len(records)):
            progress(n, len(records))
    if not kept:
        reasons = "; ".join(sorted({s["reason"] for s in skipped})[:3])
        raise AdaptationError(f"none of the {len(records)} image(s) gave a white cell to learn from ({reasons})")
    x = np.stack(crops)
    feats = source.features(x)
    return LabCells(kept, feats, np.array(image_of, int), x, skipped,
                    {"name": source.name, "kind": source.kind, "weights_sha256": source.sha256})
