"""models.weights: the weights format (round trip, checksum, float16 storage) and its errors; JSON files,
manifests (missing, unreadable, missing_ok) and the input config (manifest values, else defaults)."""


import numpy as np
import pytest

from leukemia_core.errors import WeightsError
from leukemia_core.jsonio import write_json
from leukemia_core.models import create_model
from leukemia_core.models.weights import load_weights_into, manifest_path, read_manifest, save_weights_npz, sha256_of


def test_weights_round_trip_and_checksum(tmp_path):
    m = create_model("tiny_cnn", 32)
    path = tmp_path / "tiny.weights.npz"
    sha = save_weights_npz(m, path)
    assert sha == sha256_of(path)
    m2 = create_model("tiny_cnn", 32)
    load_weights_into(m2, path, sha)
    x = np.random.default_rng(1).random((3, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(m(x).numpy(), m2(x).numpy(), rtol=1e-6, atol=1e-7)
    # a second save of the loaded model is identical: loading restores exactly what shipped
    assert save_weights_npz(m2, tmp_path / "again.weights.npz") == sha


@pytest.mark.slow
def test_float16_storage_restores_exactly_what_shipped(tmp_path):
    m = create_model("proposed", 64)
    path = tmp_path / "p.weights.npz"
    sha = save_weights_npz(m, path)
    m2 = create_model("proposed", 64)
    load_weights_into(m2, path, sha)
    save_weights_npz(m2, tmp_path / "p2.weights.npz")
    with np.load(path) as a, np.load(tmp_path / "p2.weights.npz") as b:
        keys = [k for k in a.files if k != "names"]
        assert keys and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in keys)
        assert any(a[k].dtype == np.float16 for k in keys)
    assert path.stat().st_size < 0.6 * sum(np.asarray(v).nbytes for v in m.weights)


def test_weights_errors_are_clear(tmp_path):
    m = create_model("tiny_cnn", 32)
    with pytest.raises(WeightsError, match="not found"):
        load_weights_into(m, tmp_path / "missing.weights.npz")
    path = tmp_path / "t.weights.npz"
    sha = save_weights_npz(m, path)
    with pytest.raises(WeightsError, match="sha256"):
        load_weights_into(m, path, "0" * 64)
    other = create_model("tiny_cnn", 48)  # same layers; shapes match; another size is fine here
    load_weights_into(other, path, sha)
    bad = tmp_path / "bad.weights.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(WeightsError, match="not a readable"):
        load_weights_into(m, bad)


@pytest.mark.slow
def test_weights_of_another_model_are_refused(tmp_path):
    path = tmp_path / "t.weights.npz"
    save_weights_npz(create_model("tiny_cnn", 32), path)
    with pytest.raises(WeightsError, match="another model"):
        load_weights_into(create_model("efficientnet_b0", 32), path)


# ---------------------------------------------------------------------------------------------
# Manifests: the one reader.


def test_read_manifest_missing_missing_ok_and_not_an_object(tmp_path):
    assert manifest_path("m", tmp_path) == tmp_path / "m.manifest.json"
    with pytest.raises(WeightsError, match=r"no manifest for model 'm'.*m\.manifest\.json.*train --model m"):
        read_manifest("m", tmp_path)
    assert read_manifest("m", tmp_path, missing_ok=True) is None
    (tmp_path / "m.manifest.json").write_text("[1, 2]")
    with pytest.raises(WeightsError, match="not a manifest"):
        read_manifest("m", tmp_path, missing_ok=True)  # present but wrong: an error even when missing is ok
    (tmp_path / "m.manifest.json").write_text("{oops")
    with pytest.raises(WeightsError, match="unreadable JSON"):
        read_manifest("m", tmp_path)
    write_json(tmp_path / "m.manifest.json", {"input_size": 48})
    assert read_manifest("m", tmp_path) == {"input_size": 48}


def test_read_manifest_default_folder_is_the_weights_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LEUKEMIA_WEIGHTS_DIR", str(tmp_path))
    write_json(tmp_path / "x.manifest.json", {"model": "x"})
    assert read_manifest("x") == {"model": "x"}
    assert manifest_path("x") == tmp_path / "x.manifest.json"
