"""reports.files: the weights folder, the models offered, how to make a missing file, and the JSON loaders
(missing: None; present but wrong: an error for a person)."""

import json

import pandas as pd
import pytest

from leukemia_core.errors import LeukemiaCoreError
from leukemia_core.evaluation.evaluate import REPORT_FORMAT
from leukemia_core.models import list_models
from leukemia_core.paths import default_weights_dir
from leukemia_core.reports.files import (
    APP_MODELS_ENV,
    BASELINE,
    app_models,
    default_model,
    how_to_make,
    load_bench,
    load_cam_check,
    load_history,
    load_reference,
    load_report,
    load_reports,
    missing_what,
    report_is_current,
    report_names,
    report_path,
    selection_score,
    short_sha,
)

KINDS = ("weights", "report", "baseline", "cam_check", "bench", "reference")


def _report(path, **extra):
    path.write_text(json.dumps({"format": REPORT_FORMAT, "sets": [], **extra}))


def test_weights_dir_and_models_offered(monkeypatch, tmp_path):
    monkeypatch.setenv("LEUKEMIA_WEIGHTS_DIR", str(tmp_path))
    assert default_weights_dir() == tmp_path
    monkeypatch.delenv(APP_MODELS_ENV, raising=False)
    assert app_models() == list_models()
    monkeypatch.setenv(APP_MODELS_ENV, " tiny_cnn , nope,")
    assert app_models() == ["tiny_cnn"]  # test-only models may be asked for; unknown names dropped
    monkeypatch.setenv(APP_MODELS_ENV, "nope")
    assert app_models() == list_models()
    assert default_model(["a", "proposed"]) == "a" and default_model([]) is None  # no scores: the first offered
    for name, score in (("a", 0.91), ("b", 0.95), ("c", None)):
        (tmp_path / f"{name}.manifest.json").write_text(
            json.dumps({"training": {"selected_epoch": {"val_score": score}}}))
    assert default_model(["c", "a", "b"]) == "b" and selection_score("c") is None  # the stated score decides


def test_how_to_make_and_missing_messages(tmp_path):
    for kind in KINDS:
        assert how_to_make(kind, "m")
        said = missing_what(kind, "m", tmp_path)
        assert "the weights folder" in said and str(tmp_path) not in said  # no path of this machine
    assert "train --model m" in how_to_make("weights", "m") and "evaluate --model m" in how_to_make("report", "m")
    assert "--model NAME" in how_to_make("report", "NAME")  # the app's placeholder when no model is named
    with pytest.raises(KeyError):
        how_to_make("other")


def test_load_history_adds_model_and_step(tmp_path):
    assert load_history("m", tmp_path) is None
    (tmp_path / "m.history.json").write_text(json.dumps([{"epoch": 1, "phase": "head"}, {"epoch": 1, "phase": "main"}]))
    h = load_history("m", tmp_path)
    assert isinstance(h, pd.DataFrame) and list(h.columns[:2]) == ["model", "step"]
    assert h["step"].tolist() == [1, 2] and h["model"].tolist() == ["m", "m"]
    (tmp_path / "e.history.json").write_text("[]")
    assert load_history("e", tmp_path).empty
    (tmp_path / "d.history.json").write_text("{}")
    with pytest.raises(LeukemiaCoreError, match="expected a list of epochs"):
        load_history("d", tmp_path)


def test_history_curves_split_columns_into_subset_and_metric(tmp_path):
    from leukemia_core.reports.files import curve_of, history_curves

    assert curve_of("loss") == ("training", "loss") and curve_of("val_score") == ("validation", "score")
    assert curve_of("val_aria_balanced_accuracy") == ("validation, aria", "balanced_accuracy")
    assert curve_of("val_bccd_called_all") is None and curve_of("epoch") is None
    rows = [{"epoch": 1, "loss": 0.7, "val_cnmc_auc": 0.6, "phase": "main"},
            {"epoch": 2, "loss": 0.5, "val_cnmc_auc": None, "phase": "main"}]
    (tmp_path / "m.history.json").write_text(json.dumps(rows))
    long = history_curves([load_history("m", tmp_path), None])
    assert sorted(zip(long["subset"], long["metric"], long["value"], long["step"])) == [
        ("training", "loss", 0.5, 2), ("training", "loss", 0.7, 1), ("validation, cnmc", "auc", 0.6, 1)]
    assert history_curves([None]).empty and history_curves([pd.DataFrame({"epoch": [1]})]).empty


def test_load_report_names_and_problems(tmp_path):
    assert report_path("m", tmp_path) == tmp_path / "m.report.json"
    assert load_report("m", tmp_path) is None
    _report(tmp_path / "m.report.json", model="m")
    assert load_report("m", tmp_path)["model"] == "m"
    (tmp_path / "old.report.json").write_text(json.dumps({"format": "leukemia_core.report/1"}))
    with pytest.raises(LeukemiaCoreError, match="it is leukemia_core.report/1: rerun"):
        load_report("old", tmp_path)
    (tmp_path / "list.report.json").write_text("[]")
    with pytest.raises(LeukemiaCoreError, match="not a leukemia_core.report/2 report$"):
        load_report("list", tmp_path)
    _report(tmp_path / f"{BASELINE}.report.json")
    _report(tmp_path / "a.report.json")
    assert report_names(tmp_path, ["m", "zz"]) == ["m", "a", "list", "old", BASELINE]
    assert report_names(tmp_path / "absent") == []
    reps, problems = load_reports(["m", "old", "absent"], tmp_path)
    assert list(reps) == ["m"] and len(problems) == 1 and "old.report.json" in problems[0]


def test_other_loaders(tmp_path):
    for load in (load_reference, load_cam_check, load_bench):
        assert load(tmp_path) is None
    (tmp_path / "reference_published.json").write_text('{"models": {}}')
    (tmp_path / "cam_check.json").write_text('{"models": {"a": {}}}')
    (tmp_path / "bench.json").write_text('{"models": {"b": {}}}')
    assert load_reference(tmp_path) == {"models": {}}
    assert load_cam_check(tmp_path) == {"models": {"a": {}}} and load_bench(tmp_path) == {"models": {"b": {}}}


def test_short_sha_and_current_reports():
    assert short_sha("0123456789abcdef") == "0123456789ab" and short_sha(None) == ""
    assert report_is_current({"weights_sha256": "x"}, {"weights_sha256": "x"})
    assert not report_is_current({"weights_sha256": "x"}, {"weights_sha256": "y"})
    assert report_is_current({}, {"weights_sha256": "y"}) and report_is_current({"weights_sha256": "x"}, None)


def test_app_models_from_environment(monkeypatch):
    monkeypatch.setenv("LEUKEMIA_APP_MODELS", "tiny_cnn, nonsense")
    assert app_models() == ["tiny_cnn"]
    monkeypatch.delenv("LEUKEMIA_APP_MODELS")
    models = app_models()
    assert "proposed" in models and "tiny_cnn" not in models
    # the shipped manifest with the highest cross-lab validation score, read here from the JSON itself
    scores = {m: json.loads((default_weights_dir() / f"{m}.manifest.json").read_text())
              ["training"]["selected_epoch"]["val_score"] for m in models}
    assert default_model(models) == max(scores, key=scores.get) and default_model([]) is None


def test_unreadable_files_raise_readable_errors(tmp_path):
    (tmp_path / "x.report.json").write_text("{not json")
    (tmp_path / "y.report.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(LeukemiaCoreError, match="unreadable JSON"):
        load_report("x", tmp_path)
    with pytest.raises(LeukemiaCoreError, match="not a leukemia_core.report/2 report"):
        load_report("y", tmp_path)
    reps, problems = load_reports(["x", "y", "absent"], tmp_path)
    assert reps == {} and len(problems) == 2
    assert load_report("absent", tmp_path) is None
    for kind in ("weights", "report", "baseline", "cam_check", "bench", "reference"):
        assert "the weights folder" in missing_what(kind, "proposed", tmp_path) and how_to_make(kind, "proposed")
