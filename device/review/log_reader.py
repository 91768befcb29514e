"""Read-only access to session logs, salvaging what a damaged file still holds.

The log is opened through SQLite's URI with ``immutable=1`` (no lock files, no journal, nothing
written next to it), or ``mode=ro`` when a write-ahead log beside it still holds data (a writer
that was killed, or is still running) so that those windows are read too. Neither can modify the
database file.

Each table is read in rowid order until SQLite reports damage; the rows before it are kept and
the damage is reported by file and table. ``PRAGMA writable_schema`` makes SQLite use the pages
the file really has when it is shorter than its header says (a truncated copy) instead of
refusing the whole file; on a read-only connection it changes nothing on disk.
"""

from __future__ import annotations

import json
import sqlite3
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

from ..core.errors import SessionLogError
from ..sinks.session_log import SCHEMA_VERSION

READABLE_VERSIONS = (1,)  # schema versions this reader understands (the session log writes SCHEMA_VERSION)
assert SCHEMA_VERSION in READABLE_VERSIONS


class UnknownSchemaError(SessionLogError):
    """The log was written with a schema version this build cannot read."""


@dataclass(frozen=True)
class RunInfo:
    log: Path
    id: int
    started_utc: datetime
    device_id: str
    version: str
    info: dict

    @property
    def baseline(self) -> Optional[dict]:
        """The profile the run compared against: {path, subject, created}, or None."""
        b = self.info.get("baseline")
        return b if isinstance(b, dict) else None

    @property
    def subject(self) -> Optional[str]:
        b = self.baseline
        return None if b is None else b.get("subject")


@dataclass(frozen=True)
class WindowRow:
    run_id: int
    seq: int
    start: float
    end: float
    status: str
    zone: Optional[str]
    valence: Optional[float]
    arousal: Optional[float]
    confidence: float
    record: dict

    @property
    def modalities(self) -> dict[str, dict]:
        return self.record.get("modalities") or {}


@dataclass(frozen=True)
class EventRow:
    run_id: int
    t: float
    kind: str
    source: str
    detail: dict


@dataclass
class SessionLogData:
    """Everything readable in one log, and what could not be read."""

    path: Path
    schema_version: Optional[int]
    runs: dict[int, RunInfo] = field(default_factory=dict)
    windows: list[WindowRow] = field(default_factory=list)
    estimates: list[dict] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    summaries: Optional[list[dict]] = None  # only when the log has a summaries table
    labels: list[dict] = field(default_factory=list)  # human labels stored in the log (affectedge label)
    problems: list[str] = field(default_factory=list)
    first_t: dict[int, float] = field(default_factory=dict, repr=False)  # per run: start of its first window

    def run_windows(self, run_id: int) -> list[WindowRow]:
        return [w for w in self.windows if w.run_id == run_id]

    def clock(self, run_id: int, t: float) -> Optional[datetime]:
        """Estimated wall-clock time of source time ``t`` in a run: its start plus the time since
        its first window (source clocks are monotonic, not calendar time)."""
        run = self.runs.get(run_id)
        first = self.first_t.get(run_id)
        if run is None or first is None:
            return None
        return run.started_utc + timedelta(seconds=t - first)

    def index(self) -> None:
        for w in self.windows:
            self.first_t[w.run_id] = min(self.first_t.get(w.run_id, w.start), w.start)


def _connect(path: Path) -> tuple[sqlite3.Connection, Optional[str]]:
    wal = path.with_name(path.name + "-wal")
    note = None
    if wal.is_file() and wal.stat().st_size > 0:
        uri, note = f"file:{quote(str(path))}?mode=ro", f"{path}: has a write-ahead log ({wal.name}); its windows are read too (the writer may still be running)"
    else:
        uri = f"file:{quote(str(path))}?immutable=1"
    db = sqlite3.connect(uri, uri=True)
    db.execute("PRAGMA writable_schema=ON")
    return db, note


def _header_problem(path: Path) -> Optional[str]:
    """Say so when the file is shorter than the page count in its header (a truncated copy)."""
    try:
        with path.open("rb") as f:
            head = f.read(100)
        size = path.stat().st_size
    except OSError as exc:
        raise SessionLogError(f"{path}: cannot read the session log ({exc.strerror})") from None
    if len(head) < 100 or not head.startswith(b"SQLite format 3\x00"):
        raise SessionLogError(f"{path}: not a session log (no SQLite header; {size} bytes)")
    page_size = struct.unpack(">H", head[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    pages = struct.unpack(">I", head[28:32])[0]
    if pages and size < pages * page_size:
        return (f"{path}: truncated: the file has {size} bytes, its header says {pages} pages of {page_size} "
                f"({pages * page_size} bytes); reading what is there")
    return None


def _read_table(db: sqlite3.Connection, path: Path, table: str, columns: str, problems: list[str]) -> list[tuple]:
    rows: list[tuple] = []
    try:
        for row in db.execute(f"SELECT {columns} FROM {table} ORDER BY rowid"):
            rows.append(row)
    except sqlite3.DatabaseError as exc:
        problems.append(f"{path}: table {table}: read {len(rows)} rows, then: {exc}")
    return rows


def _json(text: Any, path: Path, where: str, problems: list[str]) -> dict:
    try:
        value = json.loads(text)
        return value if isinstance(value, dict) else {}
    except (TypeError, ValueError) as exc:
        problems.append(f"{path}: {where}: record is not JSON ({exc})")
        return {}


def _cipher_for(path: Path, meta: dict, key_file: Optional[Path]):
    """The cipher of an encrypted log (device/privacy/log_crypto.py), or None for a plaintext one."""
    scheme = meta.get("encryption")
    if scheme is None:
        return None
    from ..privacy.log_crypto import SCHEME, LogCipher

    if scheme != SCHEME:
        raise UnknownSchemaError(f"{path}: encrypted with {scheme!r}; this affectedge reads {SCHEME!r}")
    if key_file is None:
        raise SessionLogError(f"{path}: the log is encrypted ({scheme}, key id {meta.get('key_id')}); pass --key FILE")
    cipher = LogCipher.from_key_file(key_file)
    if meta.get("key_id") not in (None, cipher.key_id):
        raise SessionLogError(f"{path}: encrypted with key id {meta.get('key_id')}, {key_file} is key id {cipher.key_id}")
    return cipher


def _opened(cipher, blob, aad: str, path: Path, problems: list[str]):
    if cipher is None:
        return blob
    try:
        return cipher.open(bytes(blob), aad)
    except SessionLogError as exc:
        problems.append(f"{path}: {exc}")
        return None


def log_paths(paths: list[Path]) -> list[Path]:
    """Files as given; a folder stands for its rotated session logs (session-*.sqlite), oldest first."""
    from ..sinks.log_rotation import log_files

    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = log_files(p)
            if not found:
                raise SessionLogError(f"{p}: a folder without session logs (session-*.sqlite)")
            out.extend(found)
        else:
            out.append(p)
    return out


def read_log(path: Path | str, key_file: Optional[Path] = None) -> SessionLogData:
    """Read a session log without modifying it.

    Raises SessionLogError when nothing can be read (not a SQLite file, no schema) and
    UnknownSchemaError for a schema version this build does not know. Damage after that point
    is listed in ``problems`` with the file and table, and the rows read before it are kept.
    """
    path = Path(path)
    if not path.is_file():
        raise SessionLogError(f"{path}: no such session log")
    problems: list[str] = []
    truncated = _header_problem(path)
    if truncated:
        problems.append(truncated)
    try:
        db, note = _connect(path)
    except sqlite3.Error as exc:
        raise SessionLogError(f"{path}: cannot open the session log read-only ({exc})") from None
    if note:
        problems.append(note)
    try:
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise SessionLogError(f"{path}: not a readable session log ({exc}); nothing could be read") from None
        if "meta" not in tables or "windows" not in tables:
            raise SessionLogError(f"{path}: not a session log (tables: {', '.join(sorted(tables)) or 'none'})")
        version = None
        meta = dict(_read_table(db, path, "meta", "key, value", problems))
        if "schema_version" in meta:
            try:
                version = int(meta["schema_version"])
            except ValueError:
                raise UnknownSchemaError(f"{path}: schema version {meta['schema_version']!r} is not a number") from None
            if version not in READABLE_VERSIONS:
                raise UnknownSchemaError(
                    f"{path}: session log schema version {version}; this affectedge reads version(s) "
                    f"{', '.join(map(str, READABLE_VERSIONS))}. Review it with the affectedge release that wrote it.")
        else:
            problems.append(f"{path}: no schema version in its meta table (damaged); reading it as version {SCHEMA_VERSION}")
        data = SessionLogData(path, version, problems=problems)
        _read_v1(db, path, tables, data, _cipher_for(path, meta, key_file))
    finally:
        db.close()
    data.index()
    return data


def _read_v1(db: sqlite3.Connection, path: Path, tables: set[str], data: SessionLogData, cipher=None) -> None:
    p = data.problems
    for rid, started, device, version, info in _read_table(db, path, "runs", "id, started_utc, device_id, affectedge_version, info", p):
        try:
            when = datetime.strptime(started, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        except (TypeError, ValueError):
            p.append(f"{path}: run {rid}: start time {started!r} is not ISO 8601 UTC")
            when = datetime.fromtimestamp(0, timezone.utc)
        data.runs[rid] = RunInfo(path, rid, when, device, version, _json(info, path, f"run {rid}", p))
    cols = "run_id, seq, start, end, status, zone, valence, arousal, confidence, record"
    for row in _read_table(db, path, "windows", cols, p):
        text = _opened(cipher, row[9], f"windows/{row[0]}/{row[1]}", path, p)
        if text is None:
            continue
        rec = _json(text, path, f"window {row[0]}/{row[1]}", p)
        if cipher is not None:  # the plaintext helper columns are NULL in an encrypted log
            row = (*row[:4], rec.get("status"), rec.get("zone"), rec.get("valence"), rec.get("arousal"), rec.get("confidence") or 0.0)
        data.windows.append(WindowRow(*row[:9], record=rec))
    if "estimates" in tables:
        for rid, seq, modality, quality, record in _read_table(db, path, "estimates", "run_id, window_seq, modality, quality, record", p):
            text = _opened(cipher, record, f"estimates/{rid}/{seq}/{modality}", path, p)
            if text is None:
                continue
            rec = _json(text, path, f"estimate {rid}/{seq}/{modality}", p)
            data.estimates.append({"run_id": rid, "window_seq": seq, "modality": modality,
                                   "quality": rec.get("quality") if quality is None else quality,
                                   **{k: v for k, v in rec.items() if k not in ("modality", "quality")}})
    if "events" in tables:
        for rid, seq, t, kind, source, detail in _read_table(db, path, "events", "run_id, seq, t, kind, source, detail", p):
            text = _opened(cipher, detail, f"events/{rid}/{seq}", path, p)
            if text is not None:
                data.events.append(EventRow(rid, t, kind, source, _json(text, path, f"event at {t}", p)))
    if "labels" in tables:
        for lid, record, origin, added in _read_table(db, path, "labels", "id, record, origin, added_utc", p):
            text = _opened(cipher, record, f"labels/{lid}", path, p)
            if text is not None:
                data.labels.append({**_json(text, path, f"label {lid}", p), "origin": origin, "added_utc": added})
    if "summaries" in tables:
        try:
            cur = db.execute("SELECT * FROM summaries ORDER BY rowid")
            names = [d[0] for d in cur.description]
            data.summaries = [dict(zip(names, r)) for r in cur]
        except sqlite3.DatabaseError as exc:
            p.append(f"{path}: table summaries: {exc}")
    missing_runs = {w.run_id for w in data.windows} - set(data.runs)
    for rid in sorted(missing_runs):
        p.append(f"{path}: windows of run {rid} have no run entry (damaged); shown without a start time")
        data.runs[rid] = RunInfo(path, rid, datetime.fromtimestamp(0, timezone.utc), "?", "?", {})
