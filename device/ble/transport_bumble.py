"""Transport on bumble's userspace Bluetooth stack, over any HCI transport bumble opens.

Used by CI and `affectedge demo --ble-sim` with ``tcp-client:HOST:PORT`` to a simulated controller
(the link in affectedge.ble.simulator), and usable with a real USB HCI dongle (``usb:0``).
bumble is imported here only, when the transport starts.
"""

from __future__ import annotations

import asyncio
from typing import Callable, Optional

from ..core.extras import require_module
from .transport import BleTransportError, Found, ScanTarget, normalize_address

# The address this central uses on a simulated link (a static random address: top bits 11).
CENTRAL_ADDRESS = "C0:AF:FE:C7:ED:01"


class BumbleLink:
    def __init__(self, connection, peer, uuid_type):
        self._connection = connection
        self._peer = peer
        self._UUID = uuid_type

    def _characteristic(self, service: str, characteristic: str):
        for svc in self._peer.get_services_by_uuid(self._UUID(service)):
            for ch in svc.characteristics:
                if ch.uuid == self._UUID(characteristic):
                    return ch
        return None

    def has_characteristic(self, service: str, characteristic: str) -> bool:
        return self._characteristic(service, characteristic) is not None

    async def subscribe(self, service: str, characteristic: str, callback: Callable[[bytes], None]) -> None:
        ch = self._characteristic(service, characteristic)
        if ch is None:
            raise BleTransportError(f"no characteristic {characteristic} in service {service}")
        await self._peer.subscribe(ch, lambda value: callback(bytes(value)))

    async def read(self, service: str, characteristic: str) -> bytes:
        ch = self._characteristic(service, characteristic)
        if ch is None:
            raise BleTransportError(f"no characteristic {characteristic} in service {service}")
        return bytes(await self._peer.read_value(ch))

    async def disconnect(self) -> None:
        if self._connection.handle not in self._connection.device.connections:
            return  # the peer already dropped the link
        try:
            await asyncio.wait_for(self._connection.disconnect(), timeout=2.0)
        except Exception:  # gone meanwhile: nothing left to release
            pass


class BumbleTransport:
    def __init__(self, hci: str, connect_timeout_s: float = 10.0):
        self.hci = hci
        self.connect_timeout_s = connect_timeout_s
        self._bumble = None
        self._hci_transport = None
        self._device = None
        self._waiters: list[tuple[ScanTarget, asyncio.Future]] = []
        self._scanning = False
        self._scan_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()  # bumble allows one pending LE connection at a time

    async def start(self) -> None:
        require_module("bumble", "ble (bumble transport)", "test")
        from bumble.device import Device
        from bumble.hci import Address
        from bumble.transport import open_transport

        try:
            self._hci_transport = await open_transport(self.hci)
        except Exception as exc:
            raise BleTransportError(f"bumble cannot open HCI transport {self.hci!r}: {exc}") from exc
        self._device = Device.with_hci("affectedge", Address(CENTRAL_ADDRESS), self._hci_transport.source, self._hci_transport.sink)
        self._device.on("advertisement", self._on_advertisement)
        await self._device.power_on()

    async def stop(self) -> None:
        for _, fut in self._waiters:
            if not fut.done():
                fut.cancel()
        if self._device is not None:
            for conn in list(self._device.connections.values()):
                try:
                    await conn.disconnect()
                except Exception:
                    pass
        if self._hci_transport is not None:
            await self._hci_transport.close()

    def _on_advertisement(self, adv) -> None:
        data = adv.data
        services: list[str] = []
        for tag in (data.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, data.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                    data.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, data.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS):
            for uuid in data.get(tag) or []:
                services.append(_uuid128(uuid))
        name = data.get(data.COMPLETE_LOCAL_NAME) or data.get(data.SHORTENED_LOCAL_NAME)
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        address = normalize_address(str(adv.address))
        for target, fut in self._waiters:
            if not fut.done() and target.matches(address, name, services):
                fut.set_result(Found(address, name, adv.address))

    async def _update_scanning(self) -> None:
        async with self._scan_lock:
            want = any(not f.done() for _, f in self._waiters)
            if want and not self._scanning:
                await self._device.start_scanning(filter_duplicates=False)
                self._scanning = True
            elif not want and self._scanning:
                await self._device.stop_scanning()
                self._scanning = False

    async def find(self, target: ScanTarget, timeout: float) -> Optional[Found]:
        fut = asyncio.get_running_loop().create_future()
        entry = (target, fut)
        self._waiters.append(entry)
        try:
            await self._update_scanning()
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            self._waiters.remove(entry)
            if not fut.done():
                fut.cancel()
            await self._update_scanning()

    async def connect(self, found: Found, on_disconnect: Callable[[str], None]) -> BumbleLink:
        from bumble.core import UUID
        from bumble.device import Peer

        async with self._connect_lock:
            try:
                connection = await self._device.connect(found.handle, timeout=self.connect_timeout_s)
            except Exception as exc:
                raise BleTransportError(f"connect to {found.address} failed: {type(exc).__name__}: {exc}") from exc
        connection.on("disconnection", lambda reason: on_disconnect(f"link lost (HCI reason 0x{int(reason):02x})"))
        try:
            peer = Peer(connection)
            await peer.discover_services()
            # Discover every characteristic before subscribing: bumble's subscribe needs them known.
            await peer.discover_characteristics()
        except Exception as exc:
            await BumbleLink(connection, None, UUID).disconnect()
            raise BleTransportError(f"service discovery on {found.address} failed: {type(exc).__name__}: {exc}") from exc
        return BumbleLink(connection, peer, UUID)


def _uuid128(uuid) -> str:
    raw = uuid.to_bytes(force_128=True)[::-1].hex()
    return f"{raw[0:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:32]}"
