"""Facts about the machine a benchmark ran on (CPU, cores, memory, library versions, load) and the
resident memory of the current process."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np


def loadavg() -> list[float]:
    """1, 5 and 15-minute load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def machine_info() -> dict:
    """CPU model (``/proc/cpuinfo``), core counts, memory, library versions, load average."""
    import cv2
    import keras
    import tensorflow as tf

    cpu, flags = platform.processor() or "unknown", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu in ("unknown", platform.processor()):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1]
    except OSError:
        pass
    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_total = round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_model": cpu,
        "cpu_flags": [f for f in ("avx2", "avx512f", "fma", "amx_tile") if f in flags.split()],
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_mib": mem_total,
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "opencv": cv2.__version__,
        "opencv_threads": cv2.getNumThreads(),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": loadavg(),
    }


def rss_mib() -> tuple[float | None, float | None]:
    """Current and peak resident memory of this process, MiB (Linux ``/proc/self/status``)."""
    cur = peak = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    return cur, peak
