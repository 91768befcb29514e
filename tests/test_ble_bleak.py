"""The bleak transport (production path) driven by recorded notifications.

BlueZ cannot run here (no Bluetooth in the kernel), so bleak's scanner and client are replaced at
the one seam that needs a radio by replays: the scanner 'sees' the advertisement recorded from the
simulated strap, and the client plays the Heart Rate Measurement payloads of the demo session's
real recording into bleak's own notification callback signature, then drops the link. Everything
above (BleakTransport, SensorLink, decoding, events, reconnect) is the production code.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from affectedge.ble.profiles import load_profile, normalize_uuid
from affectedge.ble.sensor import ReconnectPolicy, SensorLink
from affectedge.ble.transport_bleak import BleakTransport
from affectedge.core.types import Event, PhysioSample
from affectedge.ble.simulator import HR_ADDRESS, heart_rate_packets, read_physio_csv

HRM = normalize_uuid("2A37")
BATTERY = normalize_uuid("2A19")


class RecordedScanner:
    """bleak.BleakScanner.find_device_by_filter over one recorded advertisement."""

    calls = 0

    @classmethod
    async def find_device_by_filter(cls, filterfunc, timeout=10.0, **kwargs):
        cls.calls += 1
        device = SimpleNamespace(address=HR_ADDRESS.lower(), name="HRsim")
        adv = SimpleNamespace(local_name="HRsim", service_uuids=[normalize_uuid("180D")])
        return device if filterfunc(device, adv) else None


def recorded_client(payloads: list[bytes], connections: list):
    class RecordedClient:
        """bleak.BleakClient replaying notifications with bleak's (characteristic, bytearray) signature."""

        def __init__(self, device, disconnected_callback=None, timeout=10.0, bluez=None):
            self._on_disconnect = disconnected_callback
            chars = {HRM: SimpleNamespace(uuid=HRM), BATTERY: SimpleNamespace(uuid=BATTERY)}
            services = {normalize_uuid("180D"): {HRM}, normalize_uuid("180F"): {BATTERY}}

            class Services:
                def get_service(self, uuid):
                    if uuid not in services:
                        return None
                    return SimpleNamespace(get_characteristic=lambda c: chars[c] if c in services[uuid] else None)

            self.services = Services()
            connections.append(self)

        async def connect(self):
            pass

        async def read_gatt_char(self, ch):
            return bytearray([64])

        async def start_notify(self, ch, callback):
            async def play():
                for p in payloads:
                    callback(ch, bytearray(p))
                    await asyncio.sleep(0.001)
                self._on_disconnect(self)  # the strap walks away after the recording

            asyncio.get_running_loop().create_task(play())

        async def disconnect(self):
            pass

    return RecordedClient


def test_bleak_transport_streams_recorded_notifications_and_reconnects(real_physio_csv):
    physio = read_physio_csv(real_physio_csv)
    payloads = [p for _, p in heart_rate_packets(physio)]
    payloads.insert(10, b"\x10\x46\x00")  # one corrupted packet in the stream
    connections: list = []
    out: list = []
    transport = BleakTransport("hci0", client_type=recorded_client(payloads, connections), scanner_type=RecordedScanner)
    link = SensorLink("chest", load_profile("heart_rate"), _target(), transport, out.append, clock=lambda: 100.0,
                      reconnect=ReconnectPolicy(initial_s=0.05))

    async def run():
        await transport.start()
        task = asyncio.create_task(link.run())
        while len(connections) < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run())
    hr = [s.value for s in out if isinstance(s, PhysioSample) and s.kind == "hr"]
    rr = [s.value for s in out if isinstance(s, PhysioSample) and s.kind == "rr"]
    # the first connection delivered the whole recording, the second started it again
    assert hr[:len(physio["hr"])] == [float(v) for _, v in physio["hr"]]
    sent_rr = [v for t, v in physio["rr"] if t <= physio["hr"][-1][0]]
    assert rr[:len(sent_rr)] == sent_rr  # the recording's RR is in 1/1024 s already: exact
    kinds = [e.kind for e in out if isinstance(e, Event)]
    assert kinds[:2] == ["battery", "connected"]
    assert "disconnected" in kinds and "reconnecting" in kinds and kinds.count("connected") >= 2
    malformed = [e.detail for e in out if isinstance(e, Event) and e.kind == "malformed_packet"]
    assert malformed and all(d["count"] == 1 and "not a whole number" in d["reason"] for d in malformed)  # once per replay
    assert link.status()["rejected"]["heart_rate_measurement"] == len(malformed)
    assert link.status()["parser_errors"] == 0


def _target():
    from affectedge.ble.transport import ScanTarget

    return ScanTarget(service=normalize_uuid("180D"))
