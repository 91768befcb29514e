"""Physiology from Bluetooth LE sensors (heart-rate straps, EDA bands), live.

One source owns one adapter and any number of sensors; each sensor is one SensorLink task on the
source's own asyncio loop, on its own thread. ``samples()`` is the blocking iterator the pipeline
pumps. A sensor that never shows up or drops out does not hold up the others: its modality is
simply missing from the windows while it is gone, and events say why.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import Callable, Iterator, Literal, Optional

from pydantic import Field, field_validator, model_validator

from ..ble.profiles import ProfileError, load_profile, normalize_uuid
from ..ble.sensor import ReconnectPolicy, SensorLink
from ..ble.transport import ScanTarget
from ..core.config_base import StrictModel
from ..core.errors import SourceError
from ..core.types import Event, PhysioSample
from ..core.extras import require_module
from .base import SourceBackend

_CLOSED = object()


class BleReconnectConfig(StrictModel):
    initial_s: float = Field(0.5, gt=0, le=60, description="Pause after a drop before scanning again, and after the first failed connect.")
    max_s: float = Field(8.0, gt=0, le=600, description="Longest pause between failed connects (the pause doubles per failure up to this).")
    factor: float = Field(2.0, ge=1, le=10, description="Growth of the pause per consecutive failed connect.")


class BleSensorConfig(StrictModel):
    name: str = Field(description="Label of the sensor in samples and events (e.g. chest_strap).")
    profile: str = Field(description="Sensor profile: a key of firmware_configs/ble/*.yaml (heart_rate, eda_affectedge) or a path to a profile YAML.")
    address: Optional[str] = Field(None, description="Bluetooth address to connect to (AA:BB:CC:DD:EE:FF); without it, the first sensor advertising the profile's service is used.")
    service: Optional[str] = Field(None, description="Advertised service UUID to scan for instead of the profile's advertised_service.")
    name_prefix: Optional[str] = Field(None, description="Only sensors whose advertised name starts with this (e.g. 'Polar H10').")
    scan_timeout_s: float = Field(15.0, gt=0, le=3600, description="Report `sensor_not_found` after scanning this long without seeing the sensor (scanning goes on).")
    reconnect: BleReconnectConfig = Field(default_factory=BleReconnectConfig, description="Back-off between reconnect attempts.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or not all(ch.isalnum() or ch in "_-" for ch in v):
            raise ValueError("must be letters, digits, '_' or '-'")
        return v

    @field_validator("address")
    @classmethod
    def _address(cls, v: Optional[str]) -> Optional[str]:
        if v is None:
            return v
        parts = v.split(":")
        if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts):
            raise ValueError(f"not a Bluetooth address: {v!r} (expected AA:BB:CC:DD:EE:FF)")
        return v.upper()

    @field_validator("service")
    @classmethod
    def _service(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else normalize_uuid(v)

    @field_validator("profile")
    @classmethod
    def _profile(cls, v: str) -> str:
        try:
            load_profile(v)
        except ProfileError as exc:
            raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _findable(self) -> "BleSensorConfig":
        if self.address is None and self.service is None and load_profile(self.profile).advertised_service is None:
            raise ValueError(f"sensor {self.name}: give an address or a service (profile {self.profile} names no advertised_service)")
        return self

    def target(self) -> ScanTarget:
        return ScanTarget(self.address, self.service or load_profile(self.profile).advertised_service, self.name_prefix)


class BleConfig(StrictModel):
    backend: Literal["ble"] = Field(description="Bluetooth LE sensors (heart-rate strap, EDA band), read live.")
    transport: Literal["bleak", "bumble"] = Field("bleak", description="`bleak`: the system's Bluetooth (BlueZ on a Pi/Jetson), the production path. `bumble`: bumble's userspace stack over the HCI transport in `hci` (the simulated sensors in CI and the demo, or a USB dongle).")
    adapter: Optional[str] = Field(None, description="bleak: the BlueZ adapter (hci0); the default adapter when omitted.")
    hci: Optional[str] = Field(None, description="bumble: HCI transport spec, e.g. tcp-client:127.0.0.1:9002 (simulated link) or usb:0.")
    connect_timeout_s: float = Field(10.0, gt=0, le=120, description="Give up one connection attempt after this long (then back off and retry).")
    max_backdate_s: float = Field(0.4, ge=0, le=10, description="Values a packet carries from before it arrived (earlier RR intervals, older EDA samples) are stamped at most this far before arrival, so they reach a window that is still open; keep it below window.allowed_lateness_s.")
    sensors: list[BleSensorConfig] = Field(min_length=1, description="The sensors on this adapter.")

    @model_validator(mode="after")
    def _transport_args(self) -> "BleConfig":
        if self.transport == "bumble" and not self.hci:
            raise ValueError("transport bumble needs hci (e.g. tcp-client:127.0.0.1:9002)")
        if self.transport == "bleak" and self.hci:
            raise ValueError("hci applies to transport bumble; bleak uses adapter")
        names = [s.name for s in self.sensors]
        if len(set(names)) != len(names):
            raise ValueError(f"sensor names must be unique, got {names}")
        return self


class BleSource:
    """Live: the pipeline pumps ``samples()`` on a thread and stamps windows with the same clock.

    It reconnects its sensors itself (scanning can be silent for a long time while a sensor is
    away), so the supervisor does not restart it for being quiet; it can be reopened after close."""

    live = True
    reconnects_itself = True

    def __init__(self, config: BleConfig, name: str = "physiology", transport=None):
        self.config = config
        self.name = name
        self.clock: Callable[[], float] = time.monotonic  # the pipeline sets its own clock before open()
        self._transport = transport  # a test seam; built from the config when None
        self._queue: queue.Queue = queue.Queue()
        self._thread: Optional[threading.Thread] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stopping: Optional[asyncio.Event] = None
        self._links: list[SensorLink] = []
        self._started = threading.Event()
        self._start_error: Optional[BaseException] = None

    # ------------------------------------------------------------------ Source protocol

    def open(self) -> None:
        if self._transport is None:
            self._transport = self._build_transport()
        self._queue = queue.Queue()
        self._links = []
        self._started = threading.Event()
        self._start_error = None
        self._thread = threading.Thread(target=self._thread_main, name=f"ble-{self.name}", daemon=True)
        self._thread.start()
        self._started.wait(timeout=30)
        if self._start_error is not None:
            err = self._start_error
            raise err if isinstance(err, SourceError) else SourceError(f"{self.name}: Bluetooth transport failed to start: {err}")

    def samples(self) -> Iterator[PhysioSample | Event]:
        q = self._queue  # this opening's queue; a reopen makes a new one
        while True:
            item = q.get()
            if item is _CLOSED:
                return
            yield item

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(self._stopping.set)
            thread.join(timeout=10)
        self._queue.put(_CLOSED)

    def status(self) -> dict[str, dict]:
        """Per sensor: state (scanning, absent, connecting, connected, backoff...) and counters."""
        return {link.name: link.status() for link in self._links}

    # ------------------------------------------------------------------ internals

    def _build_transport(self):
        c = self.config
        if c.transport == "bleak":
            require_module("bleak", "ble", "ble")  # fail at startup, not on the source's thread
            from ..ble.transport_bleak import BleakTransport

            return BleakTransport(c.adapter, c.connect_timeout_s)
        require_module("bumble", "ble (transport bumble)", "ble-sim")
        from ..ble.transport_bumble import BumbleTransport

        return BumbleTransport(c.hci, c.connect_timeout_s)

    def _thread_main(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            await self._transport.start()
        except BaseException as exc:  # reported to open(), which raises it on the caller's thread
            self._start_error = exc
            self._started.set()
            return
        for s in self.config.sensors:
            self._links.append(SensorLink(
                s.name, load_profile(s.profile), s.target(), self._transport, self._queue.put, self.clock,
                reconnect=ReconnectPolicy(s.reconnect.initial_s, s.reconnect.max_s, s.reconnect.factor),
                scan_timeout_s=s.scan_timeout_s, max_backdate_s=self.config.max_backdate_s,
            ))
        tasks = [asyncio.create_task(link.run(), name=f"ble-{link.name}") for link in self._links]
        self._started.set()
        await self._stopping.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await asyncio.wait_for(self._transport.stop(), timeout=5)
        except Exception:
            pass


BACKEND = SourceBackend("ble", "physiology", BleConfig, BleSource)
