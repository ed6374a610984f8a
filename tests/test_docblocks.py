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
