"""Helpers for tests that run real servers as subprocesses: ports, waiting, finding them."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import requests

T = TypeVar("T")


def free_port() -> int:
    """A local port nothing listens on: bound, then released (for a server to take, or
    for a client to find closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(check: Callable[[], T | None], seconds: float, what: str) -> T:
    """Waits for a real subprocess to get somewhere: bounded, and fails loudly."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            found = check()
        except (requests.RequestException, OSError):
            found = None
        if found is not None:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def session_processes(session: int, marker: str) -> list[int]:
    """Processes of one session (a hotline started with start_new_session) whose command
    line holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[3]) == session and marker in command:
            found.append(int(entry.name))
    return sorted(found)
