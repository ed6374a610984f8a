"""cells.dataset: every cell of every record cropped at the fixed scale, labels and source images kept,
one cell per C-NMC image, unreadable images reported, the on-disk cache giving the same arrays."""

import numpy as np
import pytest

from leukemia_core.cells.dataset import CellSet, extract_cells
from leukemia_core.data.datasets import Record


def _records(samples, tmp_path):
    recs = [Record(s.path, s.label, s.path.stem, "cnmc" if s.dataset == "C-NMC 2019" else "aria", "train")
            for s in samples]
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    return recs + [Record(bad, "hem", "broken", "folder", "train")]


@pytest.fixture(scope="module")
def cellset(samples, tmp_path_factory):
    recs = _records(samples, tmp_path_factory.mktemp("cells"))
    return recs, extract_cells(recs, 32, workers=2)


def test_shapes_dtypes_and_labels(cellset):
    recs, cs = cellset
    n = len(cs.x)
    assert cs.x.shape == (n, 32, 32, 3) and cs.x.dtype == np.uint8 and n > len(recs) - 1
    assert cs.y.shape == cs.image_index.shape == cs.border.shape == (n,)
    assert cs.y.dtype == np.int32 and cs.image_index.dtype == np.int32 and cs.border.dtype == bool
    np.testing.assert_array_equal(cs.y, [recs[i].y for i in cs.image_index])
    assert cs.n_cells.shape == (len(recs),) and cs.n_cells.sum() == n
    np.testing.assert_array_equal(np.bincount(cs.image_index, minlength=len(recs)), cs.n_cells)


def test_one_cell_per_cnmc_image_and_unreadable_images_reported(cellset):
    recs, cs = cellset
    for i, r in enumerate(recs):
        if r.dataset == "cnmc":
            assert cs.n_cells[i] == 1
    assert max(cs.n_cells[i] for i, r in enumerate(recs) if r.dataset == "aria") > 1
    assert cs.n_cells[-1] == 0
    assert [r.path.name for r, _ in cs.errors] == ["broken.png"] and cs.errors[0][1]


def test_subset_keeps_records_whole(cellset):
    _, cs = cellset
    keep = cs.y == 1
    sub = cs.subset(keep)
    assert isinstance(sub, CellSet) and len(sub.x) == keep.sum() and (sub.y == 1).all()
    assert sub.records is cs.records and sub.n_cells is cs.n_cells


def test_cache_gives_the_same_arrays(samples, tmp_path):
    recs = _records(samples[:3], tmp_path)
    first = extract_cells(recs, 24, cache_dir=tmp_path / "cache", workers=1)
    assert len(list((tmp_path / "cache").glob("cells-*.npz"))) == 1
    again = extract_cells(recs, 24, cache_dir=tmp_path / "cache", workers=1)
    for f in ("x", "y", "image_index", "border", "n_cells"):
        np.testing.assert_array_equal(getattr(first, f), getattr(again, f))
    assert [r for r, _ in again.errors] == [r for r, _ in first.errors]
    extract_cells(recs, 32, cache_dir=tmp_path / "cache", workers=1)  # other settings: another file
    assert len(list((tmp_path / "cache").glob("cells-*.npz"))) == 2
    extract_cells(recs, 24, cache_dir=tmp_path / "cache", workers=1, masked=False)
    assert len(list((tmp_path / "cache").glob("cells-*.npz"))) == 3


def test_surroundings_are_kept_when_asked(aria_samples, tmp_path):
    recs = _records(aria_samples[:1], tmp_path)
    on_black, kept = (extract_cells(recs, 24, workers=1, masked=m) for m in (True, False))
    assert kept.x.shape == on_black.x.shape and len(kept.x) >= 1
    shown = [(cs.x.max(axis=3) > 8).mean() for cs in (on_black, kept)]
    assert shown[1] > 0.8 > shown[0]  # the field around each cell, black only past the image edge


def test_no_records():
    cs = extract_cells([], 16)
    assert cs.x.shape == (0, 16, 16, 3) and cs.x.dtype == np.uint8 and cs.errors == []
