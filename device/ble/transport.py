"""The transport protocol: the few things a SensorLink needs from a Bluetooth stack.

Two implementations: transport_bleak (production: BlueZ on a Pi/Jetson, CoreBluetooth, WinRT) and
transport_bumble (bumble's userspace stack: the simulated sensors in CI and the demo, or a USB HCI
dongle). Everything above this line is shared, so what CI exercises through bumble is the same
code that runs over bleak on the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Protocol

from ..core.errors import AffectEdgeError


class BleTransportError(AffectEdgeError):
    """The stack refused an operation (connect failed, characteristic missing, link dropped)."""


@dataclass(frozen=True)
class ScanTarget:
    """What to look for: an address, or an advertised service (optionally with a name prefix)."""

    address: Optional[str] = None  # "AA:BB:CC:DD:EE:FF", compared case-insensitively
    service: Optional[str] = None  # normalized 128-bit UUID
    name_prefix: Optional[str] = None

    def matches(self, address: str, name: Optional[str], services: list[str]) -> bool:
        if self.address is not None and normalize_address(address) != normalize_address(self.address):
            return False
        if self.service is not None and self.address is None and self.service not in services:
            return False
        if self.name_prefix is not None and not (name or "").startswith(self.name_prefix):
            return False
        return True

    def describe(self) -> str:
        parts = []
        if self.address:
            parts.append(f"address {self.address}")
        elif self.service:
            parts.append(f"service {self.service}")
        if self.name_prefix:
            parts.append(f"name {self.name_prefix}*")
        return ", ".join(parts)


def normalize_address(address: str) -> str:
    # bumble writes "F0:F1:F2:F3:F4:F5/P" for public addresses; BlueZ plain upper case.
    return str(address).split("/")[0].upper()


@dataclass(frozen=True)
class Found:
    """A sensor seen advertising; ``handle`` is the stack's own object for connecting to it."""

    address: str
    name: Optional[str]
    handle: object


class BleLink(Protocol):
    """One connection to one sensor."""

    def has_characteristic(self, service: str, characteristic: str) -> bool: ...

    async def subscribe(self, service: str, characteristic: str, callback: Callable[[bytes], None]) -> None:
        """Enable notifications; ``callback`` runs on the event loop with each payload."""

    async def read(self, service: str, characteristic: str) -> bytes: ...

    async def disconnect(self) -> None: ...


class BleTransport(Protocol):
    """One adapter; several sensors share it."""

    async def start(self) -> None: ...

    async def find(self, target: ScanTarget, timeout: float) -> Optional[Found]:
        """Scan until ``target`` advertises (return it) or ``timeout`` seconds pass (return None)."""

    async def connect(self, found: Found, on_disconnect: Callable[[str], None]) -> BleLink:
        """Connect and discover services. ``on_disconnect(reason)`` runs once when the link drops."""

    async def stop(self) -> None: ...
