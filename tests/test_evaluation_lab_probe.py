"""evaluation.lab_probe: a linear probe telling labs apart from a model's features, class by class,
on synthetic features (where the answer is known) and on the samples with a trained tiny model."""

import numpy as np
import pytest

from leukemia_core.evaluation import lab_probe as lp
from leukemia_core.evaluation.lab_probe import probe, probe_cells, probe_table, sample_cells


def _cells(shift: float, n_per=40, seed=0):
    """Cells of two labs and both classes; the labs' features differ by ``shift`` along one axis."""
    rng = np.random.default_rng(seed)
    labs = np.repeat(["a", "b"], 2 * n_per)
    y = np.tile(np.repeat([0, 1], n_per), 2)
    x = rng.normal(size=(len(labs), 8))
    x[labs == "b", 0] += shift
    groups = np.array([f"{lab}-{i % 8}" for i, lab in enumerate(labs)])
    return x, labs, y, groups


def test_a_lab_written_in_the_features_is_found_and_noise_is_chance():
    x, labs, y, groups = _cells(shift=6.0)
    out = probe(x, labs, y, groups, p_all=np.where(labs == "a", 0.9, 0.1))
    for cls in ("HEM", "ALL"):
        assert out[cls]["balanced_accuracy"] > 0.95 and out[cls]["chance"] == 0.5 and out[cls]["folds"] == 5
        assert out[cls]["labs"] == {"a": 40, "b": 40} and out[cls]["probed_labs"] == ["a", "b"]
        assert out[cls]["p_all"]["a"]["p50"] == 0.9 and out[cls]["p_all"]["b"]["n"] == 40
    noise = probe(*_cells(shift=0.0))
    assert all(abs(noise[c]["balanced_accuracy"] - 0.5) < 0.2 for c in ("HEM", "ALL"))
    assert "p_all" not in noise["HEM"]


def test_labs_too_small_or_of_one_group_are_not_probed():
    x, labs, y, groups = _cells(shift=6.0)
    one_group = np.where(labs == "b", "b-0", groups)  # lab b: a single group, no honest fold
    out = probe(x, labs, y, one_group)
    assert out["HEM"]["probed_labs"] == ["a"] and out["HEM"]["balanced_accuracy"] is None
    assert out["HEM"]["chance"] is None
    keep = (labs == "a") | (np.arange(len(labs)) % 10 == 0)  # lab b: 4 cells per class, under MIN_CELLS
    out = probe(x[keep], labs[keep], y[keep], groups[keep])
    assert out["ALL"]["labs"]["b"] < lp.MIN_CELLS and out["ALL"]["balanced_accuracy"] is None


def test_sampling_caps_each_lab_and_class():
    labs = np.array(["a"] * 50 + ["b"] * 5)
    y = np.array([0, 1] * 25 + [0] * 5)
    pick = sample_cells(labs, y, max_cells=10, seed=1)
    assert list(pick) == sorted(pick) and len(pick) == 10 + 10 + 5
    assert np.array_equal(pick, sample_cells(labs, y, max_cells=10, seed=1))  # the same draw every time


def test_probe_cells_on_the_samples_and_its_table(trained_tiny, samples):
    from leukemia_core.data.datasets import read_many
    from leukemia_core.inference import Predictor, load_model

    pytest.importorskip("sklearn")
    data = trained_tiny["data"]
    records = read_many([data])
    # two "labs" from the samples: the C-NMC cells and the Aria fields
    records = [r.__class__(**{**r.__dict__, "dataset": "cnmc" if r.path.name.startswith("UID") else "aria",
                              "group": r.path.stem}) for r in records]
    pred = Predictor(load_model("tiny_cnn", trained_tiny["weights_dir"]))
    out = probe_cells(records, pred, max_cells=50)
    assert out["cells"] > 0 and out["weights_sha256"] == trained_tiny["manifest"]["weights_sha256"]
    assert set(out["classes"]) == {"HEM", "ALL"}
    assert sum(out["classes"]["HEM"]["labs"].values()) + sum(out["classes"]["ALL"]["labs"].values()) == out["cells"]
    feats = pred.features(np.zeros((3, pred.loaded.input_size, pred.loaded.input_size, 3), np.float32))
    assert feats.ndim == 2 and len(feats) == 3
    table = probe_table({"tiny_cnn": {"lab_probe": out}, "other": {}})
    assert table.splitlines()[0].startswith("| model | cells of |") and "`other`" not in table
    assert sum(line.startswith("| `tiny_cnn` |") for line in table.splitlines()) == 2


def test_the_docs_block_is_the_shipped_reports():
    from leukemia_core.docblocks import block_text
    from leukemia_core.jsonio import read_json
    from leukemia_core.models import list_models
    from leukemia_core.paths import PROJECT_ROOT, artefact_path

    reports = {m: read_json(artefact_path(m, "report")) or {} for m in list_models()}
    if not any(r.get("lab_probe") for r in reports.values()):
        pytest.skip("no shipped report carries a lab probe")
    shown = block_text((PROJECT_ROOT / "docs" / "results.md").read_text(), "lab-probe")
    assert shown == probe_table(reports)
