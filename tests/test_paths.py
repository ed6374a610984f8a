"""paths: the project root and the one weights-folder resolver ($LEUKEMIA_WEIGHTS_DIR or model_weights/)."""

from pathlib import Path

from leukemia_core.paths import PROJECT_ROOT, WEIGHTS_ENV, default_weights_dir, weights_dir_or_default


def test_project_root_holds_the_package_and_the_app():
    assert PROJECT_ROOT.is_absolute()
    assert (PROJECT_ROOT / "leukemia_core" / "paths.py").is_file()
    assert (PROJECT_ROOT / "app.py").is_file()


def test_default_weights_dir_follows_the_environment(monkeypatch, tmp_path):
    assert WEIGHTS_ENV == "LEUKEMIA_WEIGHTS_DIR"
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    assert default_weights_dir() == PROJECT_ROOT / "model_weights"
    monkeypatch.setenv(WEIGHTS_ENV, "")  # empty: as if unset
    assert default_weights_dir() == PROJECT_ROOT / "model_weights"
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "w"))
    assert default_weights_dir() == tmp_path / "w"


def test_weights_dir_or_default(monkeypatch, tmp_path):
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "env"))
    for empty in (None, ""):
        assert weights_dir_or_default(empty) == tmp_path / "env"
    assert weights_dir_or_default(str(tmp_path / "given")) == tmp_path / "given"
    got = weights_dir_or_default(tmp_path / "given")
    assert isinstance(got, Path) and got == tmp_path / "given"


def test_artefact_paths_follow_the_one_table(monkeypatch, tmp_path):
    from leukemia_core.paths import ARTEFACT_SUFFIXES, artefact_file, artefact_path, exports_dir

    assert ARTEFACT_SUFFIXES["report"] == ".report.json" and ARTEFACT_SUFFIXES["weights"] == ".weights.npz"
    assert artefact_file("proposed", "calibration") == "proposed.calibration.json"
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "env"))
    assert artefact_path("m", "history") == tmp_path / "env" / "m.history.json"
    assert artefact_path("m", "onnx", tmp_path) == tmp_path.parent / f"{tmp_path.name}-onnx" / "m.onnx"
    assert exports_dir(PROJECT_ROOT / "model_weights") == PROJECT_ROOT / "model_weights-onnx"


def test_a_data_folder_is_named_by_its_last_two_parts():
    from leukemia_core.paths import folder_label

    assert folder_label("/home/lab/shared/data/aria_all/Original") == "aria_all/Original"
    assert folder_label("aria_all") == "aria_all"


def test_a_weights_folder_is_named_without_its_path(tmp_path, monkeypatch):
    from leukemia_core.paths import PROJECT_ROOT, WEIGHTS_ENV, weights_dir_label

    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    assert weights_dir_label() == "the project's model_weights/ folder"
    assert weights_dir_label(PROJECT_ROOT / "model_weights") == "the project's model_weights/ folder"
    assert weights_dir_label(tmp_path) == "the weights folder"
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    assert weights_dir_label() == f"the weights folder {WEIGHTS_ENV} names"
    assert str(tmp_path) not in weights_dir_label() + weights_dir_label(tmp_path / "other")
