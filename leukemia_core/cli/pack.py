"""``cells-pack``: the training and validation cells a ``train`` run would cut, written to one file
(:mod:`leukemia_core.training.cellpack`) that ``train --cells-pack`` reads on a machine without the
datasets."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("leukemia_core")


def cmd_cells_pack(args) -> int:
    """Cut the cells as ``train`` would and write them to ``--out``."""
    from ..models import get_spec
    from ..training.cellpack import write_pack
    from ..training.train import TrainConfig, load_cells, pack_settings

    cfg = TrainConfig(model=args.model, data=args.data,
                      exclude_parts=args.exclude_part if args.exclude_part is not None else ["Segmented"],
                      mask_outside=not args.with_surroundings, cache_dir=args.cache_dir or None)
    size = int(args.input_size or get_spec(args.model).input_size)
    train_recs, val_recs, tr, va = load_cells(cfg, size)
    cells = {"train": (train_recs, tr), **({"val": (val_recs, va)} if va is not None else {})}
    settings = {**pack_settings(cfg, size), "data": cfg.data, "exclude_parts": cfg.exclude_parts}
    meta = write_pack(Path(args.out), cells, settings, args.quality)
    mib = Path(args.out).stat().st_size / 2**20
    print(f"{meta['cells']} cells -> {args.out} ({mib:.1f} MiB; JPEG quality {args.quality}, mean absolute "
          f"pixel error {meta['jpeg_mean_abs_error']})")
    return 0


def add_parsers(sub) -> None:
    """Add ``cells-pack`` to the sub-command parsers ``sub``."""
    sp = sub.add_parser("cells-pack", help="write the training and validation cells a train run would cut to one "
                                           "file, for train --cells-pack on a machine without the datasets")
    sp.add_argument("--model", required=True, help="the model whose input size the crops take (or --input-size)")
    sp.add_argument("--data", action="append", required=True, help="dataset folder; repeatable")
    sp.add_argument("--exclude-part", action="append", help="leave out a part (default: Aria's Segmented)")
    sp.add_argument("--input-size", type=int, help="crop side in pixels (default: the model's)")
    sp.add_argument("--with-surroundings", action="store_true", help="crop each cell with its surroundings")
    sp.add_argument("--quality", type=int, default=90, help="JPEG quality of the stored crops (default 90)")
    sp.add_argument("--cache-dir", default="runs/.cache", help="decoded-image cache ('' to disable)")
    sp.add_argument("--out", required=True, help="the pack, e.g. .device/cells-80-black.npz")
    sp.set_defaults(func=cmd_cells_pack)
