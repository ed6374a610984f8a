"""The Verify page through Streamlit's AppTest: a verification run on a lab folder, a saved site profile
that the sidebar then offers and Classify calls with, and a folder of one class refused."""

import json
import shutil

from app_fixtures import app_env, app_weights, lab_env, navigation_v2  # noqa: F401  (fixtures)
from app_helpers import (cell_captions, chart_count, classify_table, no_exception, page_text, run_app, sample_of,
                         table_with)


def test_verify_page_runs_saves_a_profile_and_the_sidebar_uses_it(lab_env):
    at = run_app()
    assert at.selectbox(key="app_site_profile").disabled  # no profile yet: nothing changes
    at.switch_page("pages/verify.py").run()
    no_exception(at)
    at.text_input(key="verify_folder").set_value(str(lab_env["lab"])).run()
    at.button(key="verify_run").click().run()
    no_exception(at)
    text = page_text(at)
    assert "How many cells are enough" in text and "Fewer than 20" in text
    assert any("Acceptance criteria" in e.value for e in list(at.success) + list(at.error))
    assert chart_count(at) >= 2
    assert "sensitivity (ALL)" in table_with(at, "figure")["figure"].tolist()
    at.button(key="verify_save_tiny_cnn").click().run()
    no_exception(at)
    saved = list(lab_env["profiles"].glob("tiny_cnn.*.profile.json"))
    assert len(saved) == 1
    # the sidebar offers it; Classify calls with it and names it in every row
    at.switch_page("pages/classify.py").run()
    box = at.selectbox(key="app_site_profile")
    assert not box.disabled and box.options == ["none (the model's stored calibration)", "my lab (calibration)"]
    box.set_value(str(saved[0])).run()
    at.multiselect(key="classify_samples").set_value([sample_of("C-NMC 2019").title]).run()
    no_exception(at)
    assert set(classify_table(at)["profile"]) == {"my lab"}
    thr = json.loads(saved[0].read_text())["calibration"]["threshold"]
    assert cell_captions(at) and all((c == "ALL") == (float(p) >= round(thr, 2) - 0.005) or abs(float(p) - thr) < .01
                                      for c, p in cell_captions(at))  # called at the profile's threshold
    at.text_input(key="classify_report_specimen").input("SP-3").run()  # the sample's fields reach the report
    at.button(key="classify_report_build").click().run()
    assert b"site profile <b>my lab</b>" in at.session_state["classify_case_report"][1]
    assert b"<th>Specimen</th><td>SP-3</td>" in at.session_state["classify_case_report"][1]
    # a verification run under the sidebar's profile names it
    at.switch_page("pages/verify.py").run()
    at.text_input(key="verify_folder").set_value(str(lab_env["lab"])).run()
    at.button(key="verify_run").click().run()
    assert "tiny_cnn · site profile my lab" in [h.value for h in at.subheader]
    at.switch_page("pages/classify.py").run()
    at.selectbox(key="app_site_profile").set_value("").run()  # back to none: the stored calibration
    at.multiselect(key="classify_samples").set_value([sample_of("C-NMC 2019").title]).run()
    assert set(classify_table(at)["profile"]) == {""}


def test_verify_page_refuses_one_class(lab_env):
    shutil.rmtree(lab_env["lab"] / "hem")
    at = run_app()
    at.switch_page("pages/verify.py").run()
    at.text_input(key="verify_folder").set_value(str(lab_env["lab"])).run()
    at.button(key="verify_run").click().run()
    no_exception(at)
    assert "one class only" in " ".join(e.value for e in at.error)
