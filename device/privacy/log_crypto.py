"""Encryption at rest for the session log: AES-256-GCM per record, key from a file.

Each record is sealed on its own (nonce || ciphertext+tag) with associated data naming its table
and key (run, seq), so a record cannot be moved to another row without detection, and SQLite's
crash safety is untouched (no whole-file encryption to tear on a kill -9).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from ..core.errors import BackendUnavailableError, SessionLogError

NONCE_BYTES = 12
SCHEME = "aes-256-gcm/v1"


def _read_key(path: Path) -> bytes:
    try:
        st = path.stat()
        raw = path.read_bytes()
    except OSError as exc:
        raise SessionLogError(f"{path}: cannot read the log key ({exc.strerror})") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        # Like ssh with private keys: a key others can read protects nothing.
        raise SessionLogError(f"{path}: the log key must be readable by its owner only (chmod 600), mode is {stat.filemode(st.st_mode)}")
    text = raw.strip()
    if len(raw) == 32:
        return raw
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != 32:
        raise SessionLogError(f"{path}: the log key must be 32 raw bytes or 64 hex characters")
    return key


def generate_key_file(path: Path) -> None:
    """Write a new random key (hex) readable only by the current user."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(os.urandom(32).hex() + "\n")


class LogCipher:
    def __init__(self, key: bytes):
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError as exc:
            raise BackendUnavailableError("log encryption", "cryptography", "secure") from exc
        self._aead = AESGCM(key)
        # Identifies the key without revealing it, so a reader can say "wrong key" plainly.
        self.key_id = hashlib.sha256(b"affectedge-log-key-id" + key).hexdigest()[:16]

    @classmethod
    def from_key_file(cls, path: Path | str) -> "LogCipher":
        return cls(_read_key(Path(path)))

    def seal(self, plaintext: str, aad: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext.encode("utf-8"), aad.encode("ascii"))

    def open(self, blob: bytes, aad: str) -> str:
        from cryptography.exceptions import InvalidTag

        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad.encode("ascii")).decode("utf-8")
        except InvalidTag:
            raise SessionLogError(f"record {aad}: authentication failed (wrong key or tampered record)") from None
