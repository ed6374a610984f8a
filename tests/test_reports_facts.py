"""reports.facts: model facts from manifests, training data tables, per-model tables of bench and CAM-check files."""

from leukemia_core.jsonio import write_json
from leukemia_core.reports.facts import model_facts, per_model_table, training_data_table
from leukemia_core.reports.files import BASELINE

MANIFEST = {"description": "tiny", "params": 1234, "input_size": 32, "init": "random", "commit": "abcdef0123456789",
            "date": "2026-01-01", "weights_file": "m.weights.npz",
            "training": {"epochs_run": 3, "epochs_max": 5, "selected_epoch": {"epoch": 2}, "seconds": 90, "seed": 7,
                         "train": {"images": {"cnmc/fold_0/all": 10}, "groups": {"cnmc": 4}},
                         "val": {"images": {"cnmc/fold_0/hem": 3}}}}


def test_model_facts_from_manifests(tmp_path):
    write_json(tmp_path / "m.manifest.json", MANIFEST)
    (tmp_path / "m.weights.npz").write_bytes(b"\0" * 2**20)
    df = model_facts(["m", "absent"], tmp_path)
    assert df["model"].tolist() == ["m"]  # models without a manifest are left out
    row = df.iloc[0]
    assert row["parameters"] == 1234 and row["file size (MB)"] == 1.0 and row["input size (px)"] == 32
    assert row["epochs run"] == 3 and row["selected epoch"] == 2 and row["training time (min)"] == 1.5
    assert row["commit"] == "abcdef012345" and row["seed"] == 7
    write_json(tmp_path / "n.manifest.json", {})
    n = model_facts(["n"], tmp_path).iloc[0]
    assert n["file size (MB)"] is None and n["training time (min)"] is None
    assert model_facts([], tmp_path).empty


def test_model_card_names_labs_crop_start_and_the_selection_rule_not_paths():
    from leukemia_core.reports.facts import card_text

    man = {"input_size": 80, "params": 10, "weights_sha256": "ab" * 32, "commit": "c" * 40, "date": "2026-12-07",
           "mask_outside": True, "init": "nsfwjs-inception-v3", "init_start": {"name": "nsfwjs-inception-v3"},
           "training": {"data": ["../shared/data/cnmc2019", "/home/x/aria_all"], "epochs_run": 20, "epochs_max": 20,
                        "train": {"images": {"cnmc/train/all": 3, "aria/train/hem": 2}},
                        "selected_epoch": {"epoch": 13, "phase": "main"}, "seed": 42, "batch_size": 32,
                        "selection": "epoch with the best mean ROC AUC over the validation datasets' cells"}}
    what, how = card_text("inception_v3", man)
    assert "`mixed7`" in what and "`abababababababab...`" in what
    assert how.startswith("Trained on aria + cnmc (cell on black; weights started: ImageNet layers of "
                          "nsfwjs-inception-v3); 20 epochs run of 20; weights of epoch 13 (main) kept, chosen as "
                          "the epoch with the best mean ROC AUC")
    assert "shared/data" not in how and "/home" not in how  # datasets by name, never a path
    man["training"]["sampling"] = {"by": "class"}  # class-first batches are part of the recipe
    assert card_text("inception_v3", man)[1].startswith("Trained on aria + cnmc (cell on black; batches by class; "
                                                         "weights started: ImageNet layers of nsfwjs-inception-v3)")


def test_training_data_table(tmp_path):
    write_json(tmp_path / "m.manifest.json", MANIFEST)
    t = training_data_table("m", tmp_path)
    assert t.values.tolist() == [["train", "cnmc/fold_0/all", 10], ["train", "cnmc (groups)", 4],
                                 ["val", "cnmc/fold_0/hem", 3]]
    assert training_data_table("absent", tmp_path).empty


def test_per_model_table_dict_list_and_filter():
    data = {"models": {"a": {"predict_ms": 3.0, "profile": {"x": 1}, "per_image": [1]}, "b": {"predict_ms": 4.0},
                       BASELINE: {"predict_ms": 1.0}, "bad": 5}}
    t = per_model_table(data)
    assert t["model"].tolist() == ["a", "b", BASELINE] and list(t.columns) == ["model", "predict_ms"]
    assert per_model_table(data, ["b"])["model"].tolist() == ["b", BASELINE]  # the baseline is always kept
    rows = per_model_table({"results": [{"model": "a", "energy": {"mean": 0.8, "note": "ok", "list": [1]},
                                         "long": "x" * 50, "flag": True}]})
    assert rows.to_dict("records") == [{"model": "a", "energy mean": 0.8, "energy note": "ok"}]
    assert per_model_table(None).empty and per_model_table({}).empty
