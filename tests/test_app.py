"""Dashboard tests: every page through Streamlit's AppTest, and the helpers of leukemia_core.reports."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from app_fixtures import APP, app_env, app_weights, empty_env, lab_env, navigation_v2  # noqa: F401  (fixtures)

from leukemia_core.errors import LeukemiaCoreError
from leukemia_core.explain.maps import heatmap_on_image
from leukemia_core.models.weights import read_manifest
from leukemia_core.reports.dataset_images import data_hint, resolve_image
from leukemia_core.reports.display import bar_values, display_table, human_columns, human_name
from leukemia_core.reports.facts import model_facts, per_model_table
from leukemia_core.reports.files import (
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
)
from leukemia_core.reports.inputs import ImageInput, decode, display_copy
from leukemia_core.reports.scores import (
    accuracy_by_role,
    confusion_at,
    metrics_table,
    misclassified,
    reference_label,
    reference_table,
    roc_curves,
)
from leukemia_core.reports.sets import get_set, labels_probs, role_text, set_caption, set_keys, set_label, sets_table
from leukemia_core.reports.thresholds import (
    calibration_table,
    image_thresholds,
    refer_band,
    reliability_frame,
    threshold_text,
)
from leukemia_core.samples import list_samples

PAGES = ["pages/classify.py", "pages/comparison.py", "pages/validation.py", "pages/about.py"]
TIMEOUT = 180


def _app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()


def _texts(at) -> str:
    """Every message, markdown, caption and code block of the last run, as one string."""
    parts = []
    for kind in ("markdown", "caption", "warning", "info", "error", "success", "code", "text", "header", "subheader"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts).replace("\\", "")


def _no_exception(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _frame(at, column: str):
    """The first table (interactive or static) of the last run that has ``column``."""
    for df in list(at.dataframe) + list(at.table):
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with a column {column!r}")


def _charts(at) -> int:
    return len(at.get("plotly_chart"))


def _no_none_cells(at) -> None:
    """No table of the last run shows a missing value as None/NaN (they must read "n/a")."""
    for t in list(at.dataframe) + list(at.table):
        df = t.value
        assert not df.isna().any().any(), (list(df.columns), df[df.isna().any(axis=1)])
        assert not df.astype(str).isin(["None", "nan", "NaN"]).any().any(), list(df.columns)


def _num(v):
    """A shown table value as a number (None for "n/a"): numeric columns stay numbers, a column with a
    gap is text ("87.5%", "0.023", "n/a")."""
    if isinstance(v, str):
        return None if v == "n/a" else float(v.rstrip("%"))
    return float(v)


def _classify_table(at):
    return _frame(at, "blast %")


_CELL_CAPTION = re.compile(r"^(cell \d+|whole image): :(red|blue)\[\*\*(ALL|HEM)\*\*\] (\d\.\d\d)")


def _cell_captions(at) -> list[tuple[str, str]]:
    """(call, P(ALL) with 2 decimals) of every cell crop drawn in the Classify gallery, in page order."""
    return [(m.group(3), m.group(4)) for c in at.caption if (m := _CELL_CAPTION.match(c.value))]


def _fields_drawn(at) -> int:
    """Images drawn with their cells outlined (or whole, when no cell was found)."""
    caps = [i.proto.imgs[0].caption for i in at.image if i.proto.imgs]
    return sum(c.startswith(("Found white cells", "No white cell found")) for c in caps)


def _expected_cells(a, thr) -> list[tuple[str, str]]:
    """What the gallery must show for an analysis: cells by P(ALL), highest first, with their calls."""
    return [("ALL" if p >= thr else "HEM", f"{p:.2f}") for p in sorted(a.p_all, reverse=True)]


def _sample(dataset: str, label: str = ""):
    return next(s for s in list_samples() if s.dataset == dataset and (not label or s.label == label))


def _own_threshold_off(at, value: float):
    """Turn off "each model's validated threshold" and set the sidebar threshold."""
    at.toggle(key="app_own_threshold").set_value(False).run()
    return at.slider(key="app_threshold").set_value(value).run()


@pytest.fixture(scope="module")
def tiny_analysis(app_weights):
    """What ``Predictor.analyze_image`` gives for the samples with the fixture's model."""
    from leukemia_core.inference import Predictor, load_model

    pred = Predictor(load_model("tiny_cnn", app_weights["weights_dir"]))
    return lambda path: pred.analyze_image(path)


# --------------------------------------------------------------------------- AppTest, trained tiny model

def test_every_page_renders(app_env):
    at = _app()
    _no_exception(at)
    assert at.selectbox(key="app_model").value == "tiny_cnn"
    assert "not a diagnostic device" in _texts(at).lower()
    for page in PAGES[1:]:
        at.switch_page(page).run()
        _no_exception(at)
        _no_none_cells(at)


def test_classify_single_cell_sample(app_env, tiny_analysis):
    at = _app()
    sample = _sample("C-NMC 2019")
    assert "Upload one or more images" in _texts(at)
    at.multiselect(key="classify_samples").set_value([sample.title]).run()
    _no_exception(at)
    table = _classify_table(at)
    assert list(table.columns[:4]) == ["image", "model", "call", "P(ALL)"]
    a = tiny_analysis(sample.path)
    thr = a.calibration.threshold  # the model's validated threshold (the sidebar default)
    row = table.iloc[0]
    assert row["image"] == sample.path.name and row["error"] == ""
    assert row["cells"] == 1 == a.n_cells  # a C-NMC image holds one cell
    assert row["P(ALL)"] == round(a.image_p_all, 4)
    assert row["call"] == a.label(thr) and row["threshold"] == round(thr, 2)
    assert row["ALL cells"] == int(a.calls(thr).sum()) and row["blast %"] == 100.0 * int(a.calls(thr).sum())
    assert _fields_drawn(at) == 1 and _cell_captions(at) == _expected_cells(a, thr)  # one cell crop, its call
    assert len(at.download_button) == 1
    # other CAM method and colormap: the same call, a new map, no error
    for method in ("gradcam++", "scorecam"):
        at.selectbox(key="classify_method").set_value(method)
        at.selectbox(key="classify_colormap").set_value("viridis").run()
        _no_exception(at)
        assert _classify_table(at).loc[0, "call"] == row["call"]
        assert _fields_drawn(at) == 1 and _cell_captions(at) == _expected_cells(a, thr)


def test_classify_field_sample_counts_cells(app_env, tiny_analysis):
    at = _app()
    sample = next(s for s in list_samples() if s.path.name == "WBC-Malignant-Pre-790.jpg")  # 27 cells
    at.multiselect(key="classify_samples").set_value([sample.title]).run()
    _no_exception(at)
    row = _classify_table(at).iloc[0]
    a = tiny_analysis(sample.path)
    thr = a.calibration.threshold
    assert row["cells"] == a.n_cells > 1
    n_all = int(a.calls(thr).sum())
    assert row["ALL cells"] == n_all and row["blast %"] == round(100 * n_all / a.n_cells, 1)
    assert row["P(ALL)"] == round(a.image_p_all, 4) and row["call"] == a.label(thr)
    assert row["refer"] == int(a.refer(thr).sum())
    assert _fields_drawn(at) == 1 and _cell_captions(at) == _expected_cells(a, thr)  # every cell, its call
    assert f"{a.n_cells} white cell(s) found" in _texts(at)


def test_classify_batch_is_paged(app_env):
    at = _app()
    titles = [s.title for s in list_samples()]
    names = [s.path.name for s in list_samples()]
    at.multiselect(key="classify_samples").set_value(titles).run()
    _no_exception(at)
    table = _classify_table(at)
    assert list(table["image"]) == names and table["error"].eq("").all()
    shown = [m.value for m in at.markdown if m.value.startswith("**") and m.value.strip("*").replace("\\", "") in names]
    assert len(shown) == 6  # the first page: six images
    at.selectbox(key="classify_page").set_value(6).run()
    _no_exception(at)
    shown = [m.value.strip("*").replace("\\", "") for m in at.markdown if m.value.startswith("**")
             and m.value.strip("*").replace("\\", "") in names]
    assert shown == names[6:12]  # the second page


def test_classify_bad_upload_gets_its_own_row(app_env):
    at = _app()
    good = _sample("C-NMC 2019", "hem").path
    at.file_uploader(key="classify_uploads").set_value([
        ("broken.png", b"this is not an image", "image/png"),
        (good.name, good.read_bytes(), "image/png"),
        ("empty.bmp", b"", "image/bmp"),
    ]).run()
    _no_exception(at)
    table = _classify_table(at)
    assert list(table["image"]) == ["broken.png", good.name, "empty.bmp"]
    assert "not an image file" in table.loc[0, "error"] and table.loc[0, "call"] == ""
    assert table.loc[1, "error"] == "" and table.loc[1, "call"] in ("ALL", "HEM") and table.loc[1, "cells"] == 1
    assert "empty" in table.loc[2, "error"]
    errors = "\n".join(e.value for e in at.error).replace("\\", "")
    assert "broken.png: not an image file" in errors and "Traceback" not in errors
    assert _fields_drawn(at) == 1 and len(_cell_captions(at)) == 1  # only the good image is drawn


def test_classify_threshold_relabels_without_running_the_model(app_env, tiny_analysis):
    at = _app()
    sample = _sample("Aria ALL", "hem")
    at.multiselect(key="classify_samples").set_value([sample.title]).run()
    a = tiny_analysis(sample.path)
    cached = dict(at.session_state["classify_results"])
    assert len(cached) == 1
    at.toggle(key="app_own_threshold").set_value(False).run()
    for thr in (0.0, 1.0, 0.5):
        at.slider(key="app_threshold").set_value(thr).run()
        _no_exception(at)
        row = _classify_table(at).iloc[0]
        assert row["call"] == a.label(thr) and row["threshold"] == thr
        assert row["ALL cells"] == int(a.calls(thr).sum()) and row["refer"] == int(a.refer(thr).sum())
        assert _cell_captions(at) == _expected_cells(a, thr)
        # re-labelled from the stored results: no new entry, the same objects
        assert at.session_state["classify_results"].keys() == cached.keys()
        assert all(at.session_state["classify_results"][k] is v for k, v in cached.items())
    assert _classify_table(at).loc[0, "call"] in ("ALL", "HEM")
    at.slider(key="app_threshold").set_value(0.0).run()
    assert _classify_table(at).loc[0, "call"] == "ALL" and _classify_table(at).loc[0, "blast %"] == 100.0


def test_comparison_page(app_env):
    at = _app()
    at.switch_page("pages/comparison.py").run()
    _no_exception(at)
    _no_none_cells(at)
    # opens on the test set, and says what the set's role was
    assert at.selectbox(key="comparison_set").value == "folder/test"
    assert at.selectbox(key="comparison_set").options[:3] == [
        "folder/test (test)", "folder/val (validation, not a test set)", "folder/train (training)"]
    text = _texts(at)
    assert "folder/test, test: reported only, never used to choose anything" in text
    assert "validation: chose the epoch, calibrator, threshold and refer band (not a test set)" in text
    # balanced accuracy, P/R/F1, ROC, reliability, accuracy by role, training curves, size
    assert _charts(at) >= 7
    assert at.get("plotly_chart")  # plotly only
    assert "Speed: not measured yet" in text and "python -m leukemia_core bench" in text
    # both levels, the models and the colour baseline, from the reports
    reps = {n: json.loads((app_env["weights_dir"] / f"{n}.report.json").read_text())
            for n in ("tiny_cnn", "colour_baseline")}
    metrics = _frame(at, "F1 ALL (%)")
    assert set(metrics["model"]) == {"tiny_cnn", "colour_baseline"}
    assert set(metrics["level"]) >= {"cells", "images (fields)"}
    for name, rep in reps.items():
        s = get_set(rep, "folder/test")
        for level, field in (("cells", "cell_metrics"), ("images (fields)", "metrics")):
            row = metrics[(metrics["model"] == name) & (metrics["level"] == level)].iloc[0]
            assert _num(row["scored (count)"]) == s[field]["n"]
            exp = s[field]["balanced_accuracy"]
            assert _num(row["balanced accuracy (%)"]) == (None if exp is None else pytest.approx(100 * exp, abs=0.05))
    assert "tiny_cnn" in " ".join(map(str, metrics["model"]))
    # calibration: ECE before/after and the refer band from the report
    cal = _frame(at, "ECE after (0-1)")
    row = cal[cal["model"] == "tiny_cnn"].iloc[0]
    info = reps["tiny_cnn"]["calibration"]["info"]
    assert row["ECE before (0-1)"] == f"{info['ece_before']:.3f}"  # text: the baseline's cell is "n/a"
    assert row["ECE after (0-1)"] == f"{info['ece_after']:.3f}"
    assert _num(row["threshold (P(ALL))"]) == pytest.approx(reps["tiny_cnn"]["threshold"])
    base = cal[cal["model"] == "colour_baseline"].iloc[0]
    assert base["ECE after (0-1)"] == "n/a" and "not calibrated" in base["calibrated on"]
    # the published figures: off by default, and labelled with their source when on
    assert at.toggle(key="comparison_reference").value is False
    assert "The reference system's README figures (C-NMC 2019, unknown split, ImageNet initialisation" in text
    assert _frame(at, "mean share of map energy on cells (0-1)").loc[0, "model"] == "tiny_cnn"
    # the chart level
    at.radio(key="comparison_level").set_value("cells").run()
    _no_exception(at)
    assert "From every stored P(ALL) of the cells on" in _texts(at)


def test_comparison_opens_on_cnmc_test_and_shows_published_figures_on_request(app_env, tmp_path, monkeypatch):
    wdir = tmp_path / "w"
    shutil.copytree(app_env["weights_dir"], wdir)
    for name in ("tiny_cnn", "colour_baseline"):
        path = wdir / f"{name}.report.json"
        rep = json.loads(path.read_text())
        for s in rep["sets"]:
            s["key"] = s["key"].replace("folder/", "cnmc/")
        aria = json.loads(json.dumps(next(s for s in rep["sets"] if s["key"] == "cnmc/test")))
        aria["key"] = "aria-original/test"
        rep["sets"].insert(0, aria)  # file order is not page order
        path.write_text(json.dumps(rep))
    monkeypatch.setenv("LEUKEMIA_WEIGHTS_DIR", str(wdir))
    at = _app()
    at.switch_page("pages/comparison.py").run()
    _no_exception(at)
    assert at.selectbox(key="comparison_set").value == "cnmc/test"
    assert at.selectbox(key="comparison_set").options[:2] == ["cnmc/test (test)", "aria-original/test (test)"]
    assert at.selectbox(key="comparison_dataset").value == "cnmc"
    assert at.toggle(key="comparison_reference").value is False
    assert "Hatched bars" not in _texts(at)
    at.toggle(key="comparison_reference").set_value(True).run()
    _no_exception(at)
    text = _texts(at)
    assert ("Hatched bars: The reference system's README figures (C-NMC 2019, unknown split, ImageNet "
            "initialisation, 60 epochs)") in text
    assert set(_frame(at, "published validation accuracy (%)")["model"]) == {
        "resnet50", "efficientnet_b0", "inception_v3", "proposed"}
    _no_none_cells(at)
    # published figures are C-NMC figures: not offered beside another dataset
    at.selectbox(key="comparison_dataset").set_value("aria-original").run()
    _no_exception(at)
    assert at.toggle(key="comparison_reference").disabled and "Hatched bars" not in _texts(at)
    at.switch_page("pages/validation.py").run()
    _no_exception(at)
    assert at.selectbox(key="validation_set").value == "cnmc/test"


def test_validation_page_threshold_and_gallery(app_env):
    at = _app()
    _own_threshold_off(at, 0.0)  # everything called ALL: every HEM image is wrong
    at.switch_page("pages/validation.py").run()
    _no_exception(at)
    _no_none_cells(at)
    assert _charts(at) == 2  # confusion matrix, reliability plot
    assert at.selectbox(key="validation_model").value == "tiny_cnn"
    assert at.selectbox(key="validation_set").value == "folder/test"
    text = _texts(at)
    assert "Every figure on this page is on folder/test, test: reported only, never used to choose anything" in text
    assert "threshold 0.00 (the sidebar's threshold)" in text
    wrong = _frame(at, "called")
    assert set(wrong["true class"]) == {"HEM"} and set(wrong["called"]) == {"ALL"}
    assert list(wrong["image"]) and all("/" not in i for i in wrong["image"])  # names, not long paths
    assert len(at.image) >= 2  # the field with its cells, and a cell's map
    figures = _frame(at, "specificity, HEM recall (%)")
    assert list(figures["level"]) == ["cells", "images (fields)"]
    assert list(figures["specificity, HEM recall (%)"]) == ["0.0%"] * 2
    assert list(figures["sensitivity, ALL recall (%)"]) == ["100.0%"] * 2
    metrics = {m.label: m.value for m in at.metric}
    rep = json.loads((app_env["weights_dir"] / "tiny_cnn.report.json").read_text())
    info = rep["calibration"]["info"]
    assert metrics["ECE before calibration"] == f"{info['ece_before']:.3f}"
    assert metrics["ECE after calibration"] == f"{info['ece_after']:.3f}"
    beside = _frame(at, "F1 ALL (%)")
    assert set(beside["model"]) == {"tiny_cnn", "colour_baseline"}
    at.selectbox(key="validation_model").set_value("colour_baseline").run()
    _no_exception(at)
    _no_none_cells(at)
    assert "colour-only baseline has none" in _texts(at)
    assert _charts(at) == 1  # no calibration, no reliability plot


def test_validation_uses_the_validated_threshold_by_default(app_env):
    at = _app()
    at.switch_page("pages/validation.py").run()
    _no_exception(at)
    rep = json.loads((app_env["weights_dir"] / "tiny_cnn.report.json").read_text())
    assert f"threshold {rep['threshold']:.2f} (tiny_cnn's validated threshold)" in _texts(at)
    at.selectbox(key="validation_set").set_value("folder/val").run()
    _no_exception(at)
    text = _texts(at)
    assert "folder/val (validation, not a test set): not a test set" in text


def test_validation_without_image_files(app_env, tmp_path, monkeypatch):
    wdir = tmp_path / "w"
    shutil.copytree(app_env["weights_dir"], wdir)
    rep = json.loads((wdir / "tiny_cnn.report.json").read_text())
    for s in rep["sets"]:
        for img in s["images"]:
            img["path"] = "/nowhere/data/" + img["path"].split("/")[-1]
    (wdir / "tiny_cnn.report.json").write_text(json.dumps(rep))
    monkeypatch.setenv("LEUKEMIA_WEIGHTS_DIR", str(wdir))
    at = _app()
    _own_threshold_off(at, 0.0)
    at.switch_page("pages/validation.py").run()
    _no_exception(at)
    assert "LEUKEMIA_DATA" in _texts(at)
    assert len(at.image) == 0
    # nothing to show: no gallery controls
    assert not [w for w in at.slider if w.key == "validation_gallery_n"]
    assert not [w for w in at.selectbox if w.key == "validation_method"]


def test_validation_gallery_hides_when_nothing_is_wrong(app_env, tmp_path, monkeypatch):
    wdir = tmp_path / "w"
    shutil.copytree(app_env["weights_dir"], wdir)
    rep = json.loads((wdir / "tiny_cnn.report.json").read_text())
    for s in rep["sets"]:  # a perfect model
        for img in s["images"]:
            img["p_all"] = 1.0 if img["label"] == "all" else 0.0
            img["cells"] = [img["p_all"]] * len(img["cells"])
    (wdir / "tiny_cnn.report.json").write_text(json.dumps(rep))
    monkeypatch.setenv("LEUKEMIA_WEIGHTS_DIR", str(wdir))
    at = _app()
    at.switch_page("pages/validation.py").run()
    _no_exception(at)
    assert "No misclassified image in this set at this threshold" in _texts(at)
    assert len(at.image) == 0 and not [t for t in at.dataframe if "called" in t.value.columns]
    assert not [w for w in at.slider if w.key == "validation_gallery_n"]
    assert not [w for w in at.selectbox if w.key == "validation_method"]


def test_about_page_reads_numbers_from_files(app_env):
    at = _app()
    at.switch_page("pages/about.py").run()
    _no_exception(at)
    _no_none_cells(at)
    text = _texts(at)
    for needle in ("not a diagnostic device", "CC BY 3.0", "10.34740/KAGGLE/DSV/2175623", "fold_2",
                   "patient leakage possible", "colour-only baseline", "random initialisation", "not a test set",
                   "reported only, never used to choose anything", "refer",
                   "The reference system's README figures (C-NMC 2019, unknown split, ImageNet initialisation",
                   "python -m leukemia_core train --model proposed --data /path/to/C-NMC_Leukemia"):
        assert needle in text, needle
    models = _frame(at, "epochs run")
    assert models.loc[0, "model"] == "tiny_cnn" and _num(models.loc[0, "parameters (count)"]) > 0
    assert _frame(at, "ECE after (0-1)").loc[0, "model"] == "tiny_cnn"
    assert not [t for t in at.dataframe if "published validation accuracy (%)" in t.value.columns]
    at.toggle(key="about_reference").set_value(True).run()
    _no_exception(at)
    assert set(_frame(at, "published validation accuracy (%)")["model"]) == {
        "resnet50", "efficientnet_b0", "inception_v3", "proposed"}


def test_classify_with_altered_weights_says_so(app_env, tmp_path, monkeypatch):
    wdir = tmp_path / "w"
    shutil.copytree(app_env["weights_dir"], wdir)
    with open(wdir / "tiny_cnn.weights.npz", "ab") as f:
        f.write(b"tampered")
    monkeypatch.setenv("LEUKEMIA_WEIGHTS_DIR", str(wdir))
    at = _app()
    at.multiselect(key="classify_samples").set_value([list_samples()[0].title]).run()
    _no_exception(at)
    errors = "\n".join(e.value for e in at.error).replace("\\", "")
    assert "does not match the manifest" in errors
    assert any("python -m leukemia_core train --model tiny_cnn" in c.value for c in at.code)


# --------------------------------------------------------------------------- AppTest, nothing trained yet

def test_pages_with_empty_weights_folder(empty_env):
    at = _app()
    _no_exception(at)
    assert at.selectbox(key="app_model").value == "proposed"
    text = _texts(at)
    assert "No trained model weights" in text and "python -m leukemia_core train --model proposed" in text
    assert not at.file_uploader  # nothing to classify with
    at.switch_page("pages/comparison.py").run()
    _no_exception(at)
    text = _texts(at)
    assert "No evaluation reports" in text
    assert "python -m leukemia_core evaluate --model proposed --data DIR --out model_weights/proposed.report.json" in text
    at.switch_page("pages/validation.py").run()
    _no_exception(at)
    assert "python -m leukemia_core evaluate" in _texts(at)
    at.switch_page("pages/about.py").run()
    _no_exception(at)
    assert "colour_baseline.report.json" in _texts(at)


# --------------------------------------------------------------------------- leukemia_core.reports

def test_app_models_from_environment(monkeypatch):
    monkeypatch.setenv("LEUKEMIA_APP_MODELS", "tiny_cnn, nonsense")
    assert app_models() == ["tiny_cnn"]
    monkeypatch.delenv("LEUKEMIA_APP_MODELS")
    models = app_models()
    assert "proposed" in models and "tiny_cnn" not in models
    assert default_model(models) == "proposed" and default_model([]) is None


def test_report_tables(app_weights):
    wdir = app_weights["weights_dir"]
    names = report_names(wdir, ["tiny_cnn"])
    assert names == ["tiny_cnn", "colour_baseline"]
    reps, problems = load_reports(names, wdir)
    assert not problems
    test = get_set(reps["tiny_cnn"], "folder/test")
    assert test["role"] == "test" and test["held_out"]
    table = metrics_table(reps, "folder/test", levels=("cells", "images", "images, grayscale"))
    assert list(zip(table["model"], table["level"])) == [
        ("tiny_cnn", "cells"), ("tiny_cnn", "images (fields)"), ("tiny_cnn", "images, grayscale crops"),
        ("colour_baseline", "cells"), ("colour_baseline", "images (fields)")]  # the baseline has no grayscale run
    for (name, level), field in zip(table[["model", "level"]].itertuples(index=False),
                                    ["cell_metrics", "metrics", "grayscale_metrics", "cell_metrics", "metrics"]):
        m = get_set(reps[name], "folder/test")[field]
        row = table[(table["model"] == name) & (table["level"] == level)].iloc[0]
        assert row["scored"] == m["n"]
        assert row["threshold"] == threshold_text(reps[name], "cells" if level == "cells" else "images")
        for col, key in (("accuracy", "accuracy"), ("balanced accuracy", "balanced_accuracy"),
                         ("sensitivity (ALL recall)", "sensitivity"), ("ROC AUC", "roc_auc")):
            assert (np.isnan(row[col]) if m[key] is None else row[col] == m[key]), (name, level, col)
    # the cell level scores every cell with its image's label
    y, p = labels_probs(test, "cells")
    assert len(p) == test["n_cells"] == sum(len(i["cells"]) for i in test["images"])
    assert y.sum() == sum(len(i["cells"]) for i in test["images"] if i["label"] == "all")
    assert set_keys(reps["tiny_cnn"]) == ["folder/test", "folder/val", "folder/train"]
    sets = sets_table(reps)
    assert list(sets["set"]) == ["folder/test", "folder/val", "folder/train"]
    assert list(sets["role"]) == ["test", "validation", "training"]
    assert sets.loc[1, "used for"] == "validation: chose the epoch, calibrator, threshold and refer band (not a test set)"
    assert "folder/test: test: reported only" in set_caption(test) and "cells" in set_caption(test)
    ref = load_reference(wdir)
    acc = accuracy_by_role(reps, "cnmc", ref)
    assert len(acc) == 8 and set(acc["source"]) == {reference_label(ref)}
    assert set(acc["role"]) == {"published train", "published validation"}
    acc = accuracy_by_role(reps, "folder", level="cells", metric="balanced_accuracy")
    assert list(acc["role"].unique()) == ["test", "validation", "training"]
    row = acc[(acc["model"] == "tiny_cnn") & (acc["role"] == "test")].iloc[0]
    assert row["value"] == test["cell_metrics"]["balanced_accuracy"] and row["scored"] == test["n_cells"]
    assert accuracy_by_role(reps, "cnmc", ref, metric="balanced_accuracy").empty  # published: accuracy only
    for level in ("images", "cells"):
        curves = roc_curves(reps, "folder/test", level)
        assert set(curves) == set(names)
        assert curves["tiny_cnn"]["auc"] == test["cell_metrics" if level == "cells" else "metrics"]["roc_auc"]
    cal = calibration_table(reps)
    info = reps["tiny_cnn"]["calibration"]["info"]
    row = cal.iloc[0]
    assert row["model"] == "tiny_cnn"
    assert row["ECE before"] == info["ece_before"] and row["ECE after"] == info["ece_after"]
    lo, hi = refer_band(reps["tiny_cnn"])
    assert row["refer band"] == f"{lo:.2f}–{hi:.2f}" and row["threshold"] == reps["tiny_cnn"]["threshold"]
    assert cal.iloc[1]["refer band"] == "none" and np.isnan(cal.iloc[1]["ECE after"])
    rel = reliability_frame(reps)
    assert set(rel["model"]) == {"tiny_cnn"} and set(rel["stage"]) == {"before calibration", "after calibration"}
    assert rel["cells"].sum() == 2 * info["n_cells"]
    hist = load_history("tiny_cnn", wdir)
    assert list(hist["step"]) == list(range(1, len(hist) + 1)) and "val_score" in hist
    facts = model_facts(["tiny_cnn", "proposed"], wdir)
    assert list(facts["model"]) == ["tiny_cnn"] and facts.loc[0, "file size (MB)"] > 0
    cam = human_columns(per_model_table(load_cam_check(wdir)))
    assert cam.loc[0, "mean share of map energy on cells (0-1)"] == 0.61
    assert per_model_table(load_bench(wdir)).empty
    assert report_is_current(reps["tiny_cnn"], read_manifest("tiny_cnn", wdir))


def test_set_order_puts_cnmc_test_first():
    rep = {"sets": [{"key": k} for k in ("aria-original/test", "cnmc/val", "folder/test", "cnmc/train",
                                         "aria-original/val", "cnmc/test", "cnmc-prelim/test")]}
    assert set_keys(rep) == ["cnmc/test", "cnmc-prelim/test", "aria-original/test", "folder/test",
                                     "cnmc/val", "aria-original/val", "cnmc/train"]
    # a report without role fields (older writer) still gets roles from the key
    assert set_label({"key": "cnmc/val"}) == "cnmc/val (validation, not a test set)"
    assert role_text({"key": "cnmc/test"}) == "test: reported only, never used to choose anything"


def test_reference_label_names_its_source(app_weights):
    ref = load_reference(app_weights["weights_dir"])
    assert reference_label(ref) == ("The reference system's README figures (C-NMC 2019, unknown split, "
                                            "ImageNet initialisation, 60 epochs); not measured here")
    assert "unknown split" in reference_label({})
    table = reference_table(ref)
    assert list(table.columns) == ["model", "published train accuracy", "published validation accuracy"]


def test_display_table_never_shows_none():
    import pandas as pd

    df = pd.DataFrame({"model": ["a", None], "balanced accuracy": [0.875, None], "ROC AUC": [0.9, 0.75],
                       "cells": [12, None], "held": [True, False]})
    shown, formats = display_table(df, percent=["balanced accuracy"], decimals={"ROC AUC": 3},
                                           units={"cells": "count"})
    assert list(shown.columns) == ["model", "balanced accuracy (%)", "ROC AUC", "cells (count)", "held"]
    assert shown.to_dict("list") == {"model": ["a", "n/a"], "balanced accuracy (%)": ["87.5%", "n/a"],
                                     "ROC AUC": [0.9, 0.75], "cells (count)": ["12", "n/a"], "held": ["yes", "no"]}
    assert formats == {"ROC AUC": "%.3f"}  # a complete numeric column stays numeric (sortable)
    ys, texts = bar_values([0.5, 0.0, None, float("nan")])
    assert ys == [0.5, 0.0, 0.0, 0.0] and texts == ["50.0%", "0 (zero)", "n/a (undefined)", "n/a (undefined)"]
    assert human_name("predict_ms") == "predict, one image (ms)"
    assert human_name("x_img_s") == "x (images/s)"


def test_confusion_and_misclassified_follow_the_threshold():
    s = {"images": [{"path": "a", "label": "all", "p_all": 0.9}, {"path": "b", "label": "all", "p_all": 0.3},
                    {"path": "c", "label": "hem", "p_all": 0.6}, {"path": "d", "label": "hem", "p_all": 0.1}]}
    m = confusion_at(s, 0.5)
    assert m["counts"].tolist() == [[1, 1], [1, 1]] and m["accuracy"] == 0.5
    assert np.allclose(m["rates"], 0.5)
    m = confusion_at(s, 0.25)
    assert m["counts"].tolist() == [[1, 1], [0, 2]]
    wrong = misclassified(s, 0.5)
    assert list(wrong["path"]) == ["b", "c"] and list(wrong["predicted"]) == ["HEM", "ALL"]
    assert misclassified(s, 0.0)["true"].tolist() == ["HEM", "HEM"]
    one_class = {"images": [{"path": "a", "label": "all", "p_all": 0.9}]}
    assert np.isnan(confusion_at(one_class, 0.5)["rates"][0]).all()
    # cell level: every cell carries its image's label
    cells = {"images": [{"path": "f1", "label": "all", "p_all": 0.6, "n_cells": 3, "cells": [0.9, 0.6, 0.3]},
                        {"path": "f2", "label": "hem", "p_all": 0.55, "n_cells": 2, "cells": [0.8, 0.3]}]}
    m = confusion_at(cells, 0.5, "cells")
    assert m["counts"].tolist() == [[1, 1], [1, 2]] and m["n"] == 5
    assert confusion_at(cells, 0.5)["counts"].tolist() == [[0, 1], [0, 1]]
    wrong = misclassified(cells, 0.5)
    assert wrong.to_dict("records")[0] | {"confidence": 0} == {
        "path": "f2", "true": "HEM", "predicted": "ALL", "p_all": 0.55, "threshold": 0.5, "cells": 2, "ALL cells": 1,
        "group": "", "subclass": "", "part": "", "confidence": 0}
    # the field rule: images of several cells are called against the field threshold, moved with the cell
    # threshold by the validated offset (field 0.6 - cell 0.5); one-cell images take the cell threshold
    rep = {"threshold": 0.5, "field_threshold": 0.6, "calibration": {"threshold": 0.5, "fitted": True}}
    mixed = {"images": [{"path": "one", "label": "hem", "p_all": 0.55, "n_cells": 1, "cells": [0.55]},
                        {"path": "many", "label": "hem", "p_all": 0.55, "n_cells": 2, "n_found": 2,
                         "cells": [0.8, 0.3]},
                        {"path": "many_all", "label": "all", "p_all": 0.62, "n_cells": 3, "n_found": 3,
                         "cells": [0.7, 0.6, 0.56]}]}
    assert image_thresholds(rep, mixed, 0.5) == pytest.approx([0.5, 0.6, 0.6])
    assert image_thresholds(rep, mixed, 0.3) == pytest.approx([0.3, 0.4, 0.4])
    assert image_thresholds(None, mixed, 0.5).tolist() == [0.5] * 3
    assert confusion_at(mixed, 0.5, "images", rep)["counts"].tolist() == [[1, 1], [0, 1]]
    assert confusion_at(mixed, 0.5, "images")["counts"].tolist() == [[0, 2], [0, 1]]
    wrong = misclassified(mixed, 0.5, rep)
    assert list(wrong["path"]) == ["one"] and wrong.loc[0, "threshold"] == 0.5
    assert threshold_text(rep, "images") == "0.50 one cell, 0.60 several"
    assert threshold_text(rep, "cells") == "0.50" and threshold_text(rep, "images", 0.3) == (
        "0.30 one cell, 0.40 several")


def test_resolve_image(tmp_path, monkeypatch):
    data = tmp_path / "mydata" / "cnmc2019" / "training_data" / "fold_2" / "all"
    data.mkdir(parents=True)
    (data / "UID_1_1_1_all.bmp").write_bytes(b"x")
    stored = "../shared/data/cnmc2019/training_data/fold_2/all/UID_1_1_1_all.bmp"
    monkeypatch.delenv("LEUKEMIA_DATA", raising=False)
    assert resolve_image("/definitely/not/here.bmp") is None
    monkeypatch.setenv("LEUKEMIA_DATA", str(tmp_path / "mydata"))
    found = resolve_image(stored, ["../shared/data/cnmc2019"])
    assert found == tmp_path / "mydata" / "cnmc2019" / "training_data" / "fold_2" / "all" / "UID_1_1_1_all.bmp"
    monkeypatch.setenv("LEUKEMIA_DATA", str(tmp_path / "mydata" / "cnmc2019"))
    assert resolve_image(stored, ["../shared/data/cnmc2019"]) == found
    assert "LEUKEMIA_DATA" in data_hint({"data": ["../shared/data/cnmc2019"]})


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
        assert str(tmp_path) in missing_what(kind, "proposed", tmp_path) and how_to_make(kind, "proposed")


def test_classify_steps_without_streamlit():
    good = list_samples()[0]
    rgb, err = decode(ImageInput(good.path.name, good.path.read_bytes()))
    assert err == "" and rgb.dtype == np.uint8 and rgb.ndim == 3
    rgb, err = decode(ImageInput("scan.tif", b"\x00" * 64))
    assert rgb is None and err.startswith("scan.tif: ")
    from pages._cells import results_table, summary_row

    df = results_table([summary_row("b.png", "m", None, 0.5, "b.png: the file is empty")])
    assert df.loc[0, "call"] == "" and df.loc[0, "P(ALL)"] is None and df.loc[0, "error"] == "b.png: the file is empty"
    csv = df.to_csv(index=False)
    assert csv.splitlines()[0] == ("image,model,call,P(ALL),cells,ALL cells,blast %,refer,threshold,check by eye,"
                                   "error") and "the file is empty" in csv
    # a map of the padded square input, put back on a wide image, keeps the image's own region
    cam = np.zeros((32, 32), np.float32)
    cam[8:24, :] = 1.0  # the image occupies the middle half of the padded square
    out = heatmap_on_image(cam, (50, 100))
    assert out.shape == (50, 100) and out[3:-3].min() > 0.99 and out.mean() > 0.9
    big = display_copy(np.zeros((2000, 1000, 3), np.uint8), 500)
    assert big.shape == (500, 250, 3)


# --------------------------------------------------------------------------- Verify at your lab (issue 17)

def test_verify_page_runs_saves_a_profile_and_the_sidebar_uses_it(lab_env):
    at = _app()
    assert at.selectbox(key="app_site_profile").disabled  # no profile yet: nothing changes
    at.switch_page("pages/verify.py").run()
    _no_exception(at)
    at.text_input(key="verify_folder").set_value(str(lab_env["lab"])).run()
    at.button(key="verify_run").click().run()
    _no_exception(at)
    text = _texts(at)
    assert "How many cells are enough" in text and "Fewer than 20" in text
    assert any("Acceptance criteria" in e.value for e in list(at.success) + list(at.error))
    assert _charts(at) >= 2
    assert "sensitivity (ALL)" in _frame(at, "figure")["figure"].tolist()
    at.button(key="verify_save_tiny_cnn").click().run()
    _no_exception(at)
    saved = list(lab_env["profiles"].glob("tiny_cnn.*.profile.json"))
    assert len(saved) == 1
    # the sidebar offers it; Classify calls with it and names it in every row
    at.switch_page("pages/classify.py").run()
    box = at.selectbox(key="app_site_profile")
    assert not box.disabled and box.options == ["none (the model's stored calibration)", "my lab (calibration)"]
    box.set_value(str(saved[0])).run()
    at.multiselect(key="classify_samples").set_value([_sample("C-NMC 2019").title]).run()
    _no_exception(at)
    assert set(_classify_table(at)["profile"]) == {"my lab"}
    thr = json.loads(saved[0].read_text())["calibration"]["threshold"]
    assert _cell_captions(at) and all((c == "ALL") == (float(p) >= round(thr, 2) - 0.005) or abs(float(p) - thr) < .01
                                      for c, p in _cell_captions(at))  # called at the profile's threshold
    at.button(key="classify_report_build").click().run()
    assert b"site profile <b>my lab</b>" in at.session_state["classify_case_report"][1]
    # a verification run under the sidebar's profile names it
    at.switch_page("pages/verify.py").run()
    at.text_input(key="verify_folder").set_value(str(lab_env["lab"])).run()
    at.button(key="verify_run").click().run()
    assert "tiny_cnn · site profile my lab" in [h.value for h in at.subheader]
    at.switch_page("pages/classify.py").run()
    at.selectbox(key="app_site_profile").set_value("").run()  # back to none: the stored calibration
    at.multiselect(key="classify_samples").set_value([_sample("C-NMC 2019").title]).run()
    assert set(_classify_table(at)["profile"]) == {""}


def test_verify_page_refuses_one_class(lab_env):
    shutil.rmtree(lab_env["lab"] / "hem")
    at = _app()
    at.switch_page("pages/verify.py").run()
    at.text_input(key="verify_folder").set_value(str(lab_env["lab"])).run()
    at.button(key="verify_run").click().run()
    _no_exception(at)
    assert "one class only" in " ".join(e.value for e in at.error)
