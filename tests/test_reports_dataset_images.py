"""reports.dataset_images: finding a report's images on this machine, and the hint when they are not found."""

from leukemia_core.reports.dataset_images import DATA_ENV, data_hint, resolve_image


def test_stored_absolute_path_found_as_is(tmp_path):
    f = tmp_path / "a.png"
    f.write_bytes(b"x")
    assert resolve_image(str(f), data_env="") == f
    assert resolve_image(str(tmp_path / "absent.png"), data_env="") is None


def test_found_under_the_data_folder(tmp_path):
    root = tmp_path / "data"
    f = root / "C-NMC" / "fold_0" / "all" / "a.bmp"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"x")
    stored = "/elsewhere/datasets/C-NMC/fold_0/all/a.bmp"
    assert resolve_image(stored, data_env="") is None
    # relative to the folder the report was made from, with that folder's own name
    assert resolve_image(stored, ["/elsewhere/datasets/C-NMC"], data_env=str(root)) == f
    # or by the stored path's trailing parts
    assert resolve_image(stored, data_env=str(root)) == f
    assert resolve_image("../../C-NMC/fold_0/all/a.bmp", data_env=str(root)) == f


def test_data_env_is_read_when_not_given(tmp_path, monkeypatch):
    f = tmp_path / "x" / "b.png"
    f.parent.mkdir()
    f.write_bytes(b"x")
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert resolve_image("/far/away/x/b.png") == f


def test_data_hint(monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    hint = data_hint({"data": ["/d/C-NMC", "/d/aria"]})
    assert DATA_ENV in hint and "/d/C-NMC, /d/aria" in hint and hint.endswith("It is not set.")
    monkeypatch.setenv(DATA_ENV, "/mnt/data")
    assert data_hint().endswith("It is now '/mnt/data'.") and "the dataset folder" in data_hint()


def test_resolve_image(tmp_path, monkeypatch):
    data = tmp_path / "mydata" / "cnmc2019" / "training_data" / "fold_2" / "all"
    data.mkdir(parents=True)
    (data / "UID_1_1_1_all.bmp").write_bytes(b"x")
    stored = "../shared/data/cnmc2019/training_data/fold_2/all/UID_1_1_1_all.bmp"
    monkeypatch.delenv("LEUKEMIA_DATA", raising=False)
    assert resolve_image("/definitely/not/here.bmp") is None
    monkeypatch.setenv("LEUKEMIA_DATA", str(tmp_path / "mydata"))
    found = resolve_image(stored, ["../shared/data/cnmc2019"])
    assert found == tmp_path / "mydata" / "cnmc2019" / "training_data" / "fold_2" / "all" / "UID_1_1_1_all.bmp"
    monkeypatch.setenv("LEUKEMIA_DATA", str(tmp_path / "mydata" / "cnmc2019"))
    assert resolve_image(stored, ["../shared/data/cnmc2019"]) == found
    assert "LEUKEMIA_DATA" in data_hint({"data": ["../shared/data/cnmc2019"]})
