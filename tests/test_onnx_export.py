"""ONNX export (leukemia_core.models.onnx_export): the file, its record beside it, parity with Keras
(<= 1e-4 on the sample cells), a byte-identical re-export, refusal when parity fails, and the
shipped models' ONNX files against their Keras models (slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx_fixtures import copy_weights, seeded_tiny, tiny_onnx  # noqa: F401  (fixture)

from leukemia_core.errors import WeightsError
from leukemia_core.onnx_export import PARITY_TOL, check_inputs, export_onnx, onnx_p_all
from leukemia_core.models.weights import sha256_of
from leukemia_core.paths import artefact_path, default_weights_dir, exports_dir


def test_export_writes_the_file_and_its_record_beside_it(tiny_onnx):
    wdir, entry = tiny_onnx["weights_dir"], tiny_onnx["entry"]
    man = json.loads((wdir / "tiny_cnn.manifest.json").read_text())
    assert "onnx" not in man  # the shipped manifest is not the export's: it stays as trained
    assert json.loads((exports_dir(wdir) / "tiny_cnn.onnx.json").read_text()) == entry
    out = exports_dir(wdir) / "tiny_cnn.onnx"
    assert out == wdir.parent / f"{wdir.name}-onnx" / "tiny_cnn.onnx"  # beside the weights folder, not in it
    assert entry["file"] == "tiny_cnn.onnx" and sha256_of(out) == entry["sha256"]
    assert entry["weights_sha256"] == man["weights_sha256"]
    assert entry["bytes"] == out.stat().st_size
    assert 0 <= entry["parity"]["max_abs_diff_p_all"] <= PARITY_TOL
    assert not list(wdir.glob("*onnx*")) and not list(out.parent.glob(".*tmp"))


def test_onnx_and_keras_agree_on_the_sample_cells(tiny_onnx):
    from leukemia_core.inference import Predictor, load_model

    wdir = tiny_onnx["weights_dir"]
    loaded = load_model("tiny_cnn", wdir)
    x = check_inputs(loaded.input_size, loaded.cell_share)
    assert len(x) > 11  # every cell of the 11 samples (fields hold several), plus black and white
    keras_p = Predictor(loaded).predict(x)
    onnx_p = onnx_p_all(artefact_path("tiny_cnn", "onnx", wdir), x, threads=1)
    assert keras_p.shape == onnx_p.shape and np.ptp(keras_p) > 0.01  # outputs that differ between cells
    assert np.abs(keras_p - onnx_p).max() <= PARITY_TOL


def test_the_onnx_graph_takes_only_the_image(tiny_onnx):
    import onnx

    model = onnx.load(artefact_path("tiny_cnn", "onnx", tiny_onnx["weights_dir"]))
    assert [i.name for i in model.graph.input] == ["image"]
    assert sorted(o.name for o in model.graph.output) == ["features", "probs"]  # the feature check reads the second
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 32, 32, 3]


def test_a_re_export_is_byte_identical_and_leaves_the_manifest(tiny_onnx, tmp_path):
    wdir = copy_weights(tiny_onnx["weights_dir"], tmp_path / "w")
    before = (wdir / "tiny_cnn.manifest.json").read_bytes()
    entry = export_onnx("tiny_cnn", wdir)
    assert entry["sha256"] == tiny_onnx["entry"]["sha256"]
    assert (wdir / "tiny_cnn.manifest.json").read_bytes() == before


def test_new_weights_get_a_new_entry(tiny_onnx, tmp_path):
    wdir = copy_weights(tiny_onnx["weights_dir"], tmp_path / "w")
    sha = seeded_tiny(wdir, seed=5)  # "retrained": other weights than the export record names
    entry = export_onnx("tiny_cnn", wdir)
    assert entry["weights_sha256"] == sha != tiny_onnx["entry"]["weights_sha256"]
    assert entry["sha256"] != tiny_onnx["entry"]["sha256"]
    assert json.loads(artefact_path("tiny_cnn", "onnx_record", wdir).read_text())["sha256"] == entry["sha256"]


def test_export_refuses_when_onnx_and_keras_differ(tiny_onnx, tmp_path):
    wdir = copy_weights(tiny_onnx["weights_dir"], tmp_path / "w")
    artefact_path("tiny_cnn", "onnx", wdir).unlink()
    with pytest.raises(WeightsError, match="differ by up to"):
        export_onnx("tiny_cnn", wdir, tol=-1.0)  # no difference passes a negative tolerance
    assert not artefact_path("tiny_cnn", "onnx", wdir).exists()


def test_export_needs_the_weights(tmp_path):
    with pytest.raises(WeightsError):
        export_onnx("tiny_cnn", tmp_path)


SHIPPED = ("proposed", "efficientnet_b0", "resnet50", "inception_v3")


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_onnx_matches_keras_on_the_sample_cells(name):
    from leukemia_core.inference import Predictor, load_model
    from leukemia_core.onnx_calls import onnx_status

    wdir = default_weights_dir()
    status = onnx_status(name, wdir, verify=True)
    if status != "ok":
        pytest.skip(f"{name}: {status}")
    loaded = load_model(name, wdir)
    x = check_inputs(loaded.input_size, loaded.cell_share)
    diff = np.abs(Predictor(loaded).predict(x) - onnx_p_all(artefact_path(name, "onnx", wdir), x)).max()
    assert diff <= PARITY_TOL
