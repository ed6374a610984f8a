"""evaluation.evaluate: set keys and descriptions, grouping records into sets, the roles check, the image
score from whole cells, the report's format tag, and reading reports back."""

import json
from pathlib import Path

import numpy as np
import pytest

from leukemia_core.data.datasets import Record
from leukemia_core.errors import LeakageError, LeukemiaCoreError
from leukemia_core.evaluation.evaluate import (
    REPORT_FORMAT,
    ROLE_TEXT,
    build_set,
    check_roles,
    describe_set,
    group_sets,
    image_scores,
    labels_and_probs,
    leave_out,
    make_report,
    set_key,
)


def _rec(name, label="all", group="g", dataset="folder", split="test", part=""):
    return Record(Path(name), label, group, dataset, split, part)


def test_set_keys():
    assert set_key(_rec("a", dataset="cnmc", split="val", part="fold_0")) == "cnmc/val"
    assert set_key(_rec("a", dataset="cnmc", split="test", part="prelim")) == "cnmc-prelim/test"
    assert set_key(_rec("a", dataset="aria", split="train", part="Original")) == "aria-original/train"
    assert set_key(_rec("a", split="unsplit")) == "folder/unsplit"


def test_describe_set_known_and_user_folders():
    assert describe_set("cnmc/test").startswith("C-NMC 2019 fold_2")
    assert "patient leakage possible" in describe_set("aria-original/test")
    assert describe_set("mine/unsplit").startswith("mine/unsplit (user folder")


def test_group_sets_sorted_and_filtered_by_split():
    recs = [_rec("1", split="train"), _rec("2", split="test"), _rec("3", dataset="cnmc", split="test"),
            _rec("4", split="test")]
    sets = group_sets(recs)
    assert list(sets) == ["cnmc/test", "folder/test", "folder/train"]
    assert [r.path.name for r in sets["folder/test"]] == ["2", "4"]
    assert list(group_sets(recs, splits=["train"])) == ["folder/train"]
    assert group_sets([]) == {}


def test_check_roles_refuses_trained_and_selected_groups():
    sets = {"folder/val": [_rec("1", group="p1")], "folder/test": [_rec("2", group="p2")],
            "folder/train": [_rec("3", group="p3")]}
    check_roles(sets, {"training": {"train_groups": ["folder:p3"], "selected_on": []}})
    with pytest.raises(LeakageError):
        check_roles(sets, {"training": {"train_groups": ["folder:p1"]}})
    with pytest.raises(LeakageError):
        check_roles(sets, {"training": {"selected_on": ["folder:p2"]}})
    check_roles(sets, {"training": {"train_groups": ["folder:p1"], "selected_on": ["folder:p2"]}},
                allow_leakage=True)
    check_roles(sets, {})  # an old manifest without training groups


def test_image_scores_use_whole_cells_unless_all_touch_the_edge():
    p = np.array([0.1, 0.9, 0.5, 0.7, 0.3])
    idx = np.array([0, 0, 1, 1, 2])
    border = np.array([False, True, True, True, False])
    got = image_scores(p, idx, border, 4)
    assert [g.tolist() for g in got] == [[0.1], [0.5, 0.7], [0.3], []]


def test_make_report_and_read_it_back(tmp_path):
    from leukemia_core.reports.files import load_report

    rep = make_report("tiny_cnn", [], [{"path": "x", "error": "e"}], threshold=0.4)
    assert rep["format"] == REPORT_FORMAT and rep["model"] == "tiny_cnn" and rep["threshold"] == 0.4
    assert rep["sets"] == [] and rep["skipped"] == [{"path": "x", "error": "e"}]
    assert rep["created"].endswith("+00:00") and isinstance(rep["commit"], str) and rep["commit"]
    path = tmp_path / "r.report.json"
    path.write_text(json.dumps(rep))
    assert load_report("r", tmp_path) == rep
    path.write_text(json.dumps({**rep, "format": "leukemia_core.report/1"}))
    with pytest.raises(LeukemiaCoreError, match="not a leukemia_core.report/2 report"):
        load_report("r", tmp_path)
    path.write_text("{")
    with pytest.raises(LeukemiaCoreError, match="unreadable JSON"):
        load_report("r", tmp_path)
    assert load_report("absent", tmp_path) is None


def test_labels_and_probs_from_a_built_set():
    recs = [_rec("a", "all"), _rec("b", "hem"), _rec("c", "all")]
    s = build_set("folder/test", recs, np.array([0.9, 0.2, 0.4]), 0.5)
    assert s["role_text"] == ROLE_TEXT["test"] and s["held_out"]
    y, p = labels_and_probs(s)
    assert y.tolist() == [1, 0, 1] and y.dtype.kind == "i"
    assert p.tolist() == [0.9, 0.2, 0.4] and p.dtype == np.float64


def test_left_out_lab_is_one_held_out_set_and_must_be_unseen():
    recs = [_rec("1", dataset="cnmc", split="train", group="p1", label="hem"),
            _rec("2", dataset="cnmc", split="test", group="p2"), _rec("3", dataset="aria", split="val", group="b1", part="Original")]
    moved = leave_out(recs, ["cnmc"])
    assert [r.split for r in moved] == ["left-out", "left-out", "val"]
    sets = group_sets(moved, ["val", "left-out"])
    assert list(sets) == ["aria-original/val", "cnmc/left-out"]
    unseen = {"training": {"train": {"images": {"aria/train/all": 5}}, "val": {"images": {"aria/val/all": 2}},
                           "train_groups": ["aria:b0"], "selected_on": ["aria:b1"]}}
    check_roles({"cnmc/left-out": sets["cnmc/left-out"]}, unseen)
    seen = {"training": {"train": {"images": {"cnmc/train/hem": 1}}, "train_groups": [], "selected_on": []}}
    with pytest.raises(LeakageError, match="cnmc cannot be scored as a left-out lab"):
        check_roles({"cnmc/left-out": sets["cnmc/left-out"]}, seen)
    s = build_set("cnmc/left-out", sets["cnmc/left-out"], np.array([0.2, 0.9]), 0.5, cells=[[0.2], [0.9]])
    assert s["held_out"] and s["role"] == "left-out" and s["role_text"] == ROLE_TEXT["left-out"]
    assert s["description"].startswith("C-NMC 2019, every image")
    assert s["metrics"]["roc_auc"] == 1.0
