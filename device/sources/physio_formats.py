"""Physiology file formats, each one small reader registered by key (``replay_csv``'s ``format``).

A reader turns a file (or an export folder) into samples ``(t, kind, value, line)`` in time order,
t in seconds from the recording's start. A row that does not parse is yielded as a
``Malformed(line, column, reason)`` (the source counts it and drops it); a file whose layout is
wrong raises a SourceError naming the file, line and column.

* ``affectedge``: the product's CSV, header ``t,kind,value`` (kind hr|rr|eda|contact).
* ``rr_text``: RR intervals one per line, as Polar and Kubios export them: milliseconds (or
  seconds, told apart by size), optionally after header lines and with an index column before the
  value (pandas' CSV layout, e.g. systole's rr.txt). Each interval is stamped at the beat that
  ends it, counting from the first beat.
* ``e4``: an Empatica E4 export folder (or any file in it): EDA.csv and HR.csv (first row the
  start as UNIX time, second row the rate in Hz, then one value per row), IBI.csv (first row the
  start and "IBI", then ``seconds since start, interval``). Times are relative to the earliest start.
* ``edf``: EDF/EDF+ (and BDF) through pyedflib (the ``edf`` extra): a skin-conductance channel
  (label EDA, GSR or SC; unit uS/µS, or nS/mS scaled) as EDA at 4 Hz (means over 250 ms, as a
  wristband's ADC delivers it), a heart-rate channel (label HR, unit bpm) as HR at 1 Hz. Other
  channels (raw ECG, PPG) are not read: the device path takes beats, not waveforms.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Union

from ..core.errors import SourceError
from ..core.text import NotTextError, decode_utf8

KINDS = ("hr", "rr", "eda", "contact")


@dataclass(frozen=True)
class Malformed:
    line: int
    column: str
    reason: str
    file: str = ""  # set by readers of several files (an E4 folder)


Row = tuple[float, str, float, int]  # t, kind, value, line
Reader = Callable[[Path], Iterator[Union[Row, Malformed]]]


def _text_lines(path: Path) -> list[str]:
    """The file's lines; bytes that are not UTF-8 are a SourceError naming the line and byte."""
    try:
        return decode_utf8(path, path.read_bytes()).splitlines()
    except NotTextError as exc:
        raise SourceError(str(exc)) from None


def _finite(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"{text!r} is not a finite number")
    return v


# Times at or past this are Unix times (1973 onwards), as most devices export them: the file is
# rebased to its first row. A row that jumps further than MAX_JUMP_S past the previous one is a
# stray row (a Unix time in a relative file, a typo), counted and dropped; a longer real pause
# belongs in two files.
EPOCH_S = 1e8
MAX_JUMP_S = 7 * 86400.0


def read_affectedge_csv(path: Path) -> Iterator[Union[Row, Malformed]]:
    # One decoding path for every text format (_text_lines: a byte-order mark dropped, bad bytes
    # named by line). No quoting in this format: a stray '"' is a bad character in one row, never a
    # quoted field that swallows every row after it.
    reader = csv.reader(_text_lines(path), quoting=csv.QUOTE_NONE)
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != ["t", "kind", "value"]:
        raise SourceError(f"{path}:1: expected the header t,kind,value, got {header}")
    last_t = -math.inf
    base = None
    for lineno, row in _lines(reader, path, start=2):
        column = "t"
        try:
            if len(row) > 3:
                raise ValueError(f"{len(row)} columns, the format has 3 (t,kind,value)")
            t = _finite(row[0])
            if base is None:
                base = t if t >= EPOCH_S else 0.0
            t -= base
            if last_t > -math.inf and t - last_t > MAX_JUMP_S:
                raise ValueError(f"t jumps {t - last_t:.0f} s past the previous row (more than {MAX_JUMP_S:.0f} s): a stray row?")
            column = "kind"
            kind = row[1].strip()
            if kind not in KINDS:
                raise ValueError(f"unknown kind {kind!r}")
            column = "value"
            value = _finite(row[2])
            column = "t"
            if t < last_t:
                raise ValueError(f"t={t} goes back in time (previous {last_t})")
        except (ValueError, IndexError) as exc:
            yield Malformed(lineno, column, str(exc) if not isinstance(exc, IndexError) else "missing column")
            continue
        last_t = t
        yield t, kind, value, lineno


def _lines(reader, path: Path, start: int):
    """(line number, row) of a csv reader, a malformed row named with its line."""
    lineno = start
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise SourceError(f"{path}:{lineno}: {exc}") from None
        yield lineno, row
        lineno += 1


def read_rr_text(path: Path) -> Iterator[Union[Row, Malformed]]:
    lines = _text_lines(path)
    values: list[tuple[float, int]] = []
    for lineno, line in enumerate(lines, start=1):
        fields = [f for f in line.replace(";", ",").replace("\t", ",").split(",")]
        text = fields[-1].strip() if fields else ""
        if not text:
            continue
        try:
            values.append((_finite(text), lineno))
        except ValueError:
            if values:  # a header only comes first
                yield Malformed(lineno, f"column {len(fields)}", f"{text!r} is not a number")
    if not values:
        raise SourceError(f"{path}:1: no RR interval found (one number per line, in ms or s)")
    # Milliseconds or seconds: human RR intervals are 0.25-2.5 s, i.e. 250-2500 ms.
    scale = 0.001 if sorted(v for v, _ in values)[len(values) // 2] > 10 else 1.0
    t = 0.0
    for v, lineno in values:
        rr = v * scale
        if rr <= 0:
            yield Malformed(lineno, "interval", f"{v} is not a positive interval")
            continue
        t += rr
        yield t, "rr", rr, lineno


def _e4_signal(path: Path, kind: str) -> tuple[float, Iterator[Union[Row, Malformed]]]:
    lines = _text_lines(path)
    if len(lines) < 2:
        raise SourceError(f"{path}:{len(lines) + 1}: an E4 file starts with the start time and the rate (2 rows)")
    try:
        start = _finite(lines[0].split(",")[0])
    except ValueError:
        raise SourceError(f"{path}:1: column 1: the start time (UNIX seconds) is {lines[0].split(',')[0]!r}") from None
    try:
        rate = _finite(lines[1].split(",")[0])
        if not 0.01 <= rate <= 10_000:  # the E4 writes 1, 4, 32 and 64 Hz
            raise ValueError
    except ValueError:
        raise SourceError(f"{path}:2: column 1: the sample rate (Hz) is {lines[1].split(',')[0]!r}") from None

    def rows() -> Iterator[Union[Row, Malformed]]:
        for i, line in enumerate(lines[2:]):
            lineno = i + 3
            try:
                yield i / rate, kind, _finite(line.split(",")[0]), lineno
            except ValueError as exc:
                yield Malformed(lineno, "column 1", str(exc))
    return start, rows()


def _e4_ibi(path: Path) -> tuple[float, Iterator[Union[Row, Malformed]]]:
    lines = _text_lines(path)
    head = lines[0].split(",") if lines else []
    try:
        start = _finite(head[0])
    except (ValueError, IndexError):
        raise SourceError(f"{path}:1: column 1: the start time (UNIX seconds) is {head[0] if head else ''!r}") from None

    def rows() -> Iterator[Union[Row, Malformed]]:
        for i, line in enumerate(lines[1:]):
            lineno = i + 2
            f = line.split(",")
            try:
                yield _finite(f[0]), "rr", _finite(f[1]), lineno
            except (ValueError, IndexError) as exc:
                yield Malformed(lineno, "column 1" if not f or not f[0].strip() else "column 2", str(exc) or "missing column")
    return start, rows()


def _named(rows: Iterator[Union[Row, Malformed]], file: str) -> Iterator[Union[Row, Malformed]]:
    for r in rows:
        yield Malformed(r.line, r.column, r.reason, file) if isinstance(r, Malformed) else r


def read_e4(path: Path) -> Iterator[Union[Row, Malformed]]:
    folder = path if path.is_dir() else path.parent
    parts = []
    for name, kind in (("EDA.csv", "eda"), ("HR.csv", "hr"), ("IBI.csv", None)):
        if (folder / name).is_file():
            start, it = _e4_signal(folder / name, kind) if kind else _e4_ibi(folder / name)
            parts.append((start, _named(it, name)))
    if not parts:
        raise SourceError(f"{folder}: no EDA.csv, HR.csv or IBI.csv (an Empatica E4 export folder)")
    t0 = min(start for start, _ in parts)
    rows: list[Row] = []
    for start, it in parts:
        for r in it:
            if isinstance(r, Malformed):
                yield r
            else:
                rows.append((r[0] + start - t0, r[1], r[2], r[3]))
    rows.sort(key=lambda r: r[0])
    yield from rows


_EDA_LABELS = ("eda", "gsr", "sc", "skin conductance", "electrodermal")
_EDA_UNITS = {"us": 1.0, "µs": 1.0, "μs": 1.0, "microsiemens": 1.0, "ns": 0.001, "ms": 1000.0}


def _block_means(x, rate: float, out_hz: float):
    import numpy as np

    k = max(1, int(round(rate / out_hz)))
    n = len(x) // k
    return np.asarray(x[: n * k], dtype=float).reshape(n, k).mean(axis=1), k / rate


def read_edf(path: Path) -> Iterator[Union[Row, Malformed]]:
    from ..core.extras import require_module

    pyedflib = require_module("pyedflib", "EDF physiology files", "edf")
    try:
        reader = pyedflib.EdfReader(str(path))
    except OSError as exc:
        raise SourceError(f"{path}: not a readable EDF/BDF file ({exc})") from None
    try:
        rows: list[Row] = []
        labels = [s.strip() for s in reader.getSignalLabels()]
        for ch, label in enumerate(labels):
            low = label.lower()
            unit = reader.getPhysicalDimension(ch).strip().lower()
            rate = reader.getSampleFrequency(ch)
            if any(low.startswith(p) for p in _EDA_LABELS):
                if unit not in _EDA_UNITS:
                    raise SourceError(f"{path}: signal {ch + 1} ({label!r}): unit {unit!r} is not a conductance (uS, nS, mS)")
                values, step = _block_means(reader.readSignal(ch), rate, 4.0)
                rows += [(i * step, "eda", float(v) * _EDA_UNITS[unit], ch + 1) for i, v in enumerate(values)]
            elif low in ("hr", "heart rate", "heartrate", "pulse rate"):
                if unit not in ("bpm", "1/min", "beats/min"):
                    raise SourceError(f"{path}: signal {ch + 1} ({label!r}): unit {unit!r} is not beats per minute")
                values, step = _block_means(reader.readSignal(ch), rate, 1.0)
                rows += [(i * step, "hr", float(v), ch + 1) for i, v in enumerate(values)]
        if not rows:
            raise SourceError(f"{path}: no EDA (EDA/GSR/SC in uS) or HR (bpm) signal among {labels}")
    finally:
        reader.close()
    rows.sort(key=lambda r: r[0])
    yield from rows


# What a format's device sends, and when its first reading of each kind comes at the earliest
# (seconds from the recording's start): an Empatica E4 writes its first heart rate after 10 s (a
# 10 s average) and its first beat interval after about 25 s, so a 10 s sensor check saw EDA only
# and never checked the heart (issue 24). The check covers these (calibration/physiology_check.py).
EXPECTED_KINDS: dict[str, dict[str, float]] = {"e4": {"eda": 0.25, "hr": 10.0, "rr": 30.0}}
# Kinds a format's device leaves gaps in by design: the E4 drops every beat it is unsure of, so
# its beat intervals cover a fraction of the time however well it is worn.
GAPPY_KINDS: dict[str, frozenset[str]] = {"e4": frozenset({"rr"})}

READERS: dict[str, Reader] = {"affectedge": read_affectedge_csv, "rr_text": read_rr_text, "e4": read_e4, "edf": read_edf}
