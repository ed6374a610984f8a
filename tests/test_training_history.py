"""training.history: the run's history file and the training time of a resumed run."""

import json

import pytest

from leukemia_core.training.history import earlier_seconds, write_json_list


def test_earlier_seconds_of_a_resumed_run(tmp_path):
    assert earlier_seconds(tmp_path / "none.json") == 0.0
    write_json_list(tmp_path / "h.json", [{"epoch": 1, "seconds": 524.2}, {"epoch": 2, "seconds": 393.1}, {"epoch": 3}])
    assert json.loads((tmp_path / "h.json").read_text())[0]["epoch"] == 1
    assert not (tmp_path / "h.tmp").exists()  # written through a temporary file, then renamed
    assert earlier_seconds(tmp_path / "h.json") == pytest.approx(917.3)
