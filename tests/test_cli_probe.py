"""cli.probe (``lab-probe``): the probe goes into the model's own report, and the document's table
names every shipped model probed so far, not only the one run now."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from leukemia_core.cli import main

SHIPPED = Path(__file__).resolve().parents[1] / "model_weights"


def test_a_probe_of_one_model_keeps_the_others_in_the_table(trained_tiny, bccd_tree, tmp_path, monkeypatch):
    import leukemia_core.evaluation.lab_probe as lp

    stored = json.loads((SHIPPED / "proposed.report.json").read_text())["lab_probe"]
    wdir = tmp_path / "w"
    shutil.copytree(trained_tiny["weights_dir"], wdir)
    (wdir / "tiny_cnn.report.json").write_text(json.dumps({"model": "tiny_cnn"}))
    (wdir / "proposed.report.json").write_text(json.dumps({"model": "proposed", "lab_probe": stored}))
    seen = []
    monkeypatch.setattr(lp, "probe_cells", lambda records, pred, *a: seen.append(pred.loaded.name) or stored)
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- lab-probe:start -->\n<!-- lab-probe:end -->\n")
    assert main(["lab-probe", "--model", "tiny_cnn", "--data", str(trained_tiny["data"]), "--data", str(bccd_tree),
                 "--weights-dir", str(wdir), "--cache-dir", "", "--doc", str(doc)]) == 0
    assert seen == ["tiny_cnn"]  # only the model named was probed
    assert json.loads((wdir / "tiny_cnn.report.json").read_text())["lab_probe"] == stored
    text = doc.read_text()
    assert "| `tiny_cnn` |" in text and "| `proposed` |" in text  # the stored probe stays in the table
