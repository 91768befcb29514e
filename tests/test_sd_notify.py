"""sd_notify against real AF_UNIX datagram sockets, as systemd listens on them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid

import pytest

from affectedge.service import sd_notify


def receive(sock: socket.socket) -> str:
    sock.settimeout(5)
    return sock.recv(4096).decode()


@pytest.fixture
def path_socket(tmp_path, monkeypatch):
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


@pytest.fixture
def abstract_socket(monkeypatch):
    name = f"affectedge-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    yield sock
    sock.close()


def test_ready_watchdog_stopping_on_a_path_socket(path_socket):
    assert sd_notify.notify_ready("replaying")
    assert receive(path_socket) == "READY=1\nSTATUS=replaying"
    assert sd_notify.notify_watchdog()
    assert receive(path_socket) == "WATCHDOG=1"
    assert sd_notify.notify_stopping()
    assert receive(path_socket) == "STOPPING=1"


def test_abstract_namespace_socket(abstract_socket):
    assert sd_notify.notify_status("3 sources up")
    assert receive(abstract_socket) == "STATUS=3 sources up"


def test_from_a_child_process_as_systemd_starts_it(path_socket):
    env = {**os.environ}
    code = "from affectedge.service.sd_notify import notify_ready; raise SystemExit(0 if notify_ready() else 1)"
    assert subprocess.run([sys.executable, "-c", code], env=env, timeout=60).returncode == 0
    assert receive(path_socket) == "READY=1"


def test_without_systemd_nothing_is_sent(monkeypatch, tmp_path):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not sd_notify.notify_ready()
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))  # manager went away: no exception
    assert not sd_notify.notify_watchdog()


def test_watchdog_interval(monkeypatch):
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert sd_notify.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "20000000")  # WatchdogSec=20
    assert sd_notify.watchdog_interval() == 10.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sd_notify.watchdog_interval() == 10.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # meant for another process
    assert sd_notify.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    monkeypatch.setenv("WATCHDOG_USEC", "0")
    assert sd_notify.watchdog_interval() is None


def test_affectedge_run_says_ready_to_systemd(path_socket, demo_session, tmp_path):
    # A short replay (the demo's physiology, as fast as it runs) through the real `affectedge run`.
    config = tmp_path / "cfg.yaml"
    config.write_text(
        "sources:\n  physiology:\n"
        f"    - {{backend: replay_csv, path: {demo_session.physiology.path}}}\n"
        "log: {console: false}\nrun: {pace: fast}\n"
    )
    r = subprocess.run([sys.executable, "-m", "affectedge", "run", "--config", str(config)],
                       capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    assert receive(path_socket) == f"READY=1\nSTATUS=running with {config}"


def test_affectedge_run_feeds_the_watchdog_while_windows_close_and_says_stopping(path_socket, demo_session, tmp_path):
    import signal
    import time

    config = tmp_path / "cfg.yaml"
    config.write_text(
        "sources:\n  physiology:\n"
        f"    - {{backend: replay_csv, path: {demo_session.physiology.path}}}\n"
        "log: {console: false}\nrun: {pace: realtime}\n"
    )
    env = dict(os.environ, WATCHDOG_USEC="1000000")  # WatchdogSec=1: a ping at least every 0.5 s
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([sys.executable, "-m", "affectedge", "run", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        assert receive(path_socket).startswith("READY=1")
        t0 = time.monotonic()
        pings = []
        while time.monotonic() - t0 < 3.0:
            msg = receive(path_socket)
            assert msg == "WATCHDOG=1", msg
            pings.append(time.monotonic())
        assert len(pings) >= 5 and max(b - a for a, b in zip(pings, pings[1:])) < 1.0
        proc.send_signal(signal.SIGTERM)
        messages = []
        while not messages or messages[-1] == "WATCHDOG=1":
            messages.append(receive(path_socket))
        assert messages[-1].startswith("STOPPING=1")
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
