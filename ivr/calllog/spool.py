"""A durable spool on the web host for call-log events that Redis could not take.

Each batch is one small file, written whole (temp file, fsync, rename), so a crash
never leaves half an event. Replaying deletes a file only once Redis accepted it;
the dedupe keys make a batch replayed twice harmless.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

Payload = list[dict[str, Any]]


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, payload: Payload) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
        temp = self.directory / f".{name}.tmp"
        with temp.open("w", encoding="utf-8") as handle:
            json.dump(payload, handle, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        final = self.directory / name
        os.replace(temp, final)
        return final

    def has_pending(self) -> bool:
        return self.directory.is_dir() and next(self.directory.glob("*.json"), None) is not None

    def pending(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.json"))

    def drain(self, deliver: Callable[[Payload], None]) -> int:
        """Hand every spooled batch to `deliver`, oldest first; stop at the first failure."""
        delivered = 0
        with self._exclusive() as mine:
            if not mine:
                return 0  # another process is draining
            for path in self.pending():
                try:
                    payload = json.loads(path.read_text(encoding="utf-8"))
                except (json.JSONDecodeError, UnicodeDecodeError):
                    # Kept aside for a person to read; it must not block the batches behind it.
                    path.rename(path.with_suffix(".unreadable"))
                    continue
                deliver(payload)
                path.unlink()
                delivered += 1
        return delivered

    @contextmanager
    def _exclusive(self) -> Iterator[bool]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with (self.directory / ".lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
