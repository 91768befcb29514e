"""Text files from outside: decoded as UTF-8 (a byte-order mark dropped), or refused naming the
file, the line and the byte. One decoder for every reader (config YAML, physiology formats)."""

from __future__ import annotations

from pathlib import Path


class NotTextError(ValueError):
    """The bytes are not UTF-8; the message is ``FILE:LINE: not UTF-8 text: byte 0xNN at offset K``."""


def decode_utf8(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise NotTextError(f"{path}:{line}: not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start}") from None
