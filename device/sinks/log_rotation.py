"""Rotating session logs with a retention policy, for a device that runs for weeks.

A new SQLite file is started every ``rotate_every_h`` hours (at a window boundary, so no window
is split); after each rotation and once an hour, files past ``retention_days`` or beyond
``retention_max_mb`` (oldest first) are deleted. The file being written is never deleted.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional, Sequence

from ..privacy.log_crypto import LogCipher
from ..core.types import Event, FusedWindow, ModalityEstimate
from .session_log import SessionLog

PATTERN = "session-*.sqlite"
SIDECARS = ("-wal", "-shm")


def log_files(directory: Path) -> list[Path]:
    """The folder's session logs, oldest first (the UTC time in the name sorts)."""
    return sorted(directory.glob(PATTERN))


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, *(Path(str(path) + s) for s in SIDECARS)) if p.exists())


def _delete(path: Path) -> None:
    for p in (path, *(Path(str(path) + s) for s in SIDECARS)):
        p.unlink(missing_ok=True)


def apply_retention(directory: Path, keep: Optional[Path], days: Optional[float], max_mb: Optional[float],
                    now: Optional[float] = None) -> list[Path]:
    """Delete what the policy says must go; return the deleted files."""
    now = time.time() if now is None else now
    deleted = []
    files = [f for f in log_files(directory) if f != keep]
    if days is not None:
        for f in list(files):
            if now - f.stat().st_mtime > days * 86400:
                _delete(f)
                files.remove(f)
                deleted.append(f)
    if max_mb is not None:
        total = sum(_size(f) for f in files) + (_size(keep) if keep and keep.exists() else 0)
        for f in files:
            if total <= max_mb * 1024 * 1024:
                break
            total -= _size(f)
            _delete(f)
            deleted.append(f)
    return deleted


class RotatingSessionLog:
    def __init__(self, directory: Path, device_id: str, info: dict | None, rotate_every_h: float,
                 retention_days: Optional[float], retention_max_mb: Optional[float], cipher: LogCipher | None = None,
                 wall_clock: Callable[[], float] = time.time):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.device_id, self.info, self.cipher = device_id, info, cipher
        self.rotate_every_s = rotate_every_h * 3600
        self.retention_days, self.retention_max_mb = retention_days, retention_max_mb
        self.wall_clock = wall_clock
        self._log: Optional[SessionLog] = None
        self._opened_at = 0.0
        self._next_retention = 0.0
        self._deleted: list[Path] = []

    @property
    def current_path(self) -> Optional[Path]:
        return None if self._log is None else self._log.path

    def _open_new(self) -> None:
        self.close()
        now = self.wall_clock()
        name = time.strftime("session-%Y%m%dT%H%M%SZ", time.gmtime(now))
        path = self.directory / f"{name}.sqlite"
        n = 1
        while path.exists():  # two rotations within a second (tests, clock steps)
            path = self.directory / f"{name}-{n}.sqlite"
            n += 1
        self._log = SessionLog(path, self.device_id, self.info, self.cipher)
        self._opened_at = now
        self._retain(now)

    def _retain(self, now: float) -> None:
        self._next_retention = now + 3600
        gone = apply_retention(self.directory, self.current_path, self.retention_days, self.retention_max_mb, now)
        for f in gone:
            self._log.write_event(Event(0.0, "log_deleted_by_retention", "log", {"file": f.name}))
        self._deleted.extend(gone)

    def write_window(self, window: FusedWindow, estimates: Sequence[ModalityEstimate]) -> None:
        now = self.wall_clock()
        if self._log is None or now - self._opened_at >= self.rotate_every_s:
            self._open_new()
        elif now >= self._next_retention:
            self._retain(now)
        self._log.write_window(window, estimates)

    def write_event(self, event: Event) -> None:
        if self._log is None:
            self._open_new()
        self._log.write_event(event)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
