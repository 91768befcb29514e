"""`affectedge fleet provision`: a site's CA, broker credentials and one identity per device.

For N device ids it writes, under the site folder:

* ``ca/``: the site CA (made once; its key never leaves this folder);
* ``broker/``: the broker's TLS certificate (for ``--broker-host``), ``passwd`` (mosquitto's
  PBKDF2-SHA512 ``$7$`` format), ``acl`` and ``mosquitto.conf`` (TLS listener requiring a client
  certificate signed by the site CA, passwords, the ACL);
* ``devices/<id>/``: the device's client key and certificate (CN = its id), its password, the CA,
  ``affectedge.yaml`` (the ``device`` and ``publish`` sections of its config: straight to the
  central broker) and ``mosquitto-bridge.conf`` (the edge-buffering alternative: the service
  publishes to a mosquitto on the device, bridged to the central broker, so a site network outage
  is queued on the device as well as in the service's own outbox; docs/fleet.md);
* ``services/<name>/``: a password for each reading service (the collector, the dashboards).

The ACL lets each device write only its own topics (and read its command topic); the services
read the feed and nothing else. Run again with more ids to add devices: existing devices keep
their keys, certificates and passwords (their hash lines are kept), so nothing already deployed
breaks. ``--rotate ID`` issues a device new credentials. No secret is ever printed; every secret
file is written 0600.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import yaml

from ..core.errors import AffectEdgeError
from ..core.extras import require_module

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
SERVICES = ("collector", "dashboard", "caregiver")
PBKDF2_ITERATIONS = 101  # mosquitto_passwd's own choice for the $7$ format


class ProvisionError(AffectEdgeError):
    """The site cannot be provisioned as asked."""


@dataclass(frozen=True)
class ProvisionResult:
    site: Path
    added: list[str]
    kept: list[str]
    rotated: list[str]


def password_hash(password: str, salt: bytes | None = None) -> str:
    """mosquitto_passwd's ``$7$`` line value: PBKDF2-HMAC-SHA512, 101 iterations, 12-byte salt."""
    salt = salt or os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS, 64)
    return f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    path.chmod(0o600)


def _public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


class _Pki:
    def __init__(self, site: Path):
        require_module("cryptography", "fleet provisioning", "secure")
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.x509, self.hashes, self.serialization, self.ec, self.oid = x509, hashes, serialization, ec, NameOID
        self.dir = site / "ca"
        key_path, cert_path = self.dir / "ca.key", self.dir / "ca.crt"
        if key_path.is_file() and cert_path.is_file():
            self.key = serialization.load_pem_private_key(key_path.read_bytes(), None)
            self.cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            return
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = self._name(f"affectedge site CA {site.resolve().name}")
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=3650))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .sign(self.key, hashes.SHA256()))
        _secret(key_path, self._key_pem(self.key))
        _public(cert_path, self.pem(self.cert))

    def _name(self, cn: str):
        return self.x509.Name([self.x509.NameAttribute(self.oid.COMMON_NAME, cn)])

    def _key_pem(self, key) -> bytes:
        s = self.serialization
        return key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption())

    def pem(self, cert) -> bytes:
        return cert.public_bytes(self.serialization.Encoding.PEM)

    def issue(self, cn: str, server_names: Sequence[str] = ()) -> tuple[bytes, bytes]:
        """(key PEM, certificate PEM) for ``cn``, signed by the site CA; with ``server_names`` a
        server certificate (DNS names or IP addresses), otherwise a client one."""
        x509 = self.x509
        key = self.ec.generate_private_key(self.ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        b = (x509.CertificateBuilder().subject_name(self._name(cn)).issuer_name(self.cert.subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=825)))
        usage = x509.oid.ExtendedKeyUsageOID.SERVER_AUTH if server_names else x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if server_names:
            alt = []
            for n in server_names:
                try:
                    alt.append(x509.IPAddress(ipaddress.ip_address(n)))
                except ValueError:
                    alt.append(x509.DNSName(n))
            b = b.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        return self._key_pem(key), self.pem(b.sign(self.key, self.hashes.SHA256()))


def _acl(prefix: str, devices: Sequence[str]) -> str:
    lines = ["# Generated by `affectedge fleet provision`: each device writes only its own topics."]
    for d in devices:
        lines += ["", f"user {d}", *(f"topic write {prefix}/{d}/{k}" for k in ("status", "summary", "state", "settings")),
                  f"topic read {prefix}/{d}/set", f"topic read {prefix}/{d}/label", f"topic write {prefix}/{d}/label/ack",
                  f"topic write homeassistant/sensor/{d}/#", f"topic write homeassistant/event/{d}/#"]
    lines += ["", "# the collector and the dashboards read the feed and nothing else",
              "user collector", f"topic read {prefix}/+/summary", f"topic read {prefix}/+/status",
              "", "user dashboard", f"topic read {prefix}/+/summary", f"topic read {prefix}/+/state",
              f"topic read {prefix}/+/status", f"topic read {prefix}/+/settings",
              "", "# the caregiver page: reads the feed, sends commands and labels (the only role that may label)",
              "user caregiver", f"topic read {prefix}/+/summary", f"topic read {prefix}/+/state",
              f"topic read {prefix}/+/status", f"topic read {prefix}/+/settings", f"topic read {prefix}/+/label/ack",
              f"topic write {prefix}/+/set", f"topic write {prefix}/+/label", ""]
    return "\n".join(lines)


def bridge_conf(device: str, host: str, port: int, prefix: str, password: str, etc: str = "/etc/affectedge") -> str:
    """A device's local mosquitto: a loopback listener for the service, bridged to the central
    broker with the device's own identity, queueing on disk while the site network is down."""
    return f"""# Generated by `affectedge fleet provision` for {device}: a mosquitto on the device, bridged to the
# central broker. The service publishes to 127.0.0.1:1883 (publish.host: 127.0.0.1, no tls); the
# bridge forwards its topics with QoS 1 and keeps them on disk while the central broker is away.
# It holds the device's password (mosquitto has no password file for bridges): keep it 0600.
per_listener_settings false
allow_anonymous true
persistence true
persistence_location /var/lib/mosquitto/
max_queued_messages 100000
listener 1883 127.0.0.1

connection central
address {host}:{port}
remote_clientid {device}-bridge
remote_username {device}
remote_password {password}
bridge_cafile {etc}/ca.crt
bridge_certfile {etc}/client.crt
bridge_keyfile {etc}/client.key
cleansession false
# Reconnect after 5-30 s: later than the collectors (about 1 s), because a mosquitto central broker
# does not restore shared subscriptions after its own restart, and what a bridge forwards before
# the collectors have subscribed again would have no subscriber (docs/fleet.md).
restart_timeout 5 30
topic {prefix}/{device}/status out 1
topic {prefix}/{device}/summary out 1
topic {prefix}/{device}/state out 1
topic {prefix}/{device}/settings out 1
topic {prefix}/{device}/set in 1
topic {prefix}/{device}/label in 1
topic {prefix}/{device}/label/ack out 1
"""


def provision(site: Path, device_ids: Sequence[str], broker_host: str = "localhost", port: int = 8883,
              prefix: str = "affectedge", rotate: Sequence[str] = ()) -> ProvisionResult:
    """Create or extend the site (see the module docstring); returns which devices were added, kept, rotated."""
    site = Path(site)
    bad = [d for d in [*device_ids, *rotate] if not _ID.match(d) or d in SERVICES]
    if bad:
        raise ProvisionError(f"device ids must be lowercase letters, digits, '-' and '_' (and not {', '.join(SERVICES)}): {bad}")
    unknown = [d for d in rotate if not (site / "devices" / d / "passwd-entry").is_file()]
    if unknown:
        raise ProvisionError(f"--rotate {unknown}: not provisioned at {site} yet")
    pki = _Pki(site)
    if not (site / "broker" / "server.crt").is_file():
        key, cert = pki.issue(broker_host, [broker_host, "localhost", "127.0.0.1"])
        _secret(site / "broker" / "server.key", key)
        _public(site / "broker" / "server.crt", cert)
    existing = sorted(p.name for p in (site / "devices").iterdir() if (p / "passwd-entry").is_file()) if (site / "devices").is_dir() else []
    added, rotated = [], []
    for d in dict.fromkeys([*device_ids, *rotate]):
        if d in existing and d not in rotate:
            continue
        folder = site / "devices" / d
        password = secrets.token_urlsafe(24)
        key, cert = pki.issue(d)
        _secret(folder / "client.key", key)
        _public(folder / "client.crt", cert)
        _public(folder / "ca.crt", pki.pem(pki.cert))
        _secret(folder / "password", (password + "\n").encode())
        _secret(folder / "passwd-entry", f"{d}:{password_hash(password)}\n".encode())
        _public(folder / "affectedge.yaml", yaml.safe_dump({
            "device": {"id": d},
            "publish": {"host": broker_host, "port": port, "prefix": prefix, "username": d,
                        "password_file": "/etc/affectedge/mqtt.password",
                        "tls": {"ca_file": "/etc/affectedge/ca.crt", "cert_file": "/etc/affectedge/client.crt",
                                "key_file": "/etc/affectedge/client.key"}},
        }, sort_keys=False).encode())
        _secret(folder / "mosquitto-bridge.conf", bridge_conf(d, broker_host, port, prefix, password).encode())
        (rotated if d in existing else added).append(d)
    for service in SERVICES:
        folder = site / "services" / service
        if not (folder / "passwd-entry").is_file():
            password = secrets.token_urlsafe(24)
            _secret(folder / "password", (password + "\n").encode())
            _secret(folder / "passwd-entry", f"{service}:{password_hash(password)}\n".encode())
            key, cert = pki.issue(service)
            _secret(folder / "client.key", key)
            _public(folder / "client.crt", cert)
    devices = sorted(set(existing) | set(added))
    entries = [(site / "devices" / d / "passwd-entry").read_text() for d in devices]
    entries += [(site / "services" / s / "passwd-entry").read_text() for s in SERVICES]
    _secret(site / "broker" / "passwd", "".join(entries).encode())
    _secret(site / "broker" / "acl", _acl(prefix, devices).encode())
    broker = site / "broker"
    _public(broker / "mosquitto.conf", (
        "# Generated by `affectedge fleet provision`: TLS with a client certificate from the site CA, then\n"
        "# the user's password and the ACL. Paths are this folder's; adjust them where the broker runs.\n"
        "per_listener_settings false\nallow_anonymous false\n"
        "# A collector that is down has its share of the feed queued here: mosquitto's default of 1000\n"
        "# messages per client would drop the rest of a long outage.\nmax_queued_messages 1000000\n"
        f"password_file {broker.resolve() / 'passwd'}\nacl_file {broker.resolve() / 'acl'}\n"
        f"listener {port}\ncafile {(site / 'ca' / 'ca.crt').resolve()}\ncertfile {(broker / 'server.crt').resolve()}\n"
        f"keyfile {(broker / 'server.key').resolve()}\nrequire_certificate true\n").encode())
    _public(site / "fleet.yaml", yaml.safe_dump({"prefix": prefix, "broker": f"{broker_host}:{port}", "devices": devices,
                                                 "services": list(SERVICES)}, sort_keys=False).encode())
    return ProvisionResult(site, added, [d for d in existing if d not in rotated], rotated)
