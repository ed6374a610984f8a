"""docblocks: generated blocks between HTML-comment markers in Markdown files."""

import pytest

from leukemia_core.docblocks import block_text, markers, write_block
from leukemia_core.errors import LeukemiaCoreError


def test_markers_and_block_text():
    assert markers("cells-check") == ("<!-- cells-check:start -->", "<!-- cells-check:end -->")
    doc = "a\n<!-- x:start -->\nold\ntext\n<!-- x:end -->\nb\n"
    assert block_text(doc, "x") == "old\ntext"
    assert block_text(doc, "y") is None
    assert block_text("<!-- x:end -->\n<!-- x:start -->\n", "x") is None  # end before start


def test_write_block_replaces_only_the_block(tmp_path):
    p = tmp_path / "R.md"
    p.write_text("intro\n<!-- x:start -->\nstale\n<!-- x:end -->\nrest\n")
    write_block(p, "x", "| new |")
    assert p.read_text() == "intro\n<!-- x:start -->\n| new |\n<!-- x:end -->\nrest\n"
    p.write_text("no block\n")
    with pytest.raises(LeukemiaCoreError, match="no <!-- x:start --> ... <!-- x:end --> block"):
        write_block(p, "x", "t")
    assert p.read_text() == "no block\n"


def test_write_block_from_json(tmp_path):
    import json

    from leukemia_core.docblocks import write_block_from_json
    p = tmp_path / "R.md"
    p.write_text("<!-- x:start -->\n<!-- x:end -->\n")
    (tmp_path / "r.json").write_text(json.dumps({"n": 3}))
    assert write_block_from_json(p, "x", tmp_path / "r.json", lambda r: f"n = {r['n']}", "cmd") == "n = 3"
    assert block_text(p.read_text(), "x") == "n = 3"
    with pytest.raises(LeukemiaCoreError, match="absent.json: not found; run cmd first"):
        write_block_from_json(p, "x", tmp_path / "absent.json", str, "cmd")
