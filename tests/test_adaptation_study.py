"""``adapt``'s study: a grouped split, the head fitted on one part, figures on the other, the
learning curve, and a site model saved only when the lab's criteria allow it."""

from __future__ import annotations

import numpy as np
import pytest
from adaptation_fixtures import lab_dir, tiny_source  # noqa: F401  (fixtures)

from leukemia_core.adaptation.features import AdaptationError
from leukemia_core.adaptation.study import curve_advice, run_adapt, save_site_model
from leukemia_core.verification.profile import load_profile
from leukemia_core.verification.study import read_labelled


@pytest.fixture(scope="module")
def result(lab_dir, tiny_source):
    return run_adapt(tiny_source, read_labelled([lab_dir]), "lab A", min_sensitivity=0.99, min_specificity=0.99,
                     draws=3, n_boot=50)


def test_fit_and_study_never_share_a_group(result):
    s = result.report["split"]
    assert s["fit_images"] + s["report_images"] == 26
    assert s["fit_images"] > 0 and s["report_images"] > 0
    assert result.profile.fitted_on["images"]["all"] + result.profile.fitted_on["images"]["hem"] == s["fit_images"]


def test_the_report_holds_the_study_the_curve_and_the_head(result):
    rep = result.report
    assert rep["after"]["cell"]["n"] == rep["split"]["report_cells"]
    assert rep["before"] is None  # an encoder has no head of its own to compare with
    assert [c["k"] for c in rep["learning_curve"]] == [5]  # 6-7 fit images per class allow k = 5 only
    assert 0 <= rep["learning_curve"][0]["roc_auc"] <= 1
    assert "w" not in rep["head"] and rep["head"]["features"] == 16
    prof = result.profile
    assert prof.is_site_model and prof.reads_with_encoder and len(prof.head["w"]) == 16
    assert prof.base["input_size"] == 32 and prof.weights_sha256 == "ab" * 32


def test_a_site_model_failing_the_criteria_is_saved_only_when_asked(result, tmp_path):
    assert result.profile.accepted is False  # 0.99 / 0.99 cannot be met on a dozen held-out cells
    assert save_site_model(result, tmp_path) is None
    path = save_site_model(result, tmp_path, save_failed=True)
    back = load_profile(path)
    assert back.accepted is False and "FAILED" in back.status
    assert back.head == result.profile.head


def test_one_class_or_too_few_images_per_class_are_refused(lab_dir, tiny_source):
    records = read_labelled([lab_dir])
    hem = [r for r in records if r.label == "hem"]
    with pytest.raises(AdaptationError, match="one class only"):
        run_adapt(tiny_source, hem, "x")
    few = hem + [r for r in records if r.label == "all"][:4]
    with pytest.raises(AdaptationError, match="too few usable images per class"):
        run_adapt(tiny_source, few, "x")


def test_curve_advice_reads_the_last_two_points():
    rising = [{"k": 5, "roc_auc": 0.7}, {"k": 10, "roc_auc": 0.8}]
    flat = [{"k": 5, "roc_auc": 0.8}, {"k": 10, "roc_auc": 0.805}]
    weak = [{"k": 5, "roc_auc": 0.45}, {"k": 10, "roc_auc": 0.44}]
    assert "Try another base" in curve_advice(weak)
    assert "likely to improve" in curve_advice(rising)
    assert "levels off" in curve_advice(flat)
    assert "at least 10" in curve_advice(rising[:1])
