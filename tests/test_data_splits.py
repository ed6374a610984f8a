"""The leakage guard: a group (patient, Aria block) on both sides of a split is refused by name,
not only the very same file; disjoint groups pass; a manifest's training groups are honoured."""


import csv
from collections import Counter, defaultdict

import pytest
from conftest import SHARED_DATA

from leukemia_core.data.datasets import (
    Record,
    cnmc_patient,
    read_cnmc,
    read_dataset,
)
from leukemia_core.data.splits import check_against_groups, check_leakage, group_keys, select
from leukemia_core.errors import LeakageError


def _file(tmp_path, rel: str):
    p = tmp_path / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(rel.encode())  # distinct content per file
    return p


def _cnmc(tmp_path, fold: str, name: str, split: str) -> Record:
    label = "hem" if name.lower().endswith("_hem.bmp") else "all"
    return Record(_file(tmp_path, f"{fold}/{label}/{name}"), label, cnmc_patient(name), "cnmc", split, fold)


def _aria(tmp_path, name: str, group: str, split: str, variant: str = "Original") -> Record:
    return Record(_file(tmp_path, f"{variant}/Pre/{name}"), "all", group, "aria", split, variant, "Pre")


def test_same_patient_different_file_on_both_sides_is_refused(tmp_path):
    a = _cnmc(tmp_path, "fold_0", "UID_5_1_1_all.bmp", "train")
    b = _cnmc(tmp_path, "fold_2", "UID_5_2_3_all.bmp", "val")
    assert a.group == b.group == "ALL-5" and a.path != b.path
    with pytest.raises(LeakageError) as err:
        check_leakage([a], [b])
    msg = str(err.value)
    assert "cnmc:ALL-5" in msg
    assert "1 group(s) and 0 file(s)" in msg
    # the other direction too
    with pytest.raises(LeakageError, match="cnmc:ALL-5"):
        check_leakage([b], [a], "val/train")


def test_shared_patient_among_other_distinct_patients_is_named(tmp_path):
    train = [_cnmc(tmp_path, "fold_0", n, "train")
             for n in ("UID_1_1_1_all.bmp", "UID_5_1_1_all.bmp", "UID_H7_1_1_hem.bmp")]
    val = [_cnmc(tmp_path, "fold_2", n, "val")
           for n in ("UID_2_1_1_all.bmp", "UID_5_2_3_all.bmp", "UID_H8_3_1_hem.bmp")]
    with pytest.raises(LeakageError) as err:
        check_leakage(train, val, "train/val")
    msg = str(err.value)
    assert msg.startswith("train/val split leaks: 1 group(s)")
    assert "cnmc:ALL-5" in msg
    for other in ("ALL-1", "ALL-2", "HEM-7", "HEM-8"):
        assert other not in msg


def test_healthy_and_leukemic_patient_with_same_number_are_different_groups(tmp_path):
    # UID_5_* is patient ALL-5, UID_H5_* is healthy subject HEM-5: not the same person
    a = _cnmc(tmp_path, "fold_0", "UID_5_1_1_all.bmp", "train")
    b = _cnmc(tmp_path, "fold_2", "UID_H5_1_1_hem.bmp", "val")
    check_leakage([a], [b])


def test_distinct_patients_pass(tmp_path):
    train = [_cnmc(tmp_path, "fold_0", n, "train") for n in ("UID_1_1_1_all.bmp", "UID_H3_1_1_hem.bmp")]
    val = [_cnmc(tmp_path, "fold_2", n, "val") for n in ("UID_2_1_1_all.bmp", "UID_H4_1_1_hem.bmp")]
    assert check_leakage(train, val) is None
    assert check_against_groups(val, group_keys(train), "cnmc/val") is None


def test_aria_block_group_on_both_sides_is_refused(tmp_path):
    a = _aria(tmp_path, "WBC-Malignant-Pre-001.jpg", "aria-Pre-train00", "train")
    b = _aria(tmp_path, "WBC-Malignant-Pre-002.jpg", "aria-Pre-train00", "val", variant="Segmented")
    c = _aria(tmp_path, "WBC-Malignant-Pre-099.jpg", "aria-Pre-val00", "val")
    check_leakage([a], [c])  # different blocks pass
    with pytest.raises(LeakageError) as err:
        check_leakage([a], [b, c])
    msg = str(err.value)
    assert "aria:aria-Pre-train00" in msg and "aria-Pre-val00" not in msg
    assert "1 group(s) and 0 file(s)" in msg


def test_same_group_name_in_two_datasets_is_not_a_leak(tmp_path):
    a = Record(_file(tmp_path, "x/all/a.png"), "all", "ALL-5", "folder", "train")
    b = _cnmc(tmp_path, "fold_2", "UID_5_2_3_all.bmp", "val")
    check_leakage([a], [b])


def test_the_same_file_in_two_groups_is_refused(tmp_path):
    p = _file(tmp_path, "mine/all/cell.png")
    a = Record(p, "all", "file-all/cell.png", "folder", "train")
    b = Record(tmp_path / "mine" / "all" / ".." / "all" / "cell.png", "all", "file-other", "folder", "val")
    with pytest.raises(LeakageError) as err:
        check_leakage([a], [b])
    assert "0 group(s) and 1 file(s)" in str(err.value)


def test_many_shared_groups_are_counted_and_the_first_ten_named(tmp_path):
    train = [_cnmc(tmp_path, "fold_0", f"UID_{i}_1_1_all.bmp", "train") for i in range(1, 13)]
    val = [_cnmc(tmp_path, "fold_2", f"UID_{i}_2_2_all.bmp", "val") for i in range(1, 13)]
    with pytest.raises(LeakageError) as err:
        check_leakage(train, val)
    msg = str(err.value)
    assert "12 group(s) and 0 file(s)" in msg and "and 2 more" in msg


def test_check_against_groups_refuses_trained_groups(tmp_path):
    manifest_groups = ["cnmc:ALL-1", "cnmc:ALL-5", "cnmc:HEM-7", "aria:aria-Pre-train00"]
    val = [_cnmc(tmp_path, "fold_2", n, "val") for n in ("UID_2_1_1_all.bmp", "UID_5_2_3_all.bmp")]
    with pytest.raises(LeakageError) as err:
        check_against_groups(val, manifest_groups, "cnmc/val")
    msg = str(err.value)
    assert msg.startswith("cnmc/val: 1 group(s)") and "cnmc:ALL-5" in msg and "ALL-1" not in msg
    assert "not a held-out" in msg
    aria_val = [_aria(tmp_path, "WBC-Malignant-Pre-003.jpg", "aria-Pre-train00", "val")]
    with pytest.raises(LeakageError, match="aria:aria-Pre-train00"):
        check_against_groups(aria_val, manifest_groups, "aria-original/val")
    # a held-out patient, or the same group name under another dataset, passes
    check_against_groups([_cnmc(tmp_path, "fold_2", "UID_2_1_1_all.bmp", "val")], manifest_groups, "cnmc/val")
    check_against_groups([Record(_file(tmp_path, "f/all/x.png"), "all", "ALL-5", "folder", "val")],
                         manifest_groups, "folder/val")


def test_group_keys_and_select(tmp_path):
    recs = [_cnmc(tmp_path, "fold_0", "UID_5_1_1_all.bmp", "train"),
            _cnmc(tmp_path, "fold_1", "UID_5_2_1_all.bmp", "train"),
            _cnmc(tmp_path, "fold_2", "UID_H2_1_1_hem.bmp", "val"),
            _aria(tmp_path, "WBC-Malignant-Pre-001.jpg", "aria-Pre-train00", "test")]
    assert group_keys(recs) == ["aria:aria-Pre-train00", "cnmc:ALL-5", "cnmc:HEM-2"]
    assert select(recs, ["train"]) == recs[:2]
    assert select(recs, ["val", "test"]) == recs[2:]


def test_leak_messages_in_full(tmp_path):
    train = [_cnmc(tmp_path, "fold_0", f"UID_{i}_1_1_all.bmp", "train") for i in (1, 5, 9)]
    val = [_cnmc(tmp_path, "fold_2", f"UID_{i}_2_2_all.bmp", "val") for i in (5, 1, 3)]
    with pytest.raises(LeakageError) as err:
        check_leakage(train, val)  # default name of the check: train/val
    assert str(err.value) == ("train/val split leaks: 2 group(s) and 0 file(s) are on both sides "
                              "(cnmc:ALL-1, cnmc:ALL-5). Split by patient/group, not by image.")
    # the same files (and so the same groups): groups are named, not files
    with pytest.raises(LeakageError) as err:
        check_leakage(train[:2], train[:2], "a/b")
    assert str(err.value) == ("a/b split leaks: 2 group(s) and 2 file(s) are on both sides "
                              "(cnmc:ALL-1, cnmc:ALL-5). Split by patient/group, not by image.")


def test_exactly_ten_and_eleven_shared_groups(tmp_path):
    train = [_cnmc(tmp_path, "fold_0", f"UID_{i}_1_1_all.bmp", "train") for i in range(10, 21)]
    val = [_cnmc(tmp_path, "fold_2", f"UID_{i}_2_2_all.bmp", "val") for i in range(10, 21)]
    names = ", ".join(f"cnmc:ALL-{i}" for i in range(10, 20))  # sorted as text: 10 .. 19, not 20
    with pytest.raises(LeakageError) as err:
        check_leakage(train, val)
    assert str(err.value) == (f"train/val split leaks: 11 group(s) and 0 file(s) are on both sides "
                              f"({names}, and 1 more). Split by patient/group, not by image.")
    with pytest.raises(LeakageError) as err:
        check_leakage(train[:10], val[:10])
    assert str(err.value) == (f"train/val split leaks: 10 group(s) and 0 file(s) are on both sides "
                              f"({names}). Split by patient/group, not by image.")


def test_same_files_named_up_to_ten(tmp_path):
    paths = [_file(tmp_path, f"mine/all/c{i:02d}.png") for i in range(11)]
    a = [Record(p, "all", f"a{i}", "folder", "train") for i, p in enumerate(paths)]
    b = [Record(p, "all", f"b{i}", "folder", "val") for i, p in enumerate(paths)]
    with pytest.raises(LeakageError) as err:
        check_leakage(a, b)
    names = ", ".join(str(p) for p in paths[:10])
    assert str(err.value) == (f"train/val split leaks: 0 group(s) and 11 file(s) are on both sides "
                              f"({names}). Split by patient/group, not by image.")


def test_check_against_groups_message_in_full(tmp_path):
    recs = [_cnmc(tmp_path, "fold_2", f"UID_{i}_2_2_all.bmp", "val") for i in range(10, 21)]
    with pytest.raises(LeakageError) as err:
        check_against_groups(recs, group_keys(recs), "cnmc/val")
    names = ", ".join(f"cnmc:ALL-{i}" for i in range(10, 20))
    assert str(err.value) == (f"cnmc/val: 11 group(s) of this evaluation set were used to train the model "
                              f"({names}); this is not a held-out result.")


def test_leakage_check_refuses_shared_groups(cnmc_tree):
    recs = read_cnmc(cnmc_tree)
    train = select(recs, ["train"])
    check_leakage(train, select(recs, ["val"]))  # the val share takes whole patients
    check_leakage(select(recs, ["train", "val"]), select(recs, ["test"]))  # official folds are patient-disjoint
    with pytest.raises(LeakageError, match="group"):
        check_leakage(train, train[:1])
    with pytest.raises(LeakageError, match="not a held-out"):
        check_against_groups(train[:1], group_keys(train), "cnmc/test")


# ---------------------------------------------------------------------------- the real data's roles
# DATA.md's statements about the shared data (folds, patients, Aria's number blocks), checked against its
# provenance index: the roles every report names come from these splits.

def _roles_of_groups(recs):
    roles = defaultdict(set)
    for r in recs:
        roles[(r.dataset, r.group)].add(r.split)
    return roles


def _num(r):
    return int(r.path.stem.split("-")[-1])


@pytest.mark.skipif(not (SHARED_DATA / "cnmc2019").is_dir(), reason="shared data not present")
def test_real_cnmc_roles_match_data_notes():
    root = SHARED_DATA / "cnmc2019"
    cn = read_dataset(root)
    assert len(cn) == 129
    index = {row["relpath"]: row for row in csv.DictReader((root / "index.csv").open())}
    assert len(index) == 129
    for r in cn:  # fold and patient from the provenance index, not from the reader's own parsing
        row = index[r.path.relative_to(root).as_posix()]
        assert r.part == f"fold_{row['fold']}" and r.label == row["label"]
        pid = row["patient_id"]
        assert r.group == (f"HEM-{int(pid[1:])}" if pid[:1] in "Hh" else f"ALL-{int(pid)}")
    test = select(cn, ["test"])
    assert {r.part for r in test} == {"fold_2"} and len(test) == 48 and len({r.group for r in test}) == 21
    # fold_0 + fold_1 hold 21 ALL and 10 HEM patients: round(21 / 4) = 5 and round(10 / 4) = 2 are val
    train_folds = [r for r in cn if r.part in ("fold_0", "fold_1")]
    assert Counter(r.label for r in {(r.label, r.group): r for r in train_folds}.values()) == {"all": 21, "hem": 10}
    val = select(cn, ["val"])
    assert Counter(g.split("-")[0] for g in {r.group for r in val}) == {"ALL": 5, "HEM": 2}
    assert all(len(roles) == 1 for roles in _roles_of_groups(cn).values())
    check_leakage(select(cn, ["train"]), val)
    check_leakage(select(cn, ["train", "val"]), test, "train+val/test")


@pytest.mark.skipif(not (SHARED_DATA / "aria_all").is_dir(), reason="shared data not present")
def test_real_aria_roles_match_data_notes():
    root = SHARED_DATA / "aria_all"
    ar = read_dataset(root)
    assert len(ar) == 2 * 2766
    by_sub = Counter(r.subclass for r in ar if r.part == "Original")
    assert by_sub == {"Benign": 428, "Early": 837, "Pre": 818, "Pro": 683}
    numbers = defaultdict(set)
    for r in ar:
        numbers[r.subclass].add(_num(r))
    expected = {}
    for sub, nums in numbers.items():
        nums = sorted(nums)
        n_test, n_val = int(len(nums) * 0.2), int(len(nums) * 0.15)  # Benign: 85 test, 64 val
        for i, k in enumerate(nums):
            expected[(sub, k)] = ("train" if i < len(nums) - n_test - n_val else
                                  "val" if i < len(nums) - n_test else "test")
    assert Counter(expected.values()) == {"train": 1802, "val": 413, "test": 551}
    assert all(r.split == expected[(r.subclass, _num(r))] for r in ar)
    # the same field in Original and Segmented: same role and group
    fields = defaultdict(set)
    for r in ar:
        fields[(r.subclass, r.path.name)].add((r.part, r.split, r.group))
    assert all(len(v) == 2 and len({(s, g) for _, s, g in v}) == 1 for v in fields.values())
    # byte-identical files (provenance index) share a group
    group = {r.path.relative_to(root).as_posix(): r.group for r in ar}
    pairs = [(row["path"], row["identical_files"]) for row in csv.DictReader((root / "index.csv").open())
             if row["identical_files"]]
    assert len(pairs) == 160
    assert all(group[a] == group[b] for a, b in pairs)
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        check_leakage(select(ar, [a]), select(ar, [b]), f"{a}/{b}")
