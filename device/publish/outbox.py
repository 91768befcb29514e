"""Store and forward: every payload is written here first and removed only after the broker's PUBACK.

SQLite in WAL mode, one row per message, rowid order = publish order. The outbox is bounded;
past the bound the oldest rows are dropped and the drop is counted (and reported by the sink in
the next summary). It also keeps the per-device summary sequence number, so ``seq`` stays strictly
increasing across restarts.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import AffectEdgeError

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    retain INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class OutboxError(AffectEdgeError):
    """The outbox file cannot be opened or written."""


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    topic: str
    kind: str
    payload: str
    retain: bool


class Outbox:
    """Thread-safe: the pipeline thread adds, the publisher thread reads and removes."""

    def __init__(self, path: Path | str, max_messages: int):
        self.path = Path(path)
        self.max_messages = int(max_messages)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise OutboxError(f"{self.path}: cannot open the outbox ({exc})") from None

    def _counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()
        return 0 if row is None else int(row[0])

    def _bump(self, name: str, by: int) -> int:
        value = self._counter(name) + by
        self._db.execute("INSERT OR REPLACE INTO counters VALUES (?, ?)", (name, value))
        return value

    def next_seq(self) -> int:
        """The next summary sequence number (persisted before it is used)."""
        with self._lock:
            return self._bump("seq", 1)

    def add(self, topic: str, kind: str, payload: str, retain: bool = False) -> tuple[int, int]:
        """Store one message; returns (its id, how many old messages were dropped to make room)."""
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                cur = db.execute("INSERT INTO outbox (topic, kind, payload, retain) VALUES (?, ?, ?, ?)",
                                 (topic, kind, payload, int(retain)))
                (n,) = db.execute("SELECT COUNT(*) FROM outbox").fetchone()
                dropped = max(0, n - self.max_messages)
                if dropped:
                    db.execute("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)", (dropped,))
                    self._bump("dropped", dropped)
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                db.execute("ROLLBACK")
                raise OutboxError(f"{self.path}: storing a message failed ({exc})") from None
            return cur.lastrowid, dropped

    def pending(self, after_id: int = 0, limit: int = 100) -> list[OutboxMessage]:
        """Messages in publish order, starting after ``after_id``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, kind, payload, retain FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
            ).fetchall()
        return [OutboxMessage(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    def remove(self, message_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id=?", (message_id,))

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]

    @property
    def dropped_total(self) -> int:
        with self._lock:
            return self._counter("dropped")

    def close(self) -> None:
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._db.close()
