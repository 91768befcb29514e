"""Session log at rest: encryption, rotation and retention on the real demo session."""

from __future__ import annotations

import json
import os
import sqlite3
import time

import pytest

from affectedge.config.app import AppConfig
from affectedge.offline.demo import demo_config_dict
from affectedge.core.errors import SessionLogError
from affectedge.privacy.log_crypto import LogCipher, generate_key_file
from affectedge.service.assembly import build_pipeline
from affectedge.sinks.log_rotation import RotatingSessionLog, apply_retention, log_files


def physiology_config(session, out, **log):
    data = demo_config_dict(session, out, console=False)
    data["sources"] = {"physiology": data["sources"]["physiology"]}
    data["log"].update(log)
    return AppConfig.model_validate(data)


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "log.key"
    generate_key_file(path)
    return path


def test_encrypted_log_holds_no_plaintext_and_decrypts_with_the_key(demo_session, tmp_path, key_file):
    plain_out, enc_out = tmp_path / "plain", tmp_path / "enc"
    build_pipeline(physiology_config(demo_session, plain_out)).run()
    build_pipeline(physiology_config(demo_session, enc_out, encryption_key_file=str(key_file), jsonl=None)).run()

    raw = b"".join(p.read_bytes() for p in enc_out.glob("session.sqlite*"))
    for secret in (b'"arousal":', b"rmssd_ms", b"hr_bpm", b'"yellow"', b'"green"', b"physio.csv"):
        assert secret not in raw, secret

    cipher = LogCipher.from_key_file(key_file)
    enc = sqlite3.connect(enc_out / "session.sqlite")
    plain = sqlite3.connect(plain_out / "session.sqlite")
    assert dict(enc.execute("SELECT key, value FROM meta").fetchall())["key_id"] == cipher.key_id
    dec = [cipher.open(r[2], f"windows/{r[0]}/{r[1]}") for r in enc.execute("SELECT run_id, seq, record FROM windows ORDER BY seq")]
    assert dec == [r[0] for r in plain.execute("SELECT record FROM windows ORDER BY seq")]
    assert enc.execute("SELECT count(*) FROM windows WHERE zone IS NOT NULL OR confidence IS NOT NULL").fetchone()[0] == 0
    details = [json.loads(cipher.open(r[2], f"events/{r[0]}/{r[1]}")) for r in enc.execute("SELECT run_id, seq, detail FROM events")]
    assert any(d.get("file") == "physio.csv" for d in details)

    # A record moved to another row, or another key, does not open.
    rec = enc.execute("SELECT record FROM windows WHERE seq = 10").fetchone()[0]
    with pytest.raises(SessionLogError, match="authentication failed"):
        cipher.open(rec, "windows/1/11")
    other = tmp_path / "other.key"
    generate_key_file(other)
    with pytest.raises(SessionLogError, match="authentication failed"):
        LogCipher.from_key_file(other).open(rec, "windows/1/10")


def test_key_file_must_be_private_and_well_formed(tmp_path, key_file):
    os.chmod(key_file, 0o644)
    with pytest.raises(SessionLogError, match="chmod 600"):
        LogCipher.from_key_file(key_file)
    short = tmp_path / "short.key"
    short.write_text("abcd\n")
    os.chmod(short, 0o600)
    with pytest.raises(SessionLogError, match="32 raw bytes or 64 hex"):
        LogCipher.from_key_file(short)


def test_a_log_never_mixes_encrypted_and_plain_runs(demo_session, tmp_path, key_file):
    build_pipeline(physiology_config(demo_session, tmp_path)).run()
    with pytest.raises(SessionLogError, match="not encrypted"):
        build_pipeline(physiology_config(demo_session, tmp_path, encryption_key_file=str(key_file)))


def test_rotation_and_retention(demo_session, tmp_path):
    clock = [time.time()]  # real mtimes and the log's clock must agree for the age rule
    log = RotatingSessionLog(tmp_path, "dev", {}, rotate_every_h=1.0, retention_days=2.0, retention_max_mb=None,
                             wall_clock=lambda: clock[0])
    cfg = physiology_config(demo_session, tmp_path / "unused")
    pipeline = build_pipeline(cfg)
    pipeline.sinks = [log]
    pipeline.run()
    assert len(log_files(tmp_path)) == 1
    # A day of hourly files, then a restart three days later: the old files go, the new one stays.
    for hour in range(1, 25):
        clock[0] += 3600
        log.write_window(*_one_window(hour))
    assert len(log_files(tmp_path)) == 25
    clock[0] += 3 * 86400
    log.write_window(*_one_window(99))
    current = log.current_path
    log.close()
    files = log_files(tmp_path)
    assert files == [current]
    assert sqlite3.connect(files[0]).execute("SELECT count(*) FROM events WHERE kind='log_deleted_by_retention'").fetchone()[0] == 25


def test_size_retention_deletes_oldest_first(tmp_path):
    for i in range(5):
        f = tmp_path / f"session-2026010{i}T000000Z.sqlite"
        f.write_bytes(b"x" * 400_000)
    deleted = apply_retention(tmp_path, keep=tmp_path / "session-20260104T000000Z.sqlite", days=None, max_mb=1.0)
    assert [d.name for d in deleted] == ["session-20260100T000000Z.sqlite", "session-20260101T000000Z.sqlite", "session-20260102T000000Z.sqlite"]
    assert len(log_files(tmp_path)) == 2


def _one_window(seq):
    from affectedge.core.types import FusedWindow

    return FusedWindow(seq, seq * 0.2, seq * 0.2 + 0.2, "no_data", None, None, None, None, 0.0, {}), []


def test_labels_in_an_encrypted_log_are_sealed_and_need_the_key(demo_session, tmp_path, key_file, capsys):
    """Issue 24: caregivers' labels stay private like everything in the log."""
    from affectedge.cli import main
    from affectedge.review.log_reader import read_log

    out = tmp_path / "enc"
    build_pipeline(physiology_config(demo_session, out, encryption_key_file=str(key_file), jsonl=None)).run()
    labels = tmp_path / "labels.csv"
    labels.write_text("start,end,label\n2,6,yellow\n10,14,green\n")
    log = out / "session.sqlite"
    assert main(["label", str(log), "--labels", str(labels)]) == 2
    assert "encrypted" in capsys.readouterr().err
    assert main(["label", str(log), "--labels", str(labels), "--key", str(key_file)]) == 0
    raw = b"".join(p.read_bytes() for p in out.glob("session.sqlite*"))
    assert b"yellow" not in raw and b'"green"' not in raw
    assert sqlite3.connect(log).execute("SELECT count(*) FROM labels WHERE label IS NOT NULL OR start IS NOT NULL").fetchone()[0] == 0
    assert [(r["start"], r["label"]) for r in read_log(log, key_file).labels] == [(2.0, "yellow"), (10.0, "green")]
