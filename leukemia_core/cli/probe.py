"""``lab-probe``: the lab probe of shipped models (:mod:`leukemia_core.evaluation.lab_probe`) on the
labs given, written into each model's evaluation report (``lab_probe``; nothing else in the report
changes) and, with ``--doc``, as the ``lab-probe`` block of a Markdown file."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("leukemia_core")

BLOCK = "lab-probe"


def cmd_lab_probe(args) -> int:
    """Probe each model's features for the lab, class by class; store it in its report."""
    from ..data.datasets import read_many
    from ..docblocks import write_block
    from ..errors import LeukemiaCoreError
    from ..evaluation.lab_probe import probe_cells, probe_table
    from ..inference import Predictor, load_model
    from ..jsonio import read_json, write_json
    from ..models import list_models
    from ..paths import artefact_path

    models = list_models() if args.model == ["all"] else args.model
    if args.report and len(models) != 1:
        raise LeukemiaCoreError("--report names one report: give one --model with it")
    records = [r for r in read_many(args.data) if r.part not in (args.exclude_part or ["Segmented"])]
    if len({r.dataset for r in records}) < 2:
        raise LeukemiaCoreError("the lab probe needs images of two labs or more (repeat --data)")
    reports = {}
    for name in models:
        path = Path(args.report) if args.report else artefact_path(name, "report", args.weights_dir)
        report = read_json(path)
        if report is None:
            raise LeukemiaCoreError(f"{name}: no evaluation report ({path.name}); run evaluate first")
        log.info("%s: lab probe on %d images", name, len(records))
        report["lab_probe"] = probe_cells(records, Predictor(load_model(name, args.weights_dir)),
                                          args.max_cells, args.seed, args.cache_dir or None)
        write_json(path, report)
        reports[name] = report
        print(f"{name}: lab_probe -> {path.name}")
    if not args.report:  # the table names every shipped model probed, not only the ones run now
        for other in list_models():
            report = reports.get(other) or read_json(artefact_path(other, "report", args.weights_dir))
            if isinstance(report, dict) and report.get("lab_probe"):
                reports[other] = report
        reports = {n: reports[n] for n in [*list_models(), *reports] if n in reports}  # registry order
    table = probe_table(reports)
    print(table)
    if args.doc:
        write_block(args.doc, BLOCK, table)
        print(f"table -> {args.doc}")
    return 0


def add_parsers(sub, weights_opt) -> None:
    """Add ``lab-probe`` to the sub-command parsers ``sub``."""
    from ..evaluation.lab_probe import MAX_CELLS

    sp = sub.add_parser("lab-probe", help="how well a linear probe tells the labs apart from each model's features, "
                                          "class by class; stored in each model's report")
    sp.add_argument("--model", action="append", required=True, help="model name, repeatable, or 'all'")
    sp.add_argument("--data", action="append", required=True, help="dataset folder, one per lab; repeatable")
    sp.add_argument("--exclude-part", action="append", help="leave out a part (default: Aria's Segmented)")
    sp.add_argument("--max-cells", type=int, default=MAX_CELLS, help="cells per (lab, class) at most")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--cache-dir", default="runs/.cache")
    sp.add_argument("--doc", help="Markdown file whose <!-- lab-probe:start --> block gets the table")
    sp.add_argument("--report", help="the evaluation report to write the probe into (one --model; default: the "
                                     "model's report in the weights folder), e.g. a leave-one-lab-out report")
    weights_opt(sp)
    sp.set_defaults(func=cmd_lab_probe)
