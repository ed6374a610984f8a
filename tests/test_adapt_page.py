"""The Adapt tab of Verify at your lab through Streamlit's AppTest: fit and study a site model on
the lab's labelled cells, keep a failed one only when asked, and read with it in Classify."""

from __future__ import annotations

import shutil

from app_fixtures import APP, app_env, app_weights, lab_env, navigation_v2  # noqa: F401  (fixtures)

from leukemia_core.samples import list_samples


def _app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(APP), default_timeout=300).run()


def _messages(at) -> str:
    return " ".join(str(e.value) for kind in ("error", "success", "info", "warning", "markdown", "caption")
                    for e in getattr(at, kind))


def test_a_site_model_is_fitted_studied_kept_on_request_and_read_by_classify(lab_env):
    at = _app()
    at.switch_page("pages/verify.py").run()
    at.text_input(key="verify_folder").set_value(str(lab_env["lab"])).run()
    at.number_input(key="verify_min_se").set_value(1.0).run()  # a criterion the tiny model cannot meet
    assert at.selectbox(key="adapt_base").options == ["tiny_cnn (served model)"]  # no encoder built here
    at.button(key="adapt_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    text = _messages(at)
    assert "Site model 'my lab' on tiny_cnn: acceptance criteria NOT met" in text
    assert "that the fit never saw" in text
    assert len(at.get("plotly_chart")) >= 1  # the learning curve
    assert at.button(key="adapt_save").disabled  # failed: not saved unless asked
    at.checkbox(key="adapt_save_failed").check().run()
    at.button(key="adapt_save").click().run()
    saved = list(lab_env["profiles"].glob("tiny_cnn.*.profile.json"))
    assert len(saved) == 1
    at.switch_page("pages/classify.py").run()
    box = at.selectbox(key="app_site_profile")
    assert "my lab (site model · FAILED acceptance)" in box.options
    box.set_value(str(saved[0])).run()
    assert any("FAILED the lab's acceptance criteria" in w.value for w in at.sidebar.warning)
    sample = next(s for s in list_samples() if s.dataset == "C-NMC 2019")
    at.multiselect(key="classify_samples").set_value([sample.title]).run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(df.value for df in list(at.dataframe) + list(at.table) if "profile" in df.value.columns)
    assert set(table["profile"]) == {"my lab [FAILED acceptance]"}


def test_one_class_is_refused_with_its_reason(lab_env):
    shutil.rmtree(lab_env["lab"] / "hem")
    at = _app()
    at.switch_page("pages/verify.py").run()
    at.text_input(key="verify_folder").set_value(str(lab_env["lab"])).run()
    at.button(key="adapt_run").click().run()
    assert not at.exception
    assert "one class only" in " ".join(e.value for e in at.error)
