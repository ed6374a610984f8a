"""Dataset readers on small trees in the official layouts, the leakage check, and the real data."""

from collections import Counter

import pytest

from leukemia_core.datasets import cnmc_patient, detect_layout, read_aria, read_cnmc, read_dataset, read_folder
from leukemia_core.errors import DatasetLayoutError, LeakageError
from leukemia_core.splits import check_against_groups, check_leakage, group_keys, select

from conftest import SHARED_DATA


@pytest.mark.parametrize("name,group", [
    ("UID_11_1_1_all.bmp", "ALL-11"), ("UID_H13_10_1_hem.bmp", "HEM-13"), ("UID_h3_1_2_hem.bmp", "HEM-3"),
    ("uid_57_29_1_all.bmp", "ALL-57"),
])
def test_cnmc_patient_ids(name, group):
    assert cnmc_patient(name) == group


def test_cnmc_patient_rejects_other_names():
    with pytest.raises(DatasetLayoutError, match="UID_"):
        cnmc_patient("cell_001.bmp")


def test_cnmc_official_layout(cnmc_tree):
    assert detect_layout(cnmc_tree) == "cnmc"
    recs = read_cnmc(cnmc_tree)
    by_part = Counter(r.part for r in recs)
    assert by_part == {"fold_0": 3, "fold_1": 2, "fold_2": 2, "prelim": 2}
    assert {r.split for r in recs if r.part == "fold_2"} == {"val"}
    assert {r.split for r in recs if r.part == "prelim"} == {"test"}
    prelim = {r.path.name: r for r in recs if r.part == "prelim"}
    assert prelim["1.bmp"].label == "all" and prelim["1.bmp"].group == "ALL-57"
    assert prelim["2.bmp"].label == "hem" and prelim["2.bmp"].group == "HEM-40"
    groups = {r.path.name: r.group for r in recs if r.part != "prelim"}
    assert groups["UID_h3_9_9_hem.bmp"] == "HEM-3"  # lower-case UID_h3_
    assert all(g == cnmc_patient(name) for name, g in groups.items())
    # the parent of C-NMC_Leukemia/ and training_data/ itself are accepted too
    assert len(read_dataset(cnmc_tree / "training_data")) == 7


def test_cnmc_nested_under_official_top_folder(cnmc_tree, tmp_path):
    top = tmp_path / "download"
    top.mkdir()
    cnmc_tree.rename(top / "C-NMC_Leukemia")
    assert detect_layout(top) == "cnmc"
    assert len(read_dataset(top)) == 9


def test_aria_layout_groups_and_block_split(aria_tree):
    assert detect_layout(aria_tree) == "aria"
    recs = read_aria(aria_tree, val_fraction=0.2, block=5)
    assert len(recs) == 80
    assert {r.label for r in recs if r.subclass == "Benign"} == {"hem"}
    assert {r.label for r in recs if r.subclass != "Benign"} == {"all"}
    # the last 20 % of each subclass's numbers is validation: fields 9 and 10
    for r in recs:
        num = int(r.path.stem.split("-")[-1])
        assert r.split == ("val" if num >= 9 else "train"), r
    # Original and Segmented of one field share a group
    g = {(r.part, r.path.name): r.group for r in recs}
    for (part, name), group in g.items():
        assert g[("Original" if part == "Segmented" else "Segmented", name)] == group
    # byte-identical Pro 3 and 4 share a group
    pro = {r.path.name: r.group for r in recs if r.subclass == "Pro"}
    assert pro["WBC-Malignant-Pro-003.jpg"] == pro["WBC-Malignant-Pro-004.jpg"]
    check_leakage(select(recs, ["train"]), select(recs, ["val"]))


def test_aria_duplicate_across_cut_goes_to_one_side(aria_tree):
    src = aria_tree / "Original" / "Pro" / "WBC-Malignant-Pro-002.jpg"
    (aria_tree / "Original" / "Pro" / "WBC-Malignant-Pro-010.jpg").write_bytes(src.read_bytes())
    recs = read_aria(aria_tree, val_fraction=0.2, block=5)
    dup = [r for r in recs if r.subclass == "Pro" and r.path.stem.endswith(("002", "010"))]
    assert len({r.split for r in dup}) == 1 and len({r.group for r in dup}) == 1
    check_leakage(select(recs, ["train"]), select(recs, ["val"]))


def test_plain_folder_layout(folder_tree, samples):
    assert detect_layout(folder_tree) == "folder"
    recs = read_folder(folder_tree)
    assert Counter(r.label for r in recs) == {"all": 6, "hem": 5}
    assert {r.split for r in recs} == {"unsplit"}
    # C-NMC names give patients; any other file is its own group
    expected = {s.path.name: (cnmc_patient(s.path.name) if s.path.name.startswith("UID_")
                              else f"file-{s.label.upper()}/{s.path.name}") for s in samples}
    assert {r.path.name: r.group for r in recs} == expected
    assert {r.path.name: r.label for r in recs} == {s.path.name: s.label for s in samples}


def test_presplit_folder(tmp_path, samples):
    import shutil
    for i, s in enumerate(samples):
        d = tmp_path / ("train" if i % 2 else "val") / s.label
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(s.path, d)
    recs = read_dataset(tmp_path)
    assert {r.path.name: (r.split, r.label) for r in recs} == {
        s.path.name: ("train" if i % 2 else "val", s.label) for i, s in enumerate(samples)}


@pytest.mark.parametrize("layout", ["empty", "wrong names", "file", "missing", "cnmc without images"])
def test_wrong_layout_says_what_was_expected(tmp_path, samples, layout):
    root = tmp_path / "d"
    if layout == "empty":
        root.mkdir()
    elif layout == "wrong names":
        (root / "leukemia").mkdir(parents=True)
        (root / "leukemia" / "a.png").write_bytes(samples[0].path.read_bytes())
    elif layout == "file":
        root.write_text("x")
    elif layout == "cnmc without images":
        (root / "training_data" / "fold_0" / "all").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError) as err:
        read_dataset(root)
    msg = str(err.value)
    assert str(root) in msg
    expected = {"empty": ["{all,hem}", "fold_", "Benign"], "wrong names": ["{all,hem}", "fold_", "Benign"],
                "file": ["is a file"], "missing": ["no such folder"],
                "cnmc without images": ["C-NMC layout found but no images"]}[layout]
    assert [e for e in expected if e not in msg] == [], msg


def test_leakage_check_refuses_shared_groups(cnmc_tree):
    recs = read_cnmc(cnmc_tree)
    train = select(recs, ["train"])
    check_leakage(train, select(recs, ["val"]))  # official folds are patient-disjoint
    with pytest.raises(LeakageError, match="group"):
        check_leakage(train, train[:1])
    with pytest.raises(LeakageError, match="not a held-out"):
        check_against_groups(train[:1], group_keys(train), "cnmc/val")


@pytest.mark.skipif(not (SHARED_DATA / "cnmc2019").is_dir(), reason="shared data not present")
def test_real_shared_data_matches_data_notes():
    cn = read_dataset(SHARED_DATA / "cnmc2019")
    assert len(cn) == 120
    val = select(cn, ["val"])
    assert len(val) == 43 and len({r.group for r in val}) == 21
    check_leakage(select(cn, ["train"]), val)
    ar = read_dataset(SHARED_DATA / "aria_all")
    assert len(ar) == 2 * 2766
    check_leakage(select(ar, ["train"]), select(ar, ["val"]))
