"""Group-level splits and the leakage check that guards every training and evaluation run."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

from ..errors import LeakageError
from .datasets import Record


def select(records: Iterable[Record], splits: Sequence[str]) -> list[Record]:
    """Records whose ``split`` is one of ``splits``."""
    wanted = set(splits)
    return [r for r in records if r.split in wanted]


def check_leakage(a: Iterable[Record], b: Iterable[Record], what: str = "train/val") -> None:
    """Refuse when a group (patient or Aria block), or the same file, is on both sides.

    Raises:
        LeakageError: naming up to ten offending groups.
    """
    a_groups: dict[tuple[str, str], int] = defaultdict(int)
    a_paths = set()
    for r in a:
        a_groups[(r.dataset, r.group)] += 1
        a_paths.add(r.path.resolve())
    shared = sorted({(r.dataset, r.group) for r in b if (r.dataset, r.group) in a_groups})
    same_files = [r.path for r in b if r.path.resolve() in a_paths]
    if shared or same_files:
        names = ", ".join(f"{d}:{g}" for d, g in shared[:10]) or ", ".join(map(str, same_files[:10]))
        more = len(shared) - 10 if len(shared) > 10 else 0
        raise LeakageError(
            f"{what} split leaks: {len(shared)} group(s) and {len(same_files)} file(s) are on both sides "
            f"({names}{f', and {more} more' if more else ''}). Split by patient/group, not by image.")


def check_against_groups(records: Iterable[Record], train_groups: Iterable[str], what: str) -> None:
    """Refuse to report ``records`` as held-out when any of their groups was trained on.

    ``train_groups`` holds ``"dataset:group"`` strings, as stored in a model manifest.
    """
    seen = set(train_groups)
    shared = sorted({f"{r.dataset}:{r.group}" for r in records} & seen)
    if shared:
        raise LeakageError(
            f"{what}: {len(shared)} group(s) of this evaluation set were used to train the model "
            f"({', '.join(shared[:10])}); this is not a held-out result.")


def group_keys(records: Iterable[Record]) -> list[str]:
    """Sorted ``"dataset:group"`` keys, the form stored in manifests."""
    return sorted({f"{r.dataset}:{r.group}" for r in records})
