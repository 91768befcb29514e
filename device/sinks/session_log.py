"""The session log: SQLite in WAL mode, one transaction per window.

With an encryption key configured, every record, estimate and event detail is sealed with
AES-256-GCM (device/privacy/log_crypto.py) and the plaintext helper columns (status, zone, valence,
arousal, confidence, quality) stay NULL; times and event kinds remain readable.

A kill -9 at any point leaves a readable database that lost at most the window being written:
WAL with synchronous=NORMAL is durable against a process crash (not against power loss, where
the last few transactions may go; that trade keeps SD cards alive).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Sequence

from .. import __version__
from ..core.errors import SessionLogError
from ..privacy.log_crypto import SCHEME, LogCipher
from ..core.records import dumps, estimate_record, event_record, window_record
from ..core.types import Event, FusedWindow, ModalityEstimate

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started_utc TEXT NOT NULL,
    device_id TEXT NOT NULL,
    affectedge_version TEXT NOT NULL,
    info TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS windows (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    start REAL NOT NULL,
    end REAL NOT NULL,
    status TEXT,
    zone TEXT,
    valence REAL,
    arousal REAL,
    confidence REAL,
    record BLOB NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS estimates (
    run_id INTEGER NOT NULL,
    window_seq INTEGER NOT NULL,
    modality TEXT NOT NULL,
    quality REAL,
    record BLOB NOT NULL,
    PRIMARY KEY (run_id, window_seq, modality)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    t REAL NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    detail BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    start REAL,
    end REAL,
    label TEXT,
    origin TEXT NOT NULL,
    added_utc TEXT NOT NULL,
    record BLOB NOT NULL
);
"""


def append_labels(path: Path | str, spans: Sequence[dict], origin: str, cipher: LogCipher | None = None) -> tuple[int, int]:
    """Add human labels (``start``, ``end`` on the session clock, ``label``, optional ``valence``,
    ``arousal``) to an existing log; a span already there (same times and label) is not added
    twice. Returns (added, duplicates). In an encrypted log the label is sealed like every record
    (the plaintext columns stay NULL), so reading them needs the key, as for the windows."""
    path = Path(path)
    if not path.is_file():
        raise SessionLogError(f"{path}: no such session log")
    try:
        db = sqlite3.connect(path, isolation_level=None)
        found = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    except sqlite3.Error as exc:
        raise SessionLogError(f"{path}: not a session log ({exc})") from None
    try:
        if found is None or int(found[0]) != SCHEMA_VERSION:
            raise SessionLogError(f"{path}: schema version {found[0] if found else 'missing'}, this affectedge writes {SCHEMA_VERSION}")
        encrypted = db.execute("SELECT value FROM meta WHERE key='encryption'").fetchone() is not None
        if encrypted and cipher is None:
            raise SessionLogError(f"{path}: this log is encrypted: give its key file to add labels")
        db.executescript(SCHEMA)
        have = set()
        for lid, record in db.execute("SELECT id, record FROM labels"):
            text = cipher.open(bytes(record), f"labels/{lid}") if cipher else record
            r = json.loads(text)
            have.add((round(r["start"], 3), round(r["end"], 3), r.get("label")))
        added = duplicates = 0
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        db.execute("BEGIN")
        for s in spans:
            key = (round(float(s["start"]), 3), round(float(s["end"]), 3), s.get("label"))
            if key in have:
                duplicates += 1
                continue
            have.add(key)
            rec = {"start": float(s["start"]), "end": float(s["end"]), "label": s.get("label"),
                   "valence": s.get("valence"), "arousal": s.get("arousal"), "origin": origin}
            if s.get("task"):
                rec["task"] = s["task"]
            cur = db.execute("INSERT INTO labels (start, end, label, origin, added_utc, record) VALUES (?, ?, ?, ?, ?, ?)",
                             (*((rec["start"], rec["end"], rec["label"]) if cipher is None else (None, None, None)), origin, stamp, b""))
            lid = cur.lastrowid
            sealed = cipher.seal(dumps(rec), f"labels/{lid}") if cipher else dumps(rec)
            db.execute("UPDATE labels SET record = ? WHERE id = ?", (sealed, lid))
            added += 1
        db.execute("COMMIT")
        return added, duplicates
    except sqlite3.Error as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise SessionLogError(f"{path}: adding labels failed ({exc})") from None
    finally:
        db.close()


class SessionLog:
    """Append-only writer. Each ``SessionLog`` is one run inside the file; restarts add runs."""

    def __init__(self, path: Path | str, device_id: str, info: dict | None = None, cipher: LogCipher | None = None):
        self.path = Path(path)
        self.cipher = cipher
        self._event_seq = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            found = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if found is None:
                self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(found[0]) != SCHEMA_VERSION:
                raise SessionLogError(f"{self.path}: schema version {found[0]}, this affectedge writes {SCHEMA_VERSION}; start a new log file")
            self._check_encryption()
            cur = self._db.execute(
                "INSERT INTO runs (started_utc, device_id, affectedge_version, info) VALUES (?, ?, ?, ?)",
                (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), device_id, __version__, json.dumps(info or {}, sort_keys=True)),
            )
            self.run_id = cur.lastrowid
        except sqlite3.Error as exc:
            raise SessionLogError(f"{self.path}: cannot open the session log ({exc})") from None
        self._pending_events: list[Event] = []
        self._live_ids: set | None = None  # ids of live labels in this file, read on the first one

    def _check_encryption(self) -> None:
        """A log is encrypted from its first run or never: mixing would leave plaintext behind."""
        rows = dict(self._db.execute("SELECT key, value FROM meta WHERE key IN ('encryption', 'key_id')").fetchall())
        has_runs = self._db.execute("SELECT count(*) FROM runs").fetchone()[0] > 0
        want = (SCHEME, self.cipher.key_id) if self.cipher else None
        have = (rows["encryption"], rows.get("key_id")) if "encryption" in rows else None
        if not has_runs and have is None and want is not None:
            self._db.executemany("INSERT INTO meta VALUES (?, ?)", [("encryption", SCHEME), ("key_id", self.cipher.key_id)])
        elif have != want and (has_runs or have is not None):
            state = "encrypted" if have else "not encrypted"
            raise SessionLogError(f"{self.path}: this log is {state}"
                                  + (" with another key" if have and want else "") + "; start a new log file")

    def _seal(self, text: str, aad: str):
        return self.cipher.seal(text, aad) if self.cipher else text

    def write_event(self, event: Event) -> None:
        # Events ride in the next window's transaction: one fsync-free commit per window is what
        # keeps the log cheap on an SD card.
        self._pending_events.append(event)

    def write_window(self, window: FusedWindow, estimates: Sequence[ModalityEstimate]) -> None:
        rec = window_record(window)
        run, seq = self.run_id, window.seq
        plain = self.cipher is None
        db = self._db
        db.execute("BEGIN")
        try:
            db.execute(
                "INSERT INTO windows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run, seq, rec["start"], rec["end"],
                 *((window.status, window.zone, rec["valence"], rec["arousal"], rec["confidence"]) if plain else (None,) * 5),
                 self._seal(dumps(rec), f"windows/{run}/{seq}")),
            )
            db.executemany(
                "INSERT OR REPLACE INTO estimates VALUES (?, ?, ?, ?, ?)",
                [(run, seq, e.modality, e.quality if plain else None,
                  self._seal(dumps(estimate_record(e)), f"estimates/{run}/{seq}/{e.modality}")) for e in estimates],
            )
            self._insert_events()
            db.execute("COMMIT")
            self._pending_events.clear()
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            # The events stay pending and go in with the next window that can be written.
            raise SessionLogError(f"{self.path}: writing window {window.seq} failed ({exc})") from None

    def _insert_events(self) -> None:
        rows = []
        for e in self._pending_events:
            if e.kind == "caregiver_label":
                self._insert_live_label(e)
        for r in map(event_record, self._pending_events):
            self._event_seq += 1
            rows.append((self.run_id, self._event_seq, r["t"], r["kind"], r["source"],
                         self._seal(dumps(r["detail"]), f"events/{self.run_id}/{self._event_seq}")))
        if rows:
            self._db.executemany("INSERT INTO events (run_id, seq, t, kind, source, detail) VALUES (?, ?, ?, ?, ?, ?)", rows)

    def _insert_live_label(self, e: Event) -> None:
        """A label pressed on the caregiver page, stored with its session time (once per id)."""
        d = e.detail
        if self._live_ids is None:
            self._live_ids = set()
            for lid, record in self._db.execute("SELECT id, record FROM labels WHERE origin = 'live'"):
                text = self.cipher.open(bytes(record), f"labels/{lid}") if self.cipher else record
                self._live_ids.add(json.loads(text).get("id"))
        if d.get("id") in self._live_ids:
            return
        self._live_ids.add(d.get("id"))
        rec = {"start": float(d["start"]), "end": float(d["end"]), "label": d["label"], "valence": None, "arousal": None,
               "origin": "live", "id": d.get("id"), "run_id": self.run_id}
        plain = self.cipher is None
        cur = self._db.execute("INSERT INTO labels (start, end, label, origin, added_utc, record) VALUES (?, ?, ?, ?, ?, ?)",
                               (*((rec["start"], rec["end"], rec["label"]) if plain else (None, None, None)), "live",
                                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), b""))
        lid = cur.lastrowid
        self._db.execute("UPDATE labels SET record = ? WHERE id = ?", (self._seal(dumps(rec), f"labels/{lid}"), lid))

    def close(self) -> None:
        try:
            if self._pending_events:
                self._db.execute("BEGIN")
                self._insert_events()
                self._db.execute("COMMIT")
                self._pending_events.clear()
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise SessionLogError(f"{self.path}: closing the log failed ({exc}); committed windows are safe") from None
        finally:
            self._db.close()
