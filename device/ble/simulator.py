"""Simulated BLE sensors on bumble's real Bluetooth stack, replaying a real physiology recording.

- SimulatedLink: a bumble LocalLink with one simulated controller per host, each served over TCP on
  localhost; every host (a sensor, or affectedge's central with `transport: bumble`) connects to its
  own controller with ``tcp-client:127.0.0.1:PORT``.
- SimulatedSensor: a bumble peripheral that advertises, serves GATT and notifies. Made by
  heart_rate_strap() (bumble's own HeartRateService + BatteryService, so the bytes come from an
  encoder that is not ours) or eda_band() (the affectedge EDA profile, docs/ble.md).
- The packets come from a physio CSV (t,kind,value; the demo session's physio.csv, derived from
  systole's real ECG/EDA), sent when a shared clock passes each packet's time.

Run `python -m affectedge.ble.simulator --physio physio.csv` to serve both sensors for a manual
`affectedge run` with a bumble-transport config; it prints the hci spec to use.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import socket
import struct
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from affectedge.ble.profiles import load_profile
from affectedge.core.clock import ScaledClock

HR_ADDRESS = "E0:48:52:00:00:01"  # static random addresses (top two bits set)
EDA_ADDRESS = "E0:ED:A0:00:00:02"

Packet = tuple[float, bytes]


# ---------------------------------------------------------------- recording -> packets


def read_physio_csv(path: Path) -> dict[str, list[tuple[float, float]]]:
    """Rows of a t,kind,value CSV grouped by kind, sorted by t."""
    out: dict[str, list[tuple[float, float]]] = {}
    with Path(path).open(newline="") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["kind"].strip(), []).append((float(row["t"]), float(row["value"])))
    for rows in out.values():
        rows.sort()
    return out


def heart_rate_packets(physio: dict[str, list[tuple[float, float]]]) -> list[Packet]:
    """Heart Rate Measurement notifications, one per hr row, each carrying the RR intervals that
    ended since the previous one; encoded by bumble's HeartRateService (energy expended every 10th)."""
    from bumble.profiles.heart_rate_service import HeartRateService

    rr = physio.get("rr", [])
    hr = physio.get("hr") or [(t, 60.0 / v) for t, v in rr if v > 0]
    packets: list[Packet] = []
    j = 0
    for i, (t, bpm) in enumerate(hr):
        intervals = []
        while j < len(rr) and rr[j][0] <= t:
            if 0 < rr[j][1] * 1024 <= 0xFFFF:
                intervals.append(rr[j][1])
            j += 1
        m = HeartRateService.HeartRateMeasurement(
            heart_rate=int(round(bpm)), sensor_contact_detected=True,
            energy_expended=i // 10 if i % 10 == 0 else None, rr_intervals=intervals or None)
        packets.append((t, bytes(m)))
    return packets


def eda_packets(physio: dict[str, list[tuple[float, float]]], profile: str = "eda_affectedge") -> list[Packet]:
    """The EDA recording resampled to the profile's rate and cut into sequenced packets of one second."""
    ch = next(c for c in load_profile(profile).characteristics if c.parser == "eda_sequenced")
    opts = ch.parser_options()
    rows = physio.get("eda", [])
    if len(rows) < 2:
        return []
    t, v = np.array(rows).T
    grid = np.arange(t[0], t[-1], 1.0 / opts.sample_rate_hz)
    values = np.interp(grid, t, v)
    per_packet = max(1, min(opts.max_samples, int(round(opts.sample_rate_hz))))
    packets: list[Packet] = []
    for seq, start in enumerate(range(0, len(grid) - per_packet + 1, per_packet)):
        chunk = values[start:start + per_packet]
        if opts.encoding == "float32":
            body = struct.pack(f"<{len(chunk)}f", *chunk)
        else:
            body = struct.pack(f"<{len(chunk)}H", *np.round(chunk / opts.uint16_scale_us).astype(int))
        packets.append((float(grid[start + per_packet - 1]), struct.pack("<H", seq % 65536) + body))
    return packets


# ---------------------------------------------------------------- a loop on its own thread


class _LoopThread:
    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, coro, timeout: float = 20.0):
        fut: Future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    def shutdown(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


# ---------------------------------------------------------------- the link


class SimulatedLink:
    """bumble controllers on one LocalLink, each behind a TCP server on 127.0.0.1."""

    def __init__(self, hosts: int):
        self.hosts = hosts
        self.specs: list[str] = []
        self._lt: Optional[_LoopThread] = None
        self._transports: list = []

    def start(self) -> list[str]:
        """Start; return one ``tcp-client:127.0.0.1:PORT`` spec per host."""
        self._lt = _LoopThread("ble-sim-link")
        self._lt.call(self._start())
        return self.specs

    async def _start(self) -> None:
        from bumble.controller import Controller
        from bumble.link import LocalLink
        from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

        link = LocalLink()
        for i in range(self.hosts):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))  # the OS picks a free port: no clashes between test runs
            transport = await open_tcp_server_transport_with_socket(sock)
            self._transports.append(transport)
            Controller(f"C{i}", host_source=transport.source, host_sink=transport.sink, link=link)
            self.specs.append(f"tcp-client:127.0.0.1:{sock.getsockname()[1]}")

    def stop(self) -> None:
        if self._lt is not None:
            for t in self._transports:
                try:
                    self._lt.call(t.close(), timeout=5)
                except Exception:
                    pass
            self._lt.shutdown()
            self._lt = None


# ---------------------------------------------------------------- a sensor


class SimulatedSensor:
    """A bumble peripheral replaying ``packets`` on ``clock``; thread-safe controls for tests."""

    def __init__(self, name: str, address: str, hci: str, services_factory: Callable[[], tuple[list, object]],
                 advertised: list[str], packets: list[Packet], clock: Callable[[], float], battery_level: int = 87):
        self.name = name
        self.address = address
        self.hci = hci
        self._services_factory = services_factory
        self._advertised = advertised
        self.packets = packets
        self.clock = clock
        self.battery_level = battery_level
        self.sent = 0
        self.skipped = 0  # packets that fell due while the sensor was away
        self.subscribed = threading.Event()
        self.finished = threading.Event()
        self._present = True
        self._lt: Optional[_LoopThread] = None
        self._device = None
        self._char = None
        self._transport = None
        self._task = None

    def start(self) -> "SimulatedSensor":
        self._lt = _LoopThread(f"ble-sim-{self.name}")
        self._lt.call(self._start())
        return self

    async def _start(self) -> None:
        from bumble.core import UUID, AdvertisingData
        from bumble.device import Device
        from bumble.hci import Address
        from bumble.transport import open_transport

        self._transport = await open_transport(self.hci)
        dev = Device.with_hci(self.name, Address(self.address), self._transport.source, self._transport.sink)
        services, self._char = self._services_factory(self)
        for s in services:
            dev.add_service(s)
        fields = [(AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode())]
        for u in self._advertised:
            uuid = UUID(u)
            tag = (AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS if len(uuid.to_bytes()) == 2
                   else AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS)
            fields.append((tag, uuid.to_bytes()))
        dev.advertising_data = bytes(AdvertisingData(fields))
        dev.advertising_interval_min = dev.advertising_interval_max = 50  # ms: quick to find in tests
        dev.on("characteristic_subscription", lambda conn, ch, notify, indicate: notify and self.subscribed.set())
        self._device = dev
        await dev.power_on()
        await dev.start_advertising(auto_restart=True)
        self._task = asyncio.get_running_loop().create_task(self._play())

    async def _play(self) -> None:
        for t, payload in self.packets:
            while self.clock() < t:
                await asyncio.sleep(0.005)
            if self._present and self._device.connections:
                await self._device.notify_subscribers(self._char, payload)
                self.sent += 1
            else:
                self.skipped += 1
        self.finished.set()

    # -- controls (any thread)

    def vanish(self) -> None:
        """Walk out of range: stop advertising and drop every connection."""
        async def go():
            self._present = False
            await self._device.stop_advertising()  # first, or auto_restart would advertise again
            for conn in list(self._device.connections.values()):
                await conn.disconnect()
        self._lt.call(go())
        self.subscribed.clear()

    def reappear(self) -> float:
        """Come back in range; return time.monotonic() when advertising started."""
        async def go() -> float:
            await self._device.start_advertising(auto_restart=True)
            self._present = True
            return time.monotonic()
        return self._lt.call(go())

    def inject(self, payloads: list[bytes]) -> None:
        """Notify these raw payloads now (malformed-packet scenarios)."""
        async def go():
            for p in payloads:
                await self._device.notify_subscribers(self._char, p)
        self._lt.call(go())

    def stop(self) -> None:
        if self._lt is None:
            return
        async def go():
            if self._task is not None:
                self._task.cancel()
            try:
                await self._device.stop_advertising()
                for conn in list(self._device.connections.values()):
                    await conn.disconnect()
            except Exception:
                pass
            await self._transport.close()
        try:
            self._lt.call(go(), timeout=5)
        except Exception:
            pass
        self._lt.shutdown()
        self._lt = None


def heart_rate_strap(hci: str, packets: list[Packet], clock: Callable[[], float], name: str = "HRsim",
                     address: str = HR_ADDRESS) -> SimulatedSensor:
    """A standard strap: bumble's HeartRateService (chest) and BatteryService."""
    def services(sensor: SimulatedSensor):
        from bumble.profiles.battery_service import BatteryService
        from bumble.profiles.heart_rate_service import HeartRateService

        hrs = HeartRateService(
            read_heart_rate_measurement=lambda conn: HeartRateService.HeartRateMeasurement(70),
            body_sensor_location=HeartRateService.BodySensorLocation.CHEST)
        bas = BatteryService(read_battery_level=lambda conn: sensor.battery_level)
        return [hrs, bas], hrs.heart_rate_measurement_characteristic

    return SimulatedSensor(name, address, hci, services, ["180D"], packets, clock)


def eda_band(hci: str, packets: list[Packet], clock: Callable[[], float], name: str = "EDAsim",
             address: str = EDA_ADDRESS, profile: str = "eda_affectedge") -> SimulatedSensor:
    """A band serving the affectedge EDA profile (service and characteristic UUIDs from the YAML)."""
    ch = next(c for c in load_profile(profile).characteristics if c.parser == "eda_sequenced")

    def services(sensor: SimulatedSensor):
        from bumble import gatt
        from bumble.profiles.battery_service import BatteryService

        eda = gatt.Characteristic(ch.characteristic, gatt.Characteristic.Properties.NOTIFY,
                                  gatt.Characteristic.READABLE, b"")
        bas = BatteryService(read_battery_level=lambda conn: sensor.battery_level)
        return [gatt.Service(ch.service, [eda]), bas], eda

    return SimulatedSensor(name, address, hci, services, [ch.service], packets, clock)


# ---------------------------------------------------------------- command line


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description="Serve a simulated heart-rate strap and EDA band over a bumble link.")
    p.add_argument("--physio", type=Path, required=True, help="t,kind,value CSV with hr/rr/eda rows")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed (1 = the recording's own pace)")
    args = p.parse_args(argv)
    physio = read_physio_csv(args.physio)
    link = SimulatedLink(3)
    central, hr_hci, eda_hci = link.start()
    clock = ScaledClock(args.speed)
    sensors = [heart_rate_strap(hr_hci, heart_rate_packets(physio), clock).start(),
               eda_band(eda_hci, eda_packets(physio), clock).start()]
    clock.start()
    print(f"simulated sensors up; configure the central with: transport: bumble, hci: {central}", flush=True)
    try:
        while not all(s.finished.is_set() for s in sensors):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    for s in sensors:
        s.stop()
    link.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
