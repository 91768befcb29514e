"""`affectedge review` / `export` on a real demo log: the report's figures against the log itself,
read-only access, damaged and unknown logs, several days, CSV and Parquet export."""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import sqlite3
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from affectedge.calibration.calibrate import calibrate
from affectedge.calibration.plans import plan_from_replay
from affectedge.cli import main
from affectedge.offline.demo import run_demo
from affectedge.core.errors import SessionLogError
from affectedge.review.log_reader import UnknownSchemaError, read_log

pytest.importorskip("matplotlib", reason="the review report plots with matplotlib (review extra)")


@pytest.fixture(scope="module")
def demo_log(demo_session, tmp_path_factory) -> tuple[Path, str]:
    """The demo run with a calibrated baseline (the two-step flow of docs/calibration.md)."""
    from affectedge_tools.data import build_demo_session as builder

    builder.ensure_rest_recording(demo_session.root, builder.default_cache_dir())
    tmp = tmp_path_factory.mktemp("demo")
    outcome = calibrate(plan_from_replay(demo_session.root, rest=True, profiles=tmp / "profiles"), io.StringIO())
    assert outcome.ok
    assert run_demo(tmp / "out", demo_session.root, baseline=outcome.profile_path.parent / "current.yaml") == 0
    return tmp / "out" / "session.sqlite", outcome.profile.subject


def raw(path: Path, sql: str, args=()) -> list[tuple]:
    db = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def independent_figures(path: Path) -> dict:
    """Zone seconds, window count and elevated episodes straight from the SQLite rows."""
    rows = raw(path, "SELECT run_id, seq, start, end, status, zone FROM windows ORDER BY run_id, seq")
    zone_s: dict[str, float] = {}
    for _, _, a, b, status, zone in rows:
        key = "no data" if status == "no_data" else zone or "no zone"
        zone_s[key] = zone_s.get(key, 0.0) + (b - a)
    eps, cur = [], None
    for run, seq, a, b, _, zone in rows:
        if zone in ("yellow", "red"):
            if cur and cur[0] == run and cur[3] == seq - 1:
                cur = (run, cur[1], b, seq, cur[4] or zone == "red")
            else:
                if cur:
                    eps.append(cur)
                cur = (run, a, b, seq, zone == "red")
        else:
            if cur:
                eps.append(cur)
            cur = None
    if cur:
        eps.append(cur)
    eps.sort(key=lambda e: -(e[2] - e[1]))
    return {"windows": len(rows), "zone_s": zone_s, "episodes": [(e[1], e[2], "red" if e[4] else "yellow") for e in eps]}


class ReportParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.zone_rows: dict[str, float] = {}
        self.episodes: list[dict] = []
        self.counts: dict = {}
        self.days: list[dict] = []
        self.external: list[str] = []
        self.images = 0
        self.runs: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-zone" in a:
            self.zone_rows[a["data-zone"]] = float(a["data-seconds"])
        if tag == "tr" and a.get("class") == "episode":
            self.episodes.append(a)
        if tag == "tr" and "data-day" in a:
            self.days.append(a)
        if a.get("id") == "counts":
            self.counts = a
        if tag == "section" and a.get("class") == "run":
            self.runs.append(a)
        if tag == "img":
            self.images += 1
            if not a.get("src", "").startswith("data:image/png;base64,"):
                self.external.append(a.get("src"))
        if tag in ("link", "script", "iframe") or (tag != "img" and ("src" in a or "href" in a)):
            self.external.append(f"{tag} {a}")


def parse(html_text: str) -> ReportParser:
    p = ReportParser()
    p.feed(html_text)
    p.close()
    return p


def fingerprint(path: Path) -> tuple:
    st = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mtime_ns, st.st_size


# The 102 s demo session at 0.2 s windows (the last window is the one holding the last sample).
DEMO_WINDOWS = 509


def test_report_of_the_demo_session_matches_the_log(demo_log, tmp_path, repo_root):
    log, subject = demo_log
    before = fingerprint(log)
    siblings = sorted(p.name for p in log.parent.iterdir())
    assert main(["review", str(log), "--out", str(tmp_path)]) == 0
    assert fingerprint(log) == before  # never modified, not even its mtime
    assert sorted(p.name for p in log.parent.iterdir()) == siblings  # no -wal/-shm left beside it

    page = parse((tmp_path / "report.html").read_text(encoding="utf-8"))
    truth = independent_figures(log)
    assert int(page.counts["data-windows"]) == truth["windows"] == DEMO_WINDOWS
    for zone, seconds in page.zone_rows.items():
        assert seconds == pytest.approx(truth["zone_s"].get(zone, 0.0), abs=1e-3), zone
    assert sum(page.zone_rows.values()) == pytest.approx(sum(truth["zone_s"].values()), abs=1e-3)
    assert int(page.counts["data-episodes"]) == len(truth["episodes"]) > 0
    shown = [(float(e["data-start"]), float(e["data-end"]), e["data-peak"]) for e in page.episodes]
    assert shown == [(pytest.approx(a, abs=1e-3), pytest.approx(b, abs=1e-3), p) for a, b, p in truth["episodes"][:5]]
    assert page.images >= 2 and page.external == []  # self-contained
    assert len(page.runs) == 1 and int(page.runs[0]["data-windows"]) == DEMO_WINDOWS
    text = (tmp_path / "report.html").read_text()
    assert f"subject {subject}" in text  # the calibration the run used
    # The crying span's vocal event is in the events table in words (and a marker on the timeline).
    assert 'data-kind="distress_heard"' in text and "crying or screaming heard" in text
    from affectedge.review.figures import heard_segments

    (segment,) = heard_segments(read_log(log).windows)  # drawn under the zone band of the timeline
    assert segment[0] == "distress" and segment[2] - segment[1] > 10

    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
    png = tmp_path / "report-first-page.png"
    assert png.read_bytes().startswith(b"\x89PNG")
    artefacts = repo_root / "test-artifacts"
    artefacts.mkdir(exist_ok=True)
    shutil.copyfile(png, artefacts / "review-first-page.png")


def test_truncated_log_reports_its_readable_part(demo_log, tmp_path, capsys):
    log, _ = demo_log
    data = log.read_bytes()
    cut = tmp_path / "cut.sqlite"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    got = read_log(cut)
    assert got.problems[0].startswith(f"{cut}: truncated: the file has {int(len(data) * 0.6)} bytes")
    n = len(got.windows)
    assert 0 < n <= DEMO_WINDOWS
    # Where the cut falls depends on the page layout: some table stops early and says where.
    assert any(p.startswith(f"{cut}: table ") and " rows, then: " in p for p in got.problems), got.problems
    full = {(w[0], w[1]) for w in raw(log, "SELECT run_id, seq FROM windows")}
    assert {(w.run_id, w.seq) for w in got.windows} <= full

    assert main(["review", str(cut), "--out", str(tmp_path / "rep"), "--no-pdf"]) == 0
    err = capsys.readouterr().err
    assert f"{cut}: readable: 1 run(s), {n} windows" in err
    page = parse((tmp_path / "rep" / "report.html").read_text())
    assert int(page.counts["data-windows"]) == n
    assert "truncated" in (tmp_path / "rep" / "report.html").read_text()


def test_unknown_schema_version_and_non_logs_are_named(demo_log, tmp_path, capsys):
    log, _ = demo_log
    newer = tmp_path / "newer.sqlite"
    shutil.copyfile(log, newer)
    db = sqlite3.connect(newer)
    db.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(UnknownSchemaError, match=r"newer\.sqlite: session log schema version 2; this affectedge reads version\(s\) 1"):
        read_log(newer)
    assert main(["review", str(newer), "--out", str(tmp_path / "r")]) == 2
    assert "schema version 2" in capsys.readouterr().err

    jsonl = log.parent / "windows.jsonl"  # a real file that is not a session log
    with pytest.raises(SessionLogError, match=r"windows\.jsonl: not a session log \(no SQLite header"):
        read_log(jsonl)


def test_several_logs_give_one_report_day_by_day(demo_log, tmp_path):
    log, _ = demo_log
    logs = []
    for i, day in enumerate(("2025-03-10T09:00:00Z", "2025-03-11T14:30:00Z")):
        copy = tmp_path / f"day{i}.sqlite"
        shutil.copyfile(log, copy)
        db = sqlite3.connect(copy)
        db.execute("UPDATE runs SET started_utc=?", (day,))  # a copy per day, as a week of sessions
        db.commit()
        db.close()
        logs.append(str(copy))
    assert main(["review", *logs, "--out", str(tmp_path / "rep")]) == 0
    page = parse((tmp_path / "rep" / "report.html").read_text())
    assert [d["data-day"] for d in page.days] == ["2025-03-10", "2025-03-11"]
    assert [int(d["data-windows"]) for d in page.days] == [DEMO_WINDOWS, DEMO_WINDOWS]
    assert int(page.counts["data-windows"]) == 2 * DEMO_WINDOWS and int(page.counts["data-logs"]) == 2
    assert len(page.runs) == 2


def test_export_csv_and_parquet_with_filters(demo_log, tmp_path):
    log, subject = demo_log
    assert main(["export", str(log), "--format", "csv", "--out", str(tmp_path / "csv")]) == 0
    with (tmp_path / "csv" / "windows.csv").open() as f:
        windows = list(csv.DictReader(f))
    assert len(windows) == DEMO_WINDOWS and {w["subject"] for w in windows} == {subject}
    first = raw(log, "SELECT zone, arousal FROM windows ORDER BY seq LIMIT 1")[0]
    assert windows[0]["zone"] == first[0] and float(windows[0]["arousal"]) == pytest.approx(first[1])
    with (tmp_path / "csv" / "events.csv").open() as f:
        assert len(list(csv.DictReader(f))) == raw(log, "SELECT count(*) FROM events")[0][0]
    assert not (tmp_path / "csv" / "summaries.csv").exists()  # this log has no summaries table

    # A time range: the first 30 s of the run, in clock time.
    start = datetime.fromisoformat(windows[0]["time_utc"])
    to = (start + timedelta(seconds=30)).isoformat()
    assert main(["export", str(log), "--format", "parquet", "--to", to, "--subject", subject, "--out", str(tmp_path / "pq")]) == 0
    import pyarrow.parquet as pq

    t = pq.read_table(tmp_path / "pq" / "windows.parquet")
    assert t.num_rows == 150  # 30 s of 200 ms windows
    import pyarrow as pa

    assert t.schema.field("time_utc").type == pa.timestamp("us", tz="UTC")  # a time, not a string
    assert t.column("time_utc")[0].as_py() == start
    assert pq.read_table(tmp_path / "pq" / "events.parquet").schema.field("time_utc").type == pa.timestamp("us", tz="UTC")
    est = pq.read_table(tmp_path / "pq" / "estimates.parquet")
    rows = est.to_pylist()
    assert {r["window_seq"] for r in rows} == set(t.column("seq").to_pylist())
    physio = [r for r in rows if r["modality"] == "physiology"]
    assert len(physio) == 150 and {r["basis"] for r in physio} == {f"person:{subject}"}  # judged against the profile

    assert main(["export", str(log), "--subject", "0000000000000000", "--out", str(tmp_path / "none")]) == 0
    with (tmp_path / "none" / "windows.csv").open() as f:
        assert list(csv.DictReader(f)) == []


def test_encrypted_log_needs_its_key(demo_session, tmp_path):
    """A log written with log.encryption_key_file: read with --key, refused by name without it."""
    pytest.importorskip("cryptography", reason="encrypted session logs need cryptography (secure extra)")
    from affectedge.config.app import AppConfig
    from affectedge.privacy.log_crypto import generate_key_file
    from affectedge.service.assembly import build_pipeline

    key = tmp_path / "log.key"
    generate_key_file(key)
    log = tmp_path / "enc.sqlite"
    config = AppConfig.model_validate({
        "sources": {"physiology": [{"backend": "replay_csv", "path": str(demo_session.physiology.path)}]},
        "log": {"sqlite": str(log), "console": False, "encryption_key_file": str(key)}, "run": {"pace": "fast"}})
    build_pipeline(config).run()
    with pytest.raises(SessionLogError, match=r"enc\.sqlite: the log is encrypted \(aes-256-gcm/v1, key id [0-9a-f]+\); pass --key FILE"):
        read_log(log)
    data = read_log(log, key)
    assert data.problems == [] and len(data.windows) == raw(log, "SELECT count(*) FROM windows")[0][0] > 400
    assert {w.zone for w in data.windows} <= {"blue", "green", "yellow", "red", None} and any(w.zone for w in data.windows)
    assert main(["review", str(log), "--key", str(key), "--out", str(tmp_path / "rep"), "--no-pdf"]) == 0


def _pdf_text(pdf: Path, page: int) -> str:
    import subprocess

    return subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-layout", str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout


def test_the_pdf_keeps_inside_its_pages_says_what_happened_and_agrees_on_times(demo_log, tmp_path):
    """Issue 17: the episodes block ran off page one's right edge, page two repeated page one's
    timeline, clock time and 'm:ss into run' disagreed by a second, a finished recording looked like
    failing sensors, and valence/arousal were never explained."""
    import subprocess

    import numpy as np
    from matplotlib.image import imread

    log, _ = demo_log
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm is not installed (tools/setup/install_system_deps.sh installs poppler-utils)")
    assert main(["review", str(log), "--out", str(tmp_path)]) == 0
    pdf = tmp_path / "report.pdf"
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 2
    for png in pages:
        img = imread(png)[:, :, :3]
        h, w, _ = img.shape
        edge = np.concatenate([img[:, :3].reshape(-1, 3), img[:, w - 3:].reshape(-1, 3), img[h - 2:].reshape(-1, 3)])
        assert edge.min() > 0.98, f"{png.name}: something is drawn at the page's edge (cut off)"
    one, two = _pdf_text(pdf, 1), _pdf_text(pdf, 2)
    assert "Longest yellow/red episodes" in one and "Timeline" in one and "Valence runs from -1" in one
    assert "Timeline" not in two and "What happened to the sources" in two
    assert "recording ended" in two and "clip ended, next clip" in two and "frames not analysed" in two
    assert "source_down" not in two and "frames_skipped" not in two

    page = parse((tmp_path / "report.html").read_text(encoding="utf-8"))
    html_text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="affect-scale"' in html_text and "Valence runs from -1" in html_text
    assert "<td>camera</td><td>recording ended" in html_text and "source_down" not in html_text
    data = read_log(log)
    (run_id,) = data.runs
    started = data.runs[run_id].started_utc
    for e in page.episodes:
        clock = datetime.strptime(e["data-clock"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=started.tzinfo)
        minutes, seconds = e["data-into"].split(":")
        assert (clock - started).total_seconds() == int(minutes) * 60 + int(seconds), e
