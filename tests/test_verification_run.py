"""leukemia_core.verification.run and the ``verify`` / ``predict --profile`` commands, end to end
with the tiny test model on the bundled samples."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from app_fixtures import app_weights  # noqa: F401  (fixture: the tiny model with its evaluation report)

from leukemia_core.cli import main
from leukemia_core.verification.profile import load_profile
from leukemia_core.verification.run import run_verify, validation_figures
from leukemia_core.verification.study import read_labelled


@pytest.fixture(scope="module")
def lab(tmp_path_factory, samples):
    """The samples as a lab's folder all/, hem/ (each sample twice, rotated, for more groups)."""
    import cv2

    from leukemia_core.data.images import read_image

    root = tmp_path_factory.mktemp("lab") / "lab_one"
    for s in samples:
        d = root / s.label
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(s.path, d / s.path.name)
        rgb = cv2.rotate(read_image(s.path), cv2.ROTATE_180)
        cv2.imwrite(str(d / f"rot_{s.path.stem}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return root


def test_run_verify_writes_report_files_and_profile(trained_tiny, lab, tmp_path, samples):
    wdir = trained_tiny["weights_dir"]
    # each sample twice (as it is, and rotated)
    n_all, n_hem = (2 * sum(s.label == label for s in samples) for label in ("all", "hem"))
    seen = []
    res = run_verify(["tiny_cnn"], read_labelled([lab]), wdir, [str(lab)], min_sensitivity=0.5, min_specificity=0.5,
                     profile_name="lab one", out_dir=tmp_path / "out", profiles_dir=tmp_path / "prof", n_boot=50,
                     progress=lambda m, d, t: seen.append((m, d, t)))
    assert seen[-1][1:] == (n_all + n_hem,) * 2
    rep = json.loads((tmp_path / "out" / "verification.json").read_text())
    m = rep["models"]["tiny_cnn"]
    assert rep["images"] == {"all": n_all, "hem": n_hem} and m["acceptance"]["met"] in (True, False)
    assert m["all"]["cell"]["sensitivity"]["n"] > 0 and "after" in m["site_calibration"]
    ss = rep["sample_size"]["classes"]
    assert ss["hem"]["images"] == n_hem and ss["hem"]["n"] >= n_hem  # cells: the Aria fields hold several
    assert bool(rep["sample_size"]["warning"]) == (min(ss["all"]["n"], ss["hem"]["n"]) < 20)
    prof = load_profile(res.profile_paths["tiny_cnn"], "tiny_cnn", m["weights_sha256"])
    assert prof.name == "lab one" and m["site_calibration"]["profile"] == str(res.profile_paths["tiny_cnn"])
    assert prof.held_out["cell"]["after"]["balanced_accuracy"]["value"] is not None
    rows = list(csv.DictReader((tmp_path / "out" / "verification.csv").open()))
    assert {r["part"] for r in rows} == {"all images", "report part, stored calibration",
                                         "report part, site calibration"}
    assert "lab one" in {r["profile"] for r in rows}
    assert b"lab one" in (tmp_path / "out" / "verification.html").read_bytes()
    # under the profile: it is named in the report
    again = run_verify(["tiny_cnn"], read_labelled([lab]), wdir, used_profiles=[res.profile_paths["tiny_cnn"]],
                       n_boot=20)
    assert again.report["models"]["tiny_cnn"]["profile"] == "lab one"
    assert again.report["models"]["tiny_cnn"]["threshold"] == prof.calibration.threshold


def test_validation_figures_come_from_the_models_report(app_weights):
    figs = validation_figures("tiny_cnn", app_weights["weights_dir"])
    assert figs and {f["role"] for f in figs} <= {"val", "test"}
    assert validation_figures("tiny_cnn", app_weights["weights_dir"] / "nowhere") == []


def test_cli_verify_then_predict_with_the_profile(trained_tiny, lab, tmp_path, capsys):
    wdir = str(trained_tiny["weights_dir"])
    code = main(["verify", "--model", "tiny_cnn", "--data", str(lab), "--out-dir", str(tmp_path / "v"),
                 "--profiles-dir", str(tmp_path / "p"), "--weights-dir", wdir, "--bootstrap", "50"])
    out = capsys.readouterr().out
    assert code == 0 and "site profile of tiny_cnn ->" in out and "balanced accuracy" in out
    path = tmp_path / "p" / "tiny_cnn.lab_one.profile.json"  # named after the data folder
    assert path.is_file() and (tmp_path / "v" / "verification.html").is_file()
    code = main(["predict", "--model", "tiny_cnn", "--weights-dir", wdir, "--profile", str(path),
                 "--out", str(tmp_path / "pred.csv"), "--cells", str(tmp_path / "cells.csv"), str(lab / "hem")])
    assert code == 0
    rows = list(csv.DictReader((tmp_path / "pred.csv").open()))
    assert rows and {r["profile"] for r in rows} == {"lab_one"}
    thr = load_profile(path).calibration.threshold
    assert {float(r["cell_threshold"]) for r in rows} == {round(thr, 4)}
    assert {r["profile"] for r in csv.DictReader((tmp_path / "cells.csv").open())} == {"lab_one"}


def test_cli_refusals(trained_tiny, lab, tmp_path, capsys):
    wdir = str(trained_tiny["weights_dir"])
    one = tmp_path / "one"
    shutil.copytree(lab / "all", one / "all")
    assert main(["verify", "--model", "tiny_cnn", "--data", str(one), "--out-dir", str(tmp_path / "x"),
                 "--weights-dir", wdir]) == 2
    assert "one class only" in capsys.readouterr().err
    (tmp_path / "nolabels").mkdir()
    assert main(["verify", "--model", "tiny_cnn", "--data", str(tmp_path / "nolabels"), "--out-dir",
                 str(tmp_path / "x"), "--weights-dir", wdir]) == 2
    assert "no labels found" in capsys.readouterr().err
    # a profile of other weights: refused before any image is read
    main(["verify", "--model", "tiny_cnn", "--data", str(lab), "--out-dir", str(tmp_path / "v"), "--profiles-dir",
          str(tmp_path / "p"), "--weights-dir", wdir, "--bootstrap", "20"])
    path = tmp_path / "p" / "tiny_cnn.lab_one.profile.json"
    data = json.loads(path.read_text())
    data["weights_sha256"] = "00" * 32
    path.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["predict", "--model", "tiny_cnn", "--weights-dir", wdir, "--profile", str(path), "--out",
                 str(tmp_path / "p.csv"), str(lab)]) == 2
    assert "fitted on other weights" in capsys.readouterr().err
    assert main(["verify", "--model", "tiny_cnn", "--data", str(lab), "--out-dir", str(tmp_path / "y"),
                 "--use-profile", str(path), "--weights-dir", wdir]) == 2
    assert "fitted on other weights" in capsys.readouterr().err
