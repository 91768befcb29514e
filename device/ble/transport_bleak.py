"""Transport on bleak: the production path (BlueZ over D-Bus on a Raspberry Pi or Jetson).

Deliberately thin: scanning, connecting and subscribing are bleak calls; everything else (parsing,
timestamps, reconnects, counting) is the shared SensorLink, which CI runs through bumble. bleak is
imported when the transport starts, so the core never needs it. ``client_type``/``scanner_type``
are the seams the tests use to replay recorded notifications where BlueZ cannot run.
"""

from __future__ import annotations

import asyncio
from typing import Callable, Optional

from ..core.extras import require_module
from .transport import BleTransportError, Found, ScanTarget, normalize_address


class BleakLink:
    def __init__(self, client):
        self._client = client

    def _characteristic(self, service: str, characteristic: str):
        svc = self._client.services.get_service(service)
        if svc is None:
            return None
        return svc.get_characteristic(characteristic)

    def has_characteristic(self, service: str, characteristic: str) -> bool:
        return self._characteristic(service, characteristic) is not None

    async def subscribe(self, service: str, characteristic: str, callback: Callable[[bytes], None]) -> None:
        ch = self._characteristic(service, characteristic)
        if ch is None:
            raise BleTransportError(f"no characteristic {characteristic} in service {service}")
        # bleak hands over (characteristic, bytearray); the rest of the stack wants immutable bytes.
        await self._client.start_notify(ch, lambda _sender, data: callback(bytes(data)))

    async def read(self, service: str, characteristic: str) -> bytes:
        ch = self._characteristic(service, characteristic)
        if ch is None:
            raise BleTransportError(f"no characteristic {characteristic} in service {service}")
        return bytes(await self._client.read_gatt_char(ch))

    async def disconnect(self) -> None:
        try:
            await self._client.disconnect()
        except Exception:
            pass


class BleakTransport:
    def __init__(self, adapter: Optional[str] = None, connect_timeout_s: float = 10.0,
                 client_type=None, scanner_type=None):
        self.adapter = adapter
        self.connect_timeout_s = connect_timeout_s
        self._client_type = client_type
        self._scanner_type = scanner_type
        self._scan_lock = asyncio.Lock()  # BlueZ runs one discovery per adapter; sensors take turns

    def _bluez(self) -> dict:
        return {"adapter": self.adapter} if self.adapter else {}

    async def start(self) -> None:
        if self._client_type is None or self._scanner_type is None:
            bleak = require_module("bleak", "ble", "ble")
            self._client_type = self._client_type or bleak.BleakClient
            self._scanner_type = self._scanner_type or bleak.BleakScanner

    async def stop(self) -> None:
        pass

    async def find(self, target: ScanTarget, timeout: float) -> Optional[Found]:
        def match(device, adv) -> bool:
            services = [s.lower() for s in (adv.service_uuids or [])]
            return target.matches(device.address, adv.local_name or device.name, services)

        async with self._scan_lock:
            try:
                device = await self._scanner_type.find_device_by_filter(match, timeout=timeout, bluez=self._bluez())
            except Exception as exc:
                raise BleTransportError(f"scan failed: {type(exc).__name__}: {exc}") from exc
        if device is None:
            return None
        return Found(normalize_address(device.address), device.name, device)

    async def connect(self, found: Found, on_disconnect: Callable[[str], None]) -> BleakLink:
        client = self._client_type(found.handle, disconnected_callback=lambda _c: on_disconnect("link lost"),
                                   timeout=self.connect_timeout_s, bluez=self._bluez())
        try:
            await client.connect()
        except Exception as exc:
            raise BleTransportError(f"connect to {found.address} failed: {type(exc).__name__}: {exc}") from exc
        return BleakLink(client)
