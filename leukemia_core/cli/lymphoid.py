"""``lymphoid-gate``: fit each model's lymphoid gate (:mod:`leukemia_core.evaluation.lymphoid_fit`) on
the typed and lymphoid cells given, store it in the model's calibration file, and write what it stops
and lets through per set into a JSON file (and, with ``--doc``, the ``lymphoid-gate`` block)."""

from __future__ import annotations

BLOCK = "lymphoid-gate"


def cmd_lymphoid_gate(args) -> int:
    """Fit and measure the lymphoid gate of each model."""
    from ..evaluation.lymphoid_fit import fit_and_measure, table, write_result
    from .per_model import fit_each_model

    def fit(name):
        return fit_and_measure(name, args.data, args.weights_dir, args.cache_dir or None, write=not args.no_write)

    def line(name, key, s):
        if not s.get("cells"):
            return None
        return (f"{name} {key}: other white cells stopped {s['other_stopped']}, "
                f"lymphoid let through {s['lymphoid_pass']}")

    return fit_each_model(args, "lymphoid gate", fit, write_result, table, BLOCK, line)


def add_parsers(sub, weights_opt) -> None:
    """Add ``lymphoid-gate`` to the sub-command parsers ``sub``."""
    sp = sub.add_parser("lymphoid-gate", help="fit each model's lymphoid gate (other white cells get NO CALL "
                                              "'not a lymphoid cell') and measure it on held-out cells and labs")
    sp.add_argument("--model", action="append", required=True, help="model name, repeatable, or 'all'")
    sp.add_argument("--data", action="append", required=True, help="dataset folder; repeatable")
    sp.add_argument("--out", default="model_weights/lymphoid_gate.json", help="the results file")
    sp.add_argument("--no-write", action="store_true", help="measure only; leave the calibration file as it is")
    sp.add_argument("--cache-dir", default="runs/.cache")
    sp.add_argument("--doc", help="Markdown file whose <!-- lymphoid-gate:start --> block gets the table")
    weights_opt(sp)
    sp.set_defaults(func=cmd_lymphoid_gate)
