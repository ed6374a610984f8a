"""``ood``: fit a model's feature check (:mod:`leukemia_core.evaluation.ood_fit`) on the labelled data
given, store it in the model's calibration file, and write the risk-coverage of its calls per set
into a JSON file (and, with ``--doc``, the ``ood`` block of a Markdown file)."""

from __future__ import annotations

BLOCK = "ood"


def cmd_ood(args) -> int:
    """Fit and measure the feature check of each model."""
    from ..evaluation.ood_fit import fit_and_measure, ood_table, write_result
    from .per_model import fit_each_model

    def fit(name):
        return fit_and_measure(name, args.data, args.weights_dir, args.left_out or (),
                               args.exclude_part or ["Segmented"], args.cache_dir or None, write=not args.no_write)

    def line(name, key, s):
        return (f"{name} {key}: coverage {s['coverage']:.3f}, calls made right {s['accuracy_called'] or 0:.3f} "
                f"(every cell {s['accuracy_all']:.3f}), wrong calls withheld {s['wrong_withheld'] or 0:.3f}")

    return fit_each_model(args, "feature check", fit, write_result, ood_table, BLOCK, line)


def add_parsers(sub, weights_opt) -> None:
    """Add ``ood`` to the sub-command parsers ``sub``."""
    sp = sub.add_parser("ood", help="fit each model's feature check (cells outside what it can read get NO CALL) "
                                    "and measure the risk-coverage of its calls")
    sp.add_argument("--model", action="append", required=True, help="model name, repeatable, or 'all'")
    sp.add_argument("--data", action="append", required=True, help="dataset folder; repeatable")
    sp.add_argument("--left-out", action="append", metavar="DATASET",
                    help="a lab the model was trained without: all its images form one left-out set")
    sp.add_argument("--exclude-part", action="append", help="leave out a part (default: Aria's Segmented)")
    sp.add_argument("--out", default="model_weights/ood.json", help="the results file (one entry per model)")
    sp.add_argument("--no-write", action="store_true", help="measure only; leave the calibration file as it is")
    sp.add_argument("--cache-dir", default="runs/.cache")
    sp.add_argument("--doc", help="Markdown file whose <!-- ood:start --> block gets the table")
    weights_opt(sp)
    sp.set_defaults(func=cmd_ood)
