"""The commands of ``python -m leukemia_core`` but ``predict`` (:mod:`.predict`): each takes the
parsed arguments and returns the exit status.

Lazy imports: each command imports the modules that pull in TensorFlow/Keras (about 4.0 s on the
2-core machine), scikit-learn (1.2 s) or the benchmark when it runs, so ``--help``, ``models``,
``table`` and ``cells-check`` start without them.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from ..errors import LeukemiaCoreError
from ..inference import weights_status
from ..models import get_spec, list_models
from ..models.card import report_thresholds
from ..models.weights import read_manifest
from ..models.registry import resolve_input_config
from ..paths import PROJECT_ROOT, weights_dir_or_default

log = logging.getLogger("leukemia_core")


def cmd_models(args) -> int:
    """List the registered models, their input size (manifest, else default), CAM layer and whether weights are present."""
    wdir = weights_dir_or_default(args.weights_dir)
    print(f"{'model':<16} {'input':>5}  {'Grad-CAM layer':<18} weights ({wdir})")
    for name in list_models(include_test=args.all):
        spec = get_spec(name)
        status = weights_status(name, wdir)
        size = resolve_input_config(name, read_manifest(name, wdir) if status == "ok" else None).input_size
        print(f"{name:<16} {size:>5}  {spec.cam_layer:<18} {'present' if status == 'ok' else 'missing: ' + status}")
        print(f"{'':<16} {spec.description}")
    return 0


def parse_shares(items: list[str]) -> dict[str, float]:
    """``["aria=0.6", "bccd=0.1"]`` -> ``{"aria": 0.6, "bccd": 0.1}``.

    Raises:
        LeukemiaCoreError: on an item that is not ``NAME=number >= 0``, or shares summing to 0.
    """
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if not name or share < 0:
            raise LeukemiaCoreError(f"--dataset-share {item!r}: write NAME=SHARE, e.g. bccd=0.15")
        out[name.strip()] = share
    if sum(out.values()) <= 0:
        raise LeukemiaCoreError("--dataset-share: the shares sum to 0")
    return out


def cmd_train(args) -> int:
    """Train one model on cells (``train``); export weights, manifest and history to ``--weights-dir``."""
    from ..training.train import TrainConfig, train

    if bool(args.data) == bool(args.cells_pack):
        raise LeukemiaCoreError("train: give --data (dataset folders) or --cells-pack (a cells-pack file), one of them")
    cfg = TrainConfig(model=args.model, data=args.data or [], val_data=args.val_data or [],
                      exclude_parts=args.exclude_part if args.exclude_part is not None else ["Segmented"],
                      input_size=args.input_size, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                      batch_size=args.batch_size, learning_rate=args.lr, init=args.init, init_from=args.init_from,
                      head_epochs=args.head_epochs, patience=args.patience, seed=args.seed,
                      augment=not args.no_augment, stain_jitter=not args.no_stain_jitter,
                      mask_outside=not args.with_surroundings, run_dir=args.run_dir,
                      weights_dir=str(weights_dir_or_default(args.weights_dir)),
                      cache_dir=args.cache_dir or None, resume=args.resume, max_images=args.max_images,
                      verbose=args.verbose, bn_momentum=args.bn_momentum, norm=args.norm, colour=args.colour,
                      instance_teacher=args.instance_teacher, sampling=args.sampling, cells_pack=args.cells_pack)
    if args.dataset_share:
        cfg.dataset_shares = {**cfg.dataset_shares, **parse_shares(args.dataset_share)}
    manifest = train(cfg)
    sel = manifest["training"]["selected_epoch"]
    print(f"trained {manifest['name']}: {manifest['training']['epochs_run']} epochs in "
          f"{manifest['training']['seconds']:.0f} s; selected {sel}; weights -> "
          f"{Path(cfg.weights_dir) / manifest['weights_file']}")
    return 0


def _print_report(report: dict) -> None:
    def f(v, width):
        return f"{v:>{width}.3f}" if v is not None else f"{'-':>{width}}"

    print(f"{'set':<22} {'images':>6} {'groups':>6} {'acc':>6} {'bal.acc':>7} {'AUC':>6} {'HEM cells called ALL':>20}")
    for s in report["sets"]:
        m = s["metrics"]
        cm = s.get("cell_metrics", {})
        spec = cm.get("specificity")
        print(f"{s['key']:<22} {s['n_images']:>6} {s['n_groups']:>6} {f(m['accuracy'], 6)} "
              f"{f(m['balanced_accuracy'], 7)} {f(m['roc_auc'], 6)} {f(None if spec is None else 1 - spec, 20)}")
    if report["skipped"]:
        print(f"{len(report['skipped'])} unreadable file(s) skipped; see the report's 'skipped' list")


def cmd_evaluate(args) -> int:
    """Evaluate one model on the given sets (``evaluate``); fit the calibration on validation; write the report."""
    from ..evaluation.evaluate import evaluate

    report = evaluate(args.model, args.data, Path(args.out), args.weights_dir, splits=args.splits,
                      threshold=args.threshold,
                      exclude_parts=args.exclude_part if args.exclude_part is not None else ["Segmented"],
                      cache_dir=args.cache_dir or None, allow_leakage=args.allow_leakage,
                      calibrate=not args.no_calibrate, left_out=args.left_out or (),
                      progress=lambda m: log.info(m), lab_probe=not args.no_lab_probe)
    _print_report(report)
    print(f"report -> {args.out}")
    return 0


def cmd_baseline(args) -> int:
    """Fit and evaluate the colour-only baseline on the same cells (``baseline``); write its report."""
    from ..evaluation.baseline import run_baseline

    report = run_baseline(args.data, Path(args.out),
                          exclude_parts=args.exclude_part if args.exclude_part is not None else ["Segmented"],
                          threshold=args.threshold, cache_dir=args.cache_dir, left_out=args.left_out or ())
    _print_report(report)
    print(f"report -> {args.out}")
    return 0


def cmd_cam_check(args) -> int:
    """Share of Grad-CAM energy on the cell, per model, on test cells (``cam-check``)."""
    from ..evaluation.camcheck import run_cam_check

    result = run_cam_check(args.model, args.data, Path(args.out), args.weights_dir, args.cam_method,
                           limit=args.limit, cache_dir=args.cache_dir or None)
    for name, r in result["models"].items():
        if r["mean_energy_on_cells"] is None:
            print(f"{name:<16} every map was flat ({r['n_flat_maps']} cells): nothing to measure")
            continue
        print(f"{name:<16} mean share of CAM energy on the cell: {r['mean_energy_on_cells']:.3f} "
              f"(median {r['median_energy_on_cells']:.3f}, {r['n_cells']} test cells, {r['n_flat_maps']} flat "
              f"maps; the cell covers {r['mask_area_mean']:.3f} of the crop)")
    print(f"-> {args.out}")
    return 0


def cmd_adapt_check(args) -> int:
    """Measure Reinhard matching and batch-norm re-estimation on mixed and normal-only batches (``adapt-check``)."""
    from ..evaluation.adaptation import run_adapt_check

    r = run_adapt_check(args.model, args.data, Path(args.out), args.weights_dir, args.cache_dir or None)
    print(f"{r['model']} at threshold {report_thresholds(r).threshold:.2f}: AUC / balanced accuracy on mixed batches; "
          f"share of HEM cells called ALL when the batch holds HEM cells only")
    for key, row in r["sets"].items():
        for how in ("none", "reinhard", "bn_reestimation"):
            m = row[how]["mixed"]
            auc = "n/a" if m["roc_auc"] is None else f"{m['roc_auc']:.3f}"
            ba = "n/a" if m["balanced_accuracy"] is None else f"{m['balanced_accuracy']:.3f}"
            fa = row[how]["hem_only_called_all"]
            print(f"  {key:<22} {how:<16} AUC {auc}  bal.acc {ba}  HEM-only called ALL "
                  f"{'n/a' if fa is None else f'{fa:.3f}'}")
    print(f"-> {args.out}")
    return 0


def cmd_size_check(args) -> int:
    """White cells in red-cell diameters, measured (``size-check``)."""
    from ..cells.size_check import run_size_check

    r = run_size_check(args.data, Path(args.out), roles=args.role or ["test"], limit=args.limit)
    for key, v in r["by_lab"].items():
        med = "n/a" if v["median"] is None else f"{v['median']:.2f} (IQR {v['q1']:.2f}-{v['q3']:.2f})"
        print(f"{key:<10} cells {v['cells']:>5}  with a red-cell scale {100 * v['coverage']:5.1f} %  size {med}")
    for key, v in r["auc"].items():
        print(f"AUC {key}: " + ("n/a" if v is None else f"{v['value']:.3f} [{v['low']:.3f}, {v['high']:.3f}]"))
    b = r["bccd_red_cell_vs_boxes"]
    if b["with_estimate"]:
        print(f"BCCD red-cell estimate / box side: median {b['median']:.3f}, 10-90 % {b['p10']:.3f}-{b['p90']:.3f} "
              f"({b['with_estimate']} of {b['images_with_boxes']} images)")
    for ds, v in r["speed"].items():
        print(f"cost on {ds} ({v['image']}): finder {v['finder_ms_per_image']:.1f} ms/image, with the red-cell "
              f"scale {v['with_scale_ms_per_image']:.1f} ms (x{v['ratio']:.2f})")
    print(f"-> {args.out}")
    return 0


def cmd_size_fusion(args) -> int:
    """A cell's size in red cells beside a model's P(ALL), fitted on val, scored on test (``size-fusion``)."""
    from ..evaluation.size_fusion import ARMS, run_size_fusion
    from ..models import list_models

    def auc(v: dict | None) -> str:
        return "n/a" if v is None else f"{v['value']:.3f} [{v['low']:.3f}, {v['high']:.3f}]"

    names = list_models() if args.model == ["all"] else args.model
    r = run_size_fusion(names, args.data, Path(args.out), args.weights_dir, limit=args.limit)
    for name in names:  # the file keeps other models' entries; print the ones measured now
        arms = r["models"][name]
        for arm in ARMS:
            t = arms[arm]["test"]
            print(f"{name:<16} {arm:<15} Aria ALL vs HEM AUC {auc(t['aria_all_vs_hem_auc'])}  Aria ALL vs BCCD "
                  f"AUC {auc(t['aria_all_vs_bccd_auc'])}  BCCD called ALL {t['bccd_called_all']}")
    print(f"-> {args.out}")
    return 0


def cmd_cells_check(args) -> int:
    """Cell finder against the reference segmentations (``cells-check``)."""
    from ..cells.check import run_cells_check

    r = run_cells_check(args.aria, args.cnmc, Path(args.out), role=args.role, limit=args.limit, bccd=args.bccd,
                        sheets=Path(args.sheets) if args.sheets else None, wbcseg=args.wbcseg)
    for lab, w in (r.get("wbcseg", {}).get("by_lab") or {}).items():
        print(f"wbcseg {lab}: one cell in {w['exactly_one']} of {w['n_images']}, median outline IoU "
              f"{w['median_iou']:.3f}, {w['stray_cells']} found cells not the white cell")
    if "aria" in r:
        a = r["aria"]
        print(f"Aria {a['role']} fields: {a['n_fields']}; reference cells {a['reference']}, found {a['found']}, "
              f"matched at IoU >= {r['iou_match']}: {a['matched']} -> recall {a['recall']:.3f}, "
              f"precision {a['precision']:.3f}")
        for sub, v in a["per_subclass"].items():
            rec = "n/a" if v["recall"] is None else f"{v['recall']:.3f}"
            pre = "n/a" if v["precision"] is None else f"{v['precision']:.3f}"
            print(f"  {sub:<7} reference {v['reference']:>5}  found {v['found']:>5}  recall {rec}  precision {pre}")
    if "cnmc" in r:
        c = r["cnmc"]
        print(f"C-NMC images with exactly one cell: {c['exactly_one']} of {c['n_images']} "
              f"({100 * c['share_exactly_one']:.1f} %)")
    if "bccd" in r:
        b = r["bccd"]
        one = "n/a" if b["share_exactly_one"] is None else f"{100 * b['share_exactly_one']:.1f} %"
        print(f"BCCD images: {b['n_images']}; boxes {b['reference']}, found {b['found']}, matched {b['matched']} "
              f"-> recall {b['recall'] or 0:.3f}, precision {b['precision'] or 0:.3f}; exactly one cell in {one} "
              f"of {b['one_box_images']} one-box images")
        for role, f in b.get("by_role", {}).items():
            one = "n/a" if f["share_exactly_one"] is None else f"{100 * f['share_exactly_one']:.1f} %"
            print(f"  {role}: {f['n_images']} images, recall {f['recall'] or 0:.3f}, precision {f['precision'] or 0:.3f}, "
                  f"exactly one in {one}")
    speed = r.get("images_per_s", {})
    for size in ("224", "640x480"):
        if size in speed:
            base = speed[f"{size}_colour_only"]
            print(f"finder speed at {size}: {speed[size]} images/s (colour-only finder, same run: {base}; "
                  f"ratio {speed[size] / base:.2f})")
    for name, path in r.get("sheets", {}).items():
        print(f"contact sheet {name}: {path}")
    print(f"-> {args.out}")
    if args.readme:
        from ..cells.check_table import write_readme_block

        write_readme_block(Path(args.readme), Path(args.out))
        print(f"table -> {args.readme}")
    return 0


def cmd_table(args) -> int:
    """Print the README's results and speed tables from ``model_weights/`` (``table``); ``--readme`` rewrites them in place."""
    from ..reports.results import write_results

    text = write_results(weights_dir_or_default(args.weights_dir), Path(args.readme) if args.readme else None)
    print(text)
    return 0


def cmd_bench(args) -> int:
    """Speed and memory benchmark (``bench``), then the app's cold start in a browser unless ``--no-app``."""

    from ..bench import run_bench

    run_bench(Path(args.out), args.model, args.weights_dir, repeats=args.repeats)
    if args.no_app:
        return 0
    # the app's cold start starts Streamlit: a separate script, never imported by the package
    tool = PROJECT_ROOT / "tools" / "bench_app.py"
    if not tool.is_file():
        print(f"app cold start not measured: {tool} not found")
        return 0
    cmd = [sys.executable, str(tool), "--bench", str(args.out)]
    return subprocess.run(cmd + (["--weights-dir", str(args.weights_dir)] if args.weights_dir else [])).returncode
