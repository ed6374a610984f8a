"""End to end through the command line: train one short epoch, evaluate, predict (with CAMs)."""

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import analyze_file

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
    # the val role chose the calibrator and threshold: reported, but never called held out
    assert val["n_images"] == 3 and len(val["images"]) == 3 and not val["held_out"] and val["role"] == "val"
    assert "not a test set" in val["role_text"]
    assert set(val["metrics"]) >= {"accuracy", "balanced_accuracy", "roc_auc", "confusion_matrix", "per_class",
                                   "weighted"}
    # every image's P(ALL) is the mean of its cells' P(ALL), and each sample holds one segmented cell or more
    for img in val["images"]:
        assert img["n_cells"] >= 1 and img["p_all"] == pytest.approx(np.mean(img["cells"]), abs=1e-4)
    cal = json.loads((wdir / "tiny_cnn.calibration.json").read_text())
    assert cal["fitted"] and report["threshold"] == cal["threshold"]
    assert report["weights_sha256"] == manifest["weights_sha256"]

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"definitely not an image")
    out_csv, cam_dir = tmp_path / "pred.csv", tmp_path / "cams"
    # one unreadable input among good ones: exit 1, and the CSV has every row
    assert main(["predict", "--model", "tiny_cnn", "--weights-dir", str(wdir), "--out", str(out_csv),
                 "--cam", str(cam_dir), str(data / "val"), str(bad)]) == 1
    rows = list(csv.DictReader(out_csv.open()))
    assert [c for c in ("path", "model", "label", "p_all", "error") if c not in rows[0]] == []
    good = [r for r in rows if not r["error"]]
    errors = {Path(r["path"]).name: r["error"] for r in rows if r["error"]}
    assert len(good) == 3 and all(r["label"] in ("ALL", "HEM") or r["reason"] for r in good)
    assert "not an image" in errors["bad.png"] and len(errors) == 1
    assert len(list(cam_dir.glob("*.png"))) == sum(int(r["n_cells"]) for r in good)  # one overlay per cell


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


# --- predict's exit status, file types and quiet output -------------------------------------------

def _predict(wdir: Path, out: Path, *paths, extra=()) -> int:
    return main(["predict", "--model", "tiny_cnn", "--weights-dir", str(wdir), "--out", str(out), *extra,
                 *map(str, paths)])


def _rows(out: Path) -> list[dict]:
    with out.open() as f:
        return list(csv.DictReader(f))


def _animated_gif(path: Path) -> Path:
    from PIL import Image

    frames = [Image.new("RGB", (40, 30), (60 * i, 90, 160)) for i in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def test_predict_exits_0_only_when_every_input_was_classified(tmp_path, trained_tiny, samples, capsys):
    out = tmp_path / "p.csv"
    assert _predict(trained_tiny["weights_dir"], out, samples[0].path, samples[1].path) == 0
    rows = _rows(out)
    assert len(rows) == 2 and all(r["label"] in ("ALL", "HEM") and not r["error"] for r in rows)
    assert "could not be read" not in capsys.readouterr().err


def test_predict_exits_1_when_some_inputs_failed_and_still_writes_the_csv(tmp_path, trained_tiny, samples,
                                                                          capsys):
    bad = tmp_path / f"truncated{samples[0].path.suffix}"
    bad.write_bytes(samples[0].path.read_bytes()[:300])
    out = tmp_path / "p.csv"
    assert _predict(trained_tiny["weights_dir"], out, samples[0].path, bad) == 1
    rows = {Path(r["path"]).name: r for r in _rows(out)}
    assert rows[samples[0].path.name]["label"] in ("ALL", "HEM")
    assert rows[bad.name]["error"] and (rows[bad.name]["label"], rows[bad.name]["reason"]) == ("NO CALL",
                                                                                          "could not be read")
    assert "1 of 2 input file(s) could not be read" in capsys.readouterr().err


def test_predict_exits_2_when_nothing_could_be_read(tmp_path, trained_tiny, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    out = tmp_path / "p.csv"
    assert _predict(trained_tiny["weights_dir"], out, bad) == 2
    assert "none of the 1 input file(s) could be read" in capsys.readouterr().err
    assert "not an image" in _rows(out)[0]["error"]  # the CSV says why

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an input")
    assert _predict(trained_tiny["weights_dir"], tmp_path / "q.csv", empty) == 2
    assert "no image files found" in capsys.readouterr().err


def test_predict_exits_2_on_a_path_that_does_not_exist(tmp_path, trained_tiny, samples, capsys):
    out = tmp_path / "p.csv"
    assert _predict(trained_tiny["weights_dir"], out, samples[0].path, tmp_path / "typo" / "cells") == 2
    err = capsys.readouterr().err
    assert "no such file or folder" in err and "typo" in err and "Traceback" not in err
    assert not out.exists()


def test_a_file_type_is_treated_the_same_named_or_found_in_a_folder(tmp_path, trained_tiny, samples):
    folder = tmp_path / "cells"
    folder.mkdir()
    good = folder / samples[0].path.name
    shutil.copy(samples[0].path, good)
    gif = _animated_gif(folder / "cell.gif")
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"")  # dot-files in folders are not inputs

    by_folder, by_name = tmp_path / "folder.csv", tmp_path / "named.csv"
    assert _predict(trained_tiny["weights_dir"], by_folder, folder) == 1
    assert _predict(trained_tiny["weights_dir"], by_name, good, gif) == 1
    assert _rows(by_folder) == _rows(by_name)
    rows = {Path(r["path"]).name: r for r in _rows(by_folder)}
    assert set(rows) == {good.name, "cell.gif"}
    assert "unsupported file type '.gif'" in rows["cell.gif"]["error"] and rows["cell.gif"]["label"] == "NO CALL"
    assert rows[good.name]["label"] in ("ALL", "HEM")


_TF_NOISE = re.compile(r"oneDNN|absl::InitializeLog|cpu_feature_guard|^[IW]\d{4} |^\S+ \S+ INFO ", re.M)


def test_predict_is_quiet_by_default_and_verbose_brings_the_messages_back(tmp_path, trained_tiny, samples):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP_", "TF_ENABLE_ONEDNN"))}
    base = [sys.executable, "-m", "leukemia_core", "predict", "--model", "tiny_cnn", "--weights-dir",
            str(trained_tiny["weights_dir"]), "--out", str(tmp_path / "p.csv"), str(samples[0].path)]
    res = subprocess.run(base, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert _TF_NOISE.search(res.stderr) is None, res.stderr
    assert "1 prediction row(s)" in res.stdout

    res = subprocess.run(base + ["--verbose"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    assert re.search(r" INFO tiny_cnn .*" + re.escape(samples[0].path.name) + r": (ALL|HEM) p_all=", res.stderr)


# --- predict writes each image's own probability -------------------------------------------------

@pytest.fixture(scope="module")
def seeded_tiny_weights(tmp_path_factory):
    """A weights folder holding a seeded tiny_cnn (no training), in the shipped format."""
    import keras
    import numpy as np

    from leukemia_core.models import create_model
    from leukemia_core.models.weights import save_weights_npz
    from leukemia_core.jsonio import write_json

    keras.utils.set_random_seed(3)
    model = create_model("tiny_cnn", 32)
    kernel, bias = model.get_layer("logits").get_weights()
    model.get_layer("logits").set_weights([kernel * 6, np.array([0.3, -0.3], np.float32)])  # spread the outputs
    wdir = tmp_path_factory.mktemp("seeded_tiny")
    sha = save_weights_npz(model, wdir / "tiny_cnn.weights.npz")
    write_json(wdir / "tiny_cnn.manifest.json", {"name": "tiny_cnn", "input_size": 32, "weights_file":
                                                 "tiny_cnn.weights.npz", "weights_sha256": sha,
                                                 "training": {"noise_reduction": True}})
    return wdir


def test_predict_csv_holds_each_images_own_probability_and_call(tmp_path, seeded_tiny_weights, samples):
    from leukemia_core.inference import Predictor, load_model

    wdir = seeded_tiny_weights
    names = ("UID_13_10_1_all.png", "UID_H13_10_1_hem.png", "WBC-Malignant-Pre-790.jpg", "WBC-Malignant-Pro-660.jpg")
    picked = [s for s in samples if s.path.name in names]
    assert len(picked) == len(names)
    loaded = load_model("tiny_cnn", wdir)
    predictor = Predictor(loaded)
    expected = {s.path.name: analyze_file(predictor, s.path).image_p_all for s in picked}
    for s in picked:  # the same number straight from the Keras model: the mean over the image's whole cells
        a = analyze_file(predictor, s.path)
        raw = loaded.model(a.found.crops.astype(np.float32) / 255.0, training=False).numpy()[:, 1]
        assert float(raw[a.counted()].mean()) == pytest.approx(expected[s.path.name], abs=1e-5)
    values = sorted(expected.values())
    # the test means something only if the images get clearly different probabilities, not 0.5
    assert values[-1] - values[0] > 0.02 and min(abs(v - 0.5) for v in values) > 1e-3, values
    # a threshold between two images on the same side of 0.5: calls differ from the default's too
    pairs = [(a, b) for a, b in zip(values, values[1:]) if (a < 0.5) == (b < 0.5) and b - a > 1e-3]
    assert pairs, values
    threshold = sum(max(pairs, key=lambda ab: ab[1] - ab[0])) / 2

    out = tmp_path / "p.csv"
    assert main(["predict", "--model", "tiny_cnn", "--weights-dir", str(wdir), "--out", str(out),
                 "--threshold", repr(threshold), *(str(s.path) for s in picked)]) == 0
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(picked)
    by_name = {Path(r["path"]).name: r for r in rows}
    assert set(by_name) == set(expected)
    for name, p in expected.items():
        r = by_name[name]
        assert r["model"] == "tiny_cnn" and r["error"] == ""
        assert float(r["p_all"]) == pytest.approx(p, abs=1e-5), name
        assert r["label"] == ("ALL" if p >= threshold else "HEM"), name
    assert {r["label"] for r in rows} == {"ALL", "HEM"}


# --------------------------------------------------------------------------- cases (the case store, issue 19)

def _cases(tmp_path, *argv) -> int:
    return main(["-q", "cases", *argv, "--db", f"sqlite:///{tmp_path / 'store' / 'c.sqlite3'}",
                 "--data-home", str(tmp_path / "store")])


def test_cases_import_list_export(tmp_path, trained_tiny, samples, capsys):
    pred, cells = tmp_path / "p.csv", tmp_path / "cells.csv"
    assert main(["-q", "predict", "--model", "tiny_cnn", "--weights-dir", str(trained_tiny["weights_dir"]),
                 "--out", str(pred), "--cells", str(cells), str(samples[0].path), str(samples[-1].path)]) == 0
    sample = ["--specimen", "SP-1", "--sample-date", "2026-05-01", "--patient-ref", "PT-1"]
    assert _cases(tmp_path, "import", str(pred), "--cells", str(cells), "--case", "LAB-1", "--user", "ann",
                  "--weights-dir", str(trained_tiny["weights_dir"])) == 2  # a new case needs its sample's fields
    assert "specimen ID, sample date and patient reference" in capsys.readouterr().err
    assert _cases(tmp_path, "import", str(pred), "--cells", str(cells), "--case", "LAB-1", "--user", "ann",
                  "--weights-dir", str(trained_tiny["weights_dir"]), *sample) == 0
    assert "case LAB-1: 2 image(s), 2 run(s)" in capsys.readouterr().out
    folder = tmp_path / "imgs"
    folder.mkdir()
    shutil.copy(samples[1].path, folder / samples[1].path.name)
    assert _cases(tmp_path, "import", str(folder), "--case", "LAB-2", "--model", "tiny_cnn", "--user", "bob",
                  "--weights-dir", str(trained_tiny["weights_dir"]), *sample) == 0
    assert "case LAB-2: 1 image(s), 1 run(s)" in capsys.readouterr().out
    assert _cases(tmp_path, "list") == 0
    out = capsys.readouterr().out
    assert re.search(r"LAB-2\s+new\s+1\s+0\s+0", out) and "LAB-1" in out and "2 case(s)" in out
    assert _cases(tmp_path, "list", "--status", "signed") == 0 and "0 case(s)" in capsys.readouterr().out
    assert _cases(tmp_path, "export", "--case", "LAB-1", "--out", str(tmp_path / "lab1.csv")) == 0
    rows = _rows(tmp_path / "lab1.csv")  # each cell ALL, HEM or NO CALL (the tiny model's refer band)
    assert {r["case_id"] for r in rows} == {"LAB-1"} and {r["model_call"] for r in rows} <= {"ALL", "HEM", "NO CALL"}
    assert {r["weights_sha256"] for r in rows} == {trained_tiny["manifest"]["weights_sha256"]}
    assert _cases(tmp_path, "export", "--out", str(tmp_path / "all.csv")) == 0
    assert [r["case_id"] for r in _rows(tmp_path / "all.csv")] == ["LAB-2", "LAB-1"]
    assert _cases(tmp_path, "export", "--audit", "--out", str(tmp_path / "audit.csv")) == 0
    audit = _rows(tmp_path / "audit.csv")
    assert audit[0]["action"] == "create case" and {r["user"] for r in audit} == {
        "ann · unauthenticated (single-user mode)", "bob · unauthenticated (single-user mode)"}


def test_cases_errors_are_one_line(tmp_path, capsys):
    assert main(["cases", "list", "--db", "postgresql+psycopg://u:pw@127.0.0.1:9/none"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot open the case database") and "pw" not in err and "Traceback" not in err
    assert _cases(tmp_path, "export", "--case", "NOPE", "--out", str(tmp_path / "x.csv")) == 2
    assert capsys.readouterr().err.strip() == "error: no case 'NOPE' in the store"
    assert _cases(tmp_path, "import", str(tmp_path), "--case", "X") == 2
    assert "name the model" in capsys.readouterr().err


def test_a_lab_left_out_is_scored_whole_and_a_seen_lab_is_refused(tmp_path, trained_tiny, bccd_tree, capsys):
    wdir = tmp_path / "w"
    shutil.copytree(trained_tiny["weights_dir"], wdir)
    out = tmp_path / "lolo.json"
    # the manifest lists a plain folder only, so BCCD passes the left-out check; the folder's val cells calibrate
    assert main(["evaluate", "--model", "tiny_cnn", "--data", str(trained_tiny["data"]), "--data", str(bccd_tree),
                 "--left-out", "bccd", "--splits", "val", "--out", str(out), "--weights-dir", str(wdir),
                 "--cache-dir", ""]) == 0
    report = json.loads(out.read_text())
    left = next(s for s in report["sets"] if s["key"] == "bccd/left-out")
    assert left["held_out"] and left["role"] == "left-out"
    assert left["n_images"] == len(list((bccd_tree / "JPEGImages").glob("*.jpg")))
    assert {i["label"] for i in left["images"]} == {"hem"} and left["metrics"]["roc_auc"] is None
    printed = capsys.readouterr().out
    assert "HEM cells called ALL" in printed and "bccd/left-out" in printed
    assert set(report["lab_probe"]["classes"]["HEM"]["labs"]) == {"folder", "bccd"}  # two labs: probed
    # lab-probe: the same probe into the model's own report, and its table into a document's block
    (wdir / "tiny_cnn.report.json").write_text(out.read_text())
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- lab-probe:start -->\n<!-- lab-probe:end -->\n")
    assert main(["lab-probe", "--model", "tiny_cnn", "--data", str(trained_tiny["data"]), "--data", str(bccd_tree),
                 "--weights-dir", str(wdir), "--cache-dir", "", "--doc", str(doc)]) == 0
    assert json.loads((wdir / "tiny_cnn.report.json").read_text())["lab_probe"] == report["lab_probe"]
    assert "| `tiny_cnn` | HEM |" in doc.read_text() and "| `tiny_cnn` | HEM |" in capsys.readouterr().out
    assert main(["lab-probe", "--model", "tiny_cnn", "--data", str(bccd_tree), "--weights-dir", str(wdir)]) == 2
    assert "two labs or more" in capsys.readouterr().err
    assert main(["lab-probe", "--model", "all", "--report", str(out), "--data", str(bccd_tree)]) == 2
    # the folder itself was trained on: it cannot be a left-out lab
    assert main(["evaluate", "--model", "tiny_cnn", "--data", str(trained_tiny["data"]), "--left-out", "folder",
                 "--out", str(tmp_path / "x.json"), "--weights-dir", str(wdir), "--cache-dir", ""]) == 2
    assert "cannot be scored as a left-out lab" in capsys.readouterr().err
    # a dataset that is not in the folders given
    assert main(["evaluate", "--model", "tiny_cnn", "--data", str(trained_tiny["data"]), "--left-out", "cnmc",
                 "--out", str(tmp_path / "y.json"), "--weights-dir", str(wdir), "--cache-dir", ""]) == 2
    assert "no images of that dataset" in capsys.readouterr().err


def test_input_size_help_names_the_registered_sizes():
    from leukemia_core.cli.parser import build_parser
    from leukemia_core.models import get_spec

    train = next(a for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions
                 if "--input-size" in a.option_strings)
    assert "224" not in train.help and f"proposed {get_spec('proposed').input_size}" in train.help


def test_weights_dir_defaults_follow_the_environment(monkeypatch, tmp_path):
    import leukemia_core.reports.results as results
    import leukemia_core.training.train as training

    monkeypatch.setenv("LEUKEMIA_WEIGHTS_DIR", str(tmp_path))
    seen = {}
    monkeypatch.setattr(results, "write_results", lambda wdir, readme=None: seen.setdefault("table", wdir) and "")

    def fake_train(cfg):
        seen["train"] = cfg.weights_dir
        return {"name": cfg.model, "weights_file": "m.weights.npz",
                "training": {"selected_epoch": 1, "epochs_run": 1, "seconds": 0.0}}

    monkeypatch.setattr(training, "train", fake_train)
    assert main(["table"]) == 0
    assert main(["train", "--model", "tiny_cnn", "--data", str(tmp_path)]) == 0
    assert Path(seen["table"]) == tmp_path and Path(seen["train"]) == tmp_path


def test_size_fusion_prints_both_arms_of_each_model(tmp_path, monkeypatch, capsys):
    import leukemia_core.evaluation.size_fusion as sf

    seen = {}

    def fake(names, data, out, weights_dir, limit=None):
        seen.update(names=names, data=data, out=out, limit=limit)
        test = {"aria_all_vs_hem_auc": {"value": 0.9, "low": 0.85, "high": 0.95}, "aria_all_vs_bccd_auc": None,
                "bccd_called_all": 0.05}
        return {"models": {n: {arm: {"test": test} for arm in sf.ARMS} for n in names}}

    monkeypatch.setattr(sf, "run_size_fusion", fake)
    assert main(["size-fusion", "--model", "all", "--data", "d", "--limit", "3", "--out", str(tmp_path / "o.json")]) == 0
    out = capsys.readouterr().out
    assert seen["names"][0] == "proposed" and len(seen["names"]) == 4 and seen["limit"] == 3
    assert "model_and_size" in out and "AUC 0.900 [0.850, 0.950]" in out and "Aria ALL vs BCCD AUC n/a" in out
