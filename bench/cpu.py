"""How much CPU the rest of the host used while we measured (Linux /proc only).

This machine is shared: a test suite started by someone else during a row takes
CPU from the server under test. For each row we compare the host's busy time with
what our own processes (gunicorn's process group, redis-server, the load
generator, this process) used; the difference is "other" CPU, in cores.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
DISTURBED_CORES = 0.15  # more than this much foreign CPU during a row: the row is suspect


def host_busy_s() -> float | None:
    """User, nice and system time of all CPUs since boot, in seconds."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        user, nice, system = (int(v) for v in fields[1:4])
    except (OSError, ValueError, IndexError):
        return None
    return (user + nice + system) / TICKS_PER_S


def process_cpu_s(pid: int) -> float:
    try:
        after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(after_name[11]) + int(after_name[12])) / TICKS_PER_S
    except (OSError, ValueError, IndexError):
        return 0.0


def group_pids(group: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            after_name = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if after_name[2] == str(group):
            found.append(int(entry.name))
    return found


@dataclass
class OtherCpu:
    """Start before a row, `stop()` after it: the CPU the rest of the host used, in cores."""

    group: int  # gunicorn's process group
    pids: tuple[int, ...]  # other processes of ours (redis-server, this process)
    _host: float | None = None
    _ours: dict[int, float] | None = None

    def _ours_now(self) -> dict[int, float]:
        pids: Iterable[int] = [*group_pids(self.group), *self.pids]
        return {pid: process_cpu_s(pid) for pid in pids}

    def start(self) -> None:
        self._host = host_busy_s()
        self._ours = self._ours_now()

    def stop(self, wall_s: float, load_generator_s: float) -> float | None:
        """`load_generator_s`: CPU seconds of a child load generator (wrk) not seen here."""
        host = host_busy_s()
        if host is None or self._host is None or self._ours is None or wall_s <= 0:
            return None
        now = self._ours_now()
        ours = sum(cpu - self._ours.get(pid, 0.0) for pid, cpu in now.items())
        other = (host - self._host) - ours - load_generator_s
        return max(0.0, other) / wall_s
