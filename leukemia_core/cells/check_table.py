"""The README's finder block: the figures of ``cells-check``'s JSON as Markdown, with each set's role.

Written by ``cells-check --readme docs/results.md`` between ``<!-- cells-check:start -->`` and
``<!-- cells-check:end -->``; a test checks docs/results.md against ``model_weights/cells_check.json``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..docblocks import write_block_from_json

BLOCK = "cells-check"
#: What each BCCD role did for the finder (its settings were chosen on Aria val and BCCD train + val).
BCCD_ROLES = {"all": "every image", "train": "train block (chose the settings)",
              "val": "val block (chose the settings)", "test": "test block (held out)"}


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"


def readme_block(r: dict, base: Path | None = None) -> str:
    """Markdown tables of one ``cells-check`` result (``leukemia_core.cells_check/2``); links to
    the contact sheets are relative to the folder ``base`` (as written: relative to the folder
    ``cells-check`` ran in)."""
    t = r.get("targets", {})
    lines = ["| data, role | reference cells | found | matched | recall | precision | one cell where one is |",
             "|---|---|---|---|---|---|---|"]
    if "bccd" in r:
        b = r["bccd"]
        for role, f in [("all", b), *b.get("by_role", {}).items()]:
            lines.append(f"| BCCD, {BCCD_ROLES.get(role, role)}: {f['n_images']} images, human boxes "
                         f"(IoU >= {r['bccd_box_iou']}) | {f['reference']} | {f['found']} | {f['matched']} | "
                         f"{_f(f['recall'])} | {_f(f['precision'])} | {_pct(f['share_exactly_one'])} of "
                         f"{f['one_box_images']} |")
    if "aria" in r:
        a = r["aria"]
        lines.append(f"| Aria {a['role']} block: {a['n_fields']} fields, authors' masks (IoU >= {r['iou_match']}) "
                     f"| {a['reference']} | {a['found']} | {a['matched']} | {_f(a['recall'])} | "
                     f"{_f(a['precision'])} | - |")
        for sub, s in a.get("per_subclass", {}).items():
            lines.append(f"| - Aria {a['role']}, {sub} | {s['reference']} | {s['found']} | {s['matched']} | "
                         f"{_f(s['recall'])} | {_f(s['precision'])} | - |")
    if "cnmc" in r:
        c = r["cnmc"]
        lines.append(f"| C-NMC: {c['n_images']} segmented single cells | {c['n_images']} | - | - | - | - | "
                     f"{_pct(c['share_exactly_one'])} of {c['n_images']} |")
    for lab, w in (r.get("wbcseg", {}).get("by_lab") or {}).items():
        lines.append(f"| wbcseg, {lab}: {w['n_images']} single normal cells, expert masks | {w['n_images']} | "
                     f"{sum(int(k) * n for k, n in w['cells_per_image'].items())} | - | - | - | "
                     f"{_pct(w['share_exactly_one'])} of {w['n_images']}; outline IoU median {_f(w['median_iou'])}, "
                     f"{_pct(w['share_iou_good'])} >= {r['wbcseg']['good_iou']}; {w['stray_cells']} cells not the "
                     f"white cell |")
    lines += ["", f"Targets: BCCD recall >= {t.get('bccd_recall')}, precision >= {t.get('bccd_precision')}, one "
                  f"cell in >= {_pct(t.get('bccd_share_exactly_one'))} of one-box images; Aria test recall >= "
                  f"{t.get('recall')}, precision >= {t.get('precision')}; C-NMC one cell in "
                  f"{_pct(t.get('cnmc_share_exactly_one'))}"
                  + (f"; wbcseg one cell in >= {_pct(t.get('wbcseg_share_exactly_one'))}, median outline IoU >= "
                     f"{t.get('wbcseg_median_iou')}" if "wbcseg" in r else "") + "."]
    speed = r.get("images_per_s", {})
    parts = [f"{speed[k]} images/s at {k} px (colour-only finder on the same images in the same run: "
             f"{speed[k + '_colour_only']}, ratio {speed[k] / speed[k + '_colour_only']:.2f})"
             for k in ("224", "640x480") if k in speed and speed.get(k + "_colour_only")]
    if parts:
        lines += ["", f"Speed, one process on this machine: {'; '.join(parts)}; target >= "
                      f"{t.get('images_per_s_224')} images/s at 224 px."]
    if r.get("sheets"):
        lines += ["", "Contact sheets of the worst images (found outlines green, reference red): "
                  + ", ".join(f"[{k}]({_link(v, base)})" for k, v in r["sheets"].items()) + "."]
    lines += ["", f"Generated from `model_weights/cells_check.json` ({r.get('created', '')})."]
    return "\n".join(lines)


def _link(path: str, base: Path | None) -> str:
    return path if base is None else Path(os.path.relpath(Path(path).resolve(), Path(base).resolve())).as_posix()


def write_readme_block(readme: Path, result_path: Path) -> str:
    """Replace the README's finder block with :func:`readme_block` of the JSON at ``result_path``.

    Raises:
        LeukemiaCoreError: the JSON is missing, or the README has no block.
    """
    return write_block_from_json(Path(readme), BLOCK, Path(result_path),
                                 lambda r: readme_block(r, Path(readme).parent), "cells-check")
