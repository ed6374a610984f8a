"""The benchmark report's targets, verdicts, explanations of misses and printed summary.

:func:`finalize` (re)computes ``targets_met``, ``missed_because`` and the app's profile from the
figures in a report; the core benchmark calls it, and so does ``tools/bench_app.py`` after it adds
the app's cold start to the same file.
"""

from __future__ import annotations

#: figure -> (comparison, bound). rss in MiB, cold start in seconds.
TARGETS: dict[str, tuple[str, float]] = {
    "predict_ratio": ("<=", 1.2),
    "gradcam_ratio": ("<=", 3.0),
    "batch_ratio": (">=", 0.9),
    "pipeline_ratio": (">=", 0.9),
    "cell_pipeline_ratio": (">=", 0.8),
    "rss_mb": ("<=", 2048.0),
    "cold_start_s": ("<=", 3.0),
    "first_map_s": ("<=", 10.0),
}
#: The targets every model has a figure for.
MODEL_TARGETS = ("predict_ratio", "gradcam_ratio", "batch_ratio", "pipeline_ratio", "cell_pipeline_ratio")


def met(key: str, value: float | None) -> bool | None:
    """Whether ``value`` meets ``TARGETS[key]``; None when it was not measured."""
    if value is None:
        return None
    op, bound = TARGETS[key]
    return value <= bound if op == "<=" else value >= bound


def _model_misses(name: str, r: dict, out: dict[str, list[str]]) -> None:
    p, ok = r["profile"], r["targets_met"]
    if ok.get("predict_ratio") is False:
        out.setdefault("predict_ratio", []).append(
            f"{name}: preprocessing {p['prepare_ms']} ms (bilateral filter {p['preprocess_cnmc']['denoise_ms']} ms, "
            f"resize {p['preprocess_cnmc']['resize_ms']} ms) + forward {p['forward_ms']} ms against a floor of "
            f"{r['floor_ms']} ms")
    if ok.get("gradcam_ratio") is False:
        out.setdefault("gradcam_ratio", []).append(
            f"{name}: preprocessing {p['prepare_ms']} ms + compiled Grad-CAM pass {p['cam_pass_ms']} ms "
            f"({p['cam_pass_over_floor']}x the floor of {r['floor_ms']} ms)")
    if ok.get("batch_ratio") is False:
        out.setdefault("batch_ratio", []).append(
            f"{name}: {p['batch_ms']['project']['median']} ms for 64 in chunks of {p['batch_ms']['chunk']} "
            f"against {p['batch_ms']['floor']['median']} ms in one call")
    if ok.get("pipeline_ratio") is False:
        t = p["train"]
        out.setdefault("pipeline_ratio", []).append(
            f"{name}: a training step takes {t['step_ms_pipeline']['median']} ms fed by balanced_batches with "
            f"augmentation, {t['step_ms_memory_augmented']['median']} ms from memory with augmentation and "
            f"{t['step_ms_memory']['median']} ms from memory without; drawing a batch alone costs "
            f"{t['batches_alone_ms_per_batch']} ms")
    if ok.get("cell_pipeline_ratio") is False:
        c = p["cells"]
        s = c["stage_ms"]
        out.setdefault("cell_pipeline_ratio", []).append(
            f"{name}: for {c['images']} images and {c['cells']} cells, decoding takes {s['decode']} ms, finding "
            f"and cropping {s['find_and_crop']} ms and scoring plus calibration {s['analyze']} ms, against "
            f"{s['forward']} ms for the forward passes alone")


def explain_misses(report: dict) -> dict[str, list[str]]:
    """For each missed target, one line per model (or for the app) citing the profile figures."""
    out: dict[str, list[str]] = {}
    for name, r in report["models"].items():
        _model_misses(name, r, out)
    if report["targets_met"].get("rss_mb") is False:
        mem = report["memory"]
        out["rss_mb"] = [f"{n}: {v['rss_mb_after']} MiB after loading" for n, v in mem.get("per_model", {}).items()]
    if report["targets_met"].get("first_map_s") is False:
        a = report["app"]
        out["first_map_s"] = [f"the call at {a.get('cold_start_s')} s, the first Grad-CAM map at {a.get('first_map_s')} s "
                              "(TensorFlow's import, the model's load and the Grad-CAM trace, after the call)"]
    if report["targets_met"].get("cold_start_s") is False:
        a = report["app"]
        prof = a.get("profile", {})
        out["cold_start_s"] = [
            f"server up at {a.get('server_ready_s')} s, page at {a.get('page_loaded_s')} s, sample picker at "
            f"{a.get('picker_ready_s')} s, sample chosen at {a.get('sample_chosen_s')} s; meanwhile the server's "
            f"start-up thread imports TensorFlow and Keras ({prof.get('imports_s')} s in a fresh process), loads "
            f"the model ({prof.get('load_model_s')} s) and compiles and runs Grad-CAM on the first cells "
            f"({prof.get('first_cells_and_gradcam_s')} s), one after the other (with an ONNX export it starts "
            "after the first call or 4 s, whichever comes first, so it can still share the cores with that call); "
            "the verdict at "
            f"{a.get('cold_start_s')} s"]
    return out


def finalize(report: dict) -> dict:
    """Fill ``targets_met``, ``missed_because`` and the app's profile from the report's figures."""
    names = list(report["models"]) or list((report.get("settings") or {}).get("models") or [])
    app = report.setdefault("app", {"cold_start_s": None})
    mem = report.setdefault("memory", {"rss_mb": None})
    app_model = "proposed" if "proposed" in names else (names[0] if names else None)  # the app's default
    per = (mem.get("per_model") or {}).get(app_model)
    if per and app.get("cold_start_s") is not None:
        app["profile"] = {
            "note": f"where a cold start goes, from the fresh loading process (memory figure) for {app_model}, "
                    "the model the Classify page loads by default",
            "imports_s": mem.get("imports_s"),
            "load_model_s": per.get("load_s"),
            "first_cells_and_gradcam_s": per.get("first_cells_and_gradcam_s"),
        }
    verdicts: dict[str, bool | None] = {}
    for k in MODEL_TARGETS:
        vals = [r["targets_met"].get(k) for r in report["models"].values()]
        verdicts[k] = None if not vals or any(v is None for v in vals) else all(vals)
    verdicts["rss_mb"] = met("rss_mb", mem.get("rss_mb"))
    verdicts["cold_start_s"] = met("cold_start_s", app.get("cold_start_s"))
    verdicts["first_map_s"] = met("first_map_s", app.get("first_map_s"))
    report["targets"] = {k: f"{op} {bound:g}" for k, (op, bound) in TARGETS.items()}
    report["targets_met"] = verdicts
    report["missed_because"] = explain_misses(report)
    return report


def format_summary(report: dict) -> str:
    """Human-readable table of the report's figures and targets."""
    m = report["machine"]
    lines = [f"benchmark on {m['cpu_model']} ({m['usable_cores']} cores), TensorFlow {m['tensorflow']}; "
             f"load average at start {m['loadavg_at_start'][0]}",
             "times in ms (medians), throughput in images/s (cells/s for cells); ratio = project path / plain model",
             f"{'model':<16}{'px':>4}{'predict':>9}{'floor':>8}{'ratio':>7}{'gradcam':>9}{'ratio':>7}"
             f"{'naive':>8}{'batch':>8}{'ratio':>7}{'train':>8}{'ratio':>7}{'cells':>8}{'ratio':>7}  weights"]
    for name, r in report["models"].items():
        lines.append(f"{name:<16}{r['input_size']:>4}{r['predict_ms']:>9.1f}{r['floor_ms']:>8.1f}"
                     f"{r['predict_ratio']:>7.2f}{r['gradcam_ms']:>9.1f}{r['gradcam_ratio']:>7.2f}"
                     f"{r['gradcam_naive_ms']:>8.0f}{r['batch_img_s']:>8.1f}{r['batch_ratio']:>7.2f}"
                     f"{r['train_img_s']:>8.1f}{r['pipeline_ratio']:>7.2f}"
                     f"{r['cell_pipeline_cells_s']:>8.1f}{r['cell_pipeline_ratio']:>7.2f}  {r['weights']}")
        p = r["profile"]
        lines.append(f"{'':<16}    prepare {p['prepare_ms']:.2f} ms + forward {p['forward_ms']:.1f} ms "
                     f"(python {p['python_overhead_ms']:+.2f} ms); cam pass {p['cam_pass_ms']:.1f} ms; "
                     f"cells alone through the model {r['cell_forward_cells_s']:.1f}/s")
    f = report.get("cell_finder") or {}
    if f.get("finder_img_s") is not None:
        lines.append(f"cell finder alone: {f['finder_img_s']:.1f} images/s, {f['finder_cells_s']:.1f} cells/s "
                     f"({f['images']} samples, {f['cells']} cells)")
    sc = report.get("shared_cells") or {}
    if sc.get("shared_cells_speedup") is not None:
        lines.append(f"cells found once for {sc['models']} models: {sc['shared_cells_img_s']:.1f} images/s, "
                     f"once per model {sc['per_model_cells_img_s']:.1f} images/s (x{sc['shared_cells_speedup']:.2f})")
    mem, app = report["memory"], report["app"]
    lines.append(f"rss with {len(mem.get('models_loaded') or [])} model(s) loaded: "
                 + (f"{mem['rss_mb']:.0f} MiB" if mem.get("rss_mb") is not None else f"n/a ({mem.get('reason')})"))
    lines.append("app cold start to first prediction: "
                 + (f"{app['cold_start_s']:.1f} s ({app['method']})" if app.get("cold_start_s") is not None
                    else f"n/a ({app.get('reason')})"))
    if app.get("bare_page_s") is not None:
        lines.append(f"a bare Streamlit page started the same way, in the same run: {app['bare_page_s']:.2f} s; "
                     f"the app's first call x{app.get('cold_start_ratio')} of it, its first map "
                     f"x{app.get('first_map_ratio')}")
    verdicts = report["targets_met"]
    bad = [k for k, v in verdicts.items() if v is False]
    unk = [k for k, v in verdicts.items() if v is None]
    lines.append("targets: " + ("all met" if not bad and not unk else
                                f"missed: {', '.join(bad) or 'none'}; not measured: {', '.join(unk) or 'none'}"))
    for key, why in report.get("missed_because", {}).items():
        lines.extend(f"  {key} missed: {w}" for w in why)
    return "\n".join(lines)
