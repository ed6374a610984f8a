"""Training without TensorFlow: ``python -m leukemia_core train`` on Keras' JAX backend.

A subprocess blocks every import of ``tensorflow`` (and ``tf_keras_vis``), as on a machine where
TensorFlow is not installed, sets ``KERAS_BACKEND=jax`` before Keras loads and runs the ``train``
command on a small C-NMC-like tree. It then reloads the exported ``.weights.npz`` (float16
storage included) into a fresh JAX model and saves its outputs on a fixed input. Back in this
process (TensorFlow backend), the app's loader must read the same file and give the same outputs.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None or importlib.util.find_spec("jaxlib") is None,
    reason="jax/jaxlib are not installed (pip install -r requirements.txt): the JAX training path is untested")

#: Run in the subprocess: ``python -c JAX_TRAIN SPEC.json``.
JAX_TRAIN = r'''
import importlib.abc, json, os, sys

os.environ["KERAS_BACKEND"] = "jax"  # before Keras is imported


class NoTensorFlow(importlib.abc.MetaPathFinder):
    """Make ``import tensorflow`` (and tf_keras_vis, which needs it) fail as if not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("tensorflow", "tf_keras_vis"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: no TensorFlow here)", name=name)
        return None


sys.meta_path.insert(0, NoTensorFlow())
spec = json.loads(open(sys.argv[1]).read())

from leukemia_core.cli import main

rc = main(spec["argv"])
if rc:
    sys.exit(rc)

import keras
import numpy as np

from leukemia_core.models import create_model
from leukemia_core.models.weights import load_weights_into

model = create_model("tiny_cnn", spec["size"])
load_weights_into(model, spec["weights"])  # the exported file, float16 storage included
x = np.load(spec["x"])
logits = keras.Model(model.inputs, model.get_layer("logits").output)
np.save(spec["probs"], np.asarray(model(x, training=False)))
np.save(spec["logits"], np.asarray(logits(x, training=False)))
try:
    import tensorflow  # noqa: F401
    blocked = False
except ImportError:
    blocked = True
print("REPORT " + json.dumps({
    "backend": keras.backend.backend(), "import_blocked": blocked,
    "tf_modules": sorted(m for m in sys.modules if m.partition(".")[0] in ("tensorflow", "tf_keras_vis")),
}))
'''


def _cnmc_like(root: Path, cnmc_samples) -> Path:
    """``training_data/fold_{0,1}/{all,hem}/``: 3 patients per class, so that the inner validation
    split (a quarter of each class's patients, at least one) holds one patient of each."""
    all_s = [s for s in cnmc_samples if s.label == "all"]
    hem_s = [s for s in cnmc_samples if s.label == "hem"]
    assert len(all_s) >= 3 and len(hem_s) >= 3
    for i, s in enumerate(all_s[:3] + hem_s[:3]):
        d = root / "training_data" / f"fold_{0 if i % 3 < 2 else 1}" / s.label
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(s.path, d)
    return root


def _logits(model, x: np.ndarray) -> np.ndarray:
    import keras

    return np.asarray(keras.Model(model.inputs, model.get_layer("logits").output)(x, training=False))


@pytest.mark.slow
def test_train_on_jax_without_tensorflow_loads_in_tensorflow(tmp_path, cnmc_samples):
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the test process must run on the TensorFlow backend (the app's) to compare with JAX")
    data = _cnmc_like(tmp_path / "C-NMC", cnmc_samples)
    wdir, size = tmp_path / "weights", 32
    x = np.random.default_rng(0).uniform(0, 1, (6, size, size, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    spec = {
        "argv": ["train", "--model", "tiny_cnn", "--data", str(data), "--epochs", "2", "--steps-per-epoch", "3",
                 "--batch-size", "4", "--run-dir", str(tmp_path / "run"), "--weights-dir", str(wdir),
                 "--cache-dir", "", "--verbose", "0"],
        "size": size, "weights": str(wdir / "tiny_cnn.weights.npz"), "x": str(tmp_path / "x.npy"),
        "probs": str(tmp_path / "probs.npy"), "logits": str(tmp_path / "logits.npy"),
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    res = subprocess.run([sys.executable, "-c", JAX_TRAIN, str(tmp_path / "spec.json")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    report = json.loads(next(line for line in res.stdout.splitlines() if line.startswith("REPORT "))[7:])
    assert report == {"backend": "jax", "import_blocked": True, "tf_modules": []}

    manifest = json.loads((wdir / "tiny_cnn.manifest.json").read_text())
    assert manifest["backend"] == "jax"
    assert manifest["training"]["epochs_run"] == 2
    assert manifest["training"]["val_cells"] > 0  # the validation callback scored cells under JAX
    history = json.loads((wdir / "tiny_cnn.history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2] and all("val_score" in h for h in history)

    from leukemia_core.inference import load_model

    loaded = load_model("tiny_cnn", wdir)  # the app's loader: sha256 checked against the manifest
    assert loaded.input_size == size
    probs_tf = np.asarray(loaded.model(x, training=False))
    logits_tf = _logits(loaded.model, x)
    probs_jax, logits_jax = np.load(tmp_path / "probs.npy"), np.load(tmp_path / "logits.npy")
    np.testing.assert_allclose(probs_tf, probs_jax, rtol=0, atol=1e-5)
    np.testing.assert_allclose(logits_tf, logits_jax, rtol=0, atol=1e-5)
    # the comparison has power: a model with other (fresh) weights is far from the trained one
    from leukemia_core.models import create_model

    assert np.abs(_logits(create_model("tiny_cnn", size), x) - logits_jax).max() > 1e-3
