"""The server under load (:mod:`tools.loadtest`): started as ``./run app`` starts it, and its memory.

The RSS of the Streamlit process and its children is read from /proc, sampled every second by
:class:`RssSampler` and summarised by :func:`rss_summary`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tools.bench_app import served_script  # the same rule as the cold-start benchmark
from tools.loadtest_checks import PROJECT_ROOT, SHOTS


def free_port() -> int:
    """A TCP port of 127.0.0.1 free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children() -> dict[int, list[int]]:
    """Parent pid -> its child pids, for every process in /proc."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except (OSError, IndexError, ValueError):
            continue
    return children


def tree_rss_mib(pid: int) -> float:
    """RSS of ``pid`` and all its descendants (MiB), from /proc."""
    children = _children()
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class RssSampler(threading.Thread):
    """Appends ``[seconds since t0, RSS MiB of pid's tree]`` to :attr:`series` every ``every`` seconds
    until :attr:`stop` is set."""

    def __init__(self, pid: int, t0: float, every: float = 1.0):
        super().__init__(daemon=True, name="rss-sampler")
        self.pid, self.t0, self.every = pid, t0, every
        self.series: list[list[float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        """Sample until :attr:`stop` is set."""
        while not self.stop.is_set():
            self.series.append([round(time.perf_counter() - self.t0, 1), round(tree_rss_mib(self.pid), 1)])
            self.stop.wait(self.every)


def rss_summary(series: list[list[float]], warm_t: float, ended: float) -> dict:
    """RSS figures of a configuration: at the start of the load, at the end of warm-up (``warm_t``),
    at its end (``ended``), the maximum after warm-up and the slope after warm-up (MiB/min, least
    squares, from 10 samples on)."""
    in_load = [s for s in series if s[0] <= ended]
    after = [s for s in in_load if s[0] >= warm_t]
    slope = None
    if len(after) >= 10:
        ts, ys = [s[0] for s in after], [s[1] for s in after]
        mt, my = sum(ts) / len(ts), sum(ys) / len(ys)
        den = sum((t - mt) ** 2 for t in ts)
        slope = round(60 * sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / den, 2) if den else None
    return {"rss_start_mib": in_load[0][1] if in_load else None,
            "rss_warm_mib": after[0][1] if after else None,
            "rss_end_mib": in_load[-1][1] if in_load else None,
            "rss_max_after_warm_mib": max((s[1] for s in after), default=None),
            "rss_slope_after_warm_mib_per_min": slope}


@dataclass
class Server:
    """A started Streamlit server: its process, address, log file and start time (perf_counter)."""

    proc: subprocess.Popen
    url: str
    log: Path
    t0: float


def start_server(wdir: Path, models: list[str], timeout: float = 120.0, app_root: Path = PROJECT_ROOT,
                 port: int | None = None, secrets: Path | None = None, host: str = "127.0.0.1") -> Server:
    """Serve ``app_root``'s app (headless, on ``port`` or a free one, weights from ``wdir``, only
    ``models``) and wait for its health check. ``secrets``: a ``secrets.toml`` passed by
    ``--secrets.files`` (a login's ``[auth]`` table); ``host``: the name the returned URL uses (the
    server listens on 127.0.0.1 either way; a login needs the host of its ``redirect_uri``)."""
    port = port or free_port()
    env = dict(os.environ, LEUKEMIA_WEIGHTS_DIR=str(wdir), LEUKEMIA_APP_MODELS=",".join(models),
               TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
               NO_PROXY="localhost,127.0.0.1", no_proxy="localhost,127.0.0.1")
    SHOTS.mkdir(parents=True, exist_ok=True)
    log = SHOTS / f"streamlit-{port}.log"
    # what `./run app` serves (serve.py: app.py with the warm-up at server start), else app.py
    script = served_script(app_root) if (app_root / "run").is_file() else "app.py"
    cmd = [sys.executable, "-m", "streamlit", "run", script, "--server.headless=true", f"--server.port={port}",
           "--server.address=127.0.0.1", "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"]
    if secrets is not None:
        cmd += ["--secrets.files", str(secrets)]
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=app_root, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://{host}:{port}"
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}; log: {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    return Server(proc, url, log, t0)
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"streamlit did not answer within {timeout:.0f} s; log: {log}")


def stop_server(server: Server) -> None:
    """Terminate the server (killed after 20 s)."""
    server.proc.terminate()
    try:
        server.proc.wait(20)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(10)
