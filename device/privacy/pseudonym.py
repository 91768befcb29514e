"""The subject pseudonym: HMAC-SHA256 of the subject id under a per-device secret.

One definition for every place that names a person (baseline profiles, session logs, published
summaries): the first 64 bits in hex. Stable on one device, not reversible without its secret,
and different on another device, so two devices' data cannot be joined by the pseudonym alone.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from ..core.errors import AffectEdgeError

PSEUDONYM_PATTERN = r"^[0-9a-f]{16}$"


class PseudonymSecretError(AffectEdgeError):
    """The per-device pseudonym secret cannot be read or created."""


def load_or_create_secret(path: Path | str) -> bytes:
    """The per-device key: read it, or create 32 random bytes (hex, mode 0600) the first time."""
    path = Path(path)
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: two processes starting at once cannot both write a different key.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
        key = path.read_bytes().strip()
    except FileExistsError:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise PseudonymSecretError(f"{path}: cannot read or create the pseudonym secret ({exc.strerror})") from None
    if len(key) < 16:
        raise PseudonymSecretError(f"{path}: the pseudonym secret is shorter than 16 bytes")
    return key


def pseudonym(subject_id: str, key: bytes) -> str:
    """HMAC-SHA256(key, subject_id), first 64 bits in hex."""
    if not subject_id:
        raise ValueError("the subject id is empty")
    return hmac.new(key, subject_id.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
