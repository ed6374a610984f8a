"""models.weights: the weights format (round trip, checksum, float16 storage) and its errors; JSON files,
manifests (missing, unreadable, missing_ok) and the input config (manifest values, else defaults)."""

import hashlib
import json

import numpy as np
import pytest

from leukemia_core.cells.crop import CELL_SHARE
from leukemia_core.errors import UnknownModelError, WeightsError
from leukemia_core.models import create_model, get_spec
from leukemia_core.models.weights import (
    InputConfig,
    load_weights_into,
    manifest_path,
    read_json,
    read_manifest,
    resolve_input_config,
    save_weights_npz,
    sha256_of,
    write_json,
)


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
# JSON files: the one reader of manifests and the input-config resolver.


def test_read_json_missing_unreadable_and_valid(tmp_path):
    assert read_json(tmp_path / "absent.json") is None
    assert read_json(tmp_path) is None  # a folder is not a file
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(WeightsError, match="bad.json: unreadable JSON file"):
        read_json(tmp_path / "bad.json")
    (tmp_path / "latin.json").write_bytes(b'{"a": "\xe9"}')
    with pytest.raises(WeightsError, match="unreadable"):
        read_json(tmp_path / "latin.json")
    (tmp_path / "ok.json").write_text('[1, {"a": null}]')
    assert read_json(str(tmp_path / "ok.json")) == [1, {"a": None}]


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


def test_resolve_input_config_defaults_and_manifest():
    spec = get_spec("tiny_cnn")
    assert resolve_input_config("tiny_cnn", None) == InputConfig(spec.input_size, CELL_SHARE, True,
                                                                 "defaults (no manifest)")
    # a manifest without the fields falls back field by field
    assert resolve_input_config("tiny_cnn", {}) == InputConfig(spec.input_size, CELL_SHARE, True, "manifest")
    got = resolve_input_config("tiny_cnn", {"input_size": "48", "cell_share": 0.5,
                                            "training": {"noise_reduction": False}})
    assert got == InputConfig(48, 0.5, False, "manifest")
    assert got.mask_outside is True  # crops on black unless the manifest says otherwise
    assert resolve_input_config("tiny_cnn", {"mask_outside": False}).mask_outside is False
    assert isinstance(got.input_size, int) and isinstance(got.cell_share, float)
    with pytest.raises(UnknownModelError):
        resolve_input_config("no_such_model", None)


def test_write_json_is_atomic_and_converts_numpy(tmp_path):
    path = tmp_path / "sub" / "f.json"
    write_json(path, {"i": np.int64(3), "f": np.float32(0.5), "a": np.arange(3), "p": tmp_path})
    assert json.loads(path.read_text()) == {"i": 3, "f": 0.5, "a": [0, 1, 2], "p": str(tmp_path)}
    assert not path.with_suffix(".json.tmp").exists()
    with pytest.raises(TypeError, match="not JSON serialisable"):
        write_json(path, {"x": object()})
    assert json.loads(path.read_text())["i"] == 3  # the old file is left whole
    assert sha256_of(path) == hashlib.sha256(path.read_bytes()).hexdigest()
