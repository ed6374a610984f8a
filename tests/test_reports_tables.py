"""reports.tables: the Markdown pieces and the training facts the results tables share."""

from leukemia_core.jsonio import write_json
from leukemia_core.reports.tables import (LOLO_DIR, ba_auc, called_all, cells_seen, crop_of, fmt, fmt_count,
                                          lolo_reports, md_header, md_row, recipe_of, role_of, sampling_of, stain_of,
                                          trained_labs)


def test_formats_and_rows():
    assert fmt(None) == "–" and fmt(0.12345) == "0.123" and fmt(1, 2) == "1.00"
    assert fmt_count(None) == "–" and fmt_count(7) == "7"
    assert ba_auc({}) == "–" and ba_auc({"balanced_accuracy": 0.5, "roc_auc": None}) == "0.500 / –"
    assert called_all({}) == "–" and called_all({"specificity": 0.75}) == "25.0 %"
    assert md_row(["a", "b"]) == "| a | b |"
    assert md_header(["m", "x", "y"]) == ["| m | x | y |", "|---|---:|---:|"]
    assert role_of({"key": "cnmc/test"}) == "test" and role_of({"key": "x/val", "role": "left-out"}) == "left-out"


def test_training_facts_from_a_manifest():
    training = {"train": {"images": {"cnmc/fold_0": 3, "aria/Original": 5, "aria/Segmented": 5}},
                "epochs_run": 2, "steps_per_epoch": 3, "batch_size": 4,
                "augmentation": {"stain_scale": 0.1}}
    assert trained_labs(training) == ["aria", "cnmc"]
    assert cells_seen(training) == 24 and cells_seen({}) is None
    manifest = {"mask_outside": False, "norm": "group", "input_size": 96, "training": training}
    assert crop_of(manifest) == "with surroundings" and crop_of({}) == "cell on black"
    assert stain_of(manifest) == "H/E stain jitter" and stain_of({}) == "no augmentation"
    assert stain_of({"training": {"augmentation": {}}}) == "no stain jitter"
    assert recipe_of(None) == "–"
    assert recipe_of(manifest) == "with surroundings, H/E stain jitter, group norm, 96 px, 2 x 3 batches"
    assert sampling_of(manifest) is None
    assert sampling_of({"training": {"sampling": {"by": "class"}}}) == "batches by class"
    started = {**manifest, "norm": "batch", "colour": "standardised", "init_start": {"name": "nsfwjs-inception-v3"}}
    assert recipe_of(started) == ("with surroundings, H/E stain jitter, colour standardised, pretrained start "
                                  "nsfwjs-inception-v3, 96 px, 2 x 3 batches")
    assert recipe_of({**manifest, "training": {**training, "seed": 42}}) == recipe_of(manifest)  # the default
    assert recipe_of({**manifest, "training": {**training, "seed": 7}}).endswith("2 x 3 batches, seed 7")


def test_lolo_reports_in_registry_order_then_the_baseline(tmp_path):
    assert lolo_reports(tmp_path) == []
    folder = tmp_path / LOLO_DIR
    write_json(folder / "colour_baseline-cnmc.report.json", {"model": "colour_baseline"})
    write_json(folder / "resnet50-cnmc.report.json", {"model": "resnet50", "weights_date": "2026-02"})
    write_json(folder / "proposed-cnmc-new.report.json", {"model": "proposed", "weights_date": "2026-03"})
    write_json(folder / "proposed-cnmc-old.report.json", {"model": "proposed", "weights_date": "2026-01"})
    write_json(folder / "proposed-cnmc-old.manifest.json", {"input_size": 64})
    got = lolo_reports(tmp_path)
    assert [(r["model"], r.get("weights_date")) for r, _ in got] == [
        ("proposed", "2026-01"), ("proposed", "2026-03"), ("resnet50", "2026-02"), ("colour_baseline", None)]
    assert got[0][1] == {"input_size": 64} and got[1][1] is None
