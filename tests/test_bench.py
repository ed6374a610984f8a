"""The speed benchmark's report (fields and arithmetic, never timing thresholds), its layout (one
concern per module, no private imports, the app never started by the core library), the app
cold-start tool's report handling, and that the speed-ups it led to give the same outputs as the
plain versions."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx_fixtures import tiny_onnx  # noqa: F401  (fixture)

from leukemia_core import bench

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "leukemia_core" / "bench"
MODEL_FIGURES = ("predict_ms", "floor_ms", "gradcam_ms", "gradcam_naive_ms", "batch_img_s", "batch_floor_img_s",
                 "train_img_s", "train_memory_img_s", "cell_pipeline_cells_s", "cell_forward_cells_s")


def _bench_app():
    spec = importlib.util.spec_from_file_location("bench_app", ROOT / "tools" / "bench_app.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_report_on_the_tiny_model(trained_tiny, tmp_path, capsys):
    out = tmp_path / "BENCH.json"
    returned = bench.run_bench(out, ["tiny_cnn"], trained_tiny["weights_dir"], repeats=2, train_steps=1)
    report = json.loads(out.read_text())
    assert report["models"].keys() == returned["models"].keys() == {"tiny_cnn"}

    m = report["machine"]
    assert m["cpu_model"] and m["logical_cores"] >= 1 and m["tensorflow"].startswith("2.")

    assert report["settings"]["weights_dir"] == "the weights folder"  # named, not this machine's path
    r = report["models"]["tiny_cnn"]
    assert r["weights"] == "shipped" and r["input_size"] == trained_tiny["manifest"]["input_size"]
    for k in MODEL_FIGURES:
        assert isinstance(r[k], float) and r[k] > 0, k
    # every ratio is computed from the two measured figures it names
    assert r["predict_ratio"] == pytest.approx(r["predict_ms"] / r["floor_ms"], rel=1e-3)
    assert r["gradcam_ratio"] == pytest.approx(r["gradcam_ms"] / r["floor_ms"], rel=1e-3)
    assert r["batch_ratio"] == pytest.approx(r["batch_img_s"] / r["batch_floor_img_s"], rel=1e-3)
    assert r["pipeline_ratio"] == pytest.approx(r["train_img_s"] / r["train_memory_img_s"], rel=1e-3)
    assert r["cell_pipeline_ratio"] == pytest.approx(r["cell_pipeline_cells_s"] / r["cell_forward_cells_s"],
                                                     rel=1e-3)
    assert set(r["targets_met"]) == set(bench.report.MODEL_TARGETS)
    p = r["profile"]
    assert p["prepare_ms"] > 0 and p["forward_ms"] > 0 and p["cam_pass_ms"] > 0
    assert p["preprocess_cnmc"]["image"] == "450x450" and p["preprocess_cnmc"]["denoise_ms"] > 0

    # the cell pipeline ran on every bundled sample; the Aria fields hold most of the cells
    c = p["cells"]
    assert c["images"] == sum(d["images"] for d in c["per_dataset"].values()) > 0
    assert c["cells"] == sum(d["cells"] for d in c["per_dataset"].values())
    assert c["per_dataset"]["aria"]["cells"] > c["per_dataset"]["aria"]["images"]
    assert all(v > 0 for v in c["stage_ms"].values()) and c["forward_stacked_cells_s"] > 0
    f = report["cell_finder"]
    assert f["images"] == c["images"] and f["cells"] > 0
    assert f["finder_cells_s"] / f["finder_img_s"] == pytest.approx(f["cells"] / f["images"], rel=1e-2)
    sc = report["shared_cells"]  # one model here: found once for it against once per model
    assert sc["models"] == 1 and sc["crop_keys"] == [[r["input_size"], r["cell_share"], r["mask_outside"] is True]]
    assert sc["images"] == c["images"] and sc["shared_cells_img_s"] > 0 and sc["per_model_cells_img_s"] > 0
    assert sc["shared_cells_speedup"] == pytest.approx(sc["shared_cells_img_s"] / sc["per_model_cells_img_s"],
                                                       rel=1e-2)

    # training throughput on cell crops: balanced_batches + augmentation, in-memory without
    t = p["train"]
    assert t["cells"] == c["cells"] and t["train_batch"] == 32
    assert t["step_ms_pipeline"]["n"] >= 1 and t["step_ms_memory"]["n"] >= 1
    assert t["train_memory_augmented_img_s"] > 0 and t["batches_alone_ms_per_batch"] > 0

    mem = report["memory"]
    assert mem["rss_mb"] > 0 and mem["models_loaded"] == ["tiny_cnn"] and "tiny_cnn" in mem["per_model"]
    assert mem["per_model"]["tiny_cnn"]["first_cells_and_gradcam_s"] > 0
    assert report["app"]["cold_start_s"] is None and "tools/bench_app.py" in report["app"]["reason"]
    assert report["targets_met"]["cold_start_s"] is None
    assert set(report["targets_met"]) == set(bench.TARGETS)
    missed = {k for k, v in report["targets_met"].items() if v is False}
    assert set(report["missed_because"]) == missed  # every miss comes with its profile figures

    printed = capsys.readouterr().out
    assert "tiny_cnn" in printed and "targets:" in printed and "cell finder alone" in printed and "found once" in printed
    assert str(out) in printed


def test_models_without_weights_are_benchmarked_random_and_say_so(tmp_path):
    loaded, weights, note, seconds = bench.get_model("tiny_cnn", tmp_path / "none", tmp_path)
    assert weights == "random" and "random weights" in note and seconds > 0
    assert loaded.input_size == 32  # the spec's default without a manifest
    # exported so that a fresh process (memory figure, app) can load the same architecture
    from leukemia_core.inference import load_model

    again = load_model("tiny_cnn", tmp_path)
    for a, b in zip(loaded.model.get_weights(), again.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)  # float16 storage of large arrays


# ----------------------------------------------------------------- layout: one concern per module

def test_bench_modules_are_small_and_import_nothing_private():
    files = sorted(BENCH_DIR.glob("*.py"))
    assert {f.stem for f in files} >= {"__init__", "machine", "inference", "cells", "training", "memory"}
    for f in files:
        assert len(f.read_text().splitlines()) <= 300, f.name
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom):
                inside = node.level == 1  # a sibling in leukemia_core.bench
                assert inside or not any(a.name.startswith("_") for a in node.names), (f.name, node.module)
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                assert isinstance(node.value, ast.Name) and node.value.id == "self", (f.name, node.attr)


def test_the_core_bench_never_starts_the_app():
    for f in BENCH_DIR.glob("*.py"):
        text = f.read_text().lower()
        assert "playwright" not in text and "streamlit run" not in text and "chromium" not in text, f.name
    code = ("import sys, pkgutil, importlib, leukemia_core.bench as b\n"
            "for m in pkgutil.iter_modules(b.__path__): importlib.import_module('leukemia_core.bench.' + m.name)\n"
            "print(sorted(k for k in ('streamlit', 'playwright', 'tensorflow') if k in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"  # nothing heavy, and nothing of the app, at import


def test_cli_bench_runs_the_app_tool_after_the_core_figures(monkeypatch, tmp_path):
    from leukemia_core import cli

    calls = []
    monkeypatch.setattr(bench, "run_bench", lambda out, *a, **k: calls.append(("core", out, a, k)))
    monkeypatch.setattr(subprocess, "run", lambda cmd, *a, **k: calls.append(("tool", cmd))
                        or subprocess.CompletedProcess(cmd, 0))
    out = tmp_path / "b.json"
    assert cli.main(["bench", "--out", str(out), "--model", "tiny_cnn", "--repeats", "2"]) == 0
    assert calls[0][0] == "core" and calls[0][2][0] == ["tiny_cnn"] and calls[0][3]["repeats"] == 2
    assert calls[1][0] == "tool" and calls[1][1][1].endswith("tools/bench_app.py") and str(out) in calls[1][1]
    calls.clear()
    assert cli.main(["bench", "--out", str(out), "--no-app"]) == 0
    assert [c[0] for c in calls] == ["core"]


# ----------------------------------------------------------------- the app's cold start (tools/bench_app.py)

def test_cold_start_without_app_is_null_with_a_reason(tmp_path):
    res = _bench_app().measure_cold_start(tmp_path, project_root=tmp_path)
    assert res["cold_start_s"] is None and "app.py" in res["reason"]


def test_the_baseline_ratio_is_none_where_either_figure_is_missing():
    tool = _bench_app()
    got = tool.with_baseline({"cold_start_s": 3.0, "first_map_s": None}, {"bare_page_s": 1.5})
    assert (got["cold_start_ratio"], got["first_map_ratio"], got["bare_page_s"]) == (2.0, None, 1.5)
    got = tool.with_baseline({"cold_start_s": 3.0}, {"bare_page_s": None, "reason": "no browser"})
    assert got["cold_start_ratio"] is None and got["bare_page_reason"] == "no browser"


def _report(models):
    return {"machine": {}, "settings": {"models": ["tiny_cnn"], "weights_dir": "the weights folder"},
            "models": models,
            "memory": {"rss_mb": 900.0, "imports_s": 4.0,
                       "per_model": {"tiny_cnn": {"load_s": 0.1, "first_cells_and_gradcam_s": 0.3,
                                                  "rss_mb_after": 900.0}}},
            "app": {"cold_start_s": None, "reason": bench.APP_NOT_MEASURED}}


def test_bench_app_writes_its_figures_into_the_same_report(trained_tiny, tmp_path, monkeypatch):
    tool = _bench_app()
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(_report({})))
    seen = {}

    def fake(wdir, timeout, app_models=None):
        seen.update(wdir=wdir, app_models=app_models)
        return {"cold_start_s": 12.5, "method": "fake", "server_ready_s": 2.0}

    monkeypatch.setattr(tool, "measure_cold_start", fake)
    monkeypatch.setattr(tool, "measure_bare_page", lambda timeout: {"bare_page_s": 2.5})
    assert tool.main(["--bench", str(path), "--weights-dir", str(trained_tiny["weights_dir"])]) == 0
    report = json.loads(path.read_text())
    assert seen["wdir"] == trained_tiny["weights_dir"] and seen["app_models"] == ["tiny_cnn"]
    assert report["app"]["cold_start_s"] == 12.5 and report["app"]["profile"]["load_model_s"] == 0.1
    assert report["app"]["bare_page_s"] == 2.5 and report["app"]["cold_start_ratio"] == 5.0
    assert report["targets_met"]["cold_start_s"] is False and report["targets_met"]["rss_mb"] is True
    assert "12.5 s" in report["missed_because"]["cold_start_s"][0]
    assert tool.main(["--bench", str(tmp_path / "absent.json")]) == 2


# ----------------------------------------------------------------- the speed-ups change no output

def _plain_bilateral(rgb):
    import cv2

    from leukemia_core.data.preprocess import BILATERAL_D, BILATERAL_SIGMA_COLOR, BILATERAL_SIGMA_SPACE

    return cv2.bilateralFilter(rgb, BILATERAL_D, BILATERAL_SIGMA_COLOR, BILATERAL_SIGMA_SPACE)


def test_cropped_denoise_equals_the_full_filter_bit_for_bit(samples):
    from leukemia_core.data.images import read_image
    from leukemia_core.data.preprocess import denoise

    for s in samples:
        rgb = read_image(s.path)
        assert np.array_equal(denoise(rgb), _plain_bilateral(rgb)), s.path.name
    rng = np.random.default_rng(0)
    for _ in range(200):  # content boxes anywhere, touching edges, single stray pixels, all black
        h, w = rng.integers(1, 120, 2)
        img = np.zeros((h, w, 3), np.uint8)
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        y1, x1 = rng.integers(y0, h + 1), rng.integers(x0, w + 1)
        img[y0:y1, x0:x1] = rng.integers(0, 256, (y1 - y0, x1 - x0, 3))
        if rng.random() < 0.5:
            img[rng.integers(0, h), rng.integers(0, w), rng.integers(0, 3)] = rng.integers(1, 256)
        assert np.array_equal(denoise(img), _plain_bilateral(img))


def test_compiled_gradcam_equals_recording_the_whole_pass(samples):
    import keras
    import tensorflow as tf

    from leukemia_core.data.images import read_image
    from leukemia_core.data.preprocess import prepare, to_unit
    from leukemia_core.explain import GradCAM
    from leukemia_core.models import create_model

    keras.utils.set_random_seed(1)
    model = create_model("tiny_cnn", 32)
    x = np.stack([to_unit(prepare(read_image(s.path), 32)) for s in samples[:4]])
    ex = GradCAM(model, "cam_conv")
    assert ex.split_head
    assert ex.warm() > 0
    p, cams = ex.predict_and_explain(x, class_index=1)

    grad_model = keras.Model(model.inputs[0], [model.get_layer("cam_conv").output, model.get_layer("logits").output])
    with tf.GradientTape() as tape:
        feats, logits = grad_model(x, training=False)
        score = tf.reduce_sum(logits[:, 1])
    grads = tape.gradient(score, feats)
    cam = tf.nn.relu(tf.reduce_sum(feats * tf.reduce_mean(grads, axis=[1, 2], keepdims=True), axis=-1))
    cam = tf.image.resize(cam[..., None], (32, 32), method="bilinear")[..., 0].numpy()
    lo, hi = cam.min(axis=(1, 2), keepdims=True), cam.max(axis=(1, 2), keepdims=True)
    ref = np.where(hi - lo > 1e-8, (cam - lo) / np.maximum(hi - lo, 1e-8), 0)
    np.testing.assert_allclose(p, model(x, training=False).numpy()[:, 1], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(cams, ref, atol=1e-5)


def test_predictor_warm_compiles_without_changing_results(trained_tiny, samples):
    from leukemia_core.data.images import read_image
    from leukemia_core.inference import Predictor, load_model

    loaded = load_model("tiny_cnn", trained_tiny["weights_dir"])
    cold, warm = Predictor(loaded), Predictor(loaded)
    assert warm.warm() > 0
    x = np.stack([cold.prepare(read_image(s.path)) for s in samples])
    np.testing.assert_array_equal(cold.predict(x), warm.predict(x))


# ----------------------------------------------------------------- serving and scale-out (bench/scaling.py)

def _scaling_report(two_rate=30.0):
    run = {"seconds": 10.0, "returncode": 0, "peak_rss_mb": 900.0, "peak_pss_mb": 600.0, "images": 200, "cells": 1000}
    runs = {"predict_one_process": {**run, "images_s": 20.0, "cells_s": 100.0},
            "screen_one_node": {**run, "images_s": 19.0, "cells_s": 95.0},
            "screen_cluster_one_node_1core": {**run, "images_s": 15.0, "cells_s": 75.0},
            "screen_cluster_two_nodes_1core_each": {**run, "images_s": two_rate, "cells_s": 150.0}}
    return runs


def test_scaling_ratios_are_computed_from_the_runs_they_name():
    from leukemia_core.bench.scaling import scaling_ratios

    r = scaling_ratios(_scaling_report())
    assert r == {"screen_over_predict": 0.95, "two_nodes_speedup": 2.0, "scaling_efficiency": 1.0}
    failed = _scaling_report()
    failed["screen_cluster_two_nodes_1core_each"]["returncode"] = 1
    assert scaling_ratios(failed)["two_nodes_speedup"] is None  # a failed run gives no figure
    assert scaling_ratios({})["screen_over_predict"] is None


def test_scaling_doc_block_is_the_table_of_its_json(tmp_path):
    from leukemia_core.bench.scaling_doc import END, START, scaling_table, write_doc_block
    from leukemia_core.errors import LeukemiaCoreError

    report = {"machine": {"cpu_model": "cpu", "usable_cores": 2, "loadavg_at_start": [1.0], "loadavg_at_end": [2.0]},
              "onnx": {"tiny_cnn": {"keras_floor_ms": 2.0, "onnx_ms": 1.0, "onnx_over_keras_speed": 2.0,
                                    "max_abs_diff_p_all": 3e-6}, "other": {"reason": "no ONNX export"}},
              "scaling": {"model": "tiny_cnn", "source": "/home/lab/data/aria_all/Original", "images": 200, **_scaling_report(),
                          "screen_over_predict": 0.95, "two_nodes_speedup": 2.0, "scaling_efficiency": 1.0,
                          "memory": {"5000": {"seconds": 9.0, "peak_rss_mb": 1.0, "peak_pss_mb": 2.0,
                                              "driver_peak_rss_mb": 3.0},
                                     "500": {"seconds": 1.0, "peak_rss_mb": 1.0, "peak_pss_mb": 2.0,
                                             "driver_peak_rss_mb": 3.0}}}}
    table = scaling_table(report)
    assert "| tiny_cnn | 2 | 1 | 2x | 3.0e-06 |" in table and "| other | n/a | n/a | n/a | no ONNX export |" in table
    assert "**0.95x** (target >= 0.9)" in table and "**2x** (scaling efficiency 1)" in table
    assert table.index("| 500 |") < table.index("| 5000 |")  # archive sizes in order
    assert "from `aria_all/Original`" in table and "/home/lab" not in table  # no path of this machine
    src = tmp_path / "r.json"
    src.write_text(json.dumps(report))
    doc = tmp_path / "d.md"
    doc.write_text(f"intro\n{START}\nold\n{END}\nafter\n")
    write_doc_block(doc, src)
    assert doc.read_text() == f"intro\n{START}\n{table}{END}\nafter\n"
    with pytest.raises(LeukemiaCoreError, match="no .* block"):
        (tmp_path / "plain.md").write_text("x")
        write_doc_block(tmp_path / "plain.md", src)
    with pytest.raises(LeukemiaCoreError, match="not found"):
        write_doc_block(doc, tmp_path / "absent.json")


def test_the_scaling_doc_holds_the_shipped_figures():
    from leukemia_core.bench.scaling_doc import DEFAULT_JSON, END, START, scaling_table

    report = json.loads(DEFAULT_JSON.read_text())
    block = (ROOT / "docs" / "scaling.md").read_text().split(START, 1)[1].split(END, 1)[0]
    assert block.strip() == scaling_table(report).strip()
    sc = report["scaling"]
    assert sc["images"] >= 2000 and {"500", "5000"} <= set(sc["memory"])  # the sizes
    assert all(sc[k]["returncode"] == 0 for k in ("predict_one_process", "screen_one_node",
                                                  "screen_cluster_one_node_1core", "screen_cluster_two_nodes_1core_each"))


def test_run_measured_and_the_image_folder(tmp_path, samples):
    from leukemia_core.bench.processes import run_measured
    from leukemia_core.bench.scaling import image_folder

    r = run_measured([sys.executable, "-c", "import numpy; x = bytearray(50 << 20); print('done')"])
    assert r["returncode"] == 0 and r["tail"] == ["done"] and r["seconds"] > 0
    assert r["peak_rss_mb"] >= r["driver_peak_rss_mb"] >= 0 and r["peak_pss_mb"] >= 0
    folder = image_folder(samples[0].path.parent, 5, tmp_path / "imgs")
    files = sorted(folder.iterdir())
    assert len(files) == 5 and all(f.is_symlink() and f.resolve().is_file() for f in files)


def test_pinning_a_process_pins_what_it_starts():
    code = ("import os, subprocess, sys\n"
            "from leukemia_core.bench.processes import pin_to\n"
            "cores = sorted(os.sched_getaffinity(0))\n"
            "core = pin_to(len(cores) - 1, cores)\n"
            "child = subprocess.run([sys.executable, '-c', 'import os; print(sorted(os.sched_getaffinity(0)))'],"
            " capture_output=True, text=True).stdout.strip()\n"
            "print(core, child)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    core, child = res.stdout.split(" ", 1)
    assert res.returncode == 0 and child.strip() == f"[{core}]"


def test_onnx_against_the_keras_floor_on_the_tiny_model(tiny_onnx):
    from leukemia_core.bench.scaling import CELLS, bench_onnx

    r = bench_onnx(["tiny_cnn"], tiny_onnx["weights_dir"], rounds=2)["tiny_cnn"]
    assert r["cells"] <= CELLS and r["keras_floor_ms"] > 0 and r["onnx_ms"] > 0
    assert r["onnx_over_keras_speed"] == pytest.approx(r["keras_floor_ms"] / r["onnx_ms"], rel=1e-2)
    assert r["max_abs_diff_p_all"] <= 1e-4


def test_case_review_bench(tmp_path):
    from leukemia_core.bench.cases import TARGETS, write_case_bench

    r = write_case_bench(tmp_path / "bench_cases.json", n_images=5, n_cells=40, repeats=2)
    assert json.loads((tmp_path / "bench_cases.json").read_text()) == r
    assert (r["images"], r["cells"], r["tiles_first_page"], r["database"]) == (5, 40, 24, "sqlite")
    assert set(TARGETS) <= set(r) and r["targets_s"] == TARGETS
    assert 0 < r["open_first_page_s"]["median"] <= r["open_first_page_s"]["max"] and r["review_click_s"]["median"] > 0
    shipped = json.loads((Path(__file__).resolve().parents[1] / "model_weights" / "bench_cases.json").read_text())
    assert (shipped["images"], shipped["cells"]) == (50, 500) and shipped["meets_targets"]


def test_adapt_bench_times_the_site_model_against_its_forward_passes(samples, tmp_path):
    from adaptation_fixtures import tiny_encoder, write_lab

    from leukemia_core.adaptation.features import encoder_source
    from leukemia_core.bench.adapt import bench_adapt, pick, summary
    from leukemia_core.verification.study import read_labelled

    source = encoder_source("densenet121", model=tiny_encoder(), sha256="ab" * 32, size=32)
    records = pick(read_labelled([write_lab(tmp_path / "lab", samples, copies=3)]), 6)
    res = bench_adapt(source, records, repeats=1, draws=2, n_boot=20)
    assert res["images"] == 12 and res["cells"] == 12
    assert res["adapt_s"] > res["baseline_forward_s"] > 0
    assert res["ratio_adapt_to_forward"] > 1  # the forward passes are a part of adapt
    assert res["target"]["met"] == (res["adapt_s_per_100_cells"] <= 30.0)
    assert "per 100 cells" in summary({**res, "data": "lab"})
