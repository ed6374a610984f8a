"""Shared fixtures: the bundled real sample images, and small dataset trees built from them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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
