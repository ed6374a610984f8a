"""samples: the bundled sample images, ALL first, with their dataset and (Aria) segmented mask."""

from leukemia_core.data.images import read_image
from leukemia_core.samples import SAMPLES_DIR, Sample, list_samples


def test_samples_are_all_first_sorted_and_labelled_by_folder():
    samples = list_samples()
    labels = [s.label for s in samples]
    assert set(labels) == {"all", "hem"} and labels == sorted(labels)  # "all" < "hem": ALL first
    for label in ("all", "hem"):
        names = [s.path.name for s in samples if s.label == label]
        assert names == sorted(names)
        assert all(s.path.parent == SAMPLES_DIR / label for s in samples if s.label == label)
    assert all(s.path.suffix.lower() in (".png", ".jpg") for s in samples)


def test_datasets_and_masks():
    samples = list_samples()
    assert {s.dataset for s in samples} == {"C-NMC 2019", "Aria ALL", "BCCD"}
    for s in samples:
        assert (s.dataset == "C-NMC 2019") == s.path.name.startswith("UID_")
        assert (s.dataset == "BCCD") == s.path.name.startswith("BloodImage_")
        assert (s.boxes is not None) == (s.dataset == "BCCD")
        if s.boxes is not None:
            assert s.label == "hem" and s.boxes == SAMPLES_DIR / "annotations" / f"{s.path.stem}.xml"
        if s.dataset == "C-NMC 2019":
            assert s.mask is None
        if s.mask is not None:
            assert s.mask == SAMPLES_DIR / "segmented" / s.path.name and s.mask.is_file()
    assert any(s.mask is not None for s in samples if s.dataset == "Aria ALL")


def test_title_and_images_read():
    s = list_samples()[0]
    assert isinstance(s, Sample)
    assert s.title == f"ALL - {s.dataset} - {s.path.name}"
    rgb = read_image(s.path)
    assert rgb.dtype.name == "uint8" and rgb.ndim == 3 and rgb.shape[2] == 3
