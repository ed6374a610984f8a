"""A weights folder holding a seeded tiny_cnn and its ONNX export, shared by the ONNX, serving and
screen tests (imported by their files: ``from onnx_fixtures import tiny_onnx``)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest


def seeded_tiny(wdir, seed: int = 3) -> str:
    """Write a seeded tiny_cnn (no training; outputs spread) with its manifest into ``wdir``; its sha256."""
    import keras

    from leukemia_core.models import create_model
    from leukemia_core.models.weights import save_weights_npz
    from leukemia_core.jsonio import write_json

    keras.utils.set_random_seed(seed)
    model = create_model("tiny_cnn", 32)
    kernel, _ = model.get_layer("logits").get_weights()
    model.get_layer("logits").set_weights([kernel * 6, np.array([0.3, -0.3], np.float32)])
    sha = save_weights_npz(model, wdir / "tiny_cnn.weights.npz")
    write_json(wdir / "tiny_cnn.manifest.json", {"name": "tiny_cnn", "input_size": 32, "weights_file":
                                                 "tiny_cnn.weights.npz", "weights_sha256": sha,
                                                 "training": {"noise_reduction": True}})
    return sha


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory):
    """``{"weights_dir", "entry"}``: a seeded tiny_cnn exported to ONNX (the folder is read-only by convention:
    copy it with :func:`copy_weights` before changing anything)."""
    from leukemia_core.onnx_export import export_onnx

    wdir = tmp_path_factory.mktemp("tiny_onnx")
    seeded_tiny(wdir)
    return {"weights_dir": wdir, "entry": export_onnx("tiny_cnn", wdir)}


def copy_weights(src, dst):
    """A copy of a weights folder and of its exports folder beside it (to alter files in a test)."""
    from leukemia_core.paths import exports_dir

    shutil.copytree(src, dst)
    if exports_dir(src).is_dir():
        shutil.copytree(exports_dir(src), exports_dir(dst))
    return dst
