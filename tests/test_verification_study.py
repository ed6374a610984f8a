"""leukemia_core.verification.study: reading the lab's labels, the grouped splits, the figures."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from verification_fixtures import shifted_lab, stored_calibration

from leukemia_core.data.datasets import Record
from leukemia_core.models.calibration import Calibration
from leukemia_core.verification.study import (
    VerificationError,
    acceptance,
    check_classes,
    figures,
    grouped_split,
    kshot_split,
    level_arrays,
    read_labelled,
    read_labels_csv,
    score_images,
)


def test_read_labels_csv(tmp_path, samples):
    for s in samples[:3]:
        shutil.copy(s.path, tmp_path / s.path.name)
    names = [s.path.name for s in samples[:3]]
    (tmp_path / "labels.csv").write_text("File,Label,Patient\n" f"{names[0]},ALL,p1\n{names[1]},0,p1\n{names[2]},hem,\n")
    recs = read_labels_csv(tmp_path / "labels.csv")
    assert [r.label for r in recs] == ["all", "hem", "hem"]
    assert recs[0].path == tmp_path / names[0] and recs[0].group == recs[1].group == "p1"
    assert recs[2].group != "p1"  # no group given: the C-NMC patient id, else the file


def test_read_labels_csv_refusals(tmp_path):
    (tmp_path / "a.csv").write_text("file,comment\nx.png,nice\n")
    with pytest.raises(VerificationError, match="no labels found"):
        read_labels_csv(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("file,label\nx.png,maybe\ny.png,all\n")
    with pytest.raises(VerificationError, match="line 2: x.png maybe"):
        read_labels_csv(tmp_path / "b.csv")


def test_read_labelled_folders_and_refusals(tmp_path, folder_tree):
    recs = read_labelled([folder_tree])
    assert {r.label for r in recs} == {"all", "hem"}
    shutil.rmtree(folder_tree / "HEM")
    with pytest.raises(VerificationError, match="one class only: .* ALL image"):
        read_labelled([folder_tree])
    (tmp_path / "empty").mkdir()
    with pytest.raises(VerificationError, match="no labels found"):
        read_labelled([tmp_path / "empty"])
    with pytest.raises(VerificationError, match="no such folder"):
        read_labelled([tmp_path / "missing"])
    with pytest.raises(VerificationError, match="no labelled images"):
        check_classes([])


def _records(groups_per_class=6, per_group=3):
    return [Record(Path(f"{lab}{g}_{i}.png"), lab, f"{lab}-{g}", "site", "unsplit")
            for lab in ("hem", "all") for g in range(groups_per_class) for i in range(per_group)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grouped_split_keeps_groups_whole_and_both_classes_on_each_side(seed):
    recs = _records()
    fit, rep = grouped_split(recs, 0.5, seed)
    assert sorted(fit + rep) == list(range(len(recs)))
    assert not {recs[i].group for i in fit} & {recs[i].group for i in rep}
    for part in (fit, rep):
        assert {recs[i].label for i in part} == {"all", "hem"}
    assert sum(recs[i].label == "all" for i in fit) == 9  # half of 18 ALL images, 3 groups of 3


def test_grouped_split_refuses_a_class_of_one_group():
    recs = _records()
    recs = [r for r in recs if r.label == "all"] + [Record(Path("h.png"), "hem", "one", "site", "unsplit")] * 3
    with pytest.raises(VerificationError, match="HEM images come from 1 group"):
        grouped_split(recs)


def test_kshot_split():
    recs = _records(groups_per_class=6, per_group=4)
    fit, rep = kshot_split(recs, 5, seed=0)
    assert sum(recs[i].label == "all" for i in fit) == 5 == sum(recs[i].label == "hem" for i in fit)
    assert not {recs[i].group for i in fit} & {recs[i].group for i in rep}
    assert len(rep) == 2 * 4 * 4  # 2 groups per class touched by 5 images, 4 left untouched per class
    assert kshot_split(recs, 21, seed=0) is None  # 24 images per class: no group left to score
    assert kshot_split(recs, 5, seed=0) == (fit, rep)


def test_level_arrays_and_figures_under_two_calibrations():
    lab, stored = shifted_lab(), stored_calibration()
    arr = level_arrays(lab, stored)
    y, p, called, of = arr["cell"]
    assert len(y) == 3 * len(lab.records) and of.max() == len(lab.records) - 1
    assert called.mean() > 0.9  # the shifted lab: nearly every cell called ALL at 0.5
    f = figures(lab, stored, n_boot=100)
    assert f["cell"]["specificity"]["value"] < 0.2 and f["cell"]["roc_auc"]["value"] > 0.9
    assert f["image"]["n"] == len(lab.records) and len(f["cell"]["roc"]["fpr"]) > 2
    assert f["ood_flagged"] == 1.0  # the lab's green cells are outside the violet reference
    moved = figures(lab, Calibration(threshold=0.92), n_boot=100)
    assert moved["cell"]["balanced_accuracy"]["value"] > 0.8 and moved["ood_flagged"] is None


def test_acceptance():
    figs = {"cell": {"sensitivity": {"value": 0.95, "low": 0.85}, "specificity": {"value": 0.88, "low": 0.7}}}
    a = acceptance(figs, 0.9, 0.9)
    assert a["met"] is False and [c["met"] for c in a["criteria"]] == [True, False]
    assert a["criteria"][0]["lower_bound_met"] is False
    assert acceptance(figs, 0.9, None)["met"] is True
    assert acceptance(figs, None, None)["met"] is None


def test_score_images_reads_cells_and_skips_unreadable(trained_tiny, tmp_path, samples):
    from leukemia_core.inference import load_model

    loaded = load_model("tiny_cnn", trained_tiny["weights_dir"])
    recs = [Record(s.path, s.label, s.path.name, "site", "unsplit") for s in samples[:4]]
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    seen = []
    scored = score_images(loaded, recs + [Record(bad, "all", "b", "site", "unsplit")], chunk=2,
                          progress=lambda d, t: seen.append((d, t)))
    assert len(scored.records) == 4 and scored.skipped[0]["path"] == str(bad)
    assert seen[-1] == (5, 5) and len(seen) == 3
    assert all(len(r) >= 1 and ((r >= 0) & (r <= 1)).all() for r in scored.raw)
    assert scored.weights_sha256 == loaded.manifest["weights_sha256"]
    with pytest.raises(VerificationError, match="none of the 1 image"):
        score_images(loaded, [Record(bad, "all", "b", "site", "unsplit")])
    assert np.array_equal(scored.subset([1, 0]).y, scored.y[[1, 0]])


def test_uploads_are_read_from_memory_like_files(trained_tiny, tmp_path, samples):
    from leukemia_core.inference import load_model

    loaded = load_model("tiny_cnn", trained_tiny["weights_dir"])
    ups = {"all": [(f"dir/{s.path.name}", s.path.read_bytes()) for s in samples[:2]],
           "hem": [(s.path.name, s.path.read_bytes()) for s in samples[2:4]] + [("broken.png", b"not an image")]}
    recs = read_labelled(uploads=ups)
    assert [r.label for r in recs] == ["all", "all", "hem", "hem", "hem"] and str(recs[0].path) == samples[0].path.name
    files = [Record(s.path, r.label, r.group, "folder", "unsplit") for s, r in zip(samples[:4], recs)]
    for cache in (None, tmp_path / "cache", tmp_path / "cache"):  # the second cached run reads the cache
        held, on_disk = score_images(loaded, recs, cache_dir=cache), score_images(loaded, files)
        assert all(np.allclose(a, b) for a, b in zip(held.raw, on_disk.raw))
        assert held.skipped == [{"path": "broken.png", "error": held.skipped[0]["error"]}]
    assert list(tmp_path.iterdir()) == [tmp_path / "cache"]  # nothing but the cache was written
    with pytest.raises(VerificationError, match="expected one of"):
        read_labelled(uploads={"blast": ups["all"]})
