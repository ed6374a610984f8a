"""reports.ablations: the recipe-comparison table from the variants' and the shipped model's files,
cell by cell, and its block in docs/results.md written by ``write_results``."""

import json

from leukemia_core.reports.ablations import ABLATIONS_END, ABLATIONS_START, build_ablations, variant_files
from leukemia_core.reports.results import END, START, write_results


def _files(folder, stem, size, stain, aria, cnmc_test, bccd_spec, selected=2, seconds=600.0, masked=True, norm=None,
           start=None):
    history = [{"phase": "main", "epoch": e, "val_score": 0.5 + 0.1 * e, "val_aria_auc": 0.6 + 0.01 * e,
                "val_cnmc_auc": 0.4 + 0.01 * e, "val_bccd_auc": 0.9} for e in (1, 2, 3)]
    manifest = {"name": "efficientnet_b0", "input_size": size, "mask_outside": masked,
                "training": {"epochs_run": 3, "steps_per_epoch": 180, "seconds": seconds,
                             "selected_epoch": {"phase": "main", "epoch": selected, "val_score": 0.5 + 0.1 * selected},
                             "augmentation": {"stain_scale": 0.15 if stain else 0.0,
                                              "stain_shift": 0.05 if stain else 0.0, "hue": 0.04}}}
    report = {"model": "efficientnet_b0", "sets": [
        {"key": "aria-original/test", "metrics": {"balanced_accuracy": aria[0], "roc_auc": aria[1]}},
        {"key": "cnmc/test", "cell_metrics": {"balanced_accuracy": cnmc_test[0], "roc_auc": cnmc_test[1]}},
        {"key": "bccd/test", "cell_metrics": {"specificity": bccd_spec}}]}
    if start:
        manifest["init"], manifest["init_start"] = start, {"name": start, "sha256": "ab" * 32}
    if norm:
        manifest["norm"] = norm  # manifests written before the norm lever have none: batch norm
    folder.mkdir(parents=True, exist_ok=True)
    for kind, obj in (("manifest", manifest), ("history", history), ("report", report)):
        (folder / f"{stem}.{kind}.json").write_text(json.dumps(obj))


def _cells(line):
    return [c.strip() for c in line.strip("|").split("|")]


def test_variants_are_listed_beside_the_shipped_model(tmp_path):
    assert build_ablations(tmp_path).startswith("_No recipe variant measured yet")
    _files(tmp_path, "efficientnet_b0", 80, True, (0.9, 0.95), (0.6, 0.7), 0.95, selected=3, seconds=4800,
           start="efficientnet-lite0")
    _files(tmp_path / "ablations", "efficientnet_b0-96px", 96, True, (0.92, 0.96), (0.65, 0.72), 0.9, masked=False)
    _files(tmp_path / "ablations", "no-stain", 80, False, (0.85, 0.9), (0.55, 0.6), 0.99, norm="group")
    (tmp_path / "ablations" / "half.report.json").write_text("{}")  # no manifest or history: not a variant
    assert sorted(variant_files(tmp_path)) == ["efficientnet_b0-96px", "no-stain"]
    lines = build_ablations(tmp_path).splitlines()
    rows = [_cells(ln) for ln in lines if ln.startswith("| ") and not ln.startswith("| weights")]
    assert rows[0] == ["shipped `efficientnet_b0`", "ImageNet layers of efficientnet-lite0", "80", "cell on black", "H/E", "batch", "3 x 180 batches, 80 min", "0.800 (epoch 3)",
                       "0.630 / 0.430 / 0.900", "0.900 / 0.950", "0.600 / 0.700", "5.0 %"]
    assert rows[1] == ["`efficientnet_b0`, variant `96px`", "random", "96", "with surroundings", "H/E", "batch", "3 x 180 batches, 10 min",
                       "0.700 (epoch 2)", "0.620 / 0.420 / 0.900", "0.920 / 0.960", "0.650 / 0.720", "10.0 %"]
    assert rows[2][:6] == ["`efficientnet_b0`, variant `no-stain`", "random", "80", "cell on black", "none", "group"] and rows[2][-1] == "1.0 %"
    assert "not a test" in lines[-1]


def test_the_block_is_written_into_a_file_that_has_it(tmp_path):
    _files(tmp_path, "efficientnet_b0", 80, True, (0.9, 0.95), (0.6, 0.7), 0.95)
    _files(tmp_path / "ablations", "96px", 96, True, (0.92, 0.96), (0.65, 0.72), 0.9)
    doc = tmp_path / "results.md"
    doc.write_text(f"# R\n\n{START}\nold\n{END}\n\n{ABLATIONS_START}\nold\n{ABLATIONS_END}\nend\n")
    write_results(tmp_path, doc)
    assert f"{ABLATIONS_START}\n{build_ablations(tmp_path)}\n{ABLATIONS_END}\nend\n" in doc.read_text()
