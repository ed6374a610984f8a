"""The two Parquet tables ``screen`` writes, and what a rerun reads back from them.

``<out>/images/part-*.parquet``: one row per (image, model), the columns of ``predict``'s CSV
(:data:`IMAGE_COLUMNS`: ``path, model, label, reason, p_all, n_cells, n_no_call, n_not_lymphoid, blast_pct, n_refer,
threshold, cell_threshold, notes, error, profile``; ``label`` is ALL, HEM or NO CALL, ``reason`` why
NO CALL) plus ``weights_sha256`` (the model's weights, from its manifest),
``file_sha256`` (the image file's bytes; empty when the file could not be read) and ``backend``
(``onnxruntime`` or ``keras``). ``<out>/cells/part-*.parquet``: one row per found cell, the
columns of ``predict --cells`` (:data:`CELL_COLUMNS`) plus the same three. Empty CSV fields
(an error row's ``p_all``, an image without cells' ``blast_pct``) are nulls here.

Each part file is written whole (to a temporary name, then renamed), so an interrupted run leaves
only complete files; :func:`scored` reads them back to skip what is done.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

#: ``predict``'s CSV columns (one row per image and model), in its order.
IMAGE_COLUMNS = ["path", "model", "label", "reason", "p_all", "n_cells", "n_no_call", "n_not_lymphoid",
                 "blast_pct", "n_refer", "threshold", "cell_threshold", "notes", "error", "profile"]
#: ``predict --cells``'s CSV columns (one row per cell).
CELL_COLUMNS = ["path", "model", "cell", "x", "y", "w", "h", "area", "cx", "cy", "touches_border", "label", "reason",
                "p_all", "refer", "size_red_cells", "profile"]
#: What screen adds to both tables.
EXTRA_COLUMNS = ["weights_sha256", "file_sha256", "backend"]

#: The outcome and reason of a file that could not be read as an image.
UNREAD_LABEL, UNREAD_REASON = "NO CALL", "could not be read"


def error_row(path, model: str, error: str) -> dict:
    """The image row of a file ``model`` could not read (``predict``'s CSV and ``screen``'s table):
    NO CALL, why in ``error``, every figure empty."""
    row = {c: "" for c in IMAGE_COLUMNS}
    row.update(path=str(path), model=model, label=UNREAD_LABEL, reason=UNREAD_REASON, error=error)
    return row


_S, _F, _I, _B = pa.string(), pa.float64(), pa.int64(), pa.bool_()
IMAGE_SCHEMA = pa.schema([("path", _S), ("model", _S), ("label", _S), ("reason", _S), ("p_all", _F), ("n_cells", _I),
                          ("n_no_call", _I), ("n_not_lymphoid", _I), ("blast_pct", _F), ("n_refer", _I), ("threshold", _F),
                          ("cell_threshold", _F),
                          ("notes", _S), ("error", _S), ("profile", _S)] + [(c, _S) for c in EXTRA_COLUMNS])
CELL_SCHEMA = pa.schema([("path", _S), ("model", _S), ("cell", _I), ("x", _I), ("y", _I), ("w", _I), ("h", _I),
                         ("area", _I), ("cx", _F), ("cy", _F), ("touches_border", _B), ("label", _S),
                         ("reason", _S), ("p_all", _F),
                         ("refer", _B), ("size_red_cells", _F), ("profile", _S)] + [(c, _S) for c in EXTRA_COLUMNS])
TABLES = {"images": IMAGE_SCHEMA, "cells": CELL_SCHEMA}


def _value(v, typ):
    if v is None or (isinstance(v, str) and v == "" and typ != _S):
        return None
    if typ == _S:
        return str(v)
    if typ == _F:
        return float(v)
    if typ == _I:
        return int(v)
    return bool(v)


def to_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Rows (dicts as ``predict`` writes them; ``""`` for an empty field) -> a table of ``schema``
    (missing or empty values null, strings ``""`` kept)."""
    cols = {f.name: [_value(r.get(f.name), f.type) for r in rows] for f in schema}
    return pa.table(cols, schema=schema)


def write_part(out: Path, table: str, rows: list[dict]) -> Path | None:
    """Write ``rows`` as one new part file of ``table`` (``"images"`` or ``"cells"``) under ``out``;
    None when there are no rows. Written to a hidden temporary name, then renamed (a reader never
    sees half a file; Arrow skips names starting with ``.``)."""
    if not rows:
        return None
    folder = Path(out) / table
    folder.mkdir(parents=True, exist_ok=True)
    name = f"part-{uuid.uuid4().hex}.parquet"
    tmp = folder / f".{name}.tmp"
    pq.write_table(to_table(rows, TABLES[table]), tmp)
    os.replace(tmp, folder / name)
    return folder / name


def part_files(out: Path, table: str) -> list[Path]:
    """The complete part files of ``table`` under ``out`` (sorted)."""
    folder = Path(out) / table
    return sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []


def read_table(out: Path, table: str, columns: list[str] | None = None) -> pa.Table:
    """Every part of ``table`` under ``out`` as one Arrow table (empty, with the schema, when none)."""
    files = part_files(out, table)
    schema = TABLES[table]
    if not files:
        return schema.empty_table() if columns is None else pa.schema([schema.field(c) for c in columns]).empty_table()
    return pa.concat_tables([pq.read_table(f, columns=columns, schema=schema) for f in files])


def scored(out: Path) -> dict[tuple[str, str], set[str]]:
    """What a rerun skips: ``{(model, weights_sha256): {file_sha256, ...}}`` of the images already
    in ``out`` (error rows of files that were read count: a rerun would give the same error;
    rows without a file sha256, files that could not be opened, do not)."""
    t = read_table(out, "images", ["model", "weights_sha256", "file_sha256"])
    done: dict[tuple[str, str], set[str]] = {}
    for m, w, s in zip(*(t.column(c).to_pylist() for c in ("model", "weights_sha256", "file_sha256"))):
        if s:
            done.setdefault((m, w or ""), set()).add(s)
    return done
