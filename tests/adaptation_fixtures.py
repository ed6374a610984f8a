"""A lab of labelled single-cell images made from the bundled samples, and a tiny stand-in for the
pretrained encoder (same graph contract: image in [0, 1] -> ``features``), for the adaptation
tests (imported by their files: ``from adaptation_fixtures import lab_dir, tiny_encoder``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from leukemia_core.data.images import read_image


def write_lab(root, samples, copies: int = 2):
    """``root/all`` and ``root/hem``: each sample as PNG, plus ``copies - 1`` mirrored or rotated
    versions (distinct bytes: a real lab's cells are not repeats). Returns ``root``."""
    for s in samples:
        d = root / s.label
        d.mkdir(parents=True, exist_ok=True)
        rgb = read_image(s.path)
        variants = [rgb, rgb[:, ::-1], rgb[::-1], np.rot90(rgb)][:copies]
        for i, v in enumerate(variants):
            cv2.imwrite(str(d / f"{s.path.stem}_{i}.png"), cv2.cvtColor(np.ascontiguousarray(v), cv2.COLOR_RGB2BGR))
    return root


@pytest.fixture(scope="session")
def lab_dir(tmp_path_factory, samples):
    """12 ALL and 14 HEM labelled images (two versions of each bundled sample)."""
    return write_lab(tmp_path_factory.mktemp("lab"), samples)


def tiny_encoder(size: int = 32, seed: int = 0):
    """A two-convolution features model named like the real encoder's graph (``features`` layer,
    ``relu`` as the last spatial layer)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3), name="image")
    x = layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    x = layers.Conv2D(16, 3, activation="relu", name="relu")(x)
    feats = layers.GlobalAveragePooling2D(name="features")(x)
    return keras.Model(inputs, feats)


@pytest.fixture(scope="session")
def tiny_source():
    """The tiny encoder as the ``densenet121`` feature source (a made-up sha256)."""
    from leukemia_core.adaptation.features import encoder_source

    return encoder_source("densenet121", model=tiny_encoder(), sha256="ab" * 32, size=32)
