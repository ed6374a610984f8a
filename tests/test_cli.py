"""End to end through the command line: train one short epoch, evaluate, predict (with CAMs)."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from leukemia_core.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_models_command(capsys, trained_tiny):
    assert main(["models", "--all", "--weights-dir", str(trained_tiny["weights_dir"])]) == 0
    out = capsys.readouterr().out
    for n in ("proposed", "efficientnet_b0", "resnet50", "inception_v3", "tiny_cnn"):
        assert n in out
    assert "present" in out  # tiny_cnn has weights there


def test_train_evaluate_predict_end_to_end(tmp_path, samples):
    data = tmp_path / "data"
    for s in samples:
        split = "val" if s.path.name.endswith(("420.jpg", "H1_1_1_hem.png", "21_1_1_all.png")) else "train"
        d = data / split / s.label
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(s.path, d)
    wdir, run = tmp_path / "weights", tmp_path / "run"
    cmd = [sys.executable, "-m", "leukemia_core", "train", "--model", "tiny_cnn", "--data", str(data),
           "--epochs", "1", "--batch-size", "4", "--run-dir", str(run), "--weights-dir", str(wdir),
           "--cache-dir", "", "--verbose", "2"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "loss:" in res.stdout and "trained tiny_cnn" in res.stdout
    manifest = json.loads((wdir / "tiny_cnn.manifest.json").read_text())
    assert manifest["input_size"] == 32 and manifest["training"]["epochs_run"] == 1
    assert json.loads((wdir / "tiny_cnn.history.json").read_text())[0]["epoch"] == 1
    assert (run / "done.json").is_file()

    # resume of a finished run trains no more epochs and keeps its history
    res = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr
    assert len(json.loads((run / "history.json").read_text())) == 1

    report_path = tmp_path / "report.json"
    assert main(["evaluate", "--model", "tiny_cnn", "--data", str(data), "--out", str(report_path),
                 "--weights-dir", str(wdir), "--cache-dir", ""]) == 0
    report = json.loads(report_path.read_text())
    keys = {s["key"] for s in report["sets"]}
    assert keys == {"folder/train", "folder/val"}
    val = next(s for s in report["sets"] if s["key"] == "folder/val")
    assert val["n_images"] == 3 and len(val["images"]) == 3 and val["held_out"]
    assert set(val["metrics"]) >= {"accuracy", "balanced_accuracy", "roc_auc", "confusion_matrix", "per_class",
                                   "weighted"}
    assert all(0 <= i["p_all"] <= 1 for i in val["images"])
    assert report["weights_sha256"] == manifest["weights_sha256"]

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"definitely not an image")
    out_csv, cam_dir = tmp_path / "pred.csv", tmp_path / "cams"
    assert main(["predict", "--model", "tiny_cnn", "--weights-dir", str(wdir), "--out", str(out_csv),
                 "--cam", str(cam_dir), str(data / "val"), str(bad), str(tmp_path / "missing.jpg")]) == 0
    rows = list(csv.DictReader(out_csv.open()))
    assert [c for c in ("path", "model", "label", "p_all", "error") if c not in rows[0]] == []
    good = [r for r in rows if not r["error"]]
    errors = {Path(r["path"]).name: r["error"] for r in rows if r["error"]}
    assert len(good) == 3 and all(r["label"] in ("ALL", "HEM") for r in good)
    assert "not an image" in errors["bad.png"] and "no such file" in errors["missing.jpg"]
    assert len(list(cam_dir.glob("*.png"))) == 3


def test_leaky_evaluation_is_refused(tmp_path, trained_tiny, capsys):
    # present the training images as a validation set: the manifest's groups catch it
    leak = tmp_path / "leak" / "val"
    shutil.copytree(trained_tiny["data"] / "train", leak)
    code = main(["evaluate", "--model", "tiny_cnn", "--data", str(tmp_path / "leak"), "--out",
                 str(tmp_path / "r.json"), "--weights-dir", str(trained_tiny["weights_dir"]), "--cache-dir", ""])
    assert code == 2
    assert "used to train the model" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["predict", "--model", "vgg", "--out", "x.csv", "a.png"], "unknown model"),
    (["predict", "--model", "proposed", "--weights-dir", "/nonexistent", "--out", "x.csv", "a.png"], "no manifest"),
    (["train", "--model", "tiny_cnn", "--data", "/nonexistent/folder"], "no such folder"),
])
def test_user_errors_print_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
