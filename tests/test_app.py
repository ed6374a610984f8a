"""Dashboard tests: every page through Streamlit's AppTest, and the helpers of leukemia_core.reports."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from app_fixtures import APP, app_env, app_weights, empty_env, navigation_v2  # noqa: F401  (fixtures)

from leukemia_core import reports
from leukemia_core.errors import LeukemiaCoreError
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
    """The first table of the last run that has ``column``."""
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with a column {column!r}")


def _charts(at) -> int:
    return len(at.get("plotly_chart"))


# --------------------------------------------------------------------------- AppTest, trained tiny model

def test_every_page_renders(app_env):
    at = _app()
    _no_exception(at)
    assert at.selectbox(key="app_model").value == "tiny_cnn"
    assert "not a diagnostic device" in _texts(at).lower()
    for page in PAGES[1:]:
        at.switch_page(page).run()
        _no_exception(at)


def test_classify_sample_image(app_env):
    at = _app()
    sample = list_samples()[0]
    assert "Upload one or more images" in _texts(at)
    at.multiselect(key="classify_samples").set_value([sample.title]).run()
    _no_exception(at)
    table = at.dataframe[0].value
    assert list(table.columns[:4]) == ["image", "model", "call", "P(ALL)"]
    assert table.loc[0, "image"] == sample.path.name and table.loc[0, "call"] in ("ALL", "HEM")
    assert 0.0 <= table.loc[0, "P(ALL)"] <= 1.0
    assert len(at.image) == 2  # the original and the overlay
    assert f"[**{table.loc[0, 'call']}**] (P(ALL) = " in "\n".join(m.value for m in at.markdown)
    assert len(at.download_button) == 1
    # other CAM method and colormap: the same call, a new map, no error
    for method in ("gradcam++", "scorecam"):
        at.selectbox(key="classify_method").set_value(method)
        at.selectbox(key="classify_colormap").set_value("viridis").run()
        _no_exception(at)
        assert at.dataframe[0].value.loc[0, "call"] == table.loc[0, "call"]
        assert len(at.image) == 2


def test_classify_batch_is_paged(app_env):
    at = _app()
    titles = [s.title for s in list_samples()]
    at.multiselect(key="classify_samples").set_value(titles).run()
    _no_exception(at)
    table = at.dataframe[0].value
    assert len(table) == len(titles) and table["error"].eq("").all()
    assert len(at.image) == 2 * 6  # the first page: six images, original and overlay each
    at.selectbox(key="classify_page").set_value(6).run()
    _no_exception(at)
    assert len(at.image) == 2 * (len(titles) - 6)


def test_classify_bad_upload_gets_its_own_row(app_env):
    at = _app()
    good = list_samples()[1].path
    at.file_uploader(key="classify_uploads").set_value([
        ("broken.png", b"this is not an image", "image/png"),
        (good.name, good.read_bytes(), "image/png"),
        ("empty.bmp", b"", "image/bmp"),
    ]).run()
    _no_exception(at)
    table = at.dataframe[0].value
    assert list(table["image"]) == ["broken.png", good.name, "empty.bmp"]
    assert "not an image file" in table.loc[0, "error"] and table.loc[0, "call"] == ""
    assert table.loc[1, "error"] == "" and table.loc[1, "call"] in ("ALL", "HEM")
    assert "empty" in table.loc[2, "error"]
    errors = "\n".join(e.value for e in at.error).replace("\\", "")
    assert "broken.png: not an image file" in errors and "Traceback" not in errors
    assert len(at.image) == 2  # only the good image is drawn


def test_classify_threshold_changes_the_call(app_env):
    at = _app()
    at.multiselect(key="classify_samples").set_value([list_samples()[0].title]).run()
    at.slider(key="app_threshold").set_value(0.0).run()
    assert at.dataframe[0].value.loc[0, "call"] == "ALL"
    at.slider(key="app_threshold").set_value(1.0).run()
    p = at.dataframe[0].value.loc[0, "P(ALL)"]
    assert at.dataframe[0].value.loc[0, "call"] == ("ALL" if p >= 1.0 else "HEM")


def test_comparison_page(app_env):
    at = _app()
    at.switch_page("pages/comparison.py").run()
    _no_exception(at)
    assert _charts(at) >= 5  # accuracy, P/R/F1, ROC, training curves, size
    text = _texts(at)
    assert "folder/val (held out)" in text  # every set names what it was measured on
    assert "Speed: not measured yet" in text and "python -m leukemia_core bench" in text
    metrics = _frame(at, "F1 (weighted)")
    assert set(metrics["model"]) == {"tiny_cnn", "colour_baseline"}
    assert "Published figures of the reference system" in text
    assert _frame(at, "mean_energy_on_cells").loc[0, "model"] == "tiny_cnn"


def test_validation_page_threshold_and_gallery(app_env):
    at = _app()
    at.slider(key="app_threshold").set_value(0.0).run()  # everything called ALL: every HEM image is wrong
    at.switch_page("pages/validation.py").run()
    _no_exception(at)
    assert _charts(at) == 1
    assert at.selectbox(key="validation_model").value == "tiny_cnn"
    wrong = _frame(at, "predicted")
    assert set(wrong["true"]) == {"HEM"} and set(wrong["predicted"]) == {"ALL"}
    assert len(at.image) >= 2  # the image and its Grad-CAM
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["specificity (HEM)"] == "0.0%" and metrics["sensitivity (ALL)"] == "100.0%"
    at.selectbox(key="validation_model").set_value("colour_baseline").run()
    _no_exception(at)
    assert "colour-only baseline has none" in _texts(at)


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
    at.slider(key="app_threshold").set_value(0.0).run()
    at.switch_page("pages/validation.py").run()
    _no_exception(at)
    assert "LEUKEMIA_DATA" in _texts(at)
    assert len(at.image) == 0


def test_about_page_reads_numbers_from_files(app_env):
    at = _app()
    at.switch_page("pages/about.py").run()
    _no_exception(at)
    text = _texts(at)
    for needle in ("not a diagnostic device", "CC BY 3.0", "10.34740/KAGGLE/DSV/2175623", "fold_2",
                   "patient leakage possible", "colour-only baseline", "random initialisation",
                   "python -m leukemia_core train --model proposed --data /path/to/C-NMC_Leukemia"):
        assert needle in text, needle
    models = _frame(at, "epochs run")
    assert models.loc[0, "model"] == "tiny_cnn" and models.loc[0, "parameters"] > 0
    assert set(_frame(at, "validation accuracy")["model"]) == {
        "resnet50", "efficientnet_b0", "inception_v3", "proposed"}


def test_comparison_shows_published_figures_beside_cnmc(app_env, tmp_path, monkeypatch):
    wdir = tmp_path / "w"
    shutil.copytree(app_env["weights_dir"], wdir)
    for name in ("tiny_cnn", "colour_baseline"):
        path = wdir / f"{name}.report.json"
        rep = json.loads(path.read_text())
        for s in rep["sets"]:
            s["key"] = s["key"].replace("folder/", "cnmc/")
        path.write_text(json.dumps(rep))
    monkeypatch.setenv("LEUKEMIA_WEIGHTS_DIR", str(wdir))
    at = _app()
    at.switch_page("pages/comparison.py").run()
    _no_exception(at)
    assert at.selectbox(key="comparison_dataset").value == "cnmc"
    assert at.toggle(key="comparison_reference").value is True
    text = _texts(at)
    assert "Hatched bars: Published figures of the reference system" in text and "unknown" in text
    at.toggle(key="comparison_reference").set_value(False).run()
    _no_exception(at)
    assert "Hatched bars" not in _texts(at)


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
    assert reports.app_models() == ["tiny_cnn"]
    monkeypatch.delenv("LEUKEMIA_APP_MODELS")
    models = reports.app_models()
    assert "proposed" in models and "tiny_cnn" not in models
    assert reports.default_model(models) == "proposed" and reports.default_model([]) is None


def test_report_tables(app_weights):
    wdir = app_weights["weights_dir"]
    names = reports.report_names(wdir, ["tiny_cnn"])
    assert names == ["tiny_cnn", "colour_baseline"]
    reps, problems = reports.load_reports(names, wdir)
    assert not problems
    table = reports.metrics_table(reps, "folder/val")
    assert list(table["model"]) == names
    stored = reps["tiny_cnn"]["sets"]
    val = reports.get_set(reps["tiny_cnn"], "folder/val")
    assert table.loc[0, "accuracy"] == val["metrics"]["accuracy"]
    assert reports.set_keys(reps["tiny_cnn"])[0] == "folder/val"
    assert set(reports.sets_table(reps)["set"]) == {s["key"] for s in stored}
    ref = reports.load_reference(wdir)
    acc = reports.accuracy_by_split(reps, "cnmc", ref)
    assert len(acc) == 8 and set(acc["source"]) == {reports.reference_label(ref)}
    acc = reports.accuracy_by_split(reps, "folder")
    assert set(acc["split"]) == {"train", "val"}
    curves = reports.roc_curves(reps, "folder/train")
    assert set(curves) <= set(names)
    hist = reports.load_history("tiny_cnn", wdir)
    assert list(hist["step"]) == list(range(1, len(hist) + 1)) and "val_loss" in hist
    facts = reports.model_facts(["tiny_cnn", "proposed"], wdir)
    assert list(facts["model"]) == ["tiny_cnn"] and facts.loc[0, "file MB"] > 0
    assert reports.per_model_table(reports.load_cam_check(wdir)).loc[0, "mean_energy_on_cells"] == 0.61
    assert reports.per_model_table(reports.load_bench(wdir)).empty
    assert reports.report_is_current(reps["tiny_cnn"], reports.load_manifest("tiny_cnn", wdir))


def test_confusion_and_misclassified_follow_the_threshold():
    s = {"images": [{"path": "a", "label": "all", "p_all": 0.9}, {"path": "b", "label": "all", "p_all": 0.3},
                    {"path": "c", "label": "hem", "p_all": 0.6}, {"path": "d", "label": "hem", "p_all": 0.1}]}
    m = reports.confusion_at(s, 0.5)
    assert m["counts"].tolist() == [[1, 1], [1, 1]] and m["accuracy"] == 0.5
    assert np.allclose(m["rates"], 0.5)
    m = reports.confusion_at(s, 0.25)
    assert m["counts"].tolist() == [[1, 1], [0, 2]]
    wrong = reports.misclassified(s, 0.5)
    assert list(wrong["path"]) == ["b", "c"] and list(wrong["predicted"]) == ["HEM", "ALL"]
    assert reports.misclassified(s, 0.0)["true"].tolist() == ["HEM", "HEM"]
    one_class = {"images": [{"path": "a", "label": "all", "p_all": 0.9}]}
    assert np.isnan(reports.confusion_at(one_class, 0.5)["rates"][0]).all()


def test_resolve_image(tmp_path, monkeypatch):
    data = tmp_path / "mydata" / "cnmc2019" / "training_data" / "fold_2" / "all"
    data.mkdir(parents=True)
    (data / "UID_1_1_1_all.bmp").write_bytes(b"x")
    stored = "../shared/data/cnmc2019/training_data/fold_2/all/UID_1_1_1_all.bmp"
    monkeypatch.delenv("LEUKEMIA_DATA", raising=False)
    assert reports.resolve_image("/definitely/not/here.bmp") is None
    monkeypatch.setenv("LEUKEMIA_DATA", str(tmp_path / "mydata"))
    found = reports.resolve_image(stored, ["../shared/data/cnmc2019"])
    assert found == tmp_path / "mydata" / "cnmc2019" / "training_data" / "fold_2" / "all" / "UID_1_1_1_all.bmp"
    monkeypatch.setenv("LEUKEMIA_DATA", str(tmp_path / "mydata" / "cnmc2019"))
    assert reports.resolve_image(stored, ["../shared/data/cnmc2019"]) == found
    assert "LEUKEMIA_DATA" in reports.data_hint({"data": ["../shared/data/cnmc2019"]})


def test_unreadable_files_raise_readable_errors(tmp_path):
    (tmp_path / "x.report.json").write_text("{not json")
    (tmp_path / "y.report.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(LeukemiaCoreError, match="unreadable JSON"):
        reports.load_report("x", tmp_path)
    with pytest.raises(LeukemiaCoreError, match="not a leukemia_core.report/1 report"):
        reports.load_report("y", tmp_path)
    reps, problems = reports.load_reports(["x", "y", "absent"], tmp_path)
    assert reps == {} and len(problems) == 2
    assert reports.load_report("absent", tmp_path) is None
    for kind in ("weights", "report", "baseline", "cam_check", "bench", "reference"):
        assert "Produce it with" in reports.missing_message(kind, "proposed", tmp_path)


def test_classify_steps_without_streamlit():
    good = list_samples()[0]
    rgb, err = reports.decode(reports.ImageInput(good.path.name, good.path.read_bytes()))
    assert err == "" and rgb.dtype == np.uint8 and rgb.ndim == 3
    rgb, err = reports.decode(reports.ImageInput("scan.tif", b"\x00" * 64))
    assert rgb is None and err.startswith("scan.tif: ")
    rows = [{"image": "a.png", "model": "m", "p_all": 0.7, "error": ""},
            {"image": "b.png", "model": "m", "p_all": None, "error": "b.png: the file is empty"}]
    df = reports.results_frame(rows, 0.5)
    assert list(df["call"]) == ["ALL", ""] and np.isnan(df.loc[1, "P(ALL)"])
    csv = reports.results_csv(df, 0.5).decode()
    assert csv.splitlines()[0] == "image,model,call,threshold,P(ALL),error" and "the file is empty" in csv
    # a map of the padded square input, put back on a wide image, keeps the image's own region
    cam = np.zeros((32, 32), np.float32)
    cam[8:24, :] = 1.0  # the image occupies the middle half of the padded square
    out = reports.heatmap_on_image(cam, (50, 100))
    assert out.shape == (50, 100) and out[3:-3].min() > 0.99 and out.mean() > 0.9
    big = reports.display_copy(np.zeros((2000, 1000, 3), np.uint8), 500)
    assert big.shape == (500, 250, 3)
