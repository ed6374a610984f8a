"""What the per-model fitting commands (``ood``, ``lymphoid-gate``) share: fit and measure each model
named (or every model), keep each result in one JSON file, print a line per measured set, and write
the Markdown block made from the whole file."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

log = logging.getLogger("leukemia_core")


def fit_each_model(args, what: str, fit: Callable[[str], dict], write_result: Callable[[dict, Path], None],
                   table: Callable[[dict], str], block: str, line: Callable[[str, str, dict], str | None]) -> int:
    """For each model of ``args.model`` (``all``: every model): ``fit(name)``, ``write_result`` into
    ``args.out`` and print ``line(name, set, figures)`` per set (None: nothing); then, with
    ``args.doc``, write ``table`` of the whole file as block ``block``."""
    from ..docblocks import write_block
    from ..jsonio import read_json
    from ..models import list_models

    models = list_models() if args.model == ["all"] else args.model
    for name in models:
        log.info("%s: %s on %d folder(s)", name, what, len(args.data))
        res = fit(name)
        write_result(res, Path(args.out))
        for key, s in res["sets"].items():
            text = line(name, key, s)
            if text:
                print(text)
    if args.doc:
        write_block(args.doc, block, table(read_json(Path(args.out))))
        print(f"table -> {args.doc}")
    return 0
