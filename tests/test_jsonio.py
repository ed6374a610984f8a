"""jsonio: the project's JSON files read with a clear error and written atomically."""

import json

import numpy as np
import pytest

from leukemia_core.errors import WeightsError
from leukemia_core.jsonio import read_json, write_json


def test_read_json_missing_unreadable_and_valid(tmp_path):
    assert read_json(tmp_path / "absent.json") is None
    assert read_json(tmp_path) is None  # a folder is not a file
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(WeightsError, match="bad.json: unreadable JSON file"):
        read_json(tmp_path / "bad.json")
    (tmp_path / "latin.json").write_bytes(b'{"a": "\xe9"}')
    with pytest.raises(WeightsError, match="unreadable"):
        read_json(tmp_path / "latin.json")
    (tmp_path / "ok.json").write_text('[1, {"a": null}]')
    assert read_json(str(tmp_path / "ok.json")) == [1, {"a": None}]


def test_write_json_is_atomic_and_converts_numpy(tmp_path):
    path = tmp_path / "sub" / "f.json"
    write_json(path, {"i": np.int64(3), "f": np.float32(0.5), "a": np.arange(3), "p": tmp_path})
    assert json.loads(path.read_text()) == {"i": 3, "f": 0.5, "a": [0, 1, 2], "p": str(tmp_path)}
    assert not path.with_suffix(".json.tmp").exists()
    with pytest.raises(TypeError, match="not JSON serialisable"):
        write_json(path, {"x": object()})
    assert json.loads(path.read_text())["i"] == 3  # the old file is left whole


def test_lists_of_numbers_are_written_on_one_line_and_read_back_the_same(tmp_path):
    from leukemia_core.jsonio import dumps

    data = {"mean": [0.5, -1e-05, 3], "names": ["a", "b"], "nested": [[1, 2], [3.25]], "empty": [],
            "text": "a list in a string [1,\\n2] stays as written", "inf": [float("-inf"), 1.0]}
    text = dumps(data)
    assert '"mean": [0.5, -1e-05, 3]' in text and '"inf": [-Infinity, 1.0]' in text
    assert '"names": [\n  "a",\n  "b"\n ]' in text  # lists of strings keep one item a line
    assert '  [1, 2],\n  [3.25]' in text
    write_json(tmp_path / "x.json", data)
    assert read_json(tmp_path / "x.json") == {**data, "inf": [float("-inf"), 1.0]}


def test_dicts_of_scalars_are_written_on_one_line(tmp_path):
    from leukemia_core.jsonio import dumps

    data = {"images": [{"path": "a.png", "p_all": 0.25, "cells": [0.1, 0.4], "ok": True, "note": None},
                       {"path": "b.png", "p_all": 0.75, "cells": [], "ok": False, "note": "x"}],
            "summary": {"n": 2, "labels": ["all", "hem"]}, "empty": {}}
    text = dumps(data)
    assert '  {"path": "a.png", "p_all": 0.25, "cells": [0.1, 0.4], "ok": true, "note": null},\n' in text
    assert '"summary": {\n  "n": 2,\n  "labels": [\n   "all",\n   "hem"\n  ]\n }' in text  # strings: a line each
    assert '"empty": {}' in text and json.loads(text) == data
    assert dumps({"a": np.float32(0.5), "t": (1, 2)}) == '{"a": 0.5, "t": [1, 2]}'


def test_with_other_models_keeps_them_only_under_the_same_settings(tmp_path):
    from leukemia_core.jsonio import with_other_models

    path = tmp_path / "r.json"
    alone = {"data": ["a"], "models": {"x": 1}}
    assert with_other_models(path, alone, ("data",)) == alone  # no file yet
    write_json(path, {"data": ["a"], "created": "then", "models": {"x": 1, "y": 2}})
    merged = with_other_models(path, {"data": ["a"], "created": "now", "models": {"x": 3}}, ("data",))
    assert merged == {"data": ["a"], "created": "now", "models": {"x": 3, "y": 2}}
    other = {"data": ["b"], "models": {"x": 3}}
    assert with_other_models(path, other, ("data",)) == other
    assert with_other_models(path, {"data": ["a"], "limit": 5, "models": {}}, ("data", "limit"))["models"] == {}
