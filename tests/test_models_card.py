"""models.card: one resolver of a model's facts (paths, sha256, input config, calibration, thresholds)
and of the thresholds a stored report was made with."""

import json

import pytest

from leukemia_core.data.preprocess import CELL_SHARE
from leukemia_core.errors import UnknownModelError, WeightsError
from leukemia_core.models.calibration import DEFAULT_THRESHOLD, Calibration
from leukemia_core.models.card import ModelCard, Thresholds, report_thresholds, resolve_card
from leukemia_core.paths import (ARTEFACT_SUFFIXES, PROJECT_ROOT, WEIGHTS_ENV, artefact_file, artefact_path,
                                  exports_dir)

NAME = "tiny_cnn"  # registered for tests: input 32, CAM layer cam_conv


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _manifest(wdir, **extra):
    _write(wdir / f"{NAME}.manifest.json", {"name": NAME, "input_size": 48, "weights_sha256": "w" * 64, **extra})


def _calibration(wdir, **kw):
    cal = Calibration(a=2.0, b=0.1, threshold=0.4, refer_half_width=0.05, fitted=True,
                      info={"weights_sha256": "w" * 64}, field_threshold=0.6, **kw)
    _write(wdir / f"{NAME}.calibration.json", cal.to_json())


def _report(wdir, **kw):
    rep = {"model": NAME, "threshold": 0.3, "field_threshold": 0.55,
           "calibration": {"threshold": 0.35, "refer_half_width": 0.02, "fitted": True, "field_threshold": 0.5}}
    rep.update(kw)
    _write(wdir / f"{NAME}.report.json", rep)
    return rep


def test_artefact_names_are_spelled_once():
    assert artefact_file("m", "weights") == "m.weights.npz" and artefact_file("m", "onnx") == "m.onnx"
    assert set(ARTEFACT_SUFFIXES) == {"weights", "manifest", "calibration", "report", "onnx", "onnx_record", "history"}
    with pytest.raises(KeyError):
        artefact_file("m", "nope")


def test_card_paths_sha_and_input_config(tmp_path):
    _manifest(tmp_path, cell_share=0.6, onnx={"file": "stale.onnx", "sha256": "s" * 64})  # not read from here
    _write(exports_dir(tmp_path) / f"{NAME}.onnx.json", {"file": "other.onnx", "sha256": "o" * 64})
    card = resolve_card(NAME, tmp_path)
    assert isinstance(card, ModelCard)
    p = card.paths
    assert (p.weights, p.manifest, p.calibration, p.report, p.history) == tuple(
        tmp_path / f"{NAME}{s}" for s in (".weights.npz", ".manifest.json", ".calibration.json", ".report.json",
                                          ".history.json"))
    assert p.onnx == exports_dir(tmp_path) / "other.onnx"  # the record's file, beside the weights folder
    assert card.sha256 == {"weights": "w" * 64, "onnx": "o" * 64}
    assert (card.input_size, card.cell_share, card.cam_layer) == (48, 0.6, "cam_conv")
    assert card.input_range == "RGB float32 in [0, 1]"
    with pytest.raises(AttributeError):
        card.name = "other"  # frozen


def test_precedence_calibration_file_beats_the_report(tmp_path):
    _manifest(tmp_path)
    _calibration(tmp_path)
    _report(tmp_path)
    card = resolve_card(NAME, tmp_path)
    assert card.decision.source == "calibration file"
    assert (card.threshold, card.field_threshold) == (0.4, 0.6)
    assert card.refer_band == pytest.approx((0.35, 0.45))
    assert card.calibration.fitted and card.calibration.a == 2.0
    assert card.calibration_matches_weights


def test_precedence_report_then_default_without_calibration(tmp_path):
    _manifest(tmp_path)
    _report(tmp_path)
    card = resolve_card(NAME, tmp_path)
    assert card.decision.source == "report"
    assert card.threshold == 0.3 and card.field_threshold == 0.55  # the report's top-level values
    assert card.refer_band == pytest.approx((0.28, 0.32))  # its calibration's half-width, around its threshold
    assert not card.calibration.fitted  # probabilities stay raw: no calibration file
    (tmp_path / f"{NAME}.report.json").unlink()
    card = resolve_card(NAME, tmp_path)
    assert card.decision.source == "default"
    assert (card.threshold, card.field_threshold, card.refer_band) == (DEFAULT_THRESHOLD, None, None)
    # a report passed in is used as it is (not read again)
    assert resolve_card(NAME, tmp_path, report={"threshold": 0.7}).threshold == 0.7


def test_unreadable_report_counts_as_absent(tmp_path):
    _manifest(tmp_path)
    (tmp_path / f"{NAME}.report.json").write_text("{ not json")
    assert resolve_card(NAME, tmp_path).threshold == DEFAULT_THRESHOLD


def test_missing_manifest(tmp_path):
    card = resolve_card(NAME, tmp_path)
    assert card.manifest is None and card.sha256 == {}
    assert (card.input_size, card.cell_share) == (32, CELL_SHARE)  # the registry's and the project's defaults
    assert card.paths.onnx == tmp_path.parent / f"{tmp_path.name}-onnx" / f"{NAME}.onnx"
    with pytest.raises(WeightsError, match="no manifest"):
        resolve_card(NAME, tmp_path, require_manifest=True)
    with pytest.raises(UnknownModelError):
        resolve_card("no_such_model", tmp_path)


def test_calibration_fitted_on_other_weights_is_seen(tmp_path):
    _manifest(tmp_path, weights_sha256="x" * 64)
    _calibration(tmp_path)
    assert not resolve_card(NAME, tmp_path).calibration_matches_weights


def test_env_var_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    _manifest(tmp_path)
    _calibration(tmp_path)
    card = resolve_card(NAME)
    assert card.weights_dir == tmp_path and card.threshold == 0.4
    assert artefact_path(NAME, "report") == tmp_path / f"{NAME}.report.json"
    monkeypatch.delenv(WEIGHTS_ENV)
    assert resolve_card(NAME).weights_dir == PROJECT_ROOT / "model_weights"


def test_report_thresholds_precedence():
    rep = {"threshold": 0.3, "field_threshold": 0.55,
           "calibration": {"threshold": 0.35, "field_threshold": 0.5, "refer_half_width": 0.02, "fitted": True}}
    t = report_thresholds(rep)
    assert (t.threshold, t.stated_threshold, t.field_threshold, t.refer_half_width) == (0.3, 0.3, 0.55, 0.02)
    assert t.refer_band == pytest.approx((0.28, 0.32))
    # an image of several cells: field threshold moved by (cell threshold - fitted threshold)
    assert t.image_threshold(3) == pytest.approx(0.55 + 0.3 - 0.35)
    assert t.image_threshold(3, 0.45) == pytest.approx(0.55 + 0.45 - 0.35)
    assert t.image_threshold(1, 0.45) == 0.45
    # without top-level values: the calibration's
    t = report_thresholds({"calibration": rep["calibration"]})
    assert (t.threshold, t.field_threshold) == (0.35, 0.5)
    # an unfitted calibration has no band; a site summary's top-level half-width counts
    assert report_thresholds({"threshold": 0.4, "calibration": {"refer_half_width": 0.1}}).refer_band is None
    site = report_thresholds({"threshold": 0.4, "field_threshold": None, "refer_half_width": 0.1})
    assert site.refer_band == pytest.approx((0.3, 0.5)) and site.field_threshold is None
    assert site.image_threshold(5) == 0.4  # no field rule: the cell threshold


def test_report_thresholds_defaults():
    for empty in (None, {}, "not a dict"):
        t = report_thresholds(empty)
        assert t == Thresholds() or (t.threshold, t.stated_threshold) == (DEFAULT_THRESHOLD, None)
        assert t.threshold == DEFAULT_THRESHOLD and t.stated_threshold is None and t.refer_band is None
    assert report_thresholds({"threshold": 0.0}).threshold == 0.0  # a stated 0 is not "absent"


def test_thresholds_refer_the_cells_inside_the_band_around_the_threshold_in_use():
    t = Thresholds(threshold=0.4, refer_half_width=0.1)
    p = [0.25, 0.31, 0.5, 0.55, 0.9]
    assert t.refers(p).tolist() == [False, True, True, False, False]
    assert t.refers(p, 0.6).tolist() == [False, False, True, True, False]  # moved with the slider
    assert not Thresholds(threshold=0.4).refers(p).any()  # no band: nobody is referred
    assert t.refers([]).shape == (0,)
