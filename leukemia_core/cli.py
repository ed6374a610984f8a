"""Command line: ``python -m leukemia_core <command> ...``.

Commands: ``models``, ``train``, ``evaluate``, ``predict``, ``baseline``, ``cam-check``, ``cells-check``, ``table``,
``bench``. Errors a user can cause print one line (``error: ...``) and exit with status 2.
``predict`` exits 0 when every input was classified, 1 when some could not be read (the CSV is
still written, with those rows' ``error`` filled) and 2 when a named path does not exist or no
input could be read at all.

TensorFlow's start-up chatter (oneDNN and absl notes) and ``predict``'s per-image lines are off
unless ``--verbose`` is given.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
from pathlib import Path

import numpy as np

from .errors import LeukemiaCoreError
from .models.calibration import DEFAULT_THRESHOLD
from .tfstartup import import_tensorflow, quiet_tensorflow

log = logging.getLogger("leukemia_core")


_TF_COMMANDS = {"train", "evaluate", "cam-check", "adapt-check", "bench"}


def cmd_models(args) -> int:
    from .inference import weights_status
    from .models import get_spec, list_models
    from .models.weights import read_manifest, resolve_input_config
    from .paths import weights_dir_or_default

    wdir = weights_dir_or_default(args.weights_dir)
    print(f"{'model':<16} {'input':>5}  {'Grad-CAM layer':<18} weights ({wdir})")
    for name in list_models(include_test=args.all):
        spec = get_spec(name)
        status = weights_status(name, wdir)
        size = resolve_input_config(name, read_manifest(name, wdir) if status == "ok" else None).input_size
        print(f"{name:<16} {size:>5}  {spec.cam_layer:<18} {'present' if status == 'ok' else 'missing: ' + status}")
        print(f"{'':<16} {spec.description}")
    return 0


def cmd_train(args) -> int:
    from .training.train import TrainConfig, train

    cfg = TrainConfig(model=args.model, data=args.data, val_data=args.val_data or [],
                      exclude_parts=args.exclude_part if args.exclude_part is not None else ["Segmented"],
                      input_size=args.input_size, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                      batch_size=args.batch_size, learning_rate=args.lr, init=args.init, init_from=args.init_from,
                      head_epochs=args.head_epochs, patience=args.patience, seed=args.seed,
                      augment=not args.no_augment, run_dir=args.run_dir, weights_dir=args.weights_dir,
                      cache_dir=args.cache_dir or None, resume=args.resume, max_images=args.max_images,
                      verbose=args.verbose, bn_momentum=args.bn_momentum)
    manifest = train(cfg)
    sel = manifest["training"]["selected_epoch"]
    print(f"trained {manifest['name']}: {manifest['training']['epochs_run']} epochs in "
          f"{manifest['training']['seconds']:.0f} s; selected {sel}; weights -> "
          f"{Path(cfg.weights_dir) / manifest['weights_file']}")
    return 0


def _print_report(report: dict) -> None:
    print(f"{'set':<22} {'images':>6} {'groups':>6} {'acc':>6} {'bal.acc':>7} {'AUC':>6}")
    for s in report["sets"]:
        m = s["metrics"]
        auc = f"{m['roc_auc']:.3f}" if m["roc_auc"] is not None else "  -  "
        print(f"{s['key']:<22} {s['n_images']:>6} {s['n_groups']:>6} {m['accuracy']:>6.3f} "
              f"{m['balanced_accuracy']:>7.3f} {auc:>6}")
    if report["skipped"]:
        print(f"{len(report['skipped'])} unreadable file(s) skipped; see the report's 'skipped' list")


def cmd_evaluate(args) -> int:
    from .evaluation.evaluate import evaluate

    report = evaluate(args.model, args.data, Path(args.out), args.weights_dir, splits=args.splits,
                      threshold=args.threshold,
                      exclude_parts=args.exclude_part if args.exclude_part is not None else ["Segmented"],
                      cache_dir=args.cache_dir or None, allow_leakage=args.allow_leakage,
                      calibrate=not args.no_calibrate, progress=lambda m: log.info(m))
    _print_report(report)
    print(f"report -> {args.out}")
    return 0


def cmd_baseline(args) -> int:
    from .evaluation.baseline import run_baseline

    report = run_baseline(args.data, Path(args.out),
                          exclude_parts=args.exclude_part if args.exclude_part is not None else ["Segmented"],
                          threshold=args.threshold, cache_dir=args.cache_dir)
    _print_report(report)
    print(f"report -> {args.out}")
    return 0


def cmd_predict(args) -> int:
    from .explain import create_explainer
    from .explain.maps import heatmap_on_image
    from .explain.overlay import overlay
    from .inference import Predictor, cell_rows, expand_paths, load_model, predict_files
    from .models import get_spec, list_models
    from .models.weights import read_manifest

    names = list_models() if args.model == ["all"] else args.model
    for n in names:  # cheap checks first: model names and manifests, then the inputs, then TensorFlow
        get_spec(n)
        read_manifest(n, args.weights_dir)
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise LeukemiaCoreError("no such file or folder: " + ", ".join(missing))
    paths = expand_paths(args.paths)
    if not paths:
        raise LeukemiaCoreError("no image files found in " + ", ".join(args.paths))
    import_tensorflow(args.verbose_log)
    loaded = {n: load_model(n, args.weights_dir) for n in names}
    predictors = {n: Predictor(m) for n, m in loaded.items()}
    cam_dir = Path(args.cam) if args.cam else None
    explainers = {}
    if cam_dir:
        cam_dir.mkdir(parents=True, exist_ok=True)
        explainers = {n: create_explainer(m.model, m.cam_layer, args.cam_method) for n, m in loaded.items()}
    cell_csv = None
    cell_fields = ["path", "model", "cell", "x", "y", "w", "h", "area", "cx", "cy", "touches_border", "label",
                   "p_all", "refer"] + (["cam"] if cam_dir else [])
    if args.cells:
        Path(args.cells).parent.mkdir(parents=True, exist_ok=True)
        cell_csv = open(args.cells, "w", newline="")
        cell_writer = csv.DictWriter(cell_csv, fieldnames=cell_fields, extrasaction="ignore")
        cell_writer.writeheader()

    def on_result(row, rgb):
        a = row.get("analysis")
        thr = row["cell_threshold"] if row["cell_threshold"] != "" else None
        cells = cell_rows(row, thr) if a is not None else []
        if cam_dir and a is not None:
            import cv2

            cal = loaded[row["model"]].calibration
            x = a.found.crops.astype(np.float32) / 255.0
            _, maps = explainers[row["model"]].explain_called(x, cal.raw_threshold(thr))
            stem = f"{Path(row['path']).stem}.{row['model']}.{args.cam_method.replace('+', 'p')}"
            for i, m in enumerate(maps):
                big = cv2.resize(a.found.crops[i], (160, 160), interpolation=cv2.INTER_CUBIC)
                picture = overlay(big, heatmap_on_image(m, big.shape[:2]), alpha=args.alpha)
                out = cam_dir / (f"{stem}.cell{i + 1:03d}.png" if not a.found.whole_image else f"{stem}.whole.png")
                cv2.imwrite(str(out), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
                if i < len(cells):
                    cells[i]["cam"] = str(out)
            row["cam"] = str(cam_dir / f"{stem}.*.png")
        if cell_csv is not None:
            for c in cells:
                cell_writer.writerow({k: c.get(k, "") for k in cell_fields})
        if args.verbose_log:
            log.info("%s %s: %s", row["model"], row["path"], row["error"] or
                     f"{row['label']} p_all={row['p_all']} cells={row['n_cells']} blast%={row['blast_pct']}")

    try:
        rows = predict_files(paths, predictors, args.threshold, on_result)
    finally:
        if cell_csv is not None:
            cell_csv.close()
    fields = ["path", "model", "label", "p_all", "n_cells", "blast_pct", "n_refer", "threshold", "cell_threshold",
              "notes", "error"] + (["cam"] if cam_dir else [])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in fields})
    n_err = sum(1 for r in rows if r["error"])
    print(f"{len(rows)} prediction row(s) for {len(paths)} file(s) x {len(names)} model(s); "
          f"{n_err} error row(s); CSV -> {args.out}")
    failed = len({r["path"] for r in rows if r["error"]})
    if failed == len(paths):
        print(f"error: none of the {len(paths)} input file(s) could be read; see the error column of "
              f"{args.out}", file=sys.stderr)
        return 2
    if failed:
        print(f"warning: {failed} of {len(paths)} input file(s) could not be read; see the error column of "
              f"{args.out}", file=sys.stderr)
        return 1
    return 0


def cmd_cam_check(args) -> int:
    from .evaluation.camcheck import run_cam_check

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
    from .evaluation.adaptation import run_adapt_check

    r = run_adapt_check(args.model, args.data, Path(args.out), args.weights_dir, args.cache_dir or None)
    print(f"{r['model']} at threshold {r['threshold']:.2f}: AUC / balanced accuracy on mixed batches; "
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


def cmd_cells_check(args) -> int:
    from .cells.check import run_cells_check

    r = run_cells_check(args.aria, args.cnmc, Path(args.out), role=args.role, limit=args.limit)
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
    print(f"-> {args.out}")
    return 0


def cmd_table(args) -> int:
    from .evaluation.results import write_results

    text = write_results(Path(args.weights_dir or "model_weights"), Path(args.readme) if args.readme else None)
    print(text)
    return 0


def cmd_bench(args) -> int:
    import subprocess

    from .bench import run_bench

    run_bench(Path(args.out), args.model, args.weights_dir, repeats=args.repeats)
    if args.no_app:
        return 0
    # the app's cold start starts Streamlit: a separate script, never imported by the package
    tool = Path(__file__).resolve().parent.parent / "tools" / "bench_app.py"
    if not tool.is_file():
        print(f"app cold start not measured: {tool} not found")
        return 0
    cmd = [sys.executable, str(tool), "--bench", str(args.out)]
    return subprocess.run(cmd + (["--weights-dir", str(args.weights_dir)] if args.weights_dir else [])).returncode


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m leukemia_core",
                                description="ALL vs HEM classification of blood-cell images.")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    p.add_argument("-v", "--verbose", dest="verbose_log", action="store_true",
                   help="also TensorFlow's start-up messages and predict's line per image")
    sub = p.add_subparsers(dest="command", required=True)

    def weights_opt(sp):
        sp.add_argument("--weights-dir", default=None,
                        help="folder of shipped weights (default: $LEUKEMIA_WEIGHTS_DIR or model_weights/)")

    sp = sub.add_parser("models", help="list registered models and whether their weights are present")
    weights_opt(sp)
    sp.add_argument("--all", action="store_true", help="include the tiny test models")
    sp.set_defaults(func=cmd_models)

    sp = sub.add_parser("train", help="train a model and export its weights and manifest")
    sp.add_argument("--model", required=True)
    sp.add_argument("--data", action="append", required=True,
                    help="dataset folder (C-NMC, Aria or {all,hem}/ layout); repeat for several")
    sp.add_argument("--val-data", action="append", help="extra folder used only for validation")
    sp.add_argument("--exclude-part", action="append",
                    help="leave out a part, e.g. Segmented (Aria variant) or fold_1; repeatable")
    sp.add_argument("--input-size", type=int, help="square input side (default: the model's, 224)")
    sp.add_argument("--epochs", type=int, default=30)
    sp.add_argument("--batch-size", type=int, default=32)
    sp.add_argument("--lr", type=float, default=1e-3, help="initial Adam learning rate")
    sp.add_argument("--init", default="random",
                    help="random (default), imagenet (downloads once; needs the network) or a weights file")
    sp.add_argument("--init-from", help="a .weights.npz written by this project: load every array whose name and "
                                        "shape match (e.g. a trained efficientnet_b0's backbone into proposed)")
    sp.add_argument("--head-epochs", type=int, default=3,
                    help="with a pretrained init: epochs training the head on a frozen backbone first")
    sp.add_argument("--patience", type=int, default=8, help="early-stopping patience (epochs)")
    sp.add_argument("--seed", type=int, default=42)
    sp.add_argument("--steps-per-epoch", type=int,
                    help="batches per epoch (default: as many as there are training cells / batch size)")
    sp.add_argument("--no-augment", action="store_true")
    sp.add_argument("--run-dir", help="checkpoints and history (default runs/<model>)")
    sp.add_argument("--weights-dir", default="model_weights", help="where to export (default model_weights/)")
    sp.add_argument("--cache-dir", default="runs/.cache", help="decoded-image cache ('' to disable)")
    sp.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoint")
    sp.add_argument("--max-images", type=int, help="use at most this many train (and val) images")
    sp.add_argument("--verbose", type=int, choices=[0, 1, 2], help="Keras progress: 1 bar, 2 line per epoch")
    sp.add_argument("--bn-momentum", type=float, default=0.9,
                    help="batch-norm moving-average momentum when training from random init (default 0.9)")
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("evaluate", help="calibrate on validation cells, then write an evaluation report "
                                         "(cell and image metrics, every probability)")
    sp.add_argument("--model", required=True)
    sp.add_argument("--data", action="append", required=True)
    sp.add_argument("--out", required=True, help="REPORT.json")
    sp.add_argument("--splits", nargs="+", default=["train", "val", "test", "unsplit"])
    sp.add_argument("--exclude-part", action="append")
    sp.add_argument("--threshold", type=float,
                    help="call ALL when calibrated P(ALL) >= this (default: the threshold chosen on validation)")
    sp.add_argument("--no-calibrate", action="store_true",
                    help="keep the stored calibration instead of refitting it on the val role's cells")
    sp.add_argument("--cache-dir", default="runs/.cache")
    sp.add_argument("--allow-leakage", action="store_true",
                    help="report test sets even when the model trained or selected on their groups")
    weights_opt(sp)
    sp.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser("predict", help="classify image files or folders into a CSV")
    sp.add_argument("--model", action="append", required=True, help="model name, repeatable, or 'all'")
    sp.add_argument("--out", required=True, help="PRED.csv")
    sp.add_argument("paths", nargs="+", help="image files or folders (searched recursively)")
    sp.add_argument("--threshold", type=float,
                    help="calibrated P(ALL) threshold (default: each model's, chosen on validation cells)")
    sp.add_argument("--cells", help="also write one row per found cell to this CSV")
    sp.add_argument("--cam", help="also write one Grad-CAM overlay (PNG) per cell into this folder")
    sp.add_argument("--cam-method", default="gradcam", choices=["gradcam", "gradcam++", "scorecam"])
    sp.add_argument("--alpha", type=float, default=0.4, help="overlay opacity")
    sp.add_argument("-v", "--verbose", dest="verbose_log", action="store_true", default=argparse.SUPPRESS,
                    help="also TensorFlow's start-up messages and a line per image on stderr")
    weights_opt(sp)
    sp.set_defaults(func=cmd_predict)

    sp = sub.add_parser("baseline", help="colour-only logistic-regression baseline, as a report")
    sp.add_argument("--data", action="append", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--exclude-part", action="append")
    sp.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    sp.add_argument("--cache-dir", default="runs/.cache")
    sp.set_defaults(func=cmd_baseline)

    sp = sub.add_parser("cam-check", help="share of CAM energy on the cell, on test-role cell crops")
    sp.add_argument("--model", action="append", required=True, help="model name, repeatable, or 'all'")
    sp.add_argument("--data", action="append", required=True, help="dataset folder; repeat for several")
    sp.add_argument("--out", required=True)
    sp.add_argument("--cam-method", default="gradcam", choices=["gradcam", "gradcam++", "scorecam"])
    sp.add_argument("--limit", type=int, default=400, help="at most this many cells per dataset")
    sp.add_argument("--cache-dir", default="runs/.cache")
    weights_opt(sp)
    sp.set_defaults(func=cmd_cam_check)

    sp = sub.add_parser("adapt-check", help="measure Reinhard colour matching and batch-norm re-estimation "
                                            "on validation and test cells (mixed and HEM-only batches)")
    sp.add_argument("--model", required=True)
    sp.add_argument("--data", action="append", required=True)
    sp.add_argument("--out", required=True, help="e.g. model_weights/adaptation_<model>.json")
    sp.add_argument("--cache-dir", default="runs/.cache")
    weights_opt(sp)
    sp.set_defaults(func=cmd_adapt_check)

    sp = sub.add_parser("cells-check", help="score the white-cell finder (Aria Segmented references, C-NMC)")
    sp.add_argument("--aria", help="the Aria folder (with Original/ and Segmented/)")
    sp.add_argument("--cnmc", help="the C-NMC folder")
    sp.add_argument("--role", default="test", choices=["train", "val", "test"],
                    help="which Aria role to score (default test: the finder was tuned on val)")
    sp.add_argument("--limit", type=int, help="at most this many Aria fields")
    sp.add_argument("--out", required=True, help="e.g. model_weights/cells_check.json")
    sp.set_defaults(func=cmd_cells_check)

    sp = sub.add_parser("table", help="results table (Markdown) from the shipped reports")
    sp.add_argument("--readme", help="replace the results block of this README")
    weights_opt(sp)
    sp.set_defaults(func=cmd_table)

    sp = sub.add_parser("bench", help="speed benchmark of the prediction, Grad-CAM and training paths")
    sp.add_argument("--out", required=True, help="BENCH.json")
    sp.add_argument("--model", action="append", help="default: all four")
    sp.add_argument("--repeats", type=int, default=20)
    sp.add_argument("--no-app", action="store_true",
                    help="skip the app cold-start measurement (tools/bench_app.py, run after the core figures)")
    weights_opt(sp)
    sp.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    verbose = args.verbose_log = args.verbose_log and not args.quiet
    quiet_tensorflow(verbose)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    if getattr(args, "cache_dir", None) == "":
        args.cache_dir = None
    try:
        if args.command in _TF_COMMANDS:
            import_tensorflow(verbose)
        return args.func(args)
    except LeukemiaCoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # bad option values from the user (size, alpha, init ...)
        print(f"error: {exc}", file=sys.stderr)
        return 2
