"""Wall time, CPU time and peak resident memory of each step of a deployment (the closing `step times` line),
handing freed memory back to the system between steps, and the CPU's name for the records that quote times."""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import platform
import resource
import sys
import time
from pathlib import Path


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far, in bytes (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


@functools.cache
def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def trim_heap() -> None:
    """Return the C heap's free pages to the system (glibc `malloc_trim`; elsewhere a no-op), so what runs next
    starts from what is still in use instead of the last step's high-water mark."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def release_memory() -> None:
    """Collect garbage (Python cycles holding large objects, e.g. a Keras graph), then `trim_heap`."""
    gc.collect()
    trim_heap()


class StepTimer:
    """Times consecutive named steps: `begin(name)` ends the step before it; a name begun twice adds up.
    `steps` maps each name to {"seconds", "cpu_seconds", "peak_rss_mb"}: wall time, this process's CPU time
    (less sensitive to other jobs on the machine) and its peak RSS when the step ended (a high-water mark, so
    the step where it jumps is the one that needed the memory)."""

    def __init__(self):
        self.start = time.perf_counter()
        self.steps: dict[str, dict] = {}
        self._current: tuple[str, float, float] | None = None

    def begin(self, name: str) -> None:
        """End the current step and start `name` on a trimmed heap (`trim_heap`: freed pages of the steps
        before go back to the system, so they do not add to this step's peak)."""
        self.end()
        trim_heap()
        self._current = (name, time.perf_counter(), time.process_time())

    def end(self) -> None:
        """End the current step (if any)."""
        if self._current is None:
            return
        name, wall, cpu = self._current
        self._current = None
        entry = self.steps.setdefault(name, {"seconds": 0.0, "cpu_seconds": 0.0})
        entry["seconds"] += time.perf_counter() - wall
        entry["cpu_seconds"] += time.process_time() - cpu
        entry["peak_rss_mb"] = round(peak_rss_bytes() / 2**20)

    def summary(self) -> dict:
        """Ends the current step; {"steps": steps, "total_seconds", "peak_rss_mb"} (what report.json records)."""
        self.end()
        return {"steps": self.steps, "total_seconds": round(time.perf_counter() - self.start, 2),
                "peak_rss_mb": round(peak_rss_bytes() / 2**20)}

    def line(self) -> str:
        """Ends the current step; `step times (wall s/CPU s/peak RSS MB): data 1.2/1.0/850, ...; total 80.3 s,
        peak RSS 1650 MB`."""
        s = self.summary()
        parts = ", ".join(f"{name} {t['seconds']:.1f}/{t['cpu_seconds']:.1f}/{t['peak_rss_mb']}"
                          for name, t in s["steps"].items())
        return f"step times (wall s/CPU s/peak RSS MB): {parts}; total {s['total_seconds']:.1f} s, peak RSS {s['peak_rss_mb']} MB"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
