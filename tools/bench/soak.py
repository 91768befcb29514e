"""Soak: run the service on the replayed demo session for a long time and watch its resources.

Starts ``affectedge run`` (a separate process, as systemd would) with a config that replays the
demo session at its real pace, writes rotating encrypted session logs and publishes summaries to a
broker on loopback (mosquitto when installed, else amqtt), as a device would. The replay is 90 s long, so before it ends the script sends SIGHUP:
the service validates its config and rebuilds the whole pipeline (sources, analysers, sinks) in the
same process, which starts the replay again. Every ``--interval`` seconds it prints the process's
RSS (/proc/<pid>/status), open files (/proc/<pid>/fd), threads (/proc/<pid>/task) and the windows
in the session log; at the end it stops the service with SIGTERM and prints the linear-fit slope
of RSS per hour over the samples after ``--warmup`` minutes (imports, model loading, first caches
and the first reloads settle in the first few minutes).

Usage: python -m affectedge_tools.bench.soak --minutes 60 [--interval 60] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import yaml


@dataclass
class ProcSample:
    elapsed_s: float
    rss_kib: int
    fds: int
    threads: int
    windows: int


def read_proc(pid: int) -> tuple[int, int, int]:
    """RSS in KiB, open file descriptors and threads of ``pid`` (raises OSError once it is gone)."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task"))


def count_windows(logs: Path) -> int:
    """Windows in every session log file of the folder (the rows exist also when records are encrypted)."""
    total = 0
    for db in sorted(logs.glob("*.sqlite")):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2) as con:
                total += con.execute("SELECT COUNT(*) FROM windows").fetchone()[0]
        except sqlite3.Error:
            return -1  # busy: reported as unknown this minute
    return total


UNIT = Path(__file__).resolve().parents[2] / "packaging" / "affectedge.service"


def unit_environment(unit: Path = UNIT) -> dict[str, str]:
    """The ``Environment=KEY=VALUE`` settings of the service's systemd unit."""
    env = {}
    for line in unit.read_text().splitlines():
        if line.startswith("Environment="):
            key, _, value = line.removeprefix("Environment=").partition("=")
            env[key] = value
    return env


def rss_slope_mib_per_hour(samples: list[ProcSample]) -> Optional[float]:
    """Least-squares slope of RSS against time, MiB per hour; None with fewer than 3 samples."""
    if len(samples) < 3:
        return None
    t = np.array([s.elapsed_s for s in samples]) / 3600.0
    rss = np.array([s.rss_kib for s in samples]) / 1024.0
    return float(np.polyfit(t, rss, 1)[0])


def soak_config(session_dir: Path, out: Path, broker: tuple[str, int]) -> Path:
    from affectedge.offline.demo import demo_config_dict
    from affectedge.privacy.log_crypto import generate_key_file
    from affectedge.offline.demo_session import load_session

    data = demo_config_dict(load_session(session_dir), out, console=False, broker=broker)
    data["run"]["pace"] = "realtime"
    key = out / "session-log.key"
    if not key.exists():
        generate_key_file(key)
    # As packaging/config.yaml: rotating, encrypted logs (the JSONL would be rewritten at each reload).
    data["log"] = {"directory": str(out / "logs"), "encryption_key_file": str(key), "console": False}
    data["device"]["id"] = "affectedge-soak"
    path = out / "soak-config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def main(argv: list[str] | None = None) -> int:
    from affectedge.offline.demo_session import default_session_dir

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=60.0, help="how long to run (default 60)")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between resource samples (default 60)")
    p.add_argument("--warmup", type=float, default=3.0, help="minutes left out of the RSS slope (default 3)")
    p.add_argument("--session", type=Path, default=default_session_dir(), help="demo session folder")
    p.add_argument("--out", type=Path, default=Path("out/soak"), help="folder for the config, session log and service output")
    args = p.parse_args(argv)

    from affectedge.publish.local_broker import start_session_broker

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    # A soak starts with empty logs and outbox; only what an earlier soak wrote is removed.
    for stale in ("logs", "broker"):
        shutil.rmtree(out / stale, ignore_errors=True)
    for stale in out.glob("outbox.sqlite*"):
        stale.unlink()
    broker = start_session_broker(out / "broker")
    try:
        return soak(args, out, broker)
    finally:
        broker.stop()


def soak(args, out: Path, broker) -> int:
    from affectedge.offline.demo_session import load_session

    config = soak_config(args.session, out, (broker.host, broker.port))
    replay_s = load_session(args.session).duration_s
    reload_every = replay_s * 0.85  # before the replay's sources run out and the service would exit
    logs = out / "logs"
    log = (out / "service.log").open("w")
    # The environment the systemd unit gives the service (MALLOC_ARENA_MAX), so the RSS is a device's.
    env = {**os.environ, **unit_environment()}
    proc = subprocess.Popen([sys.executable, "-m", "affectedge", "run", "--config", str(config)], stdout=log,
                            stderr=subprocess.STDOUT, env=env)
    print(f"soak: affectedge run (pid {proc.pid}) on {args.session.name} at real pace for {args.minutes:g} min; "
          f"SIGHUP (reload, replay restarts) every {reload_every:.0f} s; publishing to {broker.describe()}; output in {out}")
    print(f"{'min':>6} {'RSS MiB':>8} {'fds':>5} {'threads':>8} {'windows':>8}")
    t0 = time.monotonic()
    end = t0 + args.minutes * 60
    next_sample, next_reload = t0 + args.interval, t0 + reload_every
    samples: list[ProcSample] = []
    reloads = 0
    while time.monotonic() < end and proc.poll() is None:
        now = time.monotonic()
        if now >= next_reload:
            proc.send_signal(signal.SIGHUP)
            reloads += 1
            next_reload += reload_every
        if now >= next_sample:
            try:
                rss, fds, threads = read_proc(proc.pid)
            except OSError:
                break
            s = ProcSample(now - t0, rss, fds, threads, count_windows(logs))
            samples.append(s)
            print(f"{s.elapsed_s / 60:6.1f} {s.rss_kib / 1024:8.1f} {s.fds:5d} {s.threads:8d} {s.windows:8d}", flush=True)
            next_sample += args.interval
        time.sleep(min(0.5, max(0.0, min(next_sample, next_reload, end) - time.monotonic())))
    crashed = proc.poll()
    stop_s = None
    if crashed is None:
        t_stop = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        stop_s = time.monotonic() - t_stop
    else:
        code = crashed
    log.close()

    steady = [s for s in samples if s.elapsed_s >= args.warmup * 60 - 1]
    slope = rss_slope_mib_per_hour(steady)
    print("\nsoak summary")
    print(f"  ran              {(samples[-1].elapsed_s if samples else 0) / 60:.1f} min, {len(samples)} samples, {reloads} reloads")
    if samples:
        rss = [s.rss_kib / 1024 for s in samples]
        print(f"  RSS              first {rss[0]:.1f} MiB, last {rss[-1]:.1f} MiB, min {min(rss):.1f}, max {max(rss):.1f}")
        print(f"  open files       {min(s.fds for s in samples)}..{max(s.fds for s in samples)}")
        print(f"  threads          {min(s.threads for s in samples)}..{max(s.threads for s in samples)}")
        print(f"  windows logged   {samples[-1].windows}")
    print(f"  RSS slope        {'n/a (too few samples)' if slope is None else f'{slope:+.2f} MiB/hour'} (least squares over {len(steady)} samples from minute {args.warmup:g})")
    if crashed is not None:
        print(f"  service          EXITED on its own with code {crashed} before the end (see {out / 'service.log'})")
        return 1
    print(f"  stop (SIGTERM)   exit code {code} after {stop_s:.2f} s")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
