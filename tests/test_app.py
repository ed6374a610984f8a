"""Dashboard tests: every page through Streamlit's AppTest (Classify, Model comparison, Validation, About),
with a trained tiny model and with nothing trained yet."""

from __future__ import annotations

import json
import shutil

import pytest
from app_fixtures import APP, app_env, app_weights, empty_env, lab_env, navigation_v2  # noqa: F401  (fixtures)
from app_helpers import (  # noqa: F401  (tiny_analysis: a fixture)
    PAGES,
    cell_captions,
    chart_count,
    classify_table,
    expected_cells,
    fields_drawn,
    no_exception,
    no_machine_path,
    no_none_cells,
    own_threshold_off,
    page_text,
    run_app,
    same_cells,
    sample_of,
    shown_number,
    table_with,
    tiny_analysis,
)

from leukemia_core.reports.sets import get_set
from leukemia_core.samples import list_samples

# --------------------------------------------------------------------------- AppTest, trained tiny model

def test_every_page_renders(app_env):
    at = run_app()
    no_exception(at)
    assert at.selectbox(key="app_model").value == "tiny_cnn"
    assert "not a diagnostic device" in page_text(at).lower()
    no_machine_path(at)
    for page in PAGES[1:]:
        at.switch_page(page).run()
        no_exception(at)
        no_none_cells(at)
        no_machine_path(at)


def test_classify_single_cell_sample(app_env, tiny_analysis):
    at = run_app()
    sample = sample_of("C-NMC 2019")
    assert "Upload one or more images" in page_text(at)
    at.multiselect(key="classify_samples").set_value([sample.title]).run()
    no_exception(at)
    table = classify_table(at)
    assert list(table.columns[:5]) == ["image", "model", "call", "reason", "P(ALL)"]
    a = tiny_analysis(sample.path)
    thr = a.calibration.threshold  # the model's validated threshold (the sidebar default)
    row = table.iloc[0]
    assert row["image"] == sample.path.name and row["error"] == ""
    assert row["cells"] == 1 == a.n_cells  # a C-NMC image holds one cell
    assert row["P(ALL)"] == round(a.image_p_all, 4)
    assert row["call"] == a.label(thr) and row["threshold"] == round(thr, 2)
    assert row["ALL cells"] == a.cell_labels(thr).count("ALL") and shown_number(row["blast %"]) == a.blast_pct(thr)
    assert fields_drawn(at) == 1 and cell_captions(at) == expected_cells(a, thr)  # one cell crop, its call
    assert len(at.download_button) == 1
    # other CAM method and colormap: the same call, a new map, no error
    for method in ("gradcam++", "scorecam"):
        at.selectbox(key="classify_method").set_value(method)
        at.selectbox(key="classify_colormap").set_value("viridis").run()
        no_exception(at)
        assert classify_table(at).loc[0, "call"] == row["call"]
        assert fields_drawn(at) == 1 and cell_captions(at) == expected_cells(a, thr)


def test_classify_field_sample_counts_cells(app_env, tiny_analysis):
    at = run_app()
    sample = next(s for s in list_samples() if s.path.name == "WBC-Malignant-Pre-790.jpg")  # 27 cells
    at.multiselect(key="classify_samples").set_value([sample.title]).run()
    no_exception(at)
    row = classify_table(at).iloc[0]
    a = tiny_analysis(sample.path)
    thr = a.calibration.threshold
    assert row["cells"] == a.n_cells > 1
    labels = a.cell_labels(thr)  # ALL, HEM or NO CALL (borderline: inside the refer band)
    n_all, n_called = labels.count("ALL"), sum(lab != "NO CALL" for lab in labels)
    assert row["ALL cells"] == n_all and row["NO CALL cells"] == a.n_cells - n_called
    assert shown_number(row["blast %"]) == (round(100 * n_all / n_called, 1) if n_called else None)
    assert row["P(ALL)"] == round(a.image_p_all, 4) and row["call"] == a.label(thr)
    assert row["refer"] == int(a.refer(thr).sum())
    assert fields_drawn(at) == 1 and same_cells(cell_captions(at), a, thr)  # every cell, its call
    assert f"{a.n_cells} white cell(s) found" in page_text(at)


def test_classify_batch_is_paged(app_env):
    at = run_app()
    titles = [s.title for s in list_samples()]
    names = [s.path.name for s in list_samples()]
    at.multiselect(key="classify_samples").set_value(titles).run()
    no_exception(at)
    table = classify_table(at)
    assert list(table["image"]) == names and table["error"].eq("").all()
    shown = [m.value for m in at.markdown if m.value.startswith("**") and m.value.strip("*").replace("\\", "") in names]
    assert len(shown) == 6  # the first page: six images
    at.selectbox(key="classify_page").set_value(6).run()
    no_exception(at)
    shown = [m.value.strip("*").replace("\\", "") for m in at.markdown if m.value.startswith("**")
             and m.value.strip("*").replace("\\", "") in names]
    assert shown == names[6:12]  # the second page


def test_classify_bad_upload_gets_its_own_row(app_env):
    at = run_app()
    good = sample_of("C-NMC 2019", "hem").path
    at.file_uploader(key="classify_uploads").set_value([
        ("broken.png", b"this is not an image", "image/png"),
        (good.name, good.read_bytes(), "image/png"),
        ("empty.bmp", b"", "image/bmp"),
        ("copy.png", good.read_bytes(), "image/png"),  # the same bytes again: read and counted once
    ]).run()
    no_exception(at)
    table = classify_table(at)
    assert list(table["image"]) == ["broken.png", good.name, "empty.bmp"]
    assert f"copy.png is the same image as {good.name}" in page_text(at)
    assert "not an image file" in table.loc[0, "error"] and table.loc[0, "call"] == "NO CALL"
    assert table.loc[0, "reason"] == "could not be read"
    assert table.loc[1, "error"] == "" and table.loc[1, "call"] in ("ALL", "HEM", "NO CALL")
    assert table.loc[1, "cells"] == 1
    assert "empty" in table.loc[2, "error"]
    errors = "\n".join(e.value for e in at.error).replace("\\", "")
    assert "broken.png: not an image file" in errors and "Traceback" not in errors
    assert fields_drawn(at) == 1 and len(cell_captions(at)) == 1  # only the good image is drawn


def test_classify_threshold_relabels_without_running_the_model(app_env, tiny_analysis):
    at = run_app()
    sample = sample_of("Aria ALL", "hem")
    at.multiselect(key="classify_samples").set_value([sample.title]).run()
    a = tiny_analysis(sample.path)
    cached = dict(at.session_state["classify_results"])
    assert len(cached) == 1
    # the disabled slider shows the threshold the model calls at, and the sidebar says both in use
    assert at.slider(key="app_threshold").value == round(a.calibration.threshold, 2)
    assert f"tiny_cnn in use: cells {a.calibration.threshold:.2f} (validated" in page_text(at)
    at.toggle(key="app_own_threshold").set_value(False).run()
    for thr in (0.0, 1.0, 0.5):
        at.slider(key="app_threshold").set_value(thr).run()
        no_exception(at)
        row = classify_table(at).iloc[0]
        assert row["call"] == a.label(thr) and row["threshold"] == thr
        assert row["ALL cells"] == a.cell_labels(thr).count("ALL") and row["refer"] == int(a.refer(thr).sum())
        assert row["NO CALL cells"] == a.cell_labels(thr).count("NO CALL")
        assert cell_captions(at) == expected_cells(a, thr)
        # re-labelled from the stored results: no new entry, the same objects
        assert at.session_state["classify_results"].keys() == cached.keys()
        assert all(at.session_state["classify_results"][k] is v for k, v in cached.items())
    assert classify_table(at).loc[0, "call"] in ("ALL", "HEM", "NO CALL")
    at.slider(key="app_threshold").set_value(0.0).run()
    a0 = a.summary(0.0)  # at 0 every cell is ALL, or borderline where the band reaches it
    assert classify_table(at).loc[0, "call"] == a0["call"] and shown_number(classify_table(at).loc[0, "blast %"]) == (
        None if a0["blast_pct"] is None else round(a0["blast_pct"], 1))


def test_comparison_page(app_env):
    at = run_app()
    at.switch_page("pages/comparison.py").run()
    no_exception(at)
    no_none_cells(at)
    # opens on the test set, and says what the set's role was
    assert at.selectbox(key="comparison_set").value == "folder/test"
    assert at.selectbox(key="comparison_set").options[:3] == [
        "folder/test (test)", "folder/val (validation, not a test set)", "folder/train (training)"]
    text = page_text(at)
    assert "folder/test, test: reported only, never used to choose anything" in text
    assert "validation: chose the epoch, calibrator, threshold and refer band (not a test set)" in text
    # balanced accuracy, P/R/F1, ROC, reliability, accuracy by role, training curves, size
    assert chart_count(at) >= 7
    assert at.get("plotly_chart")  # plotly only
    assert "Speed: not measured yet" in text and "python -m leukemia_core bench" in text
    # both levels, the models and the colour baseline, from the reports
    reps = {n: json.loads((app_env["weights_dir"] / f"{n}.report.json").read_text())
            for n in ("tiny_cnn", "colour_baseline")}
    metrics = table_with(at, "F1 ALL (%)")
    assert set(metrics["model"]) == {"tiny_cnn", "colour_baseline"}
    assert set(metrics["level"]) >= {"cells", "images (fields)"}
    for name, rep in reps.items():
        s = get_set(rep, "folder/test")
        for level, field in (("cells", "cell_metrics"), ("images (fields)", "metrics")):
            row = metrics[(metrics["model"] == name) & (metrics["level"] == level)].iloc[0]
            assert shown_number(row["scored (count)"]) == s[field]["n"]
            exp = s[field]["balanced_accuracy"]
            assert shown_number(row["balanced accuracy (%)"]) == (None if exp is None else pytest.approx(100 * exp, abs=0.05))
    assert "tiny_cnn" in " ".join(map(str, metrics["model"]))
    # calibration: ECE before/after and the refer band from the report
    cal = table_with(at, "ECE after (0-1)")
    row = cal[cal["model"] == "tiny_cnn"].iloc[0]
    info = reps["tiny_cnn"]["calibration"]["info"]
    assert row["ECE before (0-1)"] == f"{info['ece_before']:.3f}"  # text: the baseline's cell is "n/a"
    assert row["ECE after (0-1)"] == f"{info['ece_after']:.3f}"
    assert shown_number(row["threshold (P(ALL))"]) == pytest.approx(reps["tiny_cnn"]["threshold"])
    base = cal[cal["model"] == "colour_baseline"].iloc[0]
    assert base["ECE after (0-1)"] == "n/a" and "not calibrated" in base["calibrated on"]
    # the published figures: off by default, and labelled with their source when on
    assert at.toggle(key="comparison_reference").value is False
    assert "The reference system's README figures (C-NMC 2019, unknown split, ImageNet initialisation" in text
    assert table_with(at, "mean share of map energy on cells (0-1)").loc[0, "model"] == "tiny_cnn"
    # the chart level
    at.radio(key="comparison_level").set_value("cells").run()
    no_exception(at)
    assert "From every stored P(ALL) of the cells on" in page_text(at)


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
    at = run_app()
    at.switch_page("pages/comparison.py").run()
    no_exception(at)
    assert at.selectbox(key="comparison_set").value == "cnmc/test"
    assert at.selectbox(key="comparison_set").options[:2] == ["cnmc/test (test)", "aria-original/test (test)"]
    assert at.selectbox(key="comparison_dataset").value == "cnmc"
    assert at.toggle(key="comparison_reference").value is False
    assert "Hatched bars" not in page_text(at)
    at.toggle(key="comparison_reference").set_value(True).run()
    no_exception(at)
    text = page_text(at)
    assert ("Hatched bars: The reference system's README figures (C-NMC 2019, unknown split, ImageNet "
            "initialisation, 60 epochs)") in text
    assert set(table_with(at, "published validation accuracy (%)")["model"]) == {
        "resnet50", "efficientnet_b0", "inception_v3", "proposed"}
    no_none_cells(at)
    # published figures are C-NMC figures: not offered beside another dataset
    at.selectbox(key="comparison_dataset").set_value("aria-original").run()
    no_exception(at)
    assert at.toggle(key="comparison_reference").disabled and "Hatched bars" not in page_text(at)
    at.switch_page("pages/validation.py").run()
    no_exception(at)
    assert at.selectbox(key="validation_set").value == "cnmc/test"


def test_validation_page_threshold_and_gallery(app_env):
    at = run_app()
    own_threshold_off(at, 0.0)  # everything called ALL: every HEM image is wrong
    at.switch_page("pages/validation.py").run()
    no_exception(at)
    no_none_cells(at)
    assert chart_count(at) == 2  # confusion matrix, reliability plot
    assert at.selectbox(key="validation_model").value == "tiny_cnn"
    assert at.selectbox(key="validation_set").value == "folder/test"
    text = page_text(at)
    assert "Every figure on this page is on folder/test, test: reported only, never used to choose anything" in text
    assert "threshold 0.00 (the sidebar's threshold)" in text
    wrong = table_with(at, "called")
    assert set(wrong["true class"]) == {"HEM"} and set(wrong["called"]) == {"ALL"}
    assert list(wrong["image"]) and all("/" not in i for i in wrong["image"])  # names, not long paths
    assert len(at.image) >= 2  # the field with its cells, and a cell's map
    figures = table_with(at, "specificity, HEM recall (%)")
    assert list(figures["level"]) == ["cells", "images (fields)"]
    assert list(figures["specificity, HEM recall (%)"]) == ["0.0%"] * 2
    assert list(figures["sensitivity, ALL recall (%)"]) == ["100.0%"] * 2
    metrics = {m.label: m.value for m in at.metric}
    rep = json.loads((app_env["weights_dir"] / "tiny_cnn.report.json").read_text())
    info = rep["calibration"]["info"]
    assert metrics["ECE before calibration"] == f"{info['ece_before']:.3f}"
    assert metrics["ECE after calibration"] == f"{info['ece_after']:.3f}"
    beside = table_with(at, "F1 ALL (%)")
    assert set(beside["model"]) == {"tiny_cnn", "colour_baseline"}
    at.selectbox(key="validation_model").set_value("colour_baseline").run()
    no_exception(at)
    no_none_cells(at)
    assert "colour-only baseline has none" in page_text(at)
    assert chart_count(at) == 1  # no calibration, no reliability plot


def test_validation_uses_the_validated_threshold_by_default(app_env):
    at = run_app()
    at.switch_page("pages/validation.py").run()
    no_exception(at)
    rep = json.loads((app_env["weights_dir"] / "tiny_cnn.report.json").read_text())
    assert f"threshold {rep['threshold']:.2f} (tiny_cnn's validated threshold)" in page_text(at)
    at.selectbox(key="validation_set").set_value("folder/val").run()
    no_exception(at)
    text = page_text(at)
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
    at = run_app()
    own_threshold_off(at, 0.0)
    at.switch_page("pages/validation.py").run()
    no_exception(at)
    assert "LEUKEMIA_DATA" in page_text(at)
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
    at = run_app()
    at.switch_page("pages/validation.py").run()
    no_exception(at)
    assert "No misclassified image in this set at this threshold" in page_text(at)
    assert len(at.image) == 0 and not [t for t in at.dataframe if "called" in t.value.columns]
    assert not [w for w in at.slider if w.key == "validation_gallery_n"]
    assert not [w for w in at.selectbox if w.key == "validation_method"]


def test_about_page_reads_numbers_from_files(app_env):
    at = run_app()
    at.switch_page("pages/about.py").run()
    no_exception(at)
    no_none_cells(at)
    text = page_text(at)
    for needle in ("not a diagnostic device", "CC BY 3.0", "10.34740/KAGGLE/DSV/2175623", "fold_2",
                   "patient leakage possible", "colour-only baseline", "random initialisation", "nsfwjs-inception-v3",
                   "reported only, never used to choose anything", "refer", "not a test set",
                   "The reference system's README figures (C-NMC 2019, unknown split, ImageNet initialisation",
                   "python -m leukemia_core train --model proposed --data /path/to/C-NMC_Leukemia"):
        assert needle in text, needle
    models = table_with(at, "epochs run")
    assert models.loc[0, "model"] == "tiny_cnn" and shown_number(models.loc[0, "parameters (count)"]) > 0
    assert table_with(at, "ECE after (0-1)").loc[0, "model"] == "tiny_cnn"
    assert not [t for t in at.dataframe if "published validation accuracy (%)" in t.value.columns]
    at.toggle(key="about_reference").set_value(True).run()
    no_exception(at)
    assert set(table_with(at, "published validation accuracy (%)")["model"]) == {
        "resnet50", "efficientnet_b0", "inception_v3", "proposed"}


def test_classify_with_altered_weights_says_so(app_env, tmp_path, monkeypatch):
    wdir = tmp_path / "w"
    shutil.copytree(app_env["weights_dir"], wdir)
    with open(wdir / "tiny_cnn.weights.npz", "ab") as f:
        f.write(b"tampered")
    monkeypatch.setenv("LEUKEMIA_WEIGHTS_DIR", str(wdir))
    at = run_app()
    at.multiselect(key="classify_samples").set_value([list_samples()[0].title]).run()
    no_exception(at)
    errors = "\n".join(e.value for e in at.error).replace("\\", "")
    assert "does not match the manifest" in errors
    assert any("python -m leukemia_core train --model tiny_cnn" in c.value for c in at.code)


# --------------------------------------------------------------------------- AppTest, nothing trained yet

def test_pages_with_empty_weights_folder(empty_env):
    at = run_app()
    no_exception(at)
    assert at.selectbox(key="app_model").value == "proposed"
    text = page_text(at)
    assert "No trained model weights" in text and "python -m leukemia_core train --model proposed" in text
    no_machine_path(at)
    assert not at.file_uploader  # nothing to classify with
    at.switch_page("pages/comparison.py").run()
    no_exception(at)
    text = page_text(at)
    assert "No evaluation reports" in text
    assert "python -m leukemia_core evaluate --model proposed --data DIR --out model_weights/proposed.report.json" in text
    at.switch_page("pages/validation.py").run()
    no_exception(at)
    assert "python -m leukemia_core evaluate" in page_text(at)
    at.switch_page("pages/about.py").run()
    no_exception(at)
    assert "colour_baseline.report.json" in page_text(at)
    no_machine_path(at)


# --------------------------------------------------------------------------- leukemia_core.reports

