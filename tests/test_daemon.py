"""`affectedge run` as a service: SIGTERM stops cleanly and fast, SIGHUP reloads only a valid config."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

import yaml

from affectedge.offline.demo import demo_config_dict


def count(db_path, sql):
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            return db.execute(sql).fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_sighup_reload_and_sigterm_shutdown(demo_session, tmp_path):
    data = demo_config_dict(demo_session, tmp_path, console=False)
    data["sources"].pop("camera")
    data["run"]["pace"] = "realtime"
    cfg = tmp_path / "service.yaml"
    cfg.write_text(yaml.safe_dump(data))
    db = tmp_path / "session.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "affectedge", "run", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: count(db, "SELECT count(*) FROM windows") >= 5), "service produced no windows"

        # An invalid config is refused on reload; the service keeps running the old one.
        good_text = cfg.read_text()
        cfg.write_text(good_text + "window:\n  length_s: -1\n")
        proc.send_signal(signal.SIGHUP)
        before = count(db, "SELECT count(*) FROM windows")
        assert wait_for(lambda: count(db, "SELECT count(*) FROM windows") >= before + 5)
        assert count(db, "SELECT count(*) FROM runs") == 1

        # A valid new config is taken: a new run with the new window length.
        data["window"] = {"length_s": 0.4}
        cfg.write_text(yaml.safe_dump(data))
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: count(db, "SELECT count(*) FROM windows WHERE run_id = 2") >= 3)
        assert count(db, "SELECT min(end - start) FROM windows WHERE run_id = 2") > 0.39

        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert took < 5.0, f"SIGTERM took {took:.1f} s"
    assert "reload refused, keeping the running config" in err
    assert f"{cfg}:" in err and "window.length_s" in err
    assert count(db, "PRAGMA integrity_check") == "ok"
