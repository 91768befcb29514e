"""One sensor's life: find it, connect, subscribe, stamp and decode notifications, survive drops.

A SensorLink runs as one asyncio task per configured sensor on the BLE source's event loop. It only
talks to the BleTransport protocol, so the same code runs over bumble in CI and over bleak on the
device. Everything it has to say goes through ``emit`` as PhysioSamples and Events.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Optional

from ..core.types import Event, PhysioSample
from .decoder import CharacteristicDecoder
from .profiles import CharacteristicProfile, SensorProfile
from .transport import BleLink, BleTransport, BleTransportError, ScanTarget

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconnectPolicy:
    initial_s: float = 0.5
    max_s: float = 8.0
    factor: float = 2.0

    def delay(self, failures: int) -> float:
        """Pause before the next try after ``failures`` consecutive failed connects (0 after a drop)."""
        return min(self.max_s, self.initial_s * self.factor ** max(0, failures))


class _EventLimiter:
    """At most one event per kind per ``period_s``; the events in between are summed into the next.

    A sensor spewing garbage at 100 Hz must not flood the session log, and no count may be lost."""

    def __init__(self, period_s: float = 1.0):
        self.period_s = period_s
        self._last: dict[str, float] = {}
        self._pending: dict[str, tuple[int, dict]] = {}

    def offer(self, kind: str, now: float, detail: dict) -> Optional[dict]:
        count, _ = self._pending.get(kind, (0, {}))
        self._pending[kind] = (count + 1, detail)
        if now - self._last.get(kind, -1e9) >= self.period_s:
            return self._take(kind, now)
        return None

    def due(self, now: float, force: bool = False) -> list[tuple[str, dict]]:
        return [(k, self._take(k, now)) for k in list(self._pending) if force or now - self._last.get(k, -1e9) >= self.period_s]

    def _take(self, kind: str, now: float) -> dict:
        count, detail = self._pending.pop(kind)
        self._last[kind] = now
        return {**detail, "count": count}


class SensorLink:
    def __init__(self, name: str, profile: SensorProfile, target: ScanTarget, transport: BleTransport,
                 emit: Callable[[object], None], clock: Callable[[], float], *,
                 reconnect: ReconnectPolicy = ReconnectPolicy(), scan_timeout_s: float = 15.0,
                 max_backdate_s: float = 0.4):
        self.name = name
        self.profile = profile
        self.target = target
        self.transport = transport
        self.emit = emit
        self.clock = clock
        self.reconnect = reconnect
        self.scan_timeout_s = scan_timeout_s
        self.max_backdate_s = max_backdate_s
        self.decoders = {c.name: CharacteristicDecoder(c) for c in profile.characteristics}
        self.state = "idle"
        self.connections = 0
        self.samples: Counter = Counter()  # kind -> delivered
        self._limiter = _EventLimiter()
        self._last_notify = 0.0

    # ------------------------------------------------------------------ public

    def status(self) -> dict:
        """State and counters, for the service status and tests."""
        return {
            "state": self.state,
            "connections": self.connections,
            "samples": dict(self.samples),
            "payloads": {k: d.payloads for k, d in self.decoders.items()},
            "rejected": {k: sum(d.rejected.values()) for k, d in self.decoders.items()},
            "implausible": {k: sum(d.implausible.values()) for k, d in self.decoders.items()},
            "lost_packets": {k: d.lost_packets for k, d in self.decoders.items()},
            "parser_errors": sum(d.parser_errors for d in self.decoders.values()),
        }

    async def run(self) -> None:
        """Until cancelled: scan, connect, stream, and after any drop or failure start again."""
        failures = 0
        absent_since: Optional[float] = None
        reported_absent = False
        try:
            while True:
                self.state = "scanning" if not reported_absent else "absent"
                loop = asyncio.get_running_loop()
                absent_since = absent_since if absent_since is not None else loop.time()
                try:
                    found = await self.transport.find(self.target, timeout=self.scan_timeout_s)
                except BleTransportError as exc:
                    failures += 1
                    await self._pause("scan_failed", str(exc), failures)
                    continue
                if found is None:
                    if not reported_absent:
                        reported_absent = True
                        self.state = "absent"
                        self._event("sensor_not_found", looked_for=self.target.describe(),
                                    waited_s=round(loop.time() - absent_since, 1), still_scanning=True)
                    continue
                absent_since, reported_absent = None, False
                self.state = "connecting"
                dropped = asyncio.Event()
                why: list[str] = []

                def on_disconnect(reason: str) -> None:
                    why.append(reason)
                    loop.call_soon_threadsafe(dropped.set)

                link: Optional[BleLink] = None
                try:
                    link = await self.transport.connect(found, on_disconnect)
                    await self._subscribe(link)
                except (BleTransportError, asyncio.TimeoutError) as exc:
                    if link is not None:
                        await link.disconnect()
                    failures += 1
                    await self._pause("connect_failed", str(exc) or type(exc).__name__, failures)
                    continue
                failures = 0
                self.connections += 1
                self.state = "connected"
                self._event("connected", address=found.address, name=found.name, connection=self.connections)
                reason = await self._stream(link, dropped, why)
                self.state = "disconnected"
                self._event("disconnected", reason=reason)
                await self._pause("reconnecting", reason, 0)
        except asyncio.CancelledError:
            self.state = "stopped"
            raise

    # ------------------------------------------------------------------ connection

    async def _subscribe(self, link: BleLink) -> None:
        self._last_notify = asyncio.get_running_loop().time()
        for decoder in self.decoders.values():
            decoder.reset()  # a sequence counter restarts with the connection
        for c in self.profile.characteristics:
            if not link.has_characteristic(c.service, c.characteristic):
                if c.required:
                    raise BleTransportError(f"sensor lacks {c.name} ({c.characteristic}) required by profile {self.profile.name}")
                continue
            if c.access == "notify":
                await link.subscribe(c.service, c.characteristic, self._notified(c))
            else:
                await self._read(link, c)

    def _notified(self, c: CharacteristicProfile) -> Callable[[bytes], None]:
        def callback(payload: bytes) -> None:
            t = self.clock()  # stamp first: nothing below may delay the arrival time
            self._last_notify = asyncio.get_running_loop().time()
            self._deliver(c, payload, t)

        return callback

    async def _read(self, link: BleLink, c: CharacteristicProfile) -> None:
        try:
            payload = await link.read(c.service, c.characteristic)
        except BleTransportError as exc:
            self._event("read_failed", characteristic=c.name, reason=str(exc))
            return
        self._deliver(c, payload, self.clock())

    async def _stream(self, link: BleLink, dropped: asyncio.Event, why: list[str]) -> str:
        """Wait for the link to drop (or stall); meanwhile poll periodic reads and flush counts."""
        loop = asyncio.get_running_loop()
        notify = [c for c in self.profile.characteristics if c.access == "notify" and c.expected_rate_hz]
        stall_s = max([5.0] + [10.0 / c.expected_rate_hz for c in notify])
        polls = {c.name: loop.time() + c.read_every_s for c in self.profile.characteristics
                 if c.access == "read" and c.read_every_s and link.has_characteristic(c.service, c.characteristic)}
        try:
            while True:
                try:
                    await asyncio.wait_for(dropped.wait(), timeout=0.25)
                    return why[0] if why else "link lost"
                except asyncio.TimeoutError:
                    pass
                now = loop.time()
                self._flush_counts(now)
                if now - self._last_notify > stall_s:
                    return f"stalled: no notification for {stall_s:g} s"
                for c in self.profile.characteristics:
                    if c.name in polls and now >= polls[c.name]:
                        polls[c.name] = now + c.read_every_s
                        await self._read(link, c)
        finally:
            self._flush_counts(loop.time(), force=True)
            if not dropped.is_set():
                await link.disconnect()

    async def _pause(self, kind: str, reason: str, failures: int) -> None:
        delay = self.reconnect.delay(failures - 1) if failures else self.reconnect.initial_s
        self.state = "backoff"
        self._event(kind, reason=reason, retry_in_s=round(delay, 3), failures=failures)
        await asyncio.sleep(delay)

    # ------------------------------------------------------------------ payloads

    def _deliver(self, c: CharacteristicProfile, payload: bytes, t: float) -> None:
        out = self.decoders[c.name].decode(payload, t)
        now = asyncio.get_running_loop().time()
        if out.rejection is not None:
            log.debug("%s %s: rejected %s: %s", self.name, c.name, payload[:32].hex(), out.rejection)
            detail = self._limiter.offer("malformed_packet", now, {"characteristic": c.name, "reason": out.rejection, "payload": payload[:32].hex()})
            if detail is not None:
                self._event("malformed_packet", **detail)
            return
        if out.implausible:
            detail = self._limiter.offer("implausible_value", now, {"characteristic": c.name, "reason": out.implausible[-1]})
            if detail is not None:
                self._event("implausible_value", **detail)
        if out.lost_packets:
            self._event("packets_lost", characteristic=c.name, count=out.lost_packets)
        # Values a packet carries from before its arrival go at most max_backdate_s back, so they
        # land in a window the pipeline still has open; the values themselves are unchanged.
        earliest = t - self.max_backdate_s
        for kind, vt, value in sorted(out.values, key=lambda x: x[1]):
            if kind == "battery":
                self._event("battery", level=value, characteristic=c.name)
                continue
            self.samples[kind] += 1
            self.emit(PhysioSample(max(vt, earliest), kind, value, self.name))

    def _flush_counts(self, now: float, force: bool = False) -> None:
        for kind, detail in self._limiter.due(now, force):
            self._event(kind, **detail)

    def _event(self, kind: str, **detail) -> None:
        self.emit(Event(self.clock(), kind, self.name, detail))
