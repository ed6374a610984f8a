"""reports.sets: roles, order and labels of a report's sets, and their stored probabilities."""

import numpy as np
import pandas as pd

from leukemia_core.evaluation.evaluate import ROLE_TEXT
from leukemia_core.reports.sets import (
    all_set_keys,
    datasets_of,
    first_set,
    get_set,
    labels_probs,
    role_of,
    role_text,
    set_caption,
    set_facts,
    set_keys,
    set_label,
    set_sort_key,
    sets_table,
)

SET = {"key": "cnmc/test", "role": "test", "description": "C-NMC fold_2.", "n_images": 3, "n_cells": 4,
       "n_groups": 2, "group_kind": "patient",
       "images": [{"label": "all", "p_all": 0.9, "cells": [0.8, 0.95]},
                  {"label": "hem", "p_all": 0.2, "cells": [0.1]},
                  {"label": "all", "p_all": 0.6, "cells": [0.6]}]}
REPORTS = {"a": {"sets": [{"key": "folder/train"}, {"key": "aria-original/test"}, {"key": "cnmc/val"}]},
           "b": {"sets": [{"key": "cnmc/test", "n_images": 7}, {"key": "folder/train", "n_images": 1}]}}


def test_roles_and_texts():
    assert role_of({"key": "x/val"}) == "val" and role_of({"key": "x/val", "role": "test"}) == "test"
    assert role_text({"key": "x/train"}) == ROLE_TEXT["train"]
    assert role_text({"key": "x/train", "role_text": "own words"}) == "own words"
    assert role_text({"key": "x/odd"}) == "odd"


def test_order_test_first_then_cnmc_first():
    keys = ["folder/train", "aria-original/test", "cnmc/val", "cnmc-prelim/test", "cnmc/test", "mine/other"]
    assert sorted(keys, key=set_sort_key) == ["cnmc/test", "cnmc-prelim/test", "aria-original/test", "cnmc/val",
                                              "folder/train", "mine/other"]
    assert set_keys(REPORTS["a"]) == ["aria-original/test", "cnmc/val", "folder/train"]
    assert set_keys({}) == []
    assert all_set_keys(REPORTS) == ["cnmc/test", "aria-original/test", "cnmc/val", "folder/train"]
    assert datasets_of(REPORTS) == ["cnmc", "aria-original", "folder"]


def test_get_set_and_first_set():
    assert get_set(REPORTS["b"], "cnmc/test")["n_images"] == 7
    assert get_set(REPORTS["b"], "nope") is None and get_set({}, "x") is None
    assert first_set(REPORTS, "folder/train") == {"key": "folder/train"}  # from the first report holding it
    assert first_set(REPORTS, "nope") is None


def test_labels_captions_and_table():
    assert set_label({"key": "cnmc/val"}) == "cnmc/val (validation, not a test set)"
    assert set_label({"key": "cnmc/test"}) == "cnmc/test (test)"
    assert set_facts(SET) == "C-NMC fold_2. 3 images, 4 cells from 2 groups (patient)."
    assert set_facts({"key": "k/test"}) == ". n/a images from n/a groups (group)."
    assert set_caption(SET) == f"cnmc/test: {ROLE_TEXT['test']}. {set_facts(SET)}"
    t = sets_table(REPORTS)
    assert isinstance(t, pd.DataFrame) and t["set"].tolist() == all_set_keys(REPORTS)
    assert t["role"].tolist() == ["test", "test", "validation", "training"]
    assert t.loc[t["set"] == "cnmc/test", "images"].item() == 7
    assert sets_table({}).empty and list(sets_table({}).columns)[0] == "set"


def test_labels_probs_per_image_and_per_cell():
    y, p = labels_probs(SET)
    assert y.tolist() == [1, 0, 1] and p.tolist() == [0.9, 0.2, 0.6]
    y, p = labels_probs(SET, "cells")
    assert y.tolist() == [1, 1, 0, 1] and p.tolist() == [0.8, 0.95, 0.1, 0.6]
    assert y.dtype.kind == "i" and p.dtype == np.float64
    y, p = labels_probs({"images": [{"label": "all", "p_all": 0.5}]}, "cells")
    assert y.shape == p.shape == (0,)


def test_set_order_puts_cnmc_test_first():
    rep = {"sets": [{"key": k} for k in ("aria-original/test", "cnmc/val", "folder/test", "cnmc/train",
                                         "aria-original/val", "cnmc/test", "cnmc-prelim/test")]}
    assert set_keys(rep) == ["cnmc/test", "cnmc-prelim/test", "aria-original/test", "folder/test",
                                     "cnmc/val", "aria-original/val", "cnmc/train"]
    # a report without role fields (older writer) still gets roles from the key
    assert set_label({"key": "cnmc/val"}) == "cnmc/val (validation, not a test set)"
    assert role_text({"key": "cnmc/test"}) == "test: reported only, never used to choose anything"
