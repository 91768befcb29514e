"""`affectedge analyse` and the physiology reader on the inputs an independent probe found wrong
(issue 23, defects 1, 8 and 12), on the demo session's real physiology recording.

Each case runs the real command (in process) and checks the refusal or the outcome: epoch times are
rebased, a stray row is counted and dropped, an absurd or non-finite offset is refused naming the
flag, a session's windows are bounded by its inputs' real durations, an existing file as --out is a
message, a byte-order mark is read and an extra column is refused with its line. The generated
suite (Hypothesis, 120 CSV files) holds the reader to "parse or refuse with file and line, in
bounded output".
"""

from __future__ import annotations

import math
import re
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from affectedge.cli import main
from affectedge.core.errors import SourceError
from affectedge.sources.physio_formats import MAX_JUMP_S, Malformed, read_affectedge_csv

EPOCH = 1_765_000_000.0  # 2025-12-06, as a device exports it


def rows_of(path: Path) -> list[tuple[float, str, str]]:
    lines = path.read_text().splitlines()[1:]
    return [(float(t), k, v) for t, k, v in (line.split(",") for line in lines)]


def write(path: Path, rows, header: str = "t,kind,value", prefix: bytes = b"") -> Path:
    path.write_bytes(prefix + (header + "\n" + "".join(f"{t!r},{k},{v}\n" for t, k, v in rows)).encode())
    return path


def windows_and_events(out: Path) -> tuple[int, list[str]]:
    with sqlite3.connect(out / "session.sqlite") as db:
        n = db.execute("SELECT COUNT(*) FROM windows").fetchone()[0]
        kinds = [r[0] for r in db.execute("SELECT kind FROM events")]
    return n, kinds


def analyse(tmp_path: Path, physio: Path, *extra: str) -> tuple[int, Path]:
    out = tmp_path / "out"
    return main(["analyse", "--physiology", str(physio), "--out", str(out), *extra]), out


def test_unix_times_are_rebased_to_the_first_row(real_physio_csv, tmp_path):
    rows = rows_of(real_physio_csv)
    relative = list(read_affectedge_csv(real_physio_csv))
    epoch = write(tmp_path / "epoch.csv", [(EPOCH + t, k, v) for t, k, v in rows])
    rebased = list(read_affectedge_csv(epoch))
    assert len(rebased) == len(relative)
    assert all(math.isclose(a[0], b[0], abs_tol=1e-5) and a[1:3] == b[1:3] for a, b in zip(rebased, relative))
    rc, out = analyse(tmp_path, epoch)
    assert rc == 0
    n, _ = windows_and_events(out)
    span = rows[-1][0] - rows[0][0]
    assert n <= span / 0.2 + 2  # the recording's own length, not 56 years of empty windows


def test_a_stray_row_is_counted_and_dropped_not_filled_with_windows(real_physio_csv, tmp_path):
    rows = rows_of(real_physio_csv)
    stray = write(tmp_path / "stray.csv", rows[:100] + [(1e9, "hr", "70")] + rows[100:])
    parsed = list(read_affectedge_csv(stray))
    bad = [r for r in parsed if isinstance(r, Malformed)]
    assert len(bad) == 1 and bad[0].line == 102 and "jumps" in bad[0].reason
    rc, out = analyse(tmp_path, stray)
    assert rc == 0
    n, kinds = windows_and_events(out)
    assert n <= (rows[-1][0] - rows[0][0]) / 0.2 + 2 and kinds.count("malformed_sample") == 1


def test_a_real_pause_longer_than_the_gap_limit_is_skipped_in_one_event(real_physio_csv, tmp_path):
    rows = rows_of(real_physio_csv)
    pause = 3 * 86400.0  # sensor off for three days: real data on both sides, kept
    paused = write(tmp_path / "paused.csv", rows[:200] + [(t + pause, k, v) for t, k, v in rows[200:]])
    rc, out = analyse(tmp_path, paused)
    assert rc == 0
    n, kinds = windows_and_events(out)
    assert kinds.count("gap_skipped") == 1
    assert n <= (rows[-1][0] - rows[0][0]) / 0.2 + 4


@pytest.mark.parametrize("flag, value, message", [
    ("--physiology-start", "1e9", r"--physiology-start: 1e9 s is not an offset on the session clock \(0 to 604800 s\)"),
    ("--physiology-start", "inf", r"--physiology-start: inf s is not an offset"),
    ("--physiology-start", "nan", r"--physiology-start: nan s is not an offset"),
    ("--video-start", "-5", r"--video-start: -5 s is not an offset"),
    ("--audio-start", "soon", r"--audio-start: 'soon' is not a number of seconds"),
])
def test_an_absurd_or_non_finite_offset_is_refused_naming_the_flag(real_physio_csv, tmp_path, capsys, flag, value, message):
    with pytest.raises(SystemExit) as exc:
        main(["analyse", "--physiology", str(real_physio_csv), "--out", str(tmp_path / "o"), f"{flag}={value}"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_out_naming_an_existing_file_is_a_message(real_physio_csv, tmp_path, capsys):
    target = tmp_path / "results.txt"
    target.write_text("keep me\n")
    rc = main(["analyse", "--physiology", str(real_physio_csv), "--out", str(target)])
    assert rc == 2
    assert "--out" in capsys.readouterr().err and target.read_text() == "keep me\n"


def test_a_byte_order_mark_is_read_and_an_extra_column_is_refused_with_its_line(real_physio_csv, tmp_path):
    rows = rows_of(real_physio_csv)[:50]
    bom = write(tmp_path / "bom.csv", rows, prefix=b"\xef\xbb\xbf")
    assert not [r for r in read_affectedge_csv(bom) if isinstance(r, Malformed)]
    wide = tmp_path / "wide.csv"
    text = write(tmp_path / "tmp.csv", rows).read_text().splitlines()
    text[5] += ",note"
    wide.write_text("\n".join(text) + "\n")
    bad = [r for r in read_affectedge_csv(wide) if isinstance(r, Malformed)]
    assert [(b.line, b.reason) for b in bad] == [(6, "4 columns, the format has 3 (t,kind,value)")]
    with pytest.raises(SourceError, match=r"wide-header\.csv:1: expected the header t,kind,value"):
        list(read_affectedge_csv(write(tmp_path / "wide-header.csv", rows, header="t,kind,value,note")))


@settings(max_examples=120, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_physiology_files_parse_or_are_refused_with_file_and_line(real_physio_csv, tmp_path_factory, data):
    rows = rows_of(real_physio_csv)[:60]
    cells = st.one_of(st.sampled_from(["1e9", "inf", "nan", "-1", "", " ", "hr", "rr", "x", "1e308", "0x10", "7,8"]),
                      st.floats(allow_nan=True, allow_infinity=True).map(repr),
                      st.text(alphabet=st.characters(blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", blacklist_categories=("Cs",)), max_size=6))
    lines = [f"{t!r},{k},{v}" for t, k, v in rows]
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(lines) - 1))
        parts = lines[i].split(",")
        parts[data.draw(st.integers(0, 2))] = data.draw(cells)
        lines[i] = ",".join(parts)
    header = data.draw(st.sampled_from(["t,kind,value", "\ufefft,kind,value", "t,kind", "time,kind,value"]))
    path = tmp_path_factory.mktemp("physio") / "p.csv"
    path.write_text(header + "\n" + "\n".join(lines) + "\n")
    try:
        parsed = list(read_affectedge_csv(path))
    except SourceError as exc:
        assert re.match(re.escape(str(path)) + r":\d+: ", str(exc)), exc
        return
    good = [r for r in parsed if not isinstance(r, Malformed)]
    assert len(parsed) == len(lines)  # every row accounted for: a sample or a counted drop
    assert all(math.isfinite(t) and math.isfinite(v) for t, _, v, _ in good)
    assert all(b[0] - a[0] <= MAX_JUMP_S for a, b in zip(good, good[1:]))
    assert all(b[0] >= a[0] for a, b in zip(good, good[1:]))


@settings(max_examples=100, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_rr_text_and_e4_exports_parse_or_are_refused_with_file_and_line(real_physio_csv, tmp_path_factory, data):
    """The other physiology readers (rr_text, e4): real values from the demo's recording, mutated."""
    from affectedge.sources.physio_formats import read_e4, read_rr_text

    rows = rows_of(real_physio_csv)
    rr = [f"{float(v) * 1000:.0f}" for _, k, v in rows if k == "rr"][:40]
    eda = [v for _, k, v in rows if k == "eda"][:80]
    junk = st.sampled_from(["", "x", "nan", "inf", "-5", "0", "1e9", "\xff", "7;8", "\t"])
    folder = tmp_path_factory.mktemp("e4")
    for i in range(data.draw(st.integers(0, 4))):
        rr[data.draw(st.integers(0, len(rr) - 1))] = data.draw(junk)
    (folder / "rr.txt").write_text(data.draw(st.sampled_from(["", "RR\n", "index,rr\n"])) + "\n".join(rr) + "\n")
    start = data.draw(st.sampled_from(["1765000000.0", "0", "nan", "", "x", "1e300"]))
    rate = data.draw(st.sampled_from(["4.000000", "0", "-4", "1e-300", "nan", "64"]))
    lines = [start, rate] + list(eda)
    for i in range(data.draw(st.integers(0, 4))):
        lines[data.draw(st.integers(0, len(lines) - 1))] = data.draw(junk)
    (folder / "EDA.csv").write_text("\n".join(lines) + "\n")
    if data.draw(st.booleans()):
        (folder / "IBI.csv").write_bytes(data.draw(st.sampled_from([b"1765000000.0, IBI\n1.0,0.8\n2.0,0.81\n", b"\xff\xfe\n", b"", b"x\n1,2\n"])))
    for reader, path in ((read_rr_text, folder / "rr.txt"), (read_e4, folder)):
        try:
            parsed = list(reader(path))
        except SourceError as exc:
            assert re.match(re.escape(str(path if reader is read_rr_text else folder)) + r"(/\w+\.csv)?:\d+: |" + re.escape(str(folder)) + ": ", str(exc)), exc
            continue
        good = [r for r in parsed if not isinstance(r, Malformed)]
        assert all(math.isfinite(t) and math.isfinite(v) for t, _, v, _ in good)
        assert all(b[0] >= a[0] for a, b in zip(good, good[1:]))
