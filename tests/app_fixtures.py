"""Fixtures for the dashboard tests: a weights folder like a shipped one, made with the tiny model.

Import the fixtures into a test module (``from app_fixtures import app_weights, app_env``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"


#: Test-role images of the fixture: (sample file, new name). Rotated copies under names without a
#: C-NMC patient id, so each is its own group and the leakage check of ``evaluate`` passes; two
#: single cells (C-NMC) and two smear fields (Aria) so that every level has both classes.
TEST_IMAGES = (("UID_18_1_1_all.png", "t1_cell_all.png"), ("UID_H20_37_1_hem.png", "t2_cell_hem.png"),
               ("WBC-Malignant-Pre-790.jpg", "t3_field_all.png"), ("WBC-Benign-400.jpg", "t4_field_hem.png"))


def _with_test_role(src: Path, dst: Path) -> Path:
    """``src``'s train/ and val/ folders, plus a test/ folder of rotated sample copies."""
    import cv2

    from leukemia_core.data.images import read_image
    from leukemia_core.samples import list_samples

    shutil.copytree(src, dst)
    by_name = {s.path.name: s for s in list_samples()}
    for name, new in TEST_IMAGES:
        s = by_name[name]
        d = dst / "test" / s.label
        d.mkdir(parents=True, exist_ok=True)
        rgb = cv2.rotate(read_image(s.path), cv2.ROTATE_90_CLOCKWISE)
        cv2.imwrite(str(d / new), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return dst


@pytest.fixture(scope="session")
def app_weights(trained_tiny, tmp_path_factory):
    """A copy of the tiny model's weights folder with its report (sets folder/train, folder/val and
    folder/test), the colour baseline's report, the reference figures and a Grad-CAM check;
    ``bench.json`` is left out on purpose ("not measured")."""
    from leukemia_core.evaluation.baseline import run_baseline
    from leukemia_core.evaluation.evaluate import evaluate

    wdir = tmp_path_factory.mktemp("app_weights")
    for f in Path(trained_tiny["weights_dir"]).iterdir():
        shutil.copy(f, wdir / f.name)
    data = str(_with_test_role(Path(trained_tiny["data"]), tmp_path_factory.mktemp("app_data") / "data"))
    evaluate("tiny_cnn", [data], out=wdir / "tiny_cnn.report.json", weights_dir=wdir)
    run_baseline([data], wdir / "colour_baseline.report.json")
    shutil.copy(ROOT / "model_weights" / "reference_published.json", wdir / "reference_published.json")
    (wdir / "cam_check.json").write_text(json.dumps(
        {"method": "gradcam", "models": {"tiny_cnn": {"n_images": 2, "mean_energy_on_cells": 0.61,
                                                      "median_energy_on_cells": 0.6}}}))
    return {"weights_dir": wdir, "data": Path(data)}


@pytest.fixture
def navigation_v2(monkeypatch):
    """Make AppTest reruns behave like the server with this app's ``pages/`` folder.

    AppTest resets Streamlit's process-wide "uses a pages/ directory" flag before every run, so a
    rerun after a widget change executes the current page's file alone (the legacy pages/ mode),
    without app.py's frame and sidebar. A real server sets the flag to False once st.navigation
    has run and keeps it; this fixture does the same after each reset.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture
def app_env(app_weights, monkeypatch, navigation_v2):
    """Environment of an app that offers only the tiny model, reading ``app_weights``."""
    monkeypatch.setenv("LEUKEMIA_WEIGHTS_DIR", str(app_weights["weights_dir"]))
    monkeypatch.setenv("LEUKEMIA_APP_MODELS", "tiny_cnn")
    monkeypatch.delenv("LEUKEMIA_DATA", raising=False)
    return app_weights


@pytest.fixture
def empty_env(tmp_path, monkeypatch, navigation_v2):
    """An app whose weights folder is empty (nothing trained or evaluated yet)."""
    wdir = tmp_path / "empty_weights"
    wdir.mkdir()
    monkeypatch.setenv("LEUKEMIA_WEIGHTS_DIR", str(wdir))
    monkeypatch.delenv("LEUKEMIA_APP_MODELS", raising=False)
    return wdir


@pytest.fixture
def lab_env(app_env, tmp_path, monkeypatch):
    """The app environment plus a lab folder (the samples as all/, hem/) and an empty profiles folder."""
    import shutil

    from leukemia_core.samples import list_samples

    lab = tmp_path / "lab"
    for s in list_samples():
        (lab / s.label).mkdir(parents=True, exist_ok=True)
        shutil.copy(s.path, lab / s.label / s.path.name)
    monkeypatch.setenv("LEUKEMIA_SITE_PROFILES", str(tmp_path / "profiles"))
    return {"lab": lab, "profiles": tmp_path / "profiles"}
