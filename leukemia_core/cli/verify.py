"""``verify`` and ``verify-kshot``: a lab's verification study and site profile, and the k-shot
measurement behind the README's table (:mod:`leukemia_core.verification`).

``verify`` exits 0 when the study ran and every criterion given was met, 1 when a criterion was
not met or some images could not be read (the report is still written), 2 for an error a user
can cause (no labels, one class only, nothing readable, a profile for other weights).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ..models import list_models

log = logging.getLogger("leukemia_core")


def cmd_verify(args) -> int:
    """Verify models on the lab's labelled images (``verify``); write the report files and a site profile."""
    from ..verification.report import summary_line
    from ..verification.run import run_verify
    from ..verification.study import read_labelled

    names = list_models() if args.model == ["all"] else args.model
    records = read_labelled(args.data or [], args.labels)
    data = [str(d) for d in (args.data or [])] + ([str(args.labels)] if args.labels else [])
    name = None if args.no_profile else (args.profile_name or Path((args.data or [args.labels])[0]).resolve().name)
    last = {}

    def progress(model, done, total):
        if done == total or done - last.get(model, 0) >= max(1, total // 10):  # about ten lines per model
            last[model] = done
            log.info("%s: %d of %d images", model, done, total)

    res = run_verify(names, records, args.weights_dir, data, args.use_profile or [], args.min_sensitivity,
                     args.min_specificity, args.level, args.fit_share, args.seed, name, Path(args.out_dir),
                     Path(args.profiles_dir) if args.profiles_dir else None, args.cache_dir or None,
                     args.bootstrap, progress)
    for line in summary_line(res.report):
        print(line)
    for kind, path in res.files.items():
        print(f"{kind} -> {path}")
    for model, path in res.profile_paths.items():
        print(f"site profile of {model} -> {path}")
    failed = [m for m, r in res.report["models"].items() if r["acceptance"]["met"] is False]
    if res.report["skipped"]:
        print(f"warning: {len(res.report['skipped'])} image(s) could not be read; listed in the report",
              file=sys.stderr)
    return 1 if failed or res.report["skipped"] else 0


def cmd_verify_kshot(args) -> int:
    """k-shot site profiles on each lab's test-role images (``verify-kshot``); write the JSON, optionally the README table."""
    from ..verification.kshot import kshot_table, run_kshot, write_readme_block

    result = run_kshot(args.model, args.data, args.k, args.draws, args.role, args.weights_dir, Path(args.out),
                       args.cache_dir or None, progress=lambda m: log.info(m))
    print(kshot_table(result))
    print(f"-> {args.out}")
    if args.readme:
        write_readme_block(Path(args.readme), Path(args.out))
        print(f"table -> {args.readme}")
    return 0


def add_parsers(sub, weights_opt) -> None:
    """Add ``verify`` and ``verify-kshot`` to the sub-command parsers ``sub``."""
    sp = sub.add_parser("verify", help="verify models on the lab's own labelled images; fit a site profile")
    sp.add_argument("--model", action="append", required=True, help="model name, repeatable, or 'all'")
    sp.add_argument("--data", action="append", help="folder of labelled images (all/, hem/; C-NMC; Aria), repeatable")
    sp.add_argument("--labels", help="CSV of file names and labels (file,label[,group]; all/hem or 1/0)")
    sp.add_argument("--out-dir", required=True, help="folder for verification.json, .csv and .html")
    sp.add_argument("--min-sensitivity", type=float, help="the lab's acceptance criterion (0-1)")
    sp.add_argument("--min-specificity", type=float, help="the lab's acceptance criterion (0-1)")
    sp.add_argument("--level", choices=["cell", "image"], default="cell", help="level of the criteria")
    sp.add_argument("--profile-name", help="name of the site profile (default: the data folder's name)")
    sp.add_argument("--no-profile", action="store_true", help="do not write a site profile")
    sp.add_argument("--profiles-dir", help="where to write it (default $LEUKEMIA_SITE_PROFILES or site_profiles/)")
    sp.add_argument("--use-profile", action="append", help="run the study under this site profile (repeatable)")
    sp.add_argument("--fit-share", type=float, default=0.5, help="share of each class's images (whole groups) "
                                                                   "the site calibration is fitted on")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--bootstrap", type=int, default=1000, help="bootstrap draws for the ROC AUC interval")
    sp.add_argument("--cache-dir", default="", help="decoded-cell cache (default none)")
    weights_opt(sp)
    sp.set_defaults(func=cmd_verify)

    sp = sub.add_parser("verify-kshot", help="site profiles from k cells per class of a lab, on the rest of it")
    sp.add_argument("--model", default="proposed")
    sp.add_argument("--data", action="append", required=True, help="a lab's folder (C-NMC, Aria), repeatable")
    sp.add_argument("--k", type=int, nargs="+", default=[10, 20, 50])
    sp.add_argument("--draws", type=int, default=20)
    sp.add_argument("--role", default="test", choices=["train", "val", "test"])
    sp.add_argument("--out", default="model_weights/site_kshot.json")
    sp.add_argument("--readme", help="also replace the site-kshot block of this README")
    sp.add_argument("--cache-dir", default="runs/.cache")
    weights_opt(sp)
    sp.set_defaults(func=cmd_verify_kshot)
