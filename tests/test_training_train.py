"""Training options: resume after an interruption, a weights-file init with head-then-fine-tune,
--init-from, the backbone normalisation, and training on Keras' JAX backend without TensorFlow."""

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from leukemia_core.training.train import TrainConfig, set_bn_momentum, train, training_model, write_json_list

ROOT = Path(__file__).resolve().parents[1]


def _data(tmp_path, samples):
    data = tmp_path / "data"
    for s in samples:
        d = data / s.label
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(s.path, d)
    return data


@pytest.mark.slow
def test_interrupted_run_resumes_where_it_stopped(tmp_path, samples):
    data, run, wdir = _data(tmp_path, samples), tmp_path / "run", tmp_path / "w"
    cmd = [sys.executable, "-m", "leukemia_core", "train", "--model", "efficientnet_b0", "--input-size", "32",
           "--data", str(data), "--epochs", "4", "--batch-size", "4", "--run-dir", str(run),
           "--weights-dir", str(wdir), "--cache-dir", "", "--verbose", "0"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hist = run / "history.json"
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            if hist.is_file() and len(json.loads(hist.read_text() or "[]")) >= 1 and \
                    any((run / "backup_main").glob("*")):
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
    finally:
        proc.wait(timeout=60)
    done_before = len(json.loads(hist.read_text()))
    if done_before >= 4:
        pytest.skip("the run finished before it could be interrupted")
    res = subprocess.run(cmd + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    epochs = [h["epoch"] for h in json.loads(hist.read_text())]
    assert epochs == [1, 2, 3, 4]  # continued, no epoch repeated or lost
    training = json.loads((wdir / "efficientnet_b0.manifest.json").read_text())["training"]
    assert training["epochs_run"] == 4
    # the training time counts the epochs of the interrupted process too
    assert training["seconds"] >= sum(h["seconds"] for h in json.loads(hist.read_text())) - 0.2



def test_weights_file_init_trains_head_then_fine_tunes(tmp_path, samples, trained_tiny):
    data = _data(tmp_path, samples)
    init = trained_tiny["weights_dir"] / "tiny_cnn.weights.npz"
    cfg = TrainConfig(model="tiny_cnn", data=[str(data)], epochs=3, head_epochs=1, batch_size=4, init=str(init),
                      run_dir=str(tmp_path / "run"), weights_dir=str(tmp_path / "w"), cache_dir=None, verbose=0)
    manifest = train(cfg)
    phases = [h["phase"] for h in json.loads((tmp_path / "w" / "tiny_cnn.history.json").read_text())]
    assert phases == ["head", "main", "main"]
    assert manifest["init"] == str(init)


def test_init_from_loads_matching_arrays_and_records_the_file(tmp_path, samples, trained_tiny):
    from leukemia_core.models import create_model
    from leukemia_core.models.weights import load_matching_weights, sha256_of

    init = trained_tiny["weights_dir"] / "tiny_cnn.weights.npz"
    model = create_model("tiny_cnn", 32)
    assert load_matching_weights(model, init) == (len(model.weights), len(model.weights))
    with np.load(init) as z:
        assert np.array_equal(model.weights[0].numpy(), z["w00000"].astype(np.float32))
    effnet = create_model("efficientnet_b0", 32)
    # only what matches by name and shape is loaded: of tiny_cnn, just the 2-class logits bias
    assert load_matching_weights(effnet, init)[0] == 1
    data = _data(tmp_path, samples)
    cfg = TrainConfig(model="tiny_cnn", data=[str(data)], epochs=1, batch_size=4, init_from=str(init),
                      steps_per_epoch=2, run_dir=str(tmp_path / "run"), weights_dir=str(tmp_path / "w"),
                      cache_dir=None, verbose=0)
    manifest = train(cfg)
    assert manifest["init_from"] == {"file": "tiny_cnn.weights.npz", "sha256": sha256_of(init)}
    assert manifest["training"]["augmentation"]["stain_scale"] == 0.15


def test_the_stain_ablation_trains_without_the_stain_step_and_says_so(tmp_path, samples):
    from leukemia_core.models import create_model

    model = create_model("tiny_cnn", 32)
    layers = [la.name for la in training_model(model, True, 0, stain_jitter=False).get_layer("augmentation").layers]
    assert "stain_jitter" not in layers and "colour_jitter" in layers
    assert "stain_jitter" in [la.name for la in training_model(model, True, 0).get_layer("augmentation").layers]
    cfg = TrainConfig(model="tiny_cnn", data=[str(_data(tmp_path, samples))], epochs=1, batch_size=4,
                      stain_jitter=False, steps_per_epoch=1, run_dir=str(tmp_path / "run"),
                      weights_dir=str(tmp_path / "w"), cache_dir=None, verbose=0, sampling="class")
    tr = train(cfg)["training"]
    aug = tr["augmentation"]
    assert (aug["stain_scale"], aug["stain_shift"]) == (0.0, 0.0) and aug["hue"] > 0
    assert tr["sampling"]["by"] == "class" and "equally often" in tr["sampling"]["classes"]  # the same run's batches


# ---------------------------------------------------------------------------------------------
# Training without TensorFlow: ``python -m leukemia_core train`` on Keras' JAX backend.
#
# A subprocess blocks every import of ``tensorflow`` (and ``tf_keras_vis``), as on a machine where
# TensorFlow is not installed, sets ``KERAS_BACKEND=jax`` before Keras loads and runs the ``train``
# command on a small C-NMC-like tree. It then reloads the exported ``.weights.npz`` (float16
# storage included) into a fresh JAX model and saves its outputs on a fixed input. Back in this
# process (TensorFlow backend), the app's loader must read the same file and give the same outputs.

NEEDS_JAX = pytest.mark.skipif(
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


@NEEDS_JAX
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


# ---------------------------------------------------------------------------------------------
# Small helpers of the training run.


def test_write_json_list(tmp_path):
    write_json_list(tmp_path / "h.json", [{"epoch": 1}])
    assert json.loads((tmp_path / "h.json").read_text()) == [{"epoch": 1}]
    assert not (tmp_path / "h.tmp").exists()


def test_set_bn_momentum_reaches_every_batch_norm():
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.BatchNormalization()(keras.layers.BatchNormalization()(inp)))
    set_bn_momentum(model, 0.9)
    assert [la.momentum for la in model.layers if isinstance(la, keras.layers.BatchNormalization)] == [0.9, 0.9]
    model = keras.Model(inp, keras.layers.BatchNormalization()(keras.layers.BatchNormalization()(inp)))
    set_bn_momentum(model, 0.9)
    assert [la.momentum for la in model.layers if isinstance(la, keras.layers.BatchNormalization)] == [0.9, 0.9]


def test_a_group_norm_run_is_recorded_and_loads_back_as_group_norm(tmp_path, samples):
    from leukemia_core.errors import WeightsError
    from leukemia_core.inference import load_model
    from leukemia_core.models import create_model
    from conftest import norm_of
    from leukemia_core.models.weights import load_weights_into

    wdir = tmp_path / "w"
    cfg = TrainConfig(model="tiny_bn_cnn", data=[str(_data(tmp_path, samples))], epochs=1, batch_size=4,
                      steps_per_epoch=1, norm="group", run_dir=str(tmp_path / "run"), weights_dir=str(wdir),
                      cache_dir=None, verbose=0)
    assert train(cfg)["norm"] == "group"
    loaded = load_model("tiny_bn_cnn", wdir)
    assert norm_of(loaded.model) == "group"
    assert loaded.model.predict(np.zeros((2, 32, 32, 3), np.float32), verbose=0).shape == (2, 2)
    with pytest.raises(WeightsError):  # group-norm weights do not fit the batch-norm graph
        load_weights_into(create_model("tiny_bn_cnn"), wdir / "tiny_bn_cnn.weights.npz")


def test_a_colour_standardised_run_is_recorded_and_every_reader_builds_the_layer(tmp_path, samples):
    from leukemia_core.inference import load_model

    wdir = tmp_path / "w"
    cfg = TrainConfig(model="tiny_cnn", data=[str(_data(tmp_path, samples))], epochs=1, batch_size=4,
                      steps_per_epoch=1, colour="standardised", run_dir=str(tmp_path / "run"), weights_dir=str(wdir),
                      cache_dir=None, verbose=0)
    assert train(cfg)["colour"] == "standardised"
    loaded = load_model("tiny_cnn", wdir)
    assert "colour_standardise" in [la.name for la in loaded.model.layers]
    assert loaded.model.predict(np.zeros((2, 32, 32, 3), np.float32), verbose=0).shape == (2, 2)
