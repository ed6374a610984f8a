"""``refer-band``: refit each model's refer band at the stated referral rate from its report
(:mod:`leukemia_core.evaluation.refer_fit`), store it, and write what it catches per set into a JSON
file (and, with ``--doc``, the ``refer-band`` block of a Markdown file)."""

from __future__ import annotations

from pathlib import Path


def cmd_refer_band(args) -> int:
    """Refit each model's refer band at the stated rate from its report and measure it."""
    from ..docblocks import write_block
    from ..evaluation.refer_fit import refit, table
    from ..jsonio import write_json
    from ..models import list_models
    from ..paths import weights_dir_or_default

    wdir = weights_dir_or_default(args.weights_dir)
    models = list_models() if args.model == ["all"] else args.model
    doc = refit(models, wdir, Path(args.lolo) if args.lolo else None, write=not args.no_write)
    write_json(Path(args.out), doc)
    for name, r in doc["models"].items():
        caught = [f"{k} {s['wrong_calls_referred']}" for k, s in r["sets"].items() if s.get("cells")]
        print(f"{name}: half-width {r['refer_half_width']:.2f}; wrong calls referred: {', '.join(caught)}")
    if args.doc:
        write_block(args.doc, "refer-band", table(doc))
        print(f"table -> {args.doc}")
    return 0


def add_parsers(sub, weights_opt) -> None:
    """Add ``refer-band`` to the sub-command parsers ``sub``."""
    sp = sub.add_parser("refer-band", help="refit each model's refer band at the stated referral rate from its "
                                           "report's validation cells and measure what it catches")
    sp.add_argument("--model", action="append", required=True, help="model name, repeatable, or 'all'")
    sp.add_argument("--lolo", default="model_weights/lolo", help="leave-one-lab-out reports to measure too")
    sp.add_argument("--out", default="model_weights/refer_band.json")
    sp.add_argument("--no-write", action="store_true", help="measure only; leave the calibration files as they are")
    sp.add_argument("--doc", help="Markdown file whose <!-- refer-band:start --> block gets the table")
    weights_opt(sp)
    sp.set_defaults(func=cmd_refer_band)
