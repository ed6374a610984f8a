"""Generated blocks in Markdown files: the text between two HTML-comment markers, rewritten from a
JSON file a project command wrote, so figures in the README are never typed by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from .errors import LeukemiaCoreError


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of block ``name``: ``<!-- name:start -->``, ``<!-- name:end -->``."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def block_text(content: str, name: str) -> str | None:
    """The text inside block ``name`` of ``content`` (without the marker lines), None without one."""
    start, end = markers(name)
    if start not in content or end not in content.split(start, 1)[1]:
        return None
    return content.split(start, 1)[1].split(end, 1)[0].strip("\n")


def replace_block(content: str, name: str, text: str, where: str = "the text") -> str:
    """``content`` with block ``name`` replaced by ``text`` (the one implementation of the swap).

    Raises:
        LeukemiaCoreError: ``content`` has no such block (``where`` names it in the message).
    """
    start, end = markers(name)
    if block_text(content, name) is None:
        raise LeukemiaCoreError(f"{where}: no {start} ... {end} block")
    head, rest = content.split(start, 1)
    return f"{head}{start}\n{text}\n{end}{rest.split(end, 1)[1]}"


def has_block(content: str, name: str) -> bool:
    """Whether ``content`` holds block ``name``."""
    return block_text(content, name) is not None


def write_block(path: Path, name: str, text: str) -> None:
    """Replace block ``name`` of the Markdown file at ``path`` with ``text``.

    Raises:
        LeukemiaCoreError: the file has no such block (nothing is written).
    """
    content = Path(path).read_text()
    Path(path).write_text(replace_block(content, name, text, str(path)))


def write_block_from_json(path: Path, name: str, result_path: Path, render: Callable[[dict], str],
                          command: str) -> str:
    """Replace block ``name`` of ``path`` with ``render`` of the JSON at ``result_path``; return
    the text.

    Raises:
        LeukemiaCoreError: the JSON is missing (run ``command`` first) or the file has no block.
    """
    result_path = Path(result_path)
    if not result_path.is_file():
        raise LeukemiaCoreError(f"{result_path}: not found; run {command} first")
    text = render(json.loads(result_path.read_text()))
    write_block(path, name, text)
    return text
