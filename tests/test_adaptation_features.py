"""A lab's labelled cells read into features: the cell each image labels, and every image not used
named with its reason."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from adaptation_fixtures import lab_dir, tiny_source  # noqa: F401  (fixtures)

from leukemia_core.adaptation.features import AdaptationError, feature_source, lab_features, served_source
from leukemia_core.verification.study import read_labelled


def test_each_single_cell_image_gives_its_centre_cell(lab_dir, tiny_source):
    records = read_labelled([lab_dir])
    lab = lab_features(tiny_source, records)
    assert len(lab.records) == len(records) == 26 and not lab.skipped
    assert lab.x.shape == (26, 16) and lab.crops.shape == (26, 32, 32, 3)
    np.testing.assert_array_equal(lab.image_of, np.arange(26))
    assert lab.y.sum() == 12 and lab.source["kind"] == "encoder"


def test_fields_labelled_as_a_whole_give_every_whole_cell(lab_dir, tiny_source):
    records = [r for r in read_labelled([lab_dir]) if "WBC" in r.path.name]
    lab = lab_features(tiny_source, records, rule="all")
    assert len(lab.x) > len(lab.records)  # Aria fields hold several cells
    assert set(lab.image_of.tolist()) == set(range(len(lab.records)))


def test_duplicates_unreadable_files_and_empty_images_are_named_not_used(tmp_path, lab_dir, tiny_source):
    root = tmp_path / "lab"
    shutil.copytree(lab_dir, root)
    first = sorted((root / "all").iterdir())[0]
    shutil.copy(first, root / "all" / "again.png")
    (root / "hem" / "broken.png").write_bytes(b"not an image")
    blank = np.full((120, 120, 3), 235, np.uint8)
    import cv2

    cv2.imwrite(str(root / "hem" / "blank.png"), blank)
    lab = lab_features(tiny_source, read_labelled([root]))
    reasons = {r["path"].split("/")[-1]: r["reason"] for r in lab.skipped}
    assert len(lab.records) == 26
    assert "counted once" in (reasons.get("again.png") or reasons.get(first.name))
    assert "no white cell found" in reasons["blank.png"]
    assert "broken.png" in reasons


def test_uploaded_bytes_are_read_without_a_file(lab_dir, tiny_source):
    from leukemia_core.data.datasets import Record
    from pathlib import Path

    src = sorted((lab_dir / "all").iterdir())[0]
    rec = Record(Path("upload/all/x.png"), "all", "file-x", "upload", "unsplit")
    lab = lab_features(tiny_source, [rec], blobs={"upload/all/x.png": src.read_bytes()})
    assert len(lab.x) == 1


def test_bad_rule_unknown_model_and_nothing_usable_are_errors(tmp_path, tiny_source):
    with pytest.raises(AdaptationError, match="cell rule"):
        lab_features(tiny_source, [], rule="largest")
    with pytest.raises(AdaptationError, match="unknown model or encoder"):
        feature_source("alexnet")
    from leukemia_core.data.datasets import Record

    (tmp_path / "x.png").write_bytes(b"nope")
    with pytest.raises(AdaptationError, match="none of the 1 image"):
        lab_features(tiny_source, [Record(tmp_path / "x.png", "all", "g", "folder", "unsplit")])


def test_a_served_model_gives_the_features_its_own_head_reads(trained_tiny):
    from leukemia_core.inference import load_model

    loaded = load_model("tiny_cnn", trained_tiny["weights_dir"])
    src = served_source(loaded)
    crops = np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
    feats = src.features(crops)
    kernel, bias = loaded.model.get_layer("logits").get_weights()
    z = feats @ kernel + bias
    p = np.exp(z[:, 1]) / np.exp(z).sum(1)
    np.testing.assert_allclose(p, loaded.model(crops.astype(np.float32) / 255.0).numpy()[:, 1], atol=1e-5)
    assert src.sha256 == loaded.manifest["weights_sha256"] and src.kind == "model"
