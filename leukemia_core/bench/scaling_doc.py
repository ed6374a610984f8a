"""The figures block of docs/scaling.md, built from ``model_weights/bench_scaling.json`` (written
by ``python -m leukemia_core.bench.scaling``): :func:`scaling_table` turns the report into Markdown
and :func:`write_doc_block` puts it between :data:`START` and :data:`END`; a test checks that the
shipped document holds exactly the table of the shipped JSON, so no figure is typed by hand.
"""

from __future__ import annotations

from pathlib import Path

from ..docblocks import markers, write_block_from_json
from ..paths import PROJECT_ROOT, folder_label

BLOCK = "scaling"
START, END = markers(BLOCK)
DEFAULT_JSON = PROJECT_ROOT / "model_weights" / "bench_scaling.json"

#: The runs of the scaling part, in table order, with what each one is.
RUNS = (
    ("predict_one_process", "`predict`, one process, both cores"),
    ("screen_one_node", "`screen`, local Ray instance, both cores"),
    ("screen_cluster_one_node_1core", "`screen`, simulated cluster: 1 node, pinned to 1 core"),
    ("screen_cluster_two_nodes_1core_each", "`screen`, simulated cluster: 2 nodes, 1 core each"),
)


def _fig(x, unit: str = "") -> str:
    if x is None:
        return "n/a"
    return f"{x:g}{unit}" if isinstance(x, (int, float)) else str(x)


def _onnx_rows(onnx: dict) -> list[str]:
    rows = ["| model | Keras compiled floor, ms / 32 cells | ONNX Runtime, ms / 32 cells | ONNX speed-up | "
            "max \\|P(ALL) ONNX - Keras\\| |", "|---|---:|---:|---:|---:|"]
    for name, r in onnx.items():
        if "reason" in r:
            rows.append(f"| {name} | n/a | n/a | n/a | {r['reason']} |")
            continue
        rows.append(f"| {name} | {_fig(r['keras_floor_ms'])} | {_fig(r['onnx_ms'])} | "
                    f"{_fig(r['onnx_over_keras_speed'])}x | {r['max_abs_diff_p_all']:.1e} |")
    return rows


def _scaling_rows(sc: dict) -> list[str]:
    rows = ["| run | images/s | cells/s | wall s | peak RSS, MiB (sum) | peak PSS, MiB (sum) |",
            "|---|---:|---:|---:|---:|---:|"]
    for key, what in RUNS:
        r = sc.get(key)
        if not r:
            continue
        status = "" if r.get("returncode") == 0 else f" (exit {r.get('returncode')})"
        rows.append(f"| {what}{status} | {_fig(r.get('images_s'))} | {_fig(r.get('cells_s'))} | "
                    f"{_fig(r.get('seconds'))} | {_fig(r.get('peak_rss_mb'))} | {_fig(r.get('peak_pss_mb'))} |")
    return rows


def _memory_rows(mem: dict) -> list[str]:
    rows = ["| images | wall s | peak RSS, MiB (sum) | peak PSS, MiB (sum) | driver's peak RSS, MiB |",
            "|---:|---:|---:|---:|---:|"]
    for n, r in sorted(mem.items(), key=lambda kv: int(kv[0])):
        rows.append(f"| {n} | {_fig(r.get('seconds'))} | {_fig(r.get('peak_rss_mb'))} | "
                    f"{_fig(r.get('peak_pss_mb'))} | {_fig(r.get('driver_peak_rss_mb'))} |")
    return rows


def scaling_table(report: dict) -> str:
    """Markdown of the report's ONNX, scaling and memory figures (the docs/scaling.md block)."""
    m = report.get("machine", {})
    lines = [f"Machine: {m.get('cpu_model', '?')}, {m.get('usable_cores', '?')} usable cores shared with other "
             f"work (load average {_fig((m.get('loadavg_at_start') or [None])[0])} at the start, "
             f"{_fig((m.get('loadavg_at_end') or [None])[0])} at the end).", ""]
    if report.get("onnx"):
        lines += ["Forward pass, one batch of 32 real cell crops (medians of interleaved rounds):", ""]
        lines += _onnx_rows(report["onnx"]) + [""]
    ps = report.get("predict_start")
    if ps:
        lines += [f"`predict` on one image (`{ps['image']}`, `{ps['model']}`), process start to CSV written: "
                  f"**{_fig((ps.get('onnx') or {}).get('seconds'))} s** on ONNX Runtime (target <= 3 s), "
                  f"{_fig((ps.get('keras') or {}).get('seconds'))} s with `LEUKEMIA_ONNX=0` (TensorFlow).", ""]
    sc = report.get("scaling")
    if sc:
        lines += [f"The same {sc['images']} images (model `{sc['model']}`, from `{folder_label(sc['source'])}`):", ""]
        lines += _scaling_rows(sc) + [""]
        lines += [f"- `screen` on one node over `predict`: **{_fig(sc.get('screen_over_predict'))}x** (target >= 0.9).",
                  f"- Two pinned nodes over one: **{_fig(sc.get('two_nodes_speedup'))}x** (scaling efficiency "
                  f"{_fig(sc.get('scaling_efficiency'))}).", ""]
        if sc.get("memory"):
            lines += ["`screen` (local instance, default batch size) at two archive sizes:", ""]
            lines += _memory_rows(sc["memory"]) + [""]
    return "\n".join(lines).rstrip() + "\n"


def write_doc_block(doc: Path, report_path: Path = DEFAULT_JSON) -> str:
    """Replace the block between :data:`START` and :data:`END` of ``doc`` with the table of
    ``report_path``; returns the table.

    Raises:
        LeukemiaCoreError: no such report, or ``doc`` has no block.
    """
    command = f"python -m leukemia_core.bench.scaling --out {report_path}"
    return write_block_from_json(doc, BLOCK, report_path, lambda r: scaling_table(r).rstrip("\n"), command) + "\n"
