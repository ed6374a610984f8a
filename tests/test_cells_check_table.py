"""cells.check_table: the README's finder block from cells-check's JSON, and the shipped README's block."""

import json
from pathlib import Path

import pytest

from leukemia_core.cells.check import run_cells_check
from leukemia_core.cells.check_table import BLOCK, readme_block, write_readme_block
from leukemia_core.docblocks import block_text, markers
from leukemia_core.errors import LeukemiaCoreError

ROOT = Path(__file__).resolve().parents[1]


def test_block_names_every_set_and_role(aria_tree, cnmc_tree, bccd_tree, tmp_path):
    r = run_cells_check(aria_tree, cnmc_tree, tmp_path / "c.json", limit=3, bccd=bccd_tree,
                        sheets=tmp_path / "s")
    text = readme_block(r)
    assert "| BCCD, every image: 3 images, human boxes (IoU >= 0.3) | 3 | 3 | 3 | 1.000 | 1.000 | 100.0 % of 3 |" in text
    assert "BCCD, train block (chose the settings)" in text
    assert f"| Aria test block: 3 fields, authors' masks (IoU >= 0.5) | {r['aria']['reference']} |" in text
    assert "| C-NMC: 9 segmented single cells | 9 | - | - | - | - | 100.0 % of 9 |" in text
    assert "colour-only finder on the same images in the same run" in text
    assert "[bccd](" in text and text.endswith(f"({r['created']}).")
    # sets left out stay out
    assert "| BCCD" not in readme_block(run_cells_check(None, cnmc_tree))


def test_cli_writes_the_readme_block(aria_tree, cnmc_tree, bccd_tree, tmp_path, capsys):
    from leukemia_core.cli import main
    readme = tmp_path / "README.md"
    start, end = markers(BLOCK)
    readme.write_text(f"# x\n{start}\nstale\n{end}\n")
    out = tmp_path / "c.json"
    assert main(["cells-check", "--aria", str(aria_tree), "--cnmc", str(cnmc_tree), "--bccd", str(bccd_tree),
                 "--limit", "2", "--out", str(out), "--readme", str(readme)]) == 0
    printed = capsys.readouterr().out
    assert "BCCD images: 2" in printed and "  train: 2 images" in printed and "ratio" in printed
    assert block_text(readme.read_text(), BLOCK) == readme_block(json.loads(out.read_text()))
    with pytest.raises(LeukemiaCoreError, match="run cells-check first"):
        write_readme_block(readme, tmp_path / "absent.json")


def test_shipped_results_block_is_the_shipped_json(monkeypatch):
    monkeypatch.chdir(ROOT)  # the JSON's sheet paths are relative to the project root
    r = json.loads((ROOT / "model_weights" / "cells_check.json").read_text())
    assert block_text((ROOT / "docs" / "results.md").read_text(), BLOCK) == readme_block(r, ROOT / "docs")
    for sheet in r["sheets"].values():
        assert (ROOT / sheet).is_file()
    assert "[bccd](cells_check/cells_check_bccd.png)" in readme_block(r, ROOT / "docs")


def test_block_names_each_wbcseg_lab(tmp_path):
    from test_cells_wbcseg_check import _tree

    root = _tree(tmp_path, [("1", [((60, 60), 22)], ((60, 60), 22)), ("2", [((60, 60), 15)], ((60, 60), 30))])
    r = run_cells_check(None, None, wbcseg=root, sheets=tmp_path / "s")
    text = readme_block(r)
    assert "| wbcseg, dataset1: 1 single normal cells, expert masks | 1 | 1 | - | - | - | 100.0 % of 1;" in text
    assert "wbcseg, dataset2" in text and "median outline IoU >= 0.85" in text and "[wbcseg](" in text
