"""Instance selection for weakly labelled fields: which cells an instance teacher leaves out, and a
training run that uses one."""

import json
import shutil

import numpy as np
import pytest

from leukemia_core.errors import LeukemiaCoreError
from leukemia_core.training.instances import select_instances, teacher_of, teacher_scores
from leukemia_core.training.train import TrainConfig, load_cells, train


def test_cells_called_normal_leave_weak_all_fields_but_never_empty_them():
    # image 0: weak ALL field; image 1: weak ALL field with every cell below the threshold;
    # image 2: weak normal field; image 3: a cell with its own ALL label (not weak)
    image_index = np.array([0, 0, 0, 1, 1, 2, 2, 3])
    y = np.array([1, 1, 1, 1, 1, 0, 0, 1])
    weak = np.array([1, 1, 1, 1, 1, 1, 1, 0], bool)
    p = np.array([0.9, 0.2, 0.6, 0.1, 0.3, 0.1, 0.9, 0.05])
    keep = select_instances(image_index, y, weak, p, threshold=0.5)
    assert keep.tolist() == [True, False, True, False, True, True, True, True]
    # a lower threshold keeps more; at 0 nothing is dropped
    assert select_instances(image_index, y, weak, p, 0.25).sum() == 6
    assert select_instances(image_index, y, weak, p, 0.15).sum() == 7
    assert select_instances(image_index, y, weak, p, 0.0).all()
    with pytest.raises(ValueError):
        select_instances(image_index, y[:-1], weak, p, 0.5)


def test_a_teacher_is_a_shipped_weights_file(tmp_path, trained_tiny):
    assert teacher_of(trained_tiny["weights_dir"] / "tiny_cnn.weights.npz") == ("tiny_cnn", trained_tiny["weights_dir"])
    with pytest.raises(LeukemiaCoreError, match="weights.npz"):
        teacher_of(trained_tiny["weights_dir"] / "tiny_cnn.manifest.json")
    with pytest.raises(LeukemiaCoreError, match="not found"):
        teacher_of(tmp_path / "missing.weights.npz")


def _threshold_in_a_gap(p):
    """A threshold near the median of ``p``, halfway across the widest gap between neighbouring
    scores of the middle half: a tiny model's scores can lie close together, and a threshold among
    near-ties would let round-off between two runs move cells across it."""
    q = np.sort(np.asarray(p, np.float64))
    lo, hi = len(q) // 4, max(len(q) // 4 + 1, 3 * len(q) // 4)
    k = lo + int(np.argmax(np.diff(q[lo:hi + 1])))
    return float((q[k] + q[k + 1]) / 2)


def _teacher_with_threshold(tmp_path, trained_tiny, aria_tree):
    """A copy of the tiny teacher whose threshold lies near the median of its P(ALL) on the ALL
    cells of ``aria_tree``'s training fields, so that some cells fall below it."""
    wdir = tmp_path / "teacher"
    shutil.copytree(trained_tiny["weights_dir"], wdir)
    teacher = wdir / "tiny_cnn.weights.npz"
    calibration = wdir / "tiny_cnn.calibration.json"

    def write_identity_calibration(threshold):
        calibration.write_text(json.dumps(
            {"a": 1.0, "b": 0.0, "threshold": threshold, "refer_half_width": 0.0, "fitted": True, "info": {}}))

    # the copy may hold a calibration fitted by another test on the shared teacher: replace it before
    # scoring, so that the scores here and in the run come through the same (identity) calibration
    write_identity_calibration(0.5)
    _, _, cells, _ = load_cells(TrainConfig(model="tiny_cnn", data=[str(aria_tree)], cache_dir=None), 32)
    p, _, _ = teacher_scores(teacher, cells, None)
    write_identity_calibration(_threshold_in_a_gap(p[cells.y == 1]))
    p, threshold, _ = teacher_scores(teacher, cells, None)  # as the run will load it
    expected = ~select_instances(cells.image_index, cells.y, np.ones(len(cells.y), bool), p, threshold)
    return teacher, int(expected.sum())


def test_a_run_with_an_instance_teacher_trains_on_the_cells_it_keeps(tmp_path, aria_tree, trained_tiny):
    teacher, expected_dropped = _teacher_with_threshold(tmp_path, trained_tiny, aria_tree)
    assert expected_dropped > 0

    def run(name, **kw):
        cfg = TrainConfig(model="tiny_cnn", data=[str(aria_tree)], epochs=1, batch_size=4, steps_per_epoch=1,
                          run_dir=str(tmp_path / f"run_{name}"), weights_dir=str(tmp_path / name), cache_dir=None,
                          verbose=0, **kw)
        return train(cfg)["training"]

    plain = run("plain")
    cleaned = run("cleaned", instance_teacher=str(teacher))
    assert plain["instances"] is None
    inst = cleaned["instances"]
    assert inst["model"] == "tiny_cnn" and inst["file"] == teacher.name and len(inst["sha256"]) == 64
    assert inst["weak_all_cells"] == plain["train_cells_all"]  # every ALL cell here is an Aria field's
    assert inst["dropped"] == expected_dropped <= inst["weak_all_cells"] - inst["weak_all_fields"]
    assert cleaned["train_cells"] == plain["train_cells"] - inst["dropped"]
    assert cleaned["train_cells_hem"] == plain["train_cells_hem"]  # normal fields are kept whole
    saved = json.loads((tmp_path / "cleaned" / "tiny_cnn.manifest.json").read_text())
    assert saved["training"]["instances"] == inst
