"""Fixtures for the publishing tests: a real mosquitto with TLS, passwords, an ACL and a
websockets listener, and fused windows from a real recording run through the real pipeline."""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from affectedge.publish.local_broker import MosquittoBroker, find_mosquitto, free_port

DEVICE = "dev1"
PREFIX = "affectedge"


def need_mosquitto() -> None:
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed: run tools/setup/install_system_deps.sh as root (apt-get install mosquitto)")


# ---------------------------------------------------------------- PKI


@dataclass
class Pki:
    ca: Path
    wrong_ca: Path
    server_cert: Path
    server_key: Path


def _name(cn: str):
    from cryptography.x509.oid import NameOID
    from cryptography import x509

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _pem(obj) -> bytes:
    from cryptography.hazmat.primitives import serialization

    if hasattr(obj, "private_bytes"):
        return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return obj.public_bytes(serialization.Encoding.PEM)


def _write_private(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    d = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = _ca("affectedge test CA")
    _, wrong_cert = _ca("some other CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (d / "ca.pem").write_bytes(_pem(ca_cert))
    (d / "wrong-ca.pem").write_bytes(_pem(wrong_cert))
    (d / "server.pem").write_bytes(_pem(cert))
    _write_private(d / "server.key", _pem(key))
    return Pki(d / "ca.pem", d / "wrong-ca.pem", d / "server.pem", d / "server.key")


# ---------------------------------------------------------------- secure broker


@dataclass
class SecureBroker:
    broker: MosquittoBroker
    port: int  # MQTT over TLS
    ws_port: int  # MQTT over WebSockets (loopback, password)
    passwords: dict[str, str]
    workdir: Path
    pki: Pki
    secrets_in_play: list[str] = field(default_factory=list)

    def password_file(self, user: str, password: str | None = None) -> Path:
        p = self.workdir / f"{user}.password"
        _write_private(p, ((password or self.passwords[user]) + "\n").encode())
        return p

    def publish_config(self, tmp: Path, user: str = DEVICE, password: str | None = None, ca: Path | None = None,
                       **overrides) -> dict:
        cfg = {
            "host": "127.0.0.1", "port": self.port, "tls": {"ca_file": str(ca or self.pki.ca)},
            "username": user, "password_file": str(self.password_file(user, password)), "prefix": PREFIX,
            "outbox": str(tmp / "outbox.sqlite"), "pseudonym_secret_file": str(tmp / "pseudonym.secret"),
            "drain_timeout_s": 10.0,
        }
        cfg.update(overrides)
        return cfg


ACL = f"""\
# the device writes only its own feed topics (and its Home Assistant discovery), reads its command topic
user {DEVICE}
topic write {PREFIX}/{DEVICE}/status
topic write {PREFIX}/{DEVICE}/summary
topic write {PREFIX}/{DEVICE}/state
topic write {PREFIX}/{DEVICE}/settings
topic read {PREFIX}/{DEVICE}/set
topic read {PREFIX}/{DEVICE}/label
topic write {PREFIX}/{DEVICE}/label/ack
topic write homeassistant/sensor/{DEVICE}/#
topic write homeassistant/event/{DEVICE}/#

# the caregiver dashboard reads the feed and nothing else
user dashboard
topic read {PREFIX}/#

# the test's observer sees everything (to prove what did and did not arrive)
user observer
topic read #

# a caregiver app allowed to send commands and labels
user caregiver
topic read {PREFIX}/#
topic write {PREFIX}/+/set
topic write {PREFIX}/+/label
"""


def start_secure_broker(workdir: Path, pki: Pki, persistent: bool = False, port: int | None = None,
                        ws_port: int | None = None, passwords: dict | None = None) -> SecureBroker:
    need_mosquitto()
    workdir.mkdir(parents=True, exist_ok=True)
    passwords = passwords or {u: secrets.token_urlsafe(12) for u in (DEVICE, "dashboard", "observer", "caregiver")}
    pw = workdir / "passwd"
    pw.unlink(missing_ok=True)
    for i, (user, password) in enumerate(passwords.items()):
        subprocess.run(["mosquitto_passwd", "-b", *(["-c"] if i == 0 else []), str(pw), user, password], check=True,
                       capture_output=True)
    pw.chmod(0o600)
    acl = _write_private(workdir / "acl", ACL.encode())
    port = port or free_port()
    ws_port = ws_port or free_port()
    body = f"""\
per_listener_settings false
allow_anonymous false
password_file {pw}
acl_file {acl}
listener {port} 127.0.0.1
cafile {pki.ca}
certfile {pki.server_cert}
keyfile {pki.server_key}
listener {ws_port} 127.0.0.1
protocol websockets
"""
    broker = MosquittoBroker(workdir, body, port=port, persistent=persistent).start()
    return SecureBroker(broker, port, ws_port, passwords, workdir, pki)


@pytest.fixture
def secure_broker(tmp_path, pki):
    b = start_secure_broker(tmp_path / "broker", pki)
    yield b
    b.broker.stop()


# ---------------------------------------------------------------- an MQTT observer (paho, real TLS)


class Observer:
    """Subscribes to '#' as the read-all user and records (topic, payload, retain) in arrival order."""

    def __init__(self, b: SecureBroker, user: str = "observer", topic: str = "#", client_id: str | None = None,
                 clean: bool = True):
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"obs-{secrets.token_hex(4)}",
                                  clean_session=clean)
        self.client.tls_set(ca_certs=str(b.pki.ca))
        self.client.username_pw_set(user, b.passwords[user])
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, u, f, rc, p: (c.subscribe(topic, qos=1), self.connected.set()) if not rc.is_failure else None
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.connect("127.0.0.1", b.port)
        self.client.loop_start()
        assert self.connected.wait(10), "observer could not connect"
        time.sleep(0.2)  # the SUBACK

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def on(self, topic: str) -> list[bytes]:
        with self._lock:
            return [p for t, p, _ in self.messages if t == topic]

    def wait_for(self, predicate, timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# ---------------------------------------------------------------- windows for the transport tests


def fused_windows(n: int, length_s: float = 0.2, start_k: int = 0) -> list:
    """``n`` windows from the real fusion step, fed a slow sweep of arousal and valence that visits
    every zone (test inputs for the publishing path, in the manner of tests/test_fusion.py; the
    numbers are inputs whose summaries the tests check, not a claim about anybody's affect)."""
    from affectedge.fusion.config import FusionConfig, WindowConfig, ZoneConfig
    from affectedge.fusion.fuse import FusionState, fuse_window
    from affectedge.core.types import LABELS, ModalityEstimate

    fusion, window, zones = FusionConfig(), WindowConfig(length_s=length_s, smoothing_tau_s=0.0), ZoneConfig()
    state, out = FusionState(), []
    for k in range(start_k, start_k + n):
        t0, t1 = k * length_s, (k + 1) * length_s
        phase = 2 * np.pi * t0 / 60.0
        arousal = float(0.8 * np.sin(phase))
        valence = float(-0.5 * np.sin(phase / 2))
        probs = np.full(len(LABELS), 0.05)
        probs[1 + (k // 50) % (len(LABELS) - 1)] = 1 - 0.05 * (len(LABELS) - 1)
        est = ModalityEstimate("physiology", t0, t1, quality=0.8, probabilities=tuple(probs), valence=valence, arousal=arousal)
        w, state = fuse_window(k, t0, t1, [est], state, fusion, window, zones)
        out.append(w)
    return out
