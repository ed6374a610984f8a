"""Shared fixtures and helpers: the bundled real sample images, small dataset trees built from them,
drawn smear fields, explainer fixtures and the registry's real architectures."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from leukemia_core.samples import list_samples  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: builds full-size architectures or runs the browser (still run in CI)")


@pytest.fixture(scope="session")
def samples():
    return list_samples()


@pytest.fixture(scope="session")
def cnmc_samples(samples):
    return [s for s in samples if s.dataset == "C-NMC 2019"]


@pytest.fixture(scope="session")
def aria_samples(samples):
    return [s for s in samples if s.dataset == "Aria ALL"]


@pytest.fixture
def cnmc_tree(tmp_path, cnmc_samples):
    """A C-NMC tree in the official layout: 3 folds, the prelim set and its label CSV."""
    root = tmp_path / "C-NMC"
    all_s = [s for s in cnmc_samples if s.label == "all"]
    hem_s = [s for s in cnmc_samples if s.label == "hem"]
    for fold, (a, h) in enumerate(zip(all_s, hem_s)):
        for s in (a, h):
            d = root / "training_data" / f"fold_{fold}" / s.label
            d.mkdir(parents=True, exist_ok=True)
            shutil.copy(s.path, d / (s.path.stem + ".bmp"))
    # a lower-case healthy UID, as in one real file
    shutil.copy(hem_s[0].path, root / "training_data" / "fold_0" / "hem" / "UID_h3_9_9_hem.bmp")
    pre = root / "validation_data" / "C-NMC_test_prelim_phase_data"
    pre.mkdir(parents=True)
    shutil.copy(all_s[0].path, pre / "1.bmp")
    shutil.copy(hem_s[0].path, pre / "2.bmp")
    (root / "validation_data" / "C-NMC_test_prelim_phase_data_labels.csv").write_text(
        "Patient_ID,new_names,labels\nUID_57_29_1_all.bmp,1.bmp,1\nUID_H40_1_1_hem.bmp,2.bmp,0\n"
        "UID_58_1_1_all.bmp,3.bmp,1\n")  # 3.bmp is absent, as when only the CSV is present
    return root


@pytest.fixture
def aria_tree(tmp_path, aria_samples):
    """An Aria tree: Original and Segmented, four subclasses, ten numbered fields each."""
    root = tmp_path / "aria"
    src = {s.path.name.split("-")[-2] if "Malignant" in s.path.name else "Benign": s for s in aria_samples}
    for sub, s in src.items():
        for variant in ("Original", "Segmented"):
            d = root / variant / sub
            d.mkdir(parents=True, exist_ok=True)
            img = s.path if variant == "Original" else s.mask
            for n in range(1, 11):
                prefix = "WBC-Benign" if sub == "Benign" else f"WBC-Malignant-{sub}"
                dst = d / f"{prefix}-{n:03d}.jpg"
                # make files distinct (append bytes after the JPEG end marker) except one duplicate pair
                data = img.read_bytes()
                dst.write_bytes(data if (sub == "Pro" and n in (3, 4)) else data + bytes([n]))
    return root


@pytest.fixture
def bccd_tree(tmp_path, samples):
    """A BCCD tree: the two bundled BCCD images and their boxes, five numbered copies each
    (BloodImage_00000..00009), so that train, val and test all hold images."""
    root = tmp_path / "bccd"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    src = [s for s in samples if s.dataset == "BCCD"]
    for n in range(10):
        s = src[n % len(src)]
        shutil.copy(s.path, root / "JPEGImages" / f"BloodImage_{n:05d}.jpg")
        shutil.copy(s.boxes, root / "Annotations" / f"BloodImage_{n:05d}.xml")
    return root


@pytest.fixture
def folder_tree(tmp_path, samples):
    root = tmp_path / "mine"
    for s in samples:
        d = root / s.label.upper()  # case-insensitive folder names
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(s.path, d / s.path.name)
    return root


@pytest.fixture(scope="session")
def trained_tiny(tmp_path_factory, samples):
    """A tiny_cnn trained for one epoch on the samples, exported like a shipped model."""
    from leukemia_core.training.train import TrainConfig, train

    base = tmp_path_factory.mktemp("tiny")
    data = base / "data"
    for s in samples:
        d = data / ("val" if s.path.name.endswith(("420.jpg", "H1_1_1_hem.png", "21_1_1_all.png")) else "train") / s.label
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(s.path, d / s.path.name)
    wdir = base / "weights"
    cfg = TrainConfig(model="tiny_cnn", data=[str(data)], epochs=1, batch_size=4, run_dir=str(base / "run"),
                      weights_dir=str(wdir), cache_dir=None, verbose=0)
    manifest = train(cfg)
    return {"weights_dir": wdir, "data": data, "manifest": manifest}


# ---------------------------------------------------------------------------------------------
# Drawn smear fields (test_cells_finder, test_cells_crop, test_cells_check).

PALE = (236, 232, 238)      # smear background: violet excess 5
PINK = (222, 170, 178)      # red cell: violet excess 30
VIOLET = (110, 50, 160)     # stained white cell: violet excess 85


def _field(size=224):
    return np.full((size, size, 3), PALE, np.uint8)


def _disc(img, centre, r, colour=VIOLET):
    cv2.circle(img, centre, r, colour, -1)
    return img


# ---------------------------------------------------------------------------------------------
# Explainer fixtures (test_explain_base, test_explain_gradcam, test_explain_scorecam): a tiny
# model and real samples as 32 px inputs.

@pytest.fixture(scope="module")
def tiny():
    # lazy: imports Keras and TensorFlow (about 3 s), which most test files never need
    import keras

    from leukemia_core.models import create_model
    keras.utils.set_random_seed(0)
    return create_model("tiny_cnn", 32)


@pytest.fixture(scope="module")
def batch(samples_module):
    return samples_module


@pytest.fixture(scope="module")
def samples_module():
    from leukemia_core.data.images import read_image
    from leukemia_core.data.preprocess import prepare, to_unit
    from leukemia_core.samples import list_samples
    return np.stack([to_unit(prepare(read_image(s.path), 32)) for s in list_samples()[:3]])


# ---------------------------------------------------------------------------------------------
# Maps that carry information: a tiny model whose two classes rest on different evidence.


@pytest.fixture(scope="module")
def two_evidence():
    # lazy: imports Keras and TensorFlow (about 3 s), which most test files never need
    from leukemia_core.models import create_model

    """tiny_cnn with set weights: purple pixels (blue well above green: stained nuclei) are
    evidence for ALL, pale pixels (bright green: the field's background) evidence for HEM.

    Every method must then explain ALL on the purple regions and HEM on the pale ones.
    """
    model = create_model("tiny_cnn", 32)
    k1, b1 = np.zeros((3, 3, 3, 8), np.float32), np.zeros(8, np.float32)
    k1[1, 1, 2, 0], k1[1, 1, 1, 0], b1[0] = 1.0, -1.0, -0.25   # relu(B - G - 0.25): purple
    k1[1, 1, 1, 1], b1[1] = 1.0, -0.8                         # relu(G - 0.8): pale
    k2, b2 = np.zeros((3, 3, 8, 16), np.float32), np.zeros(16, np.float32)
    k2[1, 1, 0, 0] = 1.0  # cam_conv channel 0: purple
    k2[1, 1, 1, 1] = 1.0  # cam_conv channel 1: pale
    w = np.zeros((16, 2), np.float32)
    w[0] = (-100.0, 100.0)  # purple -> ALL
    w[1] = (100.0, -100.0)  # pale -> HEM
    model.get_layer("conv1").set_weights([k1, b1])
    model.get_layer("cam_conv").set_weights([k2, b2])
    model.get_layer("logits").set_weights([w, np.zeros(2, np.float32)])
    return model


@pytest.fixture(scope="module")
def aria_fields():
    """Two real Aria fields (one ALL, one HEM) as 32 px model inputs, with their purple and pale masks."""
    from leukemia_core.data.images import read_image
    from leukemia_core.data.preprocess import prepare, to_unit
    from leukemia_core.samples import SAMPLES_DIR
    x = np.stack([to_unit(prepare(read_image(SAMPLES_DIR / p), 32))
                  for p in ("all/WBC-Malignant-Early-800.jpg", "hem/WBC-Benign-400.jpg")])
    purple = x[..., 2] - x[..., 1] > 0.3
    pale = x[..., 1] > 0.85
    assert purple.sum(axis=(1, 2)).min() >= 20 and pale.sum(axis=(1, 2)).min() >= 300  # both kinds present
    return x, purple, pale


# ---------------------------------------------------------------------------------------------
# The registry's real (full-size) architectures (test_models_registry, test_models_builders).

REAL = ["efficientnet_b0", "resnet50", "inception_v3", "proposed"]


def analyze_file(pred, path):
    """A predictor's cell-by-cell reading of one image file (as ``predict`` reads it)."""
    from leukemia_core.data.images import read_image

    return pred.analyze(pred.find_cells(read_image(path)))


def norm_of(model, head_prefix: str = "head_") -> str:
    """``"batch"`` when the model's backbone has a batch norm, ``"group"`` when a group norm instead,
    else ``"none"`` (what ``train --norm`` built)."""
    from keras import layers

    backbone = [la for la in model.layers if not la.name.startswith(head_prefix)]
    if any(isinstance(la, layers.BatchNormalization) for la in backbone):
        return "batch"
    if any(isinstance(la, layers.GroupNormalization) for la in backbone):
        return "group"
    return "none"
