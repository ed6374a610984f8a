"""Training options: resume after an interruption, a weights-file init with head-then-fine-tune,
--init-from, and the score that chooses the epoch."""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from leukemia_core.training.train import TrainConfig, train, validation_score

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
    assert json.loads((wdir / "efficientnet_b0.manifest.json").read_text())["training"]["epochs_run"] == 4


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


def test_epoch_score_weights_datasets_by_the_square_root_of_their_cells():
    # dataset a: 100 cells, AUC 1.0; dataset b: 4 cells, AUC 0.0 -> (10 * 1 + 2 * 0) / 12
    y = np.array([0] * 50 + [1] * 50 + [0, 0, 1, 1])
    p = np.concatenate([np.linspace(0, 0.4, 50), np.linspace(0.6, 1, 50), [0.9, 0.8, 0.2, 0.1]])
    ds = np.array(["a"] * 100 + ["b"] * 4)
    out = validation_score(y, p, ds)
    assert out["val_a_auc"] == 1.0 and out["val_b_auc"] == 0.0
    assert out["val_score"] == pytest.approx(10 / 12)
