"""kill -9 of the service at 20 random points of a replayed session, restarted each time.

Checked after every kill: the session log opens and passes an integrity check, and what the
killed run logged is exactly the start of an uninterrupted run (so only the window in flight
was lost). Checked at the end: every summary that was waiting in the outbox at any kill was
delivered by a later run. The broker is down during kills 8-13, so those runs leave their
summaries in the outbox (with the broker up, PUBACKs come within milliseconds and a kill rarely
finds anything waiting). Delivery is at least once: a summary whose PUBACK was lost to the
kill is sent again, and consumers dedupe on the summary's ``seq`` (docs/mqtt.md).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import yaml

from affectedge.offline.demo import demo_config_dict
from affectedge.publish.topics import DeviceTopics
from publish_fixtures import DEVICE, PREFIX, Observer, pki, start_secure_broker  # noqa: F401

KILLS = 20


def windows_of(db_path, run_id=None):
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        where = "" if run_id is None else f" WHERE run_id = {int(run_id)}"
        return [r[0] for r in db.execute(f"SELECT record FROM windows{where} ORDER BY run_id, seq")]
    finally:
        db.close()


def pending_seqs(outbox_path):
    if not outbox_path.exists():
        return set()
    db = sqlite3.connect(f"file:{outbox_path}?mode=ro", uri=True)
    try:
        return {json.loads(p)["seq"] for (p,) in db.execute("SELECT payload FROM outbox WHERE kind = 'summary'")}
    finally:
        db.close()


BROKER_DOWN = range(8, 14)


def test_kill_9_at_random_points_loses_no_summary(demo_session, tmp_path, pki):
    secure_broker = start_secure_broker(tmp_path / "broker", pki, persistent=True)
    try:
        _kill_and_restart(demo_session, tmp_path, secure_broker)
    finally:
        secure_broker.broker.stop()


def _kill_and_restart(demo_session, tmp_path, secure_broker):
    data = demo_config_dict(demo_session, tmp_path, console=False)
    data["sources"].pop("camera")  # physiology + voice keep each run short enough for 20 kills
    data["device"]["id"] = DEVICE
    data["publish"] = secure_broker.publish_config(tmp_path, period_s=1.0)
    cfg = tmp_path / "service.yaml"
    cfg.write_text(yaml.safe_dump(data))
    db = tmp_path / "session.sqlite"
    outbox = tmp_path / "outbox.sqlite"
    # A persistent session: the broker keeps the observer's messages across its own restart.
    observer = Observer(secure_broker, client_id="kill-observer", clean=False)
    topic = DeviceTopics(PREFIX, DEVICE).summary

    def start():
        return subprocess.Popen([sys.executable, "-m", "affectedge", "run", "--config", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    # The reference: one uninterrupted run.
    ref = start()
    _, err = ref.communicate(timeout=300)
    assert ref.returncode == 0, err.decode()
    full = windows_of(db, run_id=1)
    assert len(full) > 400

    rng = random.Random(20261125)
    owed: set[int] = set()
    for kill in range(KILLS):
        if kill == BROKER_DOWN.start:
            secure_broker.broker.stop()
        if kill == BROKER_DOWN.stop:
            secure_broker.broker.start()
        proc = start()
        time.sleep(rng.uniform(1.0, 6.0))  # start-up is ~1-2 s: some kills land before the first window
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        run_id = kill + 2
        logged = windows_of(db, run_id)
        assert logged == full[: len(logged)], f"kill {kill}: the log of the killed run is not a clean prefix"
        owed |= pending_seqs(outbox)

    final = start()
    _, err = final.communicate(timeout=300)
    assert final.returncode == 0, err.decode()
    assert len(pending_seqs(outbox)) == 0, "the outbox drained"

    def received():
        return [json.loads(p)["seq"] for p in observer.on(topic)]

    assert observer.wait_for(lambda: owed <= set(received()), 30), sorted(owed - set(received()))
    got = received()
    observer.close()
    assert owed, "no kill ever left a summary waiting: the test proved nothing"
    duplicates = len(got) - len(set(got))
    print(f"{KILLS} kills; {len(owed)} summaries were waiting at a kill, all delivered; "
          f"{len(got)} deliveries, {duplicates} duplicates (deduped by seq)")
