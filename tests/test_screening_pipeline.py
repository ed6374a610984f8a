"""screen end to end on Ray (leukemia_core.screening.pipeline): a local instance on two CPUs, the
tiny model's ONNX export, the bundled samples and bad files: error rows, not a failed job; a rerun
skips every scored file; an interrupted run resumes without duplicates; the command; and a
two-node cluster simulated on this machine (ray.cluster_utils.Cluster). Ray's start-up takes
seconds on two cores, so one instance serves the module's local tests (all marked slow)."""

from __future__ import annotations

import shutil

import pytest
from onnx_fixtures import tiny_onnx  # noqa: F401  (fixture)

from leukemia_core.errors import LeukemiaCoreError
from leukemia_core.screening.pipeline import cpu_shares, default_actors, list_inputs, run_screen, shutdown
from leukemia_core.rows import read_table


@pytest.fixture(scope="module")
def archive(tmp_path_factory, samples):
    """Two folders of samples and one bad file (``folder_b/broken.png``)."""
    root = tmp_path_factory.mktemp("archive")
    for i, s in enumerate(samples):
        d = root / ("folder_a" if i % 2 else "folder_b")
        d.mkdir(exist_ok=True)
        shutil.copy(s.path, d / s.path.name)
    (root / "folder_b" / "broken.png").write_bytes(b"not an image")
    return root


@pytest.fixture(scope="module")
def local_ray():
    from leukemia_core.screening.pipeline import init_ray

    yield init_ray(num_cpus=2)
    shutdown()


def test_list_inputs(archive):
    assert len(list_inputs([str(archive)])) == _count(archive)
    assert [p.name for p in list_inputs([str(archive / "folder_a" / "*.jpg")])] == sorted(
        p.name for p in (archive / "folder_a").glob("*.jpg"))
    assert len(list_inputs([str(archive / "**" / "*.png"), str(archive / "folder_b")])) == len(
        set(archive.rglob("*.png")) | set((archive / "folder_b").iterdir()))
    with pytest.raises(LeukemiaCoreError, match="no such file"):
        list_inputs([str(archive / "nope")])
    with pytest.raises(LeukemiaCoreError, match="no image files"):
        list_inputs([str(archive / "*.none")])


def test_cpu_shares_leave_room_for_reading():
    assert default_actors(2, 1) == 1 and default_actors(1, 1) == 1 and default_actors(16, 1) == 8
    assert default_actors(16, 2) == 4 and default_actors(2, 4) == 1  # shared by the models, one at least
    assert cpu_shares(1, 1) == (0.5, 0.5)  # one CPU: both stages time-share it
    assert cpu_shares(2, 1) == (1.0, 1.0)
    for cpus in (2, 3, 16, 64):  # what the actors hold always leaves at least one read task a CPU
        n = default_actors(cpus, 1)
        read, actor = cpu_shares(cpus, n)
        assert cpus - n * actor >= read and actor <= 1.0
    assert cpu_shares(16, 8) == (1.0, 1.0) and 16 - 8 * 1.0 == 8  # half the CPUs keep reading


def _count(archive) -> int:
    """Files of the archive: the bundled samples (their number changes as samples are added) and the bad file."""
    return sum(1 for p in archive.rglob("*") if p.is_file())


def _rows(out):
    return read_table(out, "images").to_pandas(), read_table(out, "cells").to_pandas()


@pytest.mark.slow
def test_screen_scores_resumes_and_skips(archive, tiny_onnx, tmp_path, local_ray):
    wdir, out = tiny_onnx["weights_dir"], tmp_path / "out"
    first = run_screen([str(archive)], ["tiny_cnn"], out, wdir, batch_images=4, progress=False, limit=5)
    assert first.images == 5 and first.image_rows == 5  # "interrupted" after five images
    res = run_screen([str(archive)], ["tiny_cnn"], out, wdir, batch_images=4, progress=False)
    n = _count(archive)
    assert res.images == n and res.skipped == 5 and res.image_rows == n - 5 and res.error_images == 1
    images, cells = _rows(out)
    assert len(images) == n and images["path"].is_unique  # no image scored twice
    bad = images[images["path"].str.endswith("broken.png")].iloc[0]
    assert bad["error"] and bad["p_all"] != bad["p_all"]  # an error row (null P(ALL)), the job went on
    ok = images[images["error"] == ""]
    assert ok["backend"].eq("onnxruntime").all() and ok["weights_sha256"].eq(tiny_onnx["entry"]["weights_sha256"]).all()
    assert len(cells) == ok.loc[ok["notes"].str.contains("no white cell") == False, "n_cells"].sum()  # noqa: E712
    again = run_screen([str(archive)], ["tiny_cnn"], out, wdir, progress=False)
    assert again.skipped == n and again.image_rows == 0  # everything scored with these weights


@pytest.mark.slow
def test_screen_command_writes_tables_and_summary(archive, tiny_onnx, tmp_path, local_ray, capsys):
    from leukemia_core.cli import main

    out = tmp_path / "o"
    code = main(["-q", "screen", str(archive / "folder_b"), "--model", "tiny_cnn", "--out", str(out), "--weights-dir",
                 str(tiny_onnx["weights_dir"])])
    assert code == 1  # the broken file
    text = capsys.readouterr().out
    assert "tables ->" in text and (out / "summary.csv").is_file()
    import pandas as pd

    s = pd.read_csv(out / "summary.csv")
    assert s.loc[0, "errors"] == 1 and s.loc[0, "images"] == len(list((archive / "folder_b").iterdir()))


@pytest.mark.slow
def test_screen_on_a_two_node_cluster(archive, tiny_onnx, tmp_path, local_ray):
    import ray
    from ray.cluster_utils import Cluster

    shutdown()  # the module's local instance; the next test would start its own
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        res = run_screen([str(archive)], ["tiny_cnn"], tmp_path / "c", tiny_onnx["weights_dir"],
                         address=cluster.address, batch_images=2, progress=False)
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        assert res.image_rows == _count(archive) and res.error_images == 1
    finally:
        shutdown()
        cluster.shutdown()
