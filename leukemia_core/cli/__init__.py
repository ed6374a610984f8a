"""Command line: ``python -m leukemia_core <command> ...``.

Commands: ``models``, ``train``, ``evaluate``, ``predict``, ``baseline``, ``cam-check``, ``cells-check``, ``size-check``, ``size-fusion``, ``table``,
``bench``, ``verify``, ``verify-kshot``, ``adapt``, ``adapt-kshot``, ``encoders``. Errors a user can cause print one line (``error: ...``) and exit with status 2.
``predict`` exits 0 when every input was classified, 1 when some could not be read (the CSV is
still written, with those rows' ``error`` filled) and 2 when a named path does not exist or no
input could be read at all.

TensorFlow's start-up chatter (oneDNN and absl notes) and ``predict``'s per-image lines are off
unless ``--verbose`` is given.
"""

from __future__ import annotations

import logging
import sys

from ..errors import LeukemiaCoreError
from ..tfstartup import import_tensorflow, quiet_tensorflow
from .parser import build_parser

#: Commands that need TensorFlow: imported (quietly unless --verbose) before they run.
_TF_COMMANDS = {"train", "evaluate", "cam-check", "adapt-check", "bench", "verify", "verify-kshot", "adapt",
                "adapt-kshot", "bench-adapt"}


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m leukemia_core`` with ``argv`` (default ``sys.argv[1:]``); return the exit status
    (2 for an error a user can cause, printed as one line)."""
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
