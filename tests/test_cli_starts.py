"""``starts`` through the command line: each start listed with its status and source; a bad archive
is one line and exit 2; ``train --init`` with an unbuilt start says how to build it."""

from __future__ import annotations

import shutil

from leukemia_core.cli import main


def test_starts_lists_each_with_its_status_and_source(tmp_path, capsys):
    assert main(["starts", "--weights-dir", str(tmp_path / "w")]) == 0
    out = capsys.readouterr().out
    assert "nsfwjs-inception-v3 (train --model inception_v3 --init nsfwjs-inception-v3)" in out
    assert "not built on this machine" in out and "stem through mixed5" in out


def test_building_from_a_wrong_archive_is_one_line(tmp_path, capsys):
    fake = tmp_path / "nsfwjs-4.4.0.tgz"
    fake.write_bytes(b"x")
    assert main(["starts", "--build", "--archive", str(fake), "--weights-dir", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert "not the pinned" in err and "Traceback" not in err


def test_training_from_an_unbuilt_start_names_the_build_command(tmp_path, capsys, monkeypatch, samples):
    monkeypatch.setenv("LEUKEMIA_WEIGHTS_DIR", str(tmp_path / "w"))  # its -pretrained folder is empty
    data = tmp_path / "data"
    for s in samples:
        (data / s.label).mkdir(parents=True, exist_ok=True)
        shutil.copy(s.path, data / s.label)
    assert main(["train", "--model", "inception_v3", "--init", "nsfwjs-inception-v3", "--data", str(data),
                 "--run-dir", str(tmp_path / "run"), "--weights-dir", str(tmp_path / "out"), "--epochs", "1",
                 "--cache-dir", ""]) == 2
    err = capsys.readouterr().err
    assert "starts --build nsfwjs-inception-v3" in err and "Traceback" not in err
