"""data.names: datasets named for readers, and which white-cell types are lymphoid."""

from leukemia_core.data.datasets import Record
from leukemia_core.data.names import dataset_title, is_lymphoid


def test_datasets_are_named_for_readers():
    assert [dataset_title(k) for k in ("cnmc/train", "aria-original/test", "bccd", "wbcseg", "mylab")] == [
        "C-NMC 2019", "Aria ALL", "BCCD", "wbcseg (Zheng et al.)", "mylab"]  # by name, never by its folder


def test_lymphoid_records():
    def rec(subclass):
        return Record("x.png", "hem", "g", "bccd", "test", "", subclass)

    assert is_lymphoid(rec("")) and is_lymphoid(rec("Benign")) and is_lymphoid(rec("lymphocyte+lymphocyte"))
    assert not is_lymphoid(rec("neutrophil")) and not is_lymphoid(rec("neutrophil+lymphocyte"))
    assert not any(map(is_lymphoid, map(rec, ("eosinophil", "monocyte", "basophil"))))
