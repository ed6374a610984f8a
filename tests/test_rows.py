"""rows: the row schema of an image and a cell (predict's CSV columns; screen's Parquet tables add
three), an unread file's row, empty fields as nulls, whole part files, and what a rerun skips."""

from __future__ import annotations

import pytest

from leukemia_core.rows import (CELL_COLUMNS, CELL_SCHEMA, EXTRA_COLUMNS, IMAGE_COLUMNS, IMAGE_SCHEMA, error_row,
                                part_files, read_table, scored, to_table, write_part)

ROW = {"path": "a/x.png", "model": "m", "label": "ALL", "reason": "", "p_all": 0.7, "n_cells": 3, "n_no_call": 0,
       "blast_pct": 66.7, "n_refer": 1,
       "threshold": 0.5, "cell_threshold": 0.45, "notes": "", "error": "", "profile": "", "weights_sha256": "w1",
       "file_sha256": "f1", "backend": "onnxruntime"}
ERROR = {**error_row("a/bad.png", "m", "a/bad.png: not an image"), "weights_sha256": "w1", "file_sha256": "f2",
         "backend": "onnxruntime"}


def test_the_columns_are_predicts_plus_three():
    from leukemia_core.cli import predict

    src = open(predict.__file__).read()
    assert "fields = IMAGE_COLUMNS" in src and "cell_fields = CELL_COLUMNS" in src  # predict writes these columns
    assert IMAGE_SCHEMA.names == IMAGE_COLUMNS + EXTRA_COLUMNS and CELL_SCHEMA.names == CELL_COLUMNS + EXTRA_COLUMNS
    assert {"label", "reason", "n_no_call"} <= set(IMAGE_COLUMNS) and {"label", "reason"} <= set(CELL_COLUMNS)


def test_empty_fields_become_nulls_and_strings_stay():
    t = to_table([ROW, ERROR], IMAGE_SCHEMA).to_pylist()
    assert t[0]["p_all"] == pytest.approx(0.7) and t[0]["n_cells"] == 3 and t[0]["notes"] == ""
    assert t[1]["p_all"] is None and t[1]["n_cells"] is None and t[1]["label"] == "NO CALL"
    assert t[1]["reason"] == "could not be read"
    assert t[1]["error"].startswith("a/bad.png")


def test_parts_are_written_whole_and_read_back(tmp_path):
    assert write_part(tmp_path, "images", []) is None and part_files(tmp_path, "images") == []
    assert read_table(tmp_path, "images").num_rows == 0
    write_part(tmp_path, "images", [ROW])
    write_part(tmp_path, "images", [ERROR])
    (tmp_path / "images" / ".part-x.parquet.tmp").write_bytes(b"half a file")  # an interrupted write
    assert len(part_files(tmp_path, "images")) == 2
    t = read_table(tmp_path, "images")
    assert sorted(t.column("path").to_pylist()) == ["a/bad.png", "a/x.png"]
    assert read_table(tmp_path, "images", ["model"]).column_names == ["model"]


def test_scored_keys_by_model_and_weights(tmp_path):
    write_part(tmp_path, "images", [ROW, ERROR, {**ROW, "model": "n", "weights_sha256": "w2"},
                                    {**ERROR, "file_sha256": ""}])  # a file that could not be opened
    assert scored(tmp_path) == {("m", "w1"): {"f1", "f2"}, ("n", "w2"): {"f1"}}
    assert scored(tmp_path / "nothing") == {}


def test_parts_written_before_the_size_column_read_back_with_it_empty(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    cell = {"path": "a/x.png", "model": "m", "cell": 1, "x": 0, "y": 0, "w": 9, "h": 9, "area": 60, "cx": 4.5,
            "cy": 4.5, "touches_border": False, "label": "ALL", "p_all": 0.7, "refer": False, "profile": "",
            "weights_sha256": "w1", "file_sha256": "f1", "backend": "onnxruntime"}
    older = pa.schema([f for f in CELL_SCHEMA if f.name != "size_red_cells"])
    (tmp_path / "cells").mkdir()
    pq.write_table(to_table([cell], older), tmp_path / "cells" / "part-old.parquet")
    write_part(tmp_path, "cells", [{**cell, "size_red_cells": 1.62}])
    sizes = sorted(read_table(tmp_path, "cells").column("size_red_cells").to_pylist(), key=lambda v: v is None)
    assert sizes == [pytest.approx(1.62), None]
