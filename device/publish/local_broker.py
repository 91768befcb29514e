"""A broker on loopback for one session: Debian's mosquitto when installed, else amqtt (pure Python).

Used by `affectedge demo` when no broker is configured, and by the test fixtures (which pass
their own listener, TLS, password and ACL lines).
"""

from __future__ import annotations

import asyncio
import getpass
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Optional

from ..core.errors import AffectEdgeError
from ..core.extras import require_module

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


class BrokerError(AffectEdgeError):
    """A local broker could not be started."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout_s: float, alive=lambda: True) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def find_mosquitto() -> Optional[str]:
    found = shutil.which("mosquitto")
    return found or next((p for p in MOSQUITTO_PATHS if os.access(p, os.X_OK)), None)


class MosquittoBroker:
    """mosquitto with a generated config. ``listeners`` is the config body (listeners, auth);
    without it, one anonymous plain listener on loopback."""

    kind = "mosquitto"

    def __init__(self, workdir: Path, listeners: Optional[str] = None, port: Optional[int] = None,
                 persistent: bool = False, websockets: bool = False):
        self.executable = find_mosquitto()
        if self.executable is None:
            raise BrokerError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        # A WebSocket listener beside the plain one is what the dashboard page connects to.
        self.ws_port: Optional[int] = free_port() if websockets else None
        body = listeners if listeners is not None else (
            f"listener {self.port} {self.host}\n"
            + (f"listener {self.ws_port} {self.host}\nprotocol websockets\n" if websockets else "")
            + "allow_anonymous true\n")
        self.conf = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"
        # Started as root, mosquitto would switch to the `mosquitto` user and then fail to read
        # the generated (0600) files: run it as whoever owns them.
        persistence = f"persistence true\npersistence_location {self.workdir}/\n" if persistent else "persistence false\n"
        self.conf.write_text(f"user {getpass.getuser()}\n{persistence}log_dest file {self.log}\n"
                             f"log_type error\nlog_type warning\nlog_type notice\nlog_type information\n{body}")
        self._proc: Optional[subprocess.Popen] = None

    def start(self, timeout_s: float = 10.0) -> "MosquittoBroker":
        self._proc = subprocess.Popen([self.executable, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
        if not wait_for_port(self.port, timeout_s, alive=lambda: self._proc.poll() is None):
            err = self._proc.stderr.read().decode(errors="replace") if self._proc.poll() is not None else ""
            self.stop()
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise BrokerError(f"mosquitto did not start on port {self.port}: {err.strip()} {tail.strip()}")
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def describe(self) -> str:
        ws = f", WebSockets on {self.host}:{self.ws_port}" if self.ws_port else ""
        return f"mosquitto ({self.executable}) on {self.host}:{self.port}{ws}"


class AmqttBroker:
    """amqtt in a background thread with its own event loop: anonymous, loopback, plain TCP."""

    kind = "amqtt"

    def __init__(self, port: Optional[int] = None, websockets: bool = False):
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.ws_port: Optional[int] = free_port() if websockets else None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._broker = None
        self._thread: Optional[threading.Thread] = None

    def start(self, timeout_s: float = 10.0) -> "AmqttBroker":
        broker_mod = require_module("amqtt.broker", "demo broker", "demo-broker")
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"},
                          **({"ws": {"type": "ws", "bind": f"{self.host}:{self.ws_port}"}} if self.ws_port else {})},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._broker = broker_mod.Broker(config, loop=loop)
                loop.run_until_complete(self._broker.start())
            except BaseException as exc:  # reported to the starting thread below
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="amqtt-broker", daemon=True)
        self._thread.start()
        # No probe connection here: amqtt logs an empty connection as an error; start() returning
        # means the listener is bound.
        if not ready.wait(timeout_s) or failure:
            raise BrokerError(f"amqtt did not start on port {self.port}: {failure[0] if failure else 'timeout'}")
        return self

    def stop(self) -> None:
        if self._loop is None or self._broker is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
        try:
            fut.result(timeout=5)
        except Exception:
            pass  # stopping is best effort; the thread is a daemon
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._broker = None

    def describe(self) -> str:
        ws = f", WebSockets on {self.host}:{self.ws_port}" if self.ws_port else ""
        return f"amqtt (pure-Python fallback) on {self.host}:{self.port}{ws}"


def start_session_broker(workdir: Path, prefer: Optional[str] = None, websockets: bool = True):
    """mosquitto if installed (or ``prefer='mosquitto'``), else amqtt; started and ready, with a
    WebSocket listener (``ws_port``) for the dashboard unless ``websockets`` is False."""
    if prefer != "amqtt" and (prefer == "mosquitto" or find_mosquitto()):
        return MosquittoBroker(workdir, websockets=websockets).start()
    return AmqttBroker(websockets=websockets).start()
