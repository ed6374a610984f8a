"""reports.summary: the README's short block, same-lab test figures beside the baseline, then the
left-out labs (built on test_results' synthetic reports)."""

import json
from pathlib import Path

import numpy as np
import pytest
from test_results import _fmt, _reports, _table_after, weights_dir  # noqa: F401 (weights_dir: a fixture)

from leukemia_core.data.datasets import Record
from leukemia_core.evaluation.evaluate import REPORT_FORMAT, build_set
from leukemia_core.errors import LeukemiaCoreError
from leukemia_core.reports.results import write_results
from leukemia_core.reports.summary import (SUMMARY_END, SUMMARY_HEADER, SUMMARY_LOLO_HEADER, SUMMARY_START,
                                           build_summary)


def test_readme_summary_puts_same_lab_tests_beside_the_baseline(weights_dir, tmp_path):
    lines = build_summary(weights_dir).splitlines()
    header, rows = _table_after(lines, "Same-lab test blocks")
    assert header == SUMMARY_HEADER
    got = {r[0]: dict(zip(header, r)) for r in rows}
    assert list(got) == ["`proposed`", "`resnet50`", "colour-only baseline"]
    reps = _reports(weights_dir)
    aria = next(s for s in reps["proposed"]["sets"] if s["key"] == "aria-original/test")
    cnmc = next(s for s in reps["proposed"]["sets"] if s["key"] == "cnmc/test")
    assert got["`proposed`"]["Aria test fields: bal. acc. / AUC"] == (
        f"{_fmt(aria['metrics']['balanced_accuracy'])} / {_fmt(aria['metrics']['roc_auc'])}")
    assert got["`proposed`"]["C-NMC fold_2 cells: bal. acc. / AUC"] == (
        f"{_fmt(cnmc['cell_metrics']['balanced_accuracy'])} / {_fmt(cnmc['cell_metrics']['roc_auc'])}")
    assert got["`proposed`"]["training"] == "12 x 180 batches of 32 (69,120 cells), 37 min"
    assert got["`proposed`"]["trained on"] == "aria + bccd + cnmc"
    assert got["`proposed`"]["crop"] == "cell on black" and got["colour-only baseline"]["crop"] == "–"
    assert got["`proposed`"]["start"] == "random" and got["colour-only baseline"]["start"] == "–"
    assert got["`resnet50`"]["training"] == "–" and got["`resnet50`"]["BCCD test cells called ALL"] == "–"
    assert got["colour-only baseline"]["trained on"] == "aria + cnmc"
    assert not any(ln.startswith("Left-out labs") for ln in lines)  # no lolo reports yet
    # the crop is read from the manifest
    man_path = weights_dir / "proposed.manifest.json"
    man = json.loads(man_path.read_text())
    start = {"name": "nsfwjs-inception-v3", "source": "nsfwjs 4.4.0 (npm)"}
    man_path.write_text(json.dumps({**man, "mask_outside": False, "init_start": start}))
    header, rows = _table_after(build_summary(weights_dir).splitlines(), "Same-lab test blocks")
    assert dict(zip(header, rows[0]))["crop"] == "with surroundings"
    assert dict(zip(header, rows[0]))["start"] == "ImageNet layers of nsfwjs-inception-v3"
    man_path.write_text(json.dumps(man))
    # with a left-out report: its own table, the share of normal cells called ALL in per cent
    (weights_dir / "lolo").mkdir()
    b = [Record(Path(f"b{i}.jpg"), "hem", f"g{i}", "bccd", "left-out", "") for i in range(4)]
    p = np.array([0.1, 0.2, 0.7, 0.3])
    (weights_dir / "lolo" / "proposed-bccd.report.json").write_text(json.dumps(
        {"format": REPORT_FORMAT, "model": "proposed", "trained_on": ["aria", "cnmc"], "weights_date": "2026-11-26",
         "sets": [build_set("bccd/left-out", b, p, 0.5, [[v] for v in p])], "skipped": [],
         "lab_probe": {"classes": {"HEM": {"balanced_accuracy": 0.955, "chance": 0.25}}}}))
    header, rows = _table_after(build_summary(weights_dir).splitlines(), "Left-out labs")
    assert header == SUMMARY_LOLO_HEADER
    assert rows == [["`proposed`", "aria + cnmc", "–", "2026-11-26", "bccd", "–", "25.0 %", "0.95 (0.25)"]]
    # a README with only the summary block: that block is filled, nothing else is asked for
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{SUMMARY_START}\nstale\n{SUMMARY_END}\noutro\n")
    write_results(weights_dir, readme)
    assert readme.read_text() == f"intro\n{SUMMARY_START}\n{build_summary(weights_dir)}\n{SUMMARY_END}\noutro\n"
    (tmp_path / "plain.md").write_text("no blocks at all\n")
    with pytest.raises(LeukemiaCoreError, match=r"plain.md: no <!-- results:start --> \.\.\. <!-- results:end --> block"):
        write_results(weights_dir, tmp_path / "plain.md")
    assert (tmp_path / "plain.md").read_text() == "no blocks at all\n"  # nothing written
