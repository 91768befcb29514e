"""Bluetooth SIG Battery Level (0x2A19): one uint8, percent."""

from __future__ import annotations

from .base import NoOptions, ParseResult, ParserSpec, Reading


class BatteryLevelParser:
    def __init__(self, options: NoOptions | None = None):
        pass

    def reset(self) -> None:
        pass

    def parse(self, payload: bytes) -> ParseResult:
        if len(payload) != 1:
            return ParseResult.reject(f"battery level is 1 byte, got {len(payload)}")
        return ParseResult([Reading("battery", float(payload[0]))])


SPEC = ParserSpec("battery_level", ("battery",), NoOptions, BatteryLevelParser)
