"""Bluetooth SIG Heart Rate Measurement (0x2A37), Heart Rate Service spec v1.0 section 3.1.

flags (uint8): bit0 heart rate is uint16 (else uint8); bit1 sensor contact detected; bit2 sensor
contact supported; bit3 energy expended (uint16, kJ) present; bit4 RR intervals present; bits 5-7
reserved. Then heart rate, energy expended if flagged, then any number of uint16 RR intervals in
1/1024 s, oldest first. All little-endian.
"""

from __future__ import annotations

from .base import NoOptions, ParseResult, ParserSpec, Reading


class HeartRateMeasurementParser:
    def __init__(self, options: NoOptions | None = None):
        pass

    def reset(self) -> None:
        pass

    def parse(self, payload: bytes) -> ParseResult:
        n = len(payload)
        if n == 0:
            return ParseResult.reject("empty payload")
        flags = payload[0]
        hr_size = 2 if flags & 0x01 else 1
        need = 1 + hr_size + (2 if flags & 0x08 else 0)
        if n < need:
            return ParseResult.reject(f"{n} bytes, flags 0x{flags:02x} need at least {need}")
        hr = int.from_bytes(payload[1:1 + hr_size], "little")
        pos = need  # energy expended (if flagged) is skipped: no analysis uses it
        rest = n - pos
        if not flags & 0x10:
            if rest:
                return ParseResult.reject(f"{rest} unexpected bytes after the heart rate (RR flag not set)")
            rr_raw: list[int] = []
        elif rest % 2:
            return ParseResult.reject(f"RR field of {rest} bytes is not a whole number of uint16 intervals")
        else:
            rr_raw = [int.from_bytes(payload[i:i + 2], "little") for i in range(pos, n, 2)]
        readings = [Reading("hr", float(hr))]
        if flags & 0x04:
            readings.append(Reading("contact", 1.0 if flags & 0x02 else 0.0))
        # The packet goes out after the last beat: the last interval ends at arrival, each earlier
        # one ends where the following interval starts.
        end = 0.0
        for raw in reversed(rr_raw):
            rr = raw / 1024.0
            readings.append(Reading("rr", rr, end))
            end -= rr
        return ParseResult(readings)


SPEC = ParserSpec("heart_rate_measurement", ("hr", "rr", "contact"), NoOptions, HeartRateMeasurementParser)
