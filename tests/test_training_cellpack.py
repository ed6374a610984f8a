"""training.cellpack and ``cells-pack`` / ``train --cells-pack``: the cells a run would cut, in one
file that a run on a machine without the datasets trains on, with the pack named in the manifest."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from leukemia_core.cli import main
from leukemia_core.errors import LeukemiaCoreError
from leukemia_core.training.cellpack import read_pack
from leukemia_core.training.train import TrainConfig, load_cells


def _folder(tmp_path, samples):
    """A folder of the samples in train/ and val/, each with both classes."""
    for i, s in enumerate(samples):
        d = tmp_path / "data" / ("val" if i % 3 == 2 else "train") / s.label
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(s.path, d)
    return tmp_path / "data"


def test_a_pack_holds_the_cells_a_run_cuts_and_a_run_trains_on_it(tmp_path, samples, capsys):
    data = _folder(tmp_path, samples)
    pack = tmp_path / "dev" / "cells.npz"
    assert main(["cells-pack", "--model", "tiny_cnn", "--data", str(data), "--cache-dir", "",
                 "--out", str(pack)]) == 0
    assert "mean absolute pixel error" in capsys.readouterr().out
    cfg = TrainConfig(model="tiny_cnn", data=[str(data)], cache_dir=None)
    train_recs, val_recs, tr, va = load_cells(cfg, 32)
    cells, meta = read_pack(pack, {"input_size": 32, "cell_share": cfg.cell_share, "mask_outside": True})
    (p_recs, p_tr), (p_val_recs, p_va) = cells["train"], cells["val"]
    assert p_recs == train_recs and p_val_recs == val_recs  # the same images, split and groups
    assert np.array_equal(p_tr.y, tr.y) and np.array_equal(p_tr.image_index, tr.image_index)
    err = np.abs(p_tr.x.astype(int) - tr.x).mean()  # JPEG, quality 90, on 32-px crops
    assert p_tr.x.shape == tr.x.shape and 0 < err < 3
    assert np.array_equal(p_va.y, va.y) and meta["data"] == [str(data)] and len(meta["sha256"]) == 64
    assert 0 < meta["jpeg_mean_abs_error"] < 3
    # a run from the pack: no dataset folder needed; the manifest names the pack and its datasets
    shutil.move(str(data), str(tmp_path / "gone"))
    assert main(["train", "--model", "tiny_cnn", "--cells-pack", str(pack), "--epochs", "1", "--steps-per-epoch", "1",
                 "--batch-size", "4", "--run-dir", str(tmp_path / "run"), "--weights-dir", str(tmp_path / "w"),
                 "--verbose", "0"]) == 0
    tr_info = json.loads((tmp_path / "w" / "tiny_cnn.manifest.json").read_text())["training"]
    assert tr_info["data"] == [str(data)] and tr_info["cells_pack"]["sha256"] == meta["sha256"]
    assert tr_info["train_cells"] == int((~p_tr.border).sum())
    # refusals: a pack cut otherwise, both or neither of --data and --cells-pack, not a pack
    with pytest.raises(LeukemiaCoreError, match="cut otherwise: mask_outside True"):
        read_pack(pack, {"input_size": 32, "cell_share": cfg.cell_share, "mask_outside": False})
    for extra in (["--data", str(tmp_path / "gone")], []):
        args = ["train", "--model", "tiny_cnn", "--weights-dir", str(tmp_path / "w2")]
        assert main(args + (["--cells-pack", str(pack)] if extra else []) + extra) == 2
        assert "one of them" in capsys.readouterr().err
    (tmp_path / "bad.npz").write_bytes(b"no")
    with pytest.raises(LeukemiaCoreError, match="not a cells pack"):
        read_pack(tmp_path / "bad.npz", {})


#: Runs ``-m MODULE ARGS`` or ``-c CODE`` as python would, with the packages the GPU machine lacks
#: made to fail on import (its image holds JAX but no TensorFlow, SQLAlchemy, Streamlit, Ray, Plotly).
DEVICE_PYTHON = r'''
import importlib.abc, os, runpy, sys

ABSENT = ("tensorflow", "tf_keras_vis", "sqlalchemy", "alembic", "streamlit", "ray", "plotly", "tf2onnx")


class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ABSENT:
            raise ModuleNotFoundError(f"No module named {name!r} (not on the GPU machine)", name=name)
        return None


sys.meta_path.insert(0, Absent())
flag, arg, *rest = sys.argv[1:]
sys.argv = [arg, *rest]
sys.path[0] = os.getcwd()  # as python -m and -c put the current folder first
if flag == "-c":
    exec(compile(arg, "<string>", "exec"))
else:
    runpy.run_module(arg, run_name="__main__", alter_sys=True)
'''


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed: the JAX path is untested")
def test_the_gpu_call_rehearsed_here_trains_on_jax_and_hands_back_checked_weights(tmp_path, samples):
    root = Path(__file__).resolve().parents[1]
    pack = tmp_path / "cells.npz"
    assert main(["cells-pack", "--model", "tiny_cnn", "--data", str(_folder(tmp_path, samples)), "--cache-dir", "",
                 "--out", str(pack)]) == 0
    wrapper = tmp_path / "device_python.py"
    wrapper.write_text(DEVICE_PYTHON)
    env = {**os.environ, "DEVICE_LOCAL": "1", "PYTHON": f"{sys.executable} {wrapper}", "OUT": str(tmp_path / "out")}
    run = subprocess.run(["bash", str(root / "tools" / "device_train.sh"), str(pack),
                          "tiny_cnn:--epochs 1 --steps-per-epoch 1 --batch-size 4"],
                         cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "tiny_cnn: " in run.stdout and " s wall" in run.stdout
    fetch = subprocess.run(["bash", str(root / "tools" / "device_fetch.sh"), str(tmp_path / "out"),
                            str(tmp_path / "w")], capture_output=True, text=True, timeout=60)
    assert fetch.returncode == 0 and "sha256 checked" in fetch.stdout, fetch.stderr
    man = json.loads((tmp_path / "w" / "tiny_cnn.manifest.json").read_text())
    assert man["backend"] == "jax" and man["training"]["cells_pack"]["file"] == "cells.npz"
    # a part altered in transit is refused
    part = next((tmp_path / "out").glob("tiny_cnn.weights.npz.00"))
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    bad = subprocess.run(["bash", str(root / "tools" / "device_fetch.sh"), str(tmp_path / "out"),
                          str(tmp_path / "w2")], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "manifest says" in bad.stderr
