"""reports.loadtest_table: the load test's Markdown block from its JSON, cell by cell, and its
place in docs/results.md written by ``write_results``."""

import json

from leukemia_core.reports.loadtest_table import LOADTEST_END, LOADTEST_START, build_loadtest
from leukemia_core.reports.results import END, START, write_results


def test_loadtest_block_from_its_json(tmp_path):
    assert build_loadtest(tmp_path).startswith("_Not measured yet")
    run = {"date": "2026-11-26T11:00:00", "command": "python tools/loadtest.py --sessions 1 8 --app-root /tmp/lt/fixed --weights-dir /tmp/w",
           "machine": {"cpu_model": "Test CPU", "usable_cores": 2, "memory_mib": 24576, "streamlit": "1.67.0",
                       "tensorflow": "2.21.0"},
           "settings": {"models": ["proposed", "resnet50"], "timeout_s": 120, "cam_method": "gradcam",
                        "steps": "upload, model, threshold", "images": "C-NMC crops and Aria fields"},
           "tf_concurrency": [{"model": "proposed", "threads": 8, "images_per_thread": 6, "exceptions": [],
                               "finished": True, "max_abs_diff_p_all": 0.0, "max_abs_diff_maps": 0.0,
                               "concurrent_warm_s": 1.5, "serial_warm_s": 2.25}],
           "configs": [
               {"app": "fixed", "sessions": 8, "duration_s": 180,
                "uploads": {"attempted": 30, "completed": 29, "p50_s": 6.04, "p95_s": 10.16, "max_s": 12.3},
                "model_switches": {"p50_s": 5.0, "p95_s": 9.0}, "threshold_moves": {"p50_s": 2.0, "p95_s": 3.5},
                "errors": 1, "timeouts": 1, "mismatches": 3, "cross_session": 1, "warmup_end_s": 40,
                "rss_warm_mib": 1400.4, "rss_end_mib": 1410.6, "rss_slope_after_warm_mib_per_min": 0.52,
                "rss_series": [[0.5, 70], [10.5, 700], [31, 1400], [45, 1405], [61.2, 1410]]}]}
    run["configs"].append({**run["configs"][0], "app": "later", "date": "2026-12-03T13:00:00+0000",
                           "cpu_model": "Other CPU"})
    (tmp_path / "loadtest.json").write_text(json.dumps(run))
    text = build_loadtest(tmp_path)
    lines = text.splitlines()
    assert lines[0].startswith("Measured 2026-11-26 on Test CPU, 2026-12-03 on Other CPU, 2 cores, 24 GiB, no GPU")
    assert any(line.startswith("| 2026-12-03 | later | 8 |") for line in lines)  # a row keeps its own run's date
    assert "`proposed`, `resnet50`" in lines[0] and "120 s" in lines[0]
    row = next(line for line in lines if line.startswith("| 2026-11-26 | fixed |"))
    assert [c.strip() for c in row.strip("|").split("|")] == [
        "2026-11-26", "fixed", "8", "3", "29 of 30", "6.0", "10.2", "12.3", "5.0 / 9.0", "2.0 / 3.5", "1", "1", "1", "2",
        "1400 → 1411", "0.5"]
    assert "- fixed, 8 session(s), warm-up ended at 40 s: 0 s 70, 31 s 1400, 61 s 1410." in lines
    assert any("8 threads read the same 6 images with one shared `proposed`" in line
               and "the same P(ALL) and maps as a serial reading" in line and "1.50 s at once against 2.25 s" in line
               for line in lines)
    assert lines[-1].startswith("Command: `python tools/loadtest.py --sessions 1 8 --app-root COPY_OF_THE_APP --weights-dir COPY_OF_THE_WEIGHTS`")
    readme = tmp_path / "README.md"
    readme.write_text(f"# T\n\n{START}\nold\n{END}\n\n## Speed\n\n{LOADTEST_START}\nold figures\n{LOADTEST_END}\nend\n")
    write_results(tmp_path, readme)
    assert f"{LOADTEST_START}\n{text}\n{LOADTEST_END}\nend\n" in readme.read_text()
