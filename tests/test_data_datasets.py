"""Dataset readers on small trees in the official layouts and stand-in files: layouts, groups, roles, messages."""

import shutil
from collections import Counter, defaultdict
from dataclasses import replace

import pytest

from leukemia_core.data.datasets import ARIA_BLOCK, carve_validation, cnmc_patient, detect_layout, read_aria, read_cnmc, read_dataset, read_folder, read_many
from leukemia_core.data.splits import check_leakage, select
from leukemia_core.errors import DatasetLayoutError


@pytest.mark.parametrize("name,group", [
    ("UID_11_1_1_all.bmp", "ALL-11"), ("UID_H13_10_1_hem.bmp", "HEM-13"), ("UID_h3_1_2_hem.bmp", "HEM-3"),
    ("uid_57_29_1_all.bmp", "ALL-57"),
])
def test_cnmc_patient_ids(name, group):
    assert cnmc_patient(name) == group


def test_cnmc_patient_rejects_other_names():
    with pytest.raises(DatasetLayoutError, match="UID_"):
        cnmc_patient("cell_001.bmp")


def _roles_of_groups(recs):
    roles = defaultdict(set)
    for r in recs:
        roles[(r.dataset, r.group)].add(r.split)
    return roles


def test_cnmc_official_layout(cnmc_tree):
    assert detect_layout(cnmc_tree) == "cnmc"
    recs = read_cnmc(cnmc_tree)
    by_part = Counter(r.part for r in recs)
    assert by_part == {"fold_0": 3, "fold_1": 2, "fold_2": 2, "prelim": 2}
    # fold_2 and the prelim set are test; fold_0 + fold_1 are train, with a val share carved out
    assert {r.split for r in recs if r.part == "fold_2"} == {"test"}
    assert {r.split for r in recs if r.part == "prelim"} == {"test"}
    assert {r.split for r in recs if r.part in ("fold_0", "fold_1")} == {"train", "val"}
    # training folds: ALL-13, ALL-18 and HEM-13, HEM-3, HEM-1: a quarter of each class, at least
    # one patient, is val: one ALL and one HEM patient
    val = [r for r in recs if r.split == "val"]
    assert Counter(r.label for r in val) == {"all": 1, "hem": 1}
    assert {r.group for r in val} < {"ALL-13", "ALL-18", "HEM-13", "HEM-3", "HEM-1"}
    assert Counter(r.label for r in recs if r.split == "train") == {"all": 1, "hem": 2}
    assert all(len(roles) == 1 for roles in _roles_of_groups(recs).values())
    prelim = {r.path.name: r for r in recs if r.part == "prelim"}
    assert prelim["1.bmp"].label == "all" and prelim["1.bmp"].group == "ALL-57"
    assert prelim["2.bmp"].label == "hem" and prelim["2.bmp"].group == "HEM-40"
    groups = {r.path.name: r.group for r in recs if r.part != "prelim"}
    assert groups["UID_h3_9_9_hem.bmp"] == "HEM-3"  # lower-case UID_h3_
    assert all(g == cnmc_patient(name) for name, g in groups.items())
    # the parent of C-NMC_Leukemia/ and training_data/ itself are accepted too
    assert len(read_dataset(cnmc_tree / "training_data")) == 7


def _add_cnmc_patients(root, src, label, fold, patients, images_each):
    d = root / "training_data" / fold / label
    d.mkdir(parents=True, exist_ok=True)
    for p in patients:
        for i in range(images_each):
            uid = f"H{p}" if label == "hem" else str(p)
            shutil.copy(src, d / f"UID_{uid}_{i + 1}_1_{label}.bmp")


def test_cnmc_validation_takes_whole_patients_per_class(cnmc_tree, cnmc_samples):
    src = cnmc_samples[0].path
    # 2 + 6 ALL and 3 + 5 HEM training patients, three images each for the new ones
    _add_cnmc_patients(cnmc_tree, src, "all", "fold_0", [60, 61, 62], 3)
    _add_cnmc_patients(cnmc_tree, src, "all", "fold_1", [63, 64, 65], 3)
    _add_cnmc_patients(cnmc_tree, src, "hem", "fold_1", [50, 51, 52, 53, 54], 3)
    recs = read_cnmc(cnmc_tree)
    train_folds = [r for r in recs if r.part in ("fold_0", "fold_1")]
    val_groups = {r.group for r in train_folds if r.split == "val"}
    # a quarter of 8 patients per class: 2 ALL and 2 HEM patients
    assert Counter(g.split("-")[0] for g in val_groups) == {"ALL": 2, "HEM": 2}
    roles = _roles_of_groups(recs)
    assert all(len(r) == 1 for r in roles.values()), {g: r for g, r in roles.items() if len(r) > 1}
    for g in val_groups:  # every image of a val patient is val
        assert {r.split for r in recs if r.group == g} == {"val"}
    check_leakage(select(recs, ["train"]), select(recs, ["val"]))
    check_leakage(select(recs, ["train", "val"]), select(recs, ["test"]), "train+val/test")
    # the choice depends on the patient ids only: not on file order, nor on more images of known patients
    shuffled = carve_validation([replace(r, split="train") if r.split == "val" else r
                                 for r in reversed(recs)], 0.25)
    assert {r.group for r in shuffled if r.split == "val"} == val_groups
    _add_cnmc_patients(cnmc_tree, src, "all", "fold_0", [60, 61, 62, 13], 5)
    assert {r.group for r in read_cnmc(cnmc_tree) if r.split == "val"} == val_groups


def test_cnmc_nested_under_official_top_folder(cnmc_tree, tmp_path):
    top = tmp_path / "download"
    top.mkdir()
    cnmc_tree.rename(top / "C-NMC_Leukemia")
    assert detect_layout(top) == "cnmc"
    assert len(read_dataset(top)) == 9


def _num(r):
    return int(r.path.stem.split("-")[-1])


def test_aria_layout_groups_and_block_split(aria_tree):
    assert detect_layout(aria_tree) == "aria"
    recs = read_aria(aria_tree, block=5)
    assert len(recs) == 80
    assert {r.label for r in recs if r.subclass == "Benign"} == {"hem"}
    assert {r.label for r in recs if r.subclass != "Benign"} == {"all"}
    # ten fields per subclass: the last 20 % of the numbers (9, 10) is test, the 15 % band before
    # it (floor(1.5) = one field: 8) is val, the rest train; groups are blocks of 5 inside a role
    for r in recs:
        num = _num(r)
        role = "test" if num >= 9 else "val" if num == 8 else "train"
        block = {"train": (num - 1) // 5, "val": 0, "test": 0}[role]
        assert (r.split, r.group) == (role, f"aria-{r.subclass}-{role}{block:02d}"), r
    # Original and Segmented of one field share role and group
    g = {(r.part, r.subclass, r.path.name): (r.split, r.group) for r in recs}
    for (part, sub, name), role_group in g.items():
        assert g[("Original" if part == "Segmented" else "Segmented", sub, name)] == role_group
    # byte-identical Pro 3 and 4 share a group
    pro = {r.path.name: r.group for r in recs if r.subclass == "Pro"}
    assert pro["WBC-Malignant-Pro-003.jpg"] == pro["WBC-Malignant-Pro-004.jpg"]
    assert len({r.group for r in recs}) == 4 * 4
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        check_leakage(select(recs, [a]), select(recs, [b]), f"{a}/{b}")


def test_aria_roles_by_rank_of_file_number(tmp_path, aria_samples):
    # 40 fields per subclass numbered 3, 6, ..., 120: the roles follow the rank of the number
    src = aria_samples[0]
    root = tmp_path / "aria"
    for variant, img in (("Original", src.path), ("Segmented", src.mask)):
        data = img.read_bytes()
        for sub in ("Benign", "Early", "Pre", "Pro"):
            d = root / variant / sub
            d.mkdir(parents=True)
            prefix = "WBC-Benign" if sub == "Benign" else f"WBC-Malignant-{sub}"
            for k in range(1, 41):
                (d / f"{prefix}-{3 * k:03d}.jpg").write_bytes(data + sub.encode() + bytes([k]))
    recs = read_dataset(root)
    assert len(recs) == 2 * 4 * 40
    for r in recs:
        rank = _num(r) // 3  # 1..40
        # test: the last floor(40 * 0.2) = 8 ranks; val: the floor(40 * 0.15) = 6 before them
        role = "test" if rank > 32 else "val" if rank > 26 else "train"
        # groups: blocks of ARIA_BLOCK consecutive numbers, from the lowest number (train) or
        # from just after the previous role's last number (val: 79 = 78 + 1, test: 97 = 96 + 1)
        start = {"train": 3, "val": 79, "test": 97}[role]
        assert r.split == role, r
        assert r.group == f"aria-{r.subclass}-{role}{(_num(r) - start) // ARIA_BLOCK:02d}", r
    # per subclass: train 3-78 in 4 blocks (3-22, 23-42, 43-62, 63-78), val 81-96 in one, test 99-120 in two
    assert len({r.group for r in recs}) == 4 * (4 + 1 + 2)
    assert Counter((r.subclass, r.split) for r in recs if r.part == "Original") == {
        (s, role): n for s in ("Benign", "Early", "Pre", "Pro") for role, n in (("train", 26), ("val", 6), ("test", 8))}


def test_aria_duplicate_across_cut_goes_to_one_side(aria_tree):
    src = aria_tree / "Original" / "Pro" / "WBC-Malignant-Pro-002.jpg"
    (aria_tree / "Original" / "Pro" / "WBC-Malignant-Pro-010.jpg").write_bytes(src.read_bytes())
    recs = read_aria(aria_tree, block=5)
    dup = [r for r in recs if r.subclass == "Pro" and r.path.stem.endswith(("002", "010"))]
    # field 10 (test by its number) joins field 2's group and role, in Original and Segmented
    assert len(dup) == 4
    assert {r.split for r in dup} == {"train"} and len({r.group for r in dup}) == 1
    assert [r.split for r in recs if r.subclass == "Pro" and _num(r) == 9] == ["test", "test"]
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        check_leakage(select(recs, [a]), select(recs, [b]), f"{a}/{b}")


def test_plain_folder_layout(folder_tree, samples):
    assert detect_layout(folder_tree) == "folder"
    recs = read_folder(folder_tree)
    assert Counter(r.label for r in recs) == {"all": 6, "hem": 7}
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


# ---------------------------------------------------------------------------- small trees of stand-in files
# The readers look at names and bytes only (no decoding), so these trees hold a few bytes per "image".

def _touch(path, data=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if data is not None else str(path).encode())
    return path


def test_records_carry_dataset_part_and_as_dict(tmp_path):
    cn = tmp_path / "cn"
    _touch(cn / "training_data" / "fold_0" / "all" / "UID_1_1_1_all.bmp")
    _touch(cn / "training_data" / "fold_2" / "hem" / "UID_H2_1_1_hem.bmp")
    _touch(cn / "validation_data" / "C-NMC_test_prelim_phase_data" / "1.bmp")
    _touch(cn / "validation_data" / "C-NMC_test_prelim_phase_data_labels.csv",
           b"Patient_ID,new_names,labels\nUID_7_1_1_all.bmp,1.bmp,1\n")
    recs = read_cnmc(cn)
    assert [(r.dataset, r.part, r.split, r.group) for r in recs] == [
        ("cnmc", "fold_0", "train", "ALL-1"), ("cnmc", "fold_2", "test", "HEM-2"), ("cnmc", "prelim", "test", "ALL-7")]
    assert recs[0].as_dict() == {"path": str(cn / "training_data" / "fold_0" / "all" / "UID_1_1_1_all.bmp"),
                                 "label": "all", "group": "ALL-1", "dataset": "cnmc", "split": "train",
                                 "part": "fold_0", "subclass": ""}
    assert recs[0].y == 1 and recs[1].y == 0


def test_cnmc_validation_data_alone_and_odd_folders(tmp_path):
    cn = tmp_path / "cn"
    pre = cn / "validation_data" / "C-NMC_test_prelim_phase_data"
    _touch(pre / "2.bmp")
    _touch(pre / "3.bmp")
    # a missing file listed first does not stop the rows after it
    _touch(cn / "validation_data" / "C-NMC_test_prelim_phase_data_labels.csv",
           b"Patient_ID,new_names,labels\nUID_5_1_1_all.bmp,1.bmp,1\n UID_H4_1_1_hem.bmp , 2.bmp ,0\n"
           b"UID_6_2_1_all.bmp,3.bmp,1\n")
    assert detect_layout(cn) == "cnmc"
    recs = read_dataset(cn)
    assert [(r.path.name, r.label, r.group, r.split, r.part) for r in recs] == [
        ("2.bmp", "hem", "HEM-4", "test", "prelim"), ("3.bmp", "all", "ALL-6", "test", "prelim")]
    # a fold without all/ still gives its hem/; folds beyond fold_2 are training folds; files and
    # other folders in training_data/ are not folds
    _touch(cn / "training_data" / "fold_0" / "hem" / "UID_H1_1_1_hem.bmp")
    _touch(cn / "training_data" / "fold_3" / "all" / "UID_9_1_1_all.bmp")
    _touch(cn / "training_data" / "fold_3" / "all" / "notes.txt")
    _touch(cn / "training_data" / "extra" / "all" / "UID_8_1_1_all.bmp")
    _touch(cn / "training_data" / "fold_9.txt")
    recs = read_cnmc(cn)
    assert [(r.path.name, r.split, r.part) for r in recs if r.part != "prelim"] == [
        ("UID_H1_1_1_hem.bmp", "train", "fold_0"), ("UID_9_1_1_all.bmp", "train", "fold_3")]


def test_cnmc_errors_name_the_folder(tmp_path):
    with pytest.raises(DatasetLayoutError) as err:
        read_cnmc(tmp_path)
    assert str(err.value) == f"{tmp_path}: no C-NMC training_data/ or validation_data/ folder"
    _touch(tmp_path / "training_data" / "extra" / "all" / "UID_8_1_1_all.bmp")
    with pytest.raises(DatasetLayoutError) as err:
        read_cnmc(tmp_path)
    assert str(err.value) == f"{tmp_path / 'training_data'}: expected fold_0, fold_1, fold_2 folders inside"


def test_carve_validation_picks_by_hash_per_label():
    # HEM has one training group (never moved); ALL has 8: a quarter (2) move, the two whose sha1
    # ranks first (ALL-3, ALL-2), not the first two by name
    from pathlib import Path

    from leukemia_core.data.datasets import Record
    recs = [Record(Path("h.png"), "hem", "HEM-1", "x", "train")]
    recs += [Record(Path(f"a{i}.png"), "all", f"ALL-{i}", "x", "train") for i in range(1, 9)]
    recs += [Record(Path("t.png"), "all", "ALL-9", "x", "test")]
    out = carve_validation(recs, 0.25)
    assert [r.group for r in out if r.split == "val"] == ["ALL-2", "ALL-3"]
    assert out[0].split == "train" and out[-1].split == "test"
    # 4 HEM groups: one moves, HEM-3
    recs = [Record(Path(f"h{i}.png"), "hem", f"HEM-{i}", "x", "train") for i in range(1, 5)]
    assert [r.group for r in carve_validation(recs, 0.25) if r.split == "val"] == ["HEM-3"]


def _aria_flat(root, counts, variant=None):
    """Fields numbered 1..n per subclass, directly under ``root`` (or under ``root/variant``)."""
    for sub, n in counts.items():
        prefix = "WBC-Benign" if sub == "Benign" else f"WBC-Malignant-{sub}"
        for k in range(1, n + 1):
            _touch((root / variant if variant else root) / sub / f"{prefix}-{k:03d}.jpg")
    return root


def test_aria_folder_holding_the_subclasses_directly(tmp_path):
    # two subclass folders, no Original/Segmented level: the folder itself is the variant
    root = _aria_flat(tmp_path / "fields", {"Early": 1, "Pre": 2})
    assert detect_layout(root) == "aria"
    recs = read_dataset(root)
    assert sorted((r.subclass, r.path.name, r.split, r.part, r.dataset, r.label) for r in recs) == [
        ("Early", "WBC-Malignant-Early-001.jpg", "train", "fields", "aria", "all"),
        ("Pre", "WBC-Malignant-Pre-001.jpg", "train", "fields", "aria", "all"),
        ("Pre", "WBC-Malignant-Pre-002.jpg", "test", "fields", "aria", "all")]
    # one subclass folder is not enough to call it Aria
    one = _aria_flat(tmp_path / "one", {"Pro": 3})
    assert detect_layout(one) == "folder"
    with pytest.raises(DatasetLayoutError) as err:
        read_aria(one)
    assert str(err.value) == f"{one}: expected Original/ and/or Segmented/ holding Benign, Early, Pre, Pro"
    empty = tmp_path / "empty"
    (empty / "Original" / "Benign").mkdir(parents=True)
    _touch(empty / "Original" / "Benign" / "WBC-Benign.jpg")  # no number
    with pytest.raises(DatasetLayoutError) as err:
        read_aria(empty)
    assert str(err.value) == f"{empty}: Aria layout found but no numbered images (WBC-*-NNN.jpg)"


@pytest.mark.parametrize("n,roles", [
    (1, ["train"]), (2, ["train", "test"]), (3, ["train", "val", "test"]),
    (4, ["train", "train", "val", "test"]), (10, ["train"] * 7 + ["val", "test", "test"]),
    (15, ["train"] * 10 + ["val", "val", "test", "test", "test"]),
])
def test_aria_roles_of_small_subclasses(tmp_path, n, roles):
    # test: max(1, floor(0.2 n)) when n > 1; val: max(1, floor(0.15 n)) when n > 2
    recs = read_aria(_aria_flat(tmp_path / "a", {"Benign": n, "Early": 1}, "Original"))
    assert [r.split for r in sorted(recs, key=_num) if r.subclass == "Benign"] == roles
    assert [r.split for r in recs if r.subclass == "Early"] == ["train"]


def test_aria_groups_count_from_the_first_number_of_each_role(tmp_path):
    # 15 fields, blocks of 2: train 1-10 (offsets 0-9), val 11-12, test 13-15
    recs = read_aria(_aria_flat(tmp_path / "a", {"Benign": 15, "Pre": 2}, "Original"), block=2)
    got = {_num(r): r.group for r in recs if r.subclass == "Benign"}
    assert got == {**{k: f"aria-Benign-train{(k - 1) // 2:02d}" for k in range(1, 11)},
                   11: "aria-Benign-val00", 12: "aria-Benign-val00",
                   13: "aria-Benign-test00", 14: "aria-Benign-test00", 15: "aria-Benign-test01"}
    assert all(r.dataset == "aria" and r.part == "Original" for r in recs)


def test_folder_reader_parts_splits_and_messages(tmp_path):
    root = tmp_path / "mine"
    _touch(root / "Test" / "ALL" / "x.png")
    _touch(root / "Test" / "ALL" / "readme.txt")
    _touch(root / "Test" / "ALL" / ".hidden.png")
    _touch(root / "Test" / "ALL" / "sub" / "UID_4_1_1_all.png")
    _touch(root / "train" / "hem" / "y.jpg")
    recs = read_dataset(root)
    assert sorted((r.path.name, r.split, r.part, r.dataset, r.group) for r in recs) == [
        ("UID_4_1_1_all.png", "test", "ALL", "folder", "ALL-4"),
        ("x.png", "test", "ALL", "folder", "file-Test/ALL/x.png"),
        ("y.jpg", "train", "hem", "folder", "file-train/hem/y.jpg")]
    # a forced split wins, for plain folders
    assert {r.split for r in read_dataset(root, "val")} == {"val"}
    assert {r.split for r in read_dataset(root / "train", "test")} == {"test"}
    assert {r.split for r in read_many([root / "train", root / "Test"], "val")} == {"val"}
    many = read_many([root / "train", str(root / "Test")])
    assert [r.path.name for r in many] == ["y.jpg", "UID_4_1_1_all.png", "x.png"]
    assert {r.split for r in many} == {"unsplit"}
    (tmp_path / "none" / "leukemia").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError) as err:
        read_folder(tmp_path / "none")
    assert str(err.value) == (
        f"{tmp_path / 'none'}: found no labelled images. Expected one of these layouts:\n"
        "  C-NMC:  training_data/fold_{0,1,2}/{all,hem}/UID_*.bmp (+ validation_data/)\n"
        "  Aria:   {Original,Segmented}/{Benign,Early,Pre,Pro}/*.jpg\n"
        "  folder: {all,hem}/*.png|jpg|bmp|tif  or  {train,val,test}/{all,hem}/...")


def test_summarize_counts_images_and_groups(tmp_path):
    from leukemia_core.data.datasets import Record, summarize
    recs = [Record(tmp_path / "a", "all", "g1", "cnmc", "train"), Record(tmp_path / "b", "all", "g1", "cnmc", "train"),
            Record(tmp_path / "c", "hem", "g2", "cnmc", "train"), Record(tmp_path / "d", "hem", "g3", "aria", "test")]
    assert summarize(recs) == {"images": {"cnmc/train/all": 2, "cnmc/train/hem": 1, "aria/test/hem": 1},
                               "groups": {"cnmc/train": 2, "aria/test": 1}}
    assert summarize([]) == {"images": {}, "groups": {}}
