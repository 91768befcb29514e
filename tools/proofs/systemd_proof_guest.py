"""The in-VM half of the systemd proof (tools/proofs/systemd_proof.py): checks the installed service under
systemd as PID 1 and prints one result line on the console, then the VM powers off.

It runs as root from a unit started just before the service, with the service's own venv
(``/opt/affectedge/venv/bin/python -m affectedge_tools.proofs.systemd_proof_guest``), and goes through
what a caregiver's device lives through: boot with no camera, weeks of windows with the watchdog
armed, a config edit with a mistake, a switch to real sources, a hung pipeline, a shutdown.
Each check records what it saw; nothing here changes the service's files except the config, which
it restores.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import yaml

from affectedge.config.app import load_config

UNIT = "affectedge.service.assembly"
CONFIG = Path("/etc/affectedge/config.yaml")
KEY = Path("/etc/affectedge/session-log.key")
STATE = Path("/var/lib/affectedge")
DEMO_SESSION = Path("/srv/affectedge-demo/demo-session-v2")
RESULT_TAG = "AFFECTEDGE-PROOF-RESULT"
DEGRADED_S = 75.0  # more than two WatchdogSec=30 periods with no camera
NOTHING_S = 65.0  # and again with no device at all
# Real sources (the demo session) after a reload, until every modality has contributed. The VM's
# CPU may be emulated, several times slower than the board, so this waits by content, not time.
REPLAY_TIMEOUT_S = 240.0


def say(msg: str) -> None:
    print(f"[proof {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(*cmd: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def show(*props: str) -> dict[str, str]:
    out = run("systemctl", "show", UNIT, *(f"--property={p}" for p in props)).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def wait_for(pred: Callable[[], bool], timeout: float, step: float = 0.5) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def journal_since(cursor_time: str) -> str:
    return run("journalctl", "-u", UNIT, "--since", cursor_time, "--no-pager", "-o", "cat").stdout


def now_for_journal() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


class Feed:
    """Everything the broker carries under the device's topics, with arrival times."""

    def __init__(self, prefix: str, device: str):
        import paho.mqtt.client as mqtt

        self.lock = threading.Lock()
        self.messages: list[tuple[float, str, bytes]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="affectedge-proof")
        self.client.on_message = lambda c, u, m: self._add(m.topic, m.payload)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{prefix}/{device}/#", qos=1)
        self.client.connect_async("localhost", 1883)  # the network thread retries until mosquitto is up
        self.client.loop_start()

    def _add(self, topic: str, payload: bytes) -> None:
        with self.lock:
            self.messages.append((time.monotonic(), topic, payload))

    def summaries(self, since: float = 0.0) -> list[dict]:
        with self.lock:
            return [json.loads(p) for t, topic, p in self.messages if topic.endswith("/summary") and t >= since]

    def statuses(self) -> list[str]:
        with self.lock:
            return [p.decode() for _, topic, p in self.messages if topic.endswith("/status")]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Proof:
    def __init__(self):
        self.checks: list[dict] = []
        self.facts: dict = {}

    def check(self, name: str, ok: bool, **detail) -> bool:
        self.checks.append({"name": name, "ok": bool(ok), **detail})
        say(f"{'ok  ' if ok else 'FAIL'} {name} {json.dumps(detail, default=str)[:400]}")
        return ok


def main_pid() -> int:
    return int(show("MainPID")["MainPID"])


def active() -> bool:
    s = show("ActiveState", "SubState")
    return s.get("ActiveState") == "active" and s.get("SubState") == "running"


def reload_with(text: str) -> str:
    """Write the config and reload; returns the journal time mark taken before the reload."""
    mark = now_for_journal()
    time.sleep(1.1)  # the journal's --since has one-second resolution
    CONFIG.write_text(text)
    run("systemctl", "reload", UNIT, check=True)
    return mark


def process_facts(pid: int) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    field = lambda name: re.search(rf"^{name}:\s*(.*)$", status, re.M).group(1).split()  # noqa: E731
    root_mount = next(line for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines() if line.split()[4] == "/")
    groups = {int(g) for g in field("Groups")}
    names = {g: run("getent", "group", g).stdout.split(":")[2] for g in ("video", "audio", "bluetooth")}
    return {
        "uid": int(field("Uid")[0]),
        "service_uid": int(run("id", "-u", "affectedge").stdout),
        "groups_ok": all(int(gid) in groups for gid in names.values()),
        "no_new_privs": field("NoNewPrivs")[0] == "1",
        "cap_eff": field("CapEff")[0],
        "seccomp": field("Seccomp")[0],
        "root_mount_read_only": root_mount.split()[5].split(",")[0] == "ro",  # per-mount options begin with rw or ro
    }


def prove(p: Proof) -> None:
    booted = time.monotonic()
    installed = CONFIG.read_text()
    cfg = yaml.safe_load(installed)
    app = load_config(CONFIG)  # the service's own reading of it: device id, topic prefix and their defaults
    # Subscribed before the service starts (the proof unit is ordered before it), so the first
    # summaries, with the camera's sensor_lost event, are seen whatever the VM's speed.
    feed = Feed(app.publish.prefix, app.device.id)
    say("waiting for affectedge.service.assembly to be active (Type=notify: after READY=1)")
    p.check("service active after boot", wait_for(active, 240), state=show("ActiveState", "SubState", "Result"))
    t = show("ExecMainStartTimestampMonotonic", "ActiveEnterTimestampMonotonic")
    p.facts["start_to_ready_s"] = round((int(t["ActiveEnterTimestampMonotonic"]) - int(t["ExecMainStartTimestampMonotonic"])) / 1e6, 2)
    p.facts["boot_to_ready_s"] = round(int(t["ActiveEnterTimestampMonotonic"]) / 1e6, 1)
    pid = main_pid()

    # 1. No camera in this VM: degraded, windows keep closing, the watchdog is fed.
    say(f"degraded run for {DEGRADED_S:.0f} s (no camera; WatchdogSec=30)")
    time.sleep(DEGRADED_S)
    s = show("NRestarts", "MainPID", "WatchdogUSec", "Type")
    summaries = feed.summaries()
    last = summaries[-1] if summaries else {}
    lost = {e.get("source") for x in summaries for e in x.get("events", []) if e.get("kind") == "sensor_lost"}
    p.check("no restart while degraded (watchdog fed without a camera)", s["NRestarts"] == "0" and int(s["MainPID"]) == pid and active(),
            systemd=s)
    p.check("summaries published while degraded", len(summaries) >= DEGRADED_S / 5 - 3, count=len(summaries),
            sensors_live=last.get("sensors_live"), camera_reported_lost="camera" in lost, status=feed.statuses()[-1:] or None)
    p.check("camera reported down, not fatal", "camera" not in (last.get("sensors_live") or ["camera"]) and "camera" in lost,
            lost=sorted(x for x in lost if x))
    p.facts["microphone_live_in_vm"] = "microphone" in (last.get("sensors_live") or [])

    # 2. The process as the unit sets it up.
    facts = process_facts(pid)
    p.check("runs unprivileged, in video/audio/bluetooth, no capabilities, read-only system",
            facts["uid"] == facts["service_uid"] != 0 and facts["groups_ok"] and facts["no_new_privs"]
            and int(facts["cap_eff"], 16) == 0 and facts["seccomp"] == "2" and facts["root_mount_read_only"], **facts)
    sec = run("systemd-analyze", "security", UNIT, "--no-pager").stdout
    m = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", sec)
    p.facts["security_exposure"] = f"{m.group(1)} {m.group(2)}" if m else sec[-200:]
    p.check("systemd-analyze security on the running unit", m is not None and float(m.group(1)) <= 3.0, exposure=p.facts["security_exposure"])

    # 3. An invalid config on reload is refused; the running one is kept.
    bad = installed.replace("retention_days: 30", "retention_days: thirty")
    assert bad != installed, "the installed config has no 'retention_days: 30' line to spoil"
    mark = reload_with(bad)
    refused = wait_for(lambda: "retention_days" in journal_since(mark), 15)
    lines = [ln for ln in journal_since(mark).splitlines() if "retention_days" in ln]
    p.check("invalid config refused on reload, service kept running", refused and active() and main_pid() == pid,
            journal=lines[:3], nrestarts=show("NRestarts")["NRestarts"])

    # 3b. Nothing at all (the microphone pointed at a card that is not there): no sample arrives,
    # and the service must still close windows, publish and feed the watchdog.
    nothing = yaml.safe_load(installed)
    nothing.setdefault("sources", {})["microphone"] = {"backend": "sounddevice", "device": "no-such-card"}
    before = show("NRestarts")["NRestarts"]
    reload_with(yaml.safe_dump(nothing, sort_keys=False))
    since = time.monotonic()
    say(f"no device at all for {NOTHING_S:.0f} s")
    time.sleep(NOTHING_S)
    empty = feed.summaries(since=since + 6)
    p.check("no device at all: no restart, no_data summaries, watchdog fed", show("NRestarts")["NRestarts"] == before
            and main_pid() == pid and active() and len(empty) >= NOTHING_S / 5 - 3
            and all(x["windows"] > 0 and not x["windows_with_data"] and not x["sensors_live"] for x in empty),
            summaries=len(empty), windows=[x["windows"] for x in empty][-3:], sensors_live=[x["sensors_live"] for x in empty][-1:],
            nrestarts=show("NRestarts")["NRestarts"])

    # 4. Real sources: the demo session replayed at real pace, switched in by a reload.
    from affectedge.offline.demo import demo_config_dict
    from affectedge.offline.demo_session import load_session

    demo = demo_config_dict(load_session(DEMO_SESSION), STATE / "proof-demo", console=False)
    demo["run"]["pace"] = "realtime"
    for key in ("device", "log", "publish"):
        demo[key] = cfg[key]
    reload_with(yaml.safe_dump(demo, sort_keys=False))
    switched = time.monotonic()

    def with_data() -> list[dict]:
        return [x for x in feed.summaries(since=switched) if x.get("windows_with_data")]

    def coverage() -> dict[str, float]:
        return {k: max((x["coverage"].get(k, 0) for x in with_data()), default=0.0) for k in ("face", "voice", "physiology")}

    wait_for(lambda: all(v > 0 for v in coverage().values()), REPLAY_TIMEOUT_S, 1.0)
    fresh, cover = with_data(), coverage()
    waited = time.monotonic() - switched
    p.facts["replay_speed_x_realtime"] = round(sum(x["windows"] for x in fresh) * 0.2 / waited, 2)
    p.check("real sources after reload: fused summaries with every modality", all(v > 0 for v in cover.values())
            and main_pid() == pid, summaries=len(fresh), seconds=round(waited, 1), coverage=cover,
            zones=[x.get("zone") for x in fresh][-5:], sensors_live=fresh[-1].get("sensors_live") if fresh else None)
    mark = reload_with(installed)
    wait_for(lambda: "reload" in journal_since(mark).lower(), 10)

    # 5. A hung pipeline: stop the process; the watchdog must fire and systemd restart it.
    before = int(show("NRestarts")["NRestarts"])
    mark = now_for_journal()
    stopped_at = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    say("main process stopped (SIGSTOP): waiting for the watchdog")
    restarted = wait_for(lambda: int(show("NRestarts")["NRestarts"]) > before and active() and main_pid() != pid, 150, 1.0)
    log = journal_since(mark)
    p.check("a hung service is killed by the watchdog and restarted", restarted and "watchdog timeout" in log.lower(),
            seconds_to_active_again=round(time.monotonic() - stopped_at, 1), journal=[ln for ln in log.splitlines() if "atchdog" in ln][:3])
    wait_for(lambda: len(feed.summaries(since=time.monotonic() - 1)) > 0, 20)
    time.sleep(6)

    # 6. Stop: SIGTERM, finish the window, flush, publish offline, exit 0 within 5 s.
    t0 = time.monotonic()
    run("systemctl", "stop", UNIT, check=True)
    stop_s = time.monotonic() - t0
    s = show("ExecMainStatus", "ExecMainCode", "Result", "ActiveState")
    time.sleep(1)
    statuses = feed.statuses()
    p.check("stop exits 0 within 5 s and publishes offline", stop_s < 5 and s["ExecMainStatus"] == "0" and s["Result"] == "success"
            and statuses[-1:] == ["offline"], stop_s=round(stop_s, 2), systemd=s, last_status=statuses[-1:] or None)

    # 7. Nothing lost: summary sequence numbers over the whole run, across the watchdog restart.
    seqs = [x["seq"] for x in feed.summaries()]
    unique = sorted(set(seqs))
    gaps = [(a, b) for a, b in zip(unique, unique[1:]) if b != a + 1]
    p.check("summary seq has no gaps across reloads and the watchdog restart", bool(unique) and not gaps,
            summaries=len(seqs), duplicates=len(seqs) - len(unique), first=unique[:1], last=unique[-1:], gaps=gaps[:5])
    feed.close()

    # 8. The encrypted session logs are readable with the key, as a caregiver's laptop would read them.
    export = run("/opt/affectedge/venv/bin/affectedge", "export", "--key", str(KEY), "--out", "/tmp/proof-export", str(STATE / "logs"))
    rows = sum(max(0, len(f.read_text().splitlines()) - 1) for f in Path("/tmp/proof-export").glob("*windows*.csv"))
    p.check("encrypted session logs export with the key", export.returncode == 0 and rows > 0, windows=rows,
            log_files=len(list((STATE / "logs").glob("*.sqlite"))), stderr=export.stderr[-300:])
    p.facts["proof_s"] = round(time.monotonic() - booted, 1)


def main() -> int:
    p = Proof()
    try:
        prove(p)
    except Exception as exc:  # the result line must come out whatever happened
        p.check("proof ran to the end", False, error=f"{type(exc).__name__}: {exc}")
    p.facts["systemd"] = run("systemctl", "--version").stdout.splitlines()[0]
    p.facts["kernel"] = os.uname().release
    result = {"ok": all(c["ok"] for c in p.checks) and bool(p.checks), "checks": p.checks, "facts": p.facts}
    line = f"{RESULT_TAG} {json.dumps(result, default=str)}"
    print(line, flush=True)
    try:  # also straight to the serial console, whatever the unit does with stdout
        with open("/dev/ttyS0", "w") as console:
            console.write("\n" + line + "\n")
    except OSError:
        pass
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
