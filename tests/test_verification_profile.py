"""leukemia_core.verification.profile: fitting, storing and refusing site profiles."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from verification_fixtures import SHA, shifted_lab, stored_calibration

from leukemia_core.inference import LoadedModel
from leukemia_core.models.ood import is_outside
from leukemia_core.verification.profile import (
    PROFILE_FORMAT,
    ProfileError,
    SiteProfile,
    apply_profile,
    default_profiles_dir,
    fit_profile,
    list_profiles,
    load_profile,
    save_profile,
    site_reference,
)
from leukemia_core.verification.study import grouped_split, level_arrays


@pytest.fixture(scope="module")
def fitted():
    lab, stored = shifted_lab(), stored_calibration()
    fit, rep = grouped_split(lab.records, 0.5, 0)
    return lab, stored, fit, rep, fit_profile(lab, fit, "Lab A / haematology", stored, ["/data/lab"], 0)


def test_fit_profile_corrects_the_shifted_threshold_on_held_out_images(fitted):
    lab, stored, fit, rep, prof = fitted
    assert prof.model == "tiny_cnn" and prof.weights_sha256 == SHA and prof.calibration.fitted
    assert prof.fitted_on["images"] == {"all": 24, "hem": 24} and prof.fitted_on["cells"]["all"] == 72
    part = lab.subset(rep)

    def ba(cal):
        y, _, called, _ = level_arrays(part, cal)["cell"]
        return (called[y == 1].mean() + (~called[y == 0]).mean()) / 2

    assert ba(stored) < 0.6 and ba(prof.calibration) > 0.85
    assert prof.calibration.field_threshold is not None  # three cells per image: a field threshold


def test_site_colour_reference_takes_the_lab_stain_in(fitted):
    lab, stored, fit, rep, prof = fitted
    held_out = [lab.crops[i] for i in rep]
    assert all(is_outside(stored.reference, c) for c in held_out)
    assert not any(is_outside(prof.calibration.reference, c) for c in held_out)
    ref = prof.calibration.reference
    assert ref["threshold"] == stored.reference["threshold"] and ref["components"][-1]["site"]
    assert len(ref["components"]) == len(stored.reference["components"]) + 1
    again = site_reference(ref, np.concatenate(held_out))  # refitting replaces the site part, keeps the rest
    assert len(again["components"]) == len(ref["components"])
    alone = site_reference(None, np.concatenate(held_out))
    assert len(alone["components"]) == 1 and alone["threshold"] > 0
    assert site_reference(stored.reference, np.concatenate(held_out)[:3]) == stored.reference


def test_save_load_round_trip_and_file_name(fitted, tmp_path):
    prof = fitted[-1]
    assert prof.file_name == "tiny_cnn.Lab_A_haematology.profile.json"
    path = save_profile(prof, tmp_path / prof.file_name)
    assert json.loads(path.read_text())["format"] == PROFILE_FORMAT
    back = load_profile(path, "tiny_cnn", SHA)
    assert back.calibration == prof.calibration and back.name == prof.name
    assert [p for p, _ in list_profiles(tmp_path, "tiny_cnn")] == [path]
    assert list_profiles(tmp_path, "proposed") == [] and list_profiles(tmp_path / "none") == []


def test_refusals(fitted, tmp_path):
    prof = fitted[-1]
    path = save_profile(prof, tmp_path / "p.profile.json")
    with pytest.raises(ProfileError, match="fitted on other weights"):
        load_profile(path, "tiny_cnn", "cd" * 32)
    with pytest.raises(ProfileError, match="is for model tiny_cnn, not proposed"):
        load_profile(path, "proposed", SHA)
    with pytest.raises(ProfileError, match="no such site profile"):
        load_profile(tmp_path / "missing.json")
    (tmp_path / "bad.profile.json").write_text("{not json")
    with pytest.raises(ProfileError, match="unreadable site profile"):
        load_profile(tmp_path / "bad.profile.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ProfileError, match="not a site profile"):
        load_profile(tmp_path / "other.json")
    listed = dict(list_profiles(tmp_path))
    assert isinstance(listed[tmp_path / "bad.profile.json"], str)  # listed with its error, not raised


def test_apply_profile_replaces_only_the_calibration(fitted):
    prof = fitted[-1]
    loaded = LoadedModel("tiny_cnn", object(), {"weights_sha256": SHA}, 32)
    used = apply_profile(loaded, prof)
    assert used.calibration is prof.calibration and used.model is loaded.model
    assert loaded.calibration is not prof.calibration  # the shared model is left alone
    with pytest.raises(ProfileError):
        apply_profile(replace(loaded, manifest={"weights_sha256": "00" * 32}), prof)
    with pytest.raises(ProfileError):
        apply_profile(replace(loaded, manifest={}), prof)


def test_from_json_refuses_incomplete_and_default_dir(monkeypatch, tmp_path):
    with pytest.raises(ProfileError, match="incomplete"):
        SiteProfile.from_json({"format": PROFILE_FORMAT, "name": "x"})
    monkeypatch.setenv("LEUKEMIA_SITE_PROFILES", str(tmp_path))
    assert default_profiles_dir() == tmp_path


def test_profile_summary_and_label_say_what_a_site_model_is_and_how_it_did():
    from leukemia_core.models.calibration import Calibration
    from leukemia_core.verification.profile import SiteProfile, profile_label, profile_summary

    study = {"held_out": {"cell": {"roc_auc": {"value": 0.912}, "balanced_accuracy": {"value": 0.85}}},
             "split": {"fit_images": 40, "report_images": 38}}
    site = SiteProfile("lab A", "densenet121", "ab" * 32, Calibration(), head={"w": [0.1], "b": 0.0},
                       base={"kind": "encoder"}, study=study, accepted=False)
    assert profile_label(site) == "lab A (site model on the densenet121 encoder) [FAILED acceptance]"
    text = profile_summary(site)
    assert "pretrained densenet121 encoder" in text and "fitted on 40" in text and "ROC AUC 0.91" in text
    assert "NOT met" in text and "FAILED" in site.status
    plain = SiteProfile("lab B", "proposed", "cd" * 32, Calibration())
    assert profile_label(plain) == "lab B" and "calibration and thresholds" in profile_summary(plain)
    assert not plain.is_site_model and plain.status.startswith("site calibration")
    assert SiteProfile.from_json(site.to_json()) == site
