"""Training options: resume after an interruption, a weights-file init with head-then-fine-tune, strategies."""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from leukemia_core.train import TrainConfig, get_strategy, train

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


def test_strategies():
    assert get_strategy("default").num_replicas_in_sync == 1
    assert get_strategy("mirrored").num_replicas_in_sync >= 1
    with pytest.raises(ValueError, match="mirrored"):
        get_strategy("tpu-pod")
