"""Running a command in a fresh process and measuring it (the scale-out bench): wall time, exit
status, and the peak memory of the process and of everything it started (Ray's daemons and
workers included); and pinning a process to one core, inherited by what it starts.
"""

from __future__ import annotations

import os
import subprocess
import time

from ..paths import PROJECT_ROOT
from ..timing import rnd


def _mem_mb(pid: int, path: str, key: str) -> float:
    try:
        with open(f"/proc/{pid}/{path}") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (0 when it is gone)."""
    return _mem_mb(pid, "status", "VmRSS:")


def pss_mb(pid: int) -> float:
    """Proportional set size of ``pid`` in MiB: shared pages divided among the processes mapping
    them, so that a sum over processes counts Ray's shared object store once (0 when it is gone)."""
    return _mem_mb(pid, "smaps_rollup", "Pss:")


def _new_processes(before: set[int], root: int) -> list[int]:
    """Processes started since ``before`` that belong to the run: the root's tree, and Ray's
    daemons (``ray start`` detaches them from the tree)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in before:
            continue
        try:
            cmd = open(f"/proc/{d}/cmdline", "rb").read().replace(b"\0", b" ")
        except OSError:
            continue
        if int(d) == root or b"ray" in cmd or b"leukemia_core" in cmd:
            out.append(int(d))
    return out


def run_measured(cmd: list[str], timeout: float = 1800, env: dict | None = None) -> dict:
    """Run ``cmd`` (a fresh process); wall seconds, exit status, and the peaks (MiB) of the summed
    RSS and PSS of it and the processes it started, and of its own RSS (the driver's)."""
    import threading

    before = {int(d) for d in os.listdir("/proc") if d.isdigit()}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(PROJECT_ROOT), RAY_DEDUP_LOGS="0", **(env or {}))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    # read the output as it comes: a full pipe would block a chatty child (Ray's logs) until it times out
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    rss = pss = driver = 0.0
    while proc.poll() is None and time.perf_counter() - t0 < timeout:
        # the driver is read once per sample and counted in the sum, so the summed peak is never
        # below the driver's own (two reads could straddle a growth step)
        own = rss_mb(proc.pid)
        others = [p for p in _new_processes(before, proc.pid) if p != proc.pid]
        rss = max(rss, own + sum(rss_mb(p) for p in others))
        pss = max(pss, pss_mb(proc.pid) + sum(pss_mb(p) for p in others))
        driver = max(driver, own)
        time.sleep(0.2)
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    seconds = time.perf_counter() - t0
    reader.join(10)
    return {"seconds": rnd(seconds, 2), "returncode": proc.returncode, "peak_rss_mb": rnd(rss, 0),
            "peak_pss_mb": rnd(pss, 0), "driver_peak_rss_mb": rnd(driver, 0),
            "tail": [ln.rstrip() for ln in lines[-3:]]}


def pin_to(core_index: int, cores: list[int]) -> int:
    """Pin this process (and every process it starts from now on) to ``cores[core_index]`` (modulo
    their number); returns that core."""
    core = cores[core_index % len(cores)]
    os.sched_setaffinity(0, {core})
    return core
