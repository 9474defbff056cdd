"""Peak resident memory of process trees, sampled from /proc (no psutil)."""

from __future__ import annotations

import glob
import os
import threading


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), to tell it from a later reuse of its pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def tree(pid: int) -> list[int]:
    """`pid` and all its live descendants (via /proc/<pid>/task/*/children)."""
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        for path in glob.glob(f"/proc/{p}/task/*/children"):
            try:
                with open(path) as f:
                    todo.extend(int(c) for c in f.read().split())
            except (OSError, ValueError):
                pass
    return seen


class Sampler(threading.Thread):
    """Every `interval` s: per named root pid, the sum of VmRSS over its tree and the largest
    single process. Peaks are kept overall and per phase (set `.phase`)."""

    def __init__(self, roots: dict[str, int], interval: float = 0.2):
        super().__init__(daemon=True, name="rss-sampler")
        self.roots = roots
        self.interval = interval
        self.phase = "start"
        self.peak_sum = {name: 0 for name in roots}  # KB
        self.peak_single = {name: 0 for name in roots}  # KB
        self.peak_procs = {name: 0 for name in roots}
        self.phase_peak_sum: dict[tuple[str, str], int] = {}
        self._halt = threading.Event()

    def sample(self) -> None:
        phase = self.phase
        for name, root in self.roots.items():
            pids = tree(root)
            values = [_rss_kb(p) for p in pids]
            total = sum(values)
            self.peak_sum[name] = max(self.peak_sum[name], total)
            self.peak_single[name] = max(self.peak_single[name], max(values, default=0))
            self.peak_procs[name] = max(self.peak_procs[name], sum(1 for v in values if v))
            key = (name, phase)
            self.phase_peak_sum[key] = max(self.phase_peak_sum.get(key, 0), total)

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout=2)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by `pid` and all its descendants, the exited ones
    included (counted in the parent that reaped them)."""
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
        except (OSError, ValueError, IndexError):
            pass
    return total / os.sysconf("SC_CLK_TCK")
