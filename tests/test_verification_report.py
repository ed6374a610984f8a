"""leukemia_core.verification.report: one model's study, the sample-size advice, the CSV."""

from __future__ import annotations

import csv
import io

import pytest
from verification_fixtures import shifted_lab, stored_calibration

from leukemia_core.verification.report import (
    build_report,
    csv_rows,
    figure_table,
    sample_size,
    summary_line,
    to_csv,
    verify_model,
)
from leukemia_core.stats import cells_for_width


@pytest.fixture(scope="module")
def study():
    lab, stored = shifted_lab(), stored_calibration()
    res, prof = verify_model(lab, stored, [{"key": "x/val", "cell_balanced_accuracy": 0.8}], None, 0.9, 0.9,
                             profile_name="lab A", data=["/lab"], n_boot=100)
    return lab, stored, res, prof, build_report({"tiny_cnn": res}, lab.records, [], ["/lab"],
                                                {"min_sensitivity": 0.9, "min_specificity": 0.9, "level": "cell"})


def test_verify_model_before_and_after_on_the_report_part(study):
    lab, stored, res, prof, _ = study
    assert res["profile"] is None and res["threshold"] == stored.threshold
    assert res["acceptance"]["met"] is False  # the stored threshold calls nearly every HEM cell ALL
    sc = res["site_calibration"]
    assert sc["split"]["fit_images"] + sc["split"]["report_images"] == len(lab.records)
    assert sc["before"]["cell"]["n"] == sc["after"]["cell"]["n"]  # the same held-out cells
    before, after = (sc[w]["cell"]["balanced_accuracy"]["value"] for w in ("before", "after"))
    assert before < 0.6 < 0.85 < after
    assert sc["after"]["ood_flagged"] < sc["before"]["ood_flagged"]
    assert prof.name == "lab A" and prof.held_out["cell"]["after"]["balanced_accuracy"]["value"] == after
    assert prof.fitted_on["split"]["report_images"] == sc["split"]["report_images"]


def test_verify_model_under_a_profile_and_without_groups(study):
    lab, stored, _, prof, _ = study
    res, again = verify_model(lab, stored, used=prof, n_boot=50)
    assert res["profile"] == "lab A" and res["threshold"] == prof.calibration.threshold
    assert again is None  # no profile name: nothing to store
    one = lab.subset([i for i, r in enumerate(lab.records) if r.group in ("HEM-0", "ALL-0", "ALL-1")])
    res, prof = verify_model(one, stored, profile_name="x", n_boot=20)
    assert "HEM images come from 1 group" in res["site_calibration"]["error"] and prof is None


def test_sample_size_advice():
    lab = shifted_lab(n_groups=2, per_group=3, cells=1)  # 6 images of one cell per class
    ss = sample_size(lab.records)
    assert ss["classes"]["all"]["n"] == 6 and "Fewer than 20" in ss["warning"]
    assert ss["classes"]["hem"]["needed"] == cells_for_width(0.10, 0.9)
    big = shifted_lab(n_groups=10, per_group=3, cells=1)
    figs = {"cell": {"sensitivity": {"k": 27, "n": 30}, "specificity": {"k": 15, "n": 30}}}
    ss = sample_size(big.records, figs, 0.2)
    assert ss["warning"] == "" and ss["classes"]["hem"]["expected"] == 0.5
    assert ss["classes"]["hem"]["needed"] == 93 and 0.3 < ss["classes"]["hem"]["width"] < 0.4


def test_report_csv_and_lines(study):
    *_, rep = study
    rows = csv_rows(rep)
    assert len(rows) == 3 * 2 * 6  # three parts, two levels, six figures
    site = [r for r in rows if r["part"] == "report part, site calibration"]
    assert site and {r["profile"] for r in site} == {"lab A"}
    parsed = list(csv.DictReader(io.StringIO(to_csv(rep))))
    assert len(parsed) == len(rows) and parsed[0]["figure"] == "sensitivity"
    assert [r["figure"] for r in figure_table(rep["models"]["tiny_cnn"]["all"], "cell")][-1] == "ROC AUC"
    lines = summary_line(rep)
    assert "acceptance criteria NOT met" in lines[0] and "site calibration on" in lines[1]
    assert rep["images"] == {"all": 48, "hem": 48}

