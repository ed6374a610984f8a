"""screen's stages without Ray (leukemia_core.screening.stages): reading and finding, error rows,
skipping, and rows equal to predict's for the same images."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from onnx_fixtures import tiny_onnx  # noqa: F401  (fixture)

from leukemia_core.screening.stages import Classify, read_and_find


@pytest.fixture(scope="module")
def plan(tiny_onnx):
    from leukemia_core.screening.pipeline import plan_models

    (p,) = plan_models(["tiny_cnn"], tiny_onnx["weights_dir"])
    assert p.onnx is not None
    return p


def _inputs(samples, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    gif = tmp_path / "x.gif"
    gif.write_bytes(b"GIF89a")
    return [str(s.path) for s in samples] + [str(bad), str(gif), str(tmp_path / "gone.png")]


def test_read_and_find(samples, tmp_path, plan):
    paths = _inputs(samples, tmp_path)
    out = read_and_find({"path": np.array(paths, dtype=object)}, [plan.key])
    assert list(out["path"]) == paths and not out["skip"].any()
    n = len(samples)
    assert all(out["error"][:n] == "") and all(len(s) == 64 for s in out["file_sha256"][:n])
    found = pickle.loads(out["found"][n - 1])[plan.key]
    assert found.crops.shape[1:] == (32, 32, 3)
    assert "broken.png" in out["error"][n] and out["file_sha256"][n]  # read, but not an image
    assert "unsupported file type" in out["error"][n + 1]
    assert "cannot read" in out["error"][n + 2] and out["file_sha256"][n + 2] == ""
    again = read_and_find({"path": np.array(paths[:2], dtype=object)}, [plan.key], {out["file_sha256"][0]})
    assert list(again["skip"]) == [True, False] and again["found"][0] == b""


def test_classify_writes_predicts_rows(samples, tmp_path, plan, tiny_onnx):
    from leukemia_core.inference import cell_rows, predict_files
    from leukemia_core.onnx_calls import load_onnx_predictor

    paths = _inputs(samples, tmp_path)
    batch = read_and_find({"path": np.array(paths, dtype=object)}, [plan.key])
    res = Classify(plan, threads=1, drop_found=True)(batch)
    assert "found" not in res
    got = [json.loads(r) for r in res["r_tiny_cnn"]]
    want = predict_files(paths, {"tiny_cnn": load_onnx_predictor("tiny_cnn", tiny_onnx["weights_dir"])})
    for g, w in zip(got, want):
        img = g["image"]
        assert img["backend"] == "onnxruntime" and img["weights_sha256"] == plan.weights_sha256
        for k in ("path", "model", "label", "n_cells", "blast_pct", "n_refer", "threshold", "notes"):
            assert img[k] == w[k], k
        assert bool(img["error"]) == bool(w["error"])
        if not w["error"]:
            assert img["p_all"] == pytest.approx(w["p_all"], abs=1e-6)
            wc = cell_rows(w, w["cell_threshold"])
            assert [c["cell"] for c in g["cells"]] == [c["cell"] for c in wc]
            assert [c["label"] for c in g["cells"]] == [c["label"] for c in wc]
    assert sum(len(g["cells"]) for g in got) > len(samples)  # the fields' cells


def test_classify_skips_what_the_model_scored(samples, plan):
    paths = [str(s.path) for s in samples[:3]]
    batch = read_and_find({"path": np.array(paths, dtype=object)}, [plan.key])
    res = Classify(plan, threads=1, done={batch["file_sha256"][1]})(batch)
    assert [bool(r) for r in res["r_tiny_cnn"]] == [True, False, True]
    assert "found" in res  # kept for the next model's actors


def test_a_site_model_is_screened_as_predict_reads_it(samples, tiny_onnx):
    """The head goes into the ONNX bytes; the rows name the site model and match predict's reading."""
    from leukemia_core.adaptation.features import served_source
    from leukemia_core.adaptation.serve import site_predictor
    from leukemia_core.inference import load_model, predict_files
    from leukemia_core.models.calibration import Calibration
    from leukemia_core.models.site_head import fit_head
    from leukemia_core.onnx_calls import load_onnx_predictor
    from leukemia_core.screening.pipeline import plan_models
    from leukemia_core.verification.profile import SiteProfile

    wdir = tiny_onnx["weights_dir"]
    loaded = load_model("tiny_cnn", wdir)
    crops = np.random.default_rng(2).integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
    head = fit_head(served_source(loaded).features(crops), np.array([0, 1] * 4), C=1.0)
    sha = loaded.manifest["weights_sha256"]
    prof = SiteProfile("lab B", "tiny_cnn", sha, Calibration(threshold=0.45), head=head.to_json(),
                       base={"kind": "model", "name": "tiny_cnn", "weights_sha256": sha}, accepted=False)
    (site_plan,) = plan_models(["tiny_cnn"], wdir, profiles={"tiny_cnn": prof})
    assert site_plan.onnx is not None and site_plan.profile_label == "lab B [FAILED acceptance]"
    paths = [str(s.path) for s in samples[:4]]
    batch = read_and_find({"path": np.array(paths, dtype=object)}, [site_plan.key])
    got = [json.loads(r)["image"] for r in Classify(site_plan, threads=1)(batch)["r_tiny_cnn"]]
    want = predict_files(paths, {"tiny_cnn": site_predictor(load_onnx_predictor("tiny_cnn", wdir), prof, wdir)})
    assert [g["profile"] for g in got] == ["lab B [FAILED acceptance]"] * 4
    assert [g["p_all"] for g in got] == pytest.approx([w["p_all"] for w in want], abs=1e-6)
    (plain,) = plan_models(["tiny_cnn"], wdir)
    assert plain.onnx != site_plan.onnx
