"""The BLE source against simulated sensors on bumble's real stack (controllers on a LocalLink, GATT
over ATT/L2CAP/HCI over TCP), replaying the demo session's real recording."""

from __future__ import annotations

import threading
import time

import pytest

from affectedge.core.clock import ScaledClock
from affectedge.sources.ble import BleConfig, BleSource
from affectedge.core.types import Event, PhysioSample
from affectedge.ble.simulator import (SimulatedLink, eda_band, eda_packets, heart_rate_packets, heart_rate_strap,
                                      read_physio_csv)

pytest.importorskip("bumble", reason="the simulated BLE sensors run on bumble (ble-sim and test extras)")


class Collector:
    """Reads a source's samples() on a thread, remembering when each item arrived."""

    def __init__(self, source: BleSource):
        self.items: list[tuple[float, object]] = []
        self._cv = threading.Condition()
        threading.Thread(target=self._pump, args=(source,), daemon=True).start()

    def _pump(self, source):
        for item in source.samples():
            with self._cv:
                self.items.append((time.monotonic(), item))
                self._cv.notify_all()

    def wait_for(self, predicate, timeout: float, after: float = 0.0):
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for arrived, item in self.items:
                    if arrived >= after and predicate(item):
                        return arrived, item
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"nothing matched within {timeout} s; last items: {[i for _, i in self.items[-5:]]}")
                self._cv.wait(left)

    def events(self, kind, source=None):
        return [i for _, i in self.items if isinstance(i, Event) and i.kind == kind and source in (None, i.source)]

    def samples(self, kind, source=None):
        return [i for _, i in self.items if isinstance(i, PhysioSample) and i.kind == kind and source in (None, i.source)]


def is_sample(kind, source=None):
    return lambda i: isinstance(i, PhysioSample) and i.kind == kind and source in (None, i.source)


def is_event(kind, source=None):
    return lambda i: isinstance(i, Event) and i.kind == kind and source in (None, i.source)


@pytest.fixture
def physio(real_physio_csv):
    return read_physio_csv(real_physio_csv)


@pytest.fixture
def world():
    """A simulated radio link with room for the central and two sensors; everything torn down after."""
    link = SimulatedLink(3)
    specs = link.start()
    made: list = []
    yield link, specs, made
    for thing in reversed(made):
        thing.stop()  # sources (close) are registered as objects with stop() too
    link.stop()


class _Closer:
    def __init__(self, source):
        self.source = source

    def stop(self):
        self.source.close()


def playing_strap(hr_hci: str, physio, made: list, speed: float):
    """The simulated strap serving the session's real heart-rate packets, its clock playing at ``speed``."""
    clock = ScaledClock(speed)
    strap = heart_rate_strap(hr_hci, heart_rate_packets(physio), clock).start()
    made.append(strap)
    clock.start()
    return strap, clock


def ble_source(central: str, sensors: list[dict], made: list, clock=None) -> BleSource:
    cfg = BleConfig.model_validate({"backend": "ble", "transport": "bumble", "hci": central, "sensors": sensors})
    src = BleSource(cfg, "physiology")
    if clock is not None:
        src.clock = clock  # what the pipeline does for a live source
    src.open()
    made.append(_Closer(src))
    return src


def test_sensor_disappears_and_is_notifying_again_within_5_s_of_advertising(world, physio):
    link, (central, hr_hci, _), made = world
    strap, _ = playing_strap(hr_hci, physio, made, speed=2.0)
    src = ble_source(central, [{"name": "chest", "profile": "heart_rate", "reconnect": {"initial_s": 0.2}}], made)
    got = Collector(src)
    got.wait_for(is_sample("hr", "chest"), timeout=10)
    got.wait_for(is_event("battery", "chest"), timeout=5)

    strap.vanish()  # out of range: no advertising, link dropped
    got.wait_for(is_event("disconnected", "chest"), timeout=5)
    time.sleep(1.5)  # gone for a while; the central keeps scanning
    assert src.status()["chest"]["state"] in ("scanning", "backoff")
    advertising_at = strap.reappear()
    back_at, _ = got.wait_for(is_sample("hr", "chest"), timeout=10, after=advertising_at)
    print(f"notifying again {back_at - advertising_at:.2f} s after advertising")
    assert back_at - advertising_at < 5.0
    assert [e.detail["connection"] for e in got.events("connected", "chest")] == [1, 2]
    assert got.events("reconnecting", "chest")
    assert src.status()["chest"]["connections"] == 2


def test_burst_of_malformed_packets_is_counted_and_the_session_goes_on(world, physio):
    link, (central, hr_hci, _), made = world
    strap, _ = playing_strap(hr_hci, physio, made, speed=2.0)
    src = ble_source(central, [{"name": "chest", "profile": "heart_rate"}], made)
    got = Collector(src)
    got.wait_for(is_sample("hr", "chest"), timeout=10)
    garbage = [b"", bytes([0x01, 0x50]), bytes([0x10, 70, 0x00]), bytes([0x08, 70, 1]), bytes([0x00, 70, 1, 2])] * 10
    garbage += [bytes([0x00, 0])] * 5  # well-formed but 0 bpm: implausible, not malformed
    burst_at = time.monotonic()
    strap.inject(garbage)
    got.wait_for(is_sample("hr", "chest"), timeout=5, after=burst_at + 0.5)  # still streaming
    time.sleep(1.5)  # let the rate-limited summary events flush
    st = src.status()["chest"]
    assert st["rejected"]["heart_rate_measurement"] == 50
    assert st["implausible"]["heart_rate_measurement"] == 5
    assert st["parser_errors"] == 0
    assert st["state"] == "connected" and st["connections"] == 1
    malformed = got.events("malformed_packet", "chest")
    assert sum(e.detail["count"] for e in malformed) == 50
    assert len(malformed) < 10  # summarised, not one log line per bad packet
    assert all(e.detail["reason"] for e in malformed)
    assert sum(e.detail["count"] for e in got.events("implausible_value", "chest")) == 5
    assert all(25 <= s.value <= 240 for s in got.samples("hr", "chest"))


def test_two_sensors_at_once_deliver_the_recording(world, physio):
    link, (central, hr_hci, eda_hci), made = world
    clock = ScaledClock(4.0)
    hr_packets, e_packets = heart_rate_packets(physio), eda_packets(physio)
    strap = heart_rate_strap(hr_hci, hr_packets, clock).start()
    band = eda_band(eda_hci, e_packets, clock).start()
    made += [strap, band]
    src = ble_source(central, [{"name": "chest", "profile": "heart_rate"},
                               {"name": "wrist", "profile": "eda_affectedge"}], made, clock)
    got = Collector(src)
    assert strap.subscribed.wait(10) and band.subscribed.wait(10)
    clock.start()  # play from the start once both are listening
    got.wait_for(is_sample("hr", "chest"), timeout=10)
    got.wait_for(is_sample("eda", "wrist"), timeout=10)
    time.sleep(3.0)  # 12 s of recording
    hr = [s.value for s in got.samples("hr", "chest")]
    eda = [s.value for s in got.samples("eda", "wrist")]
    expect_hr = [float(v) for t, v in physio["hr"]]
    expect_eda = [v for t, v in physio["eda"]]
    assert len(hr) >= 8 and hr == expect_hr[:len(hr)]
    assert len(eda) >= 32 and eda == pytest.approx(expect_eda[:len(eda)], rel=1e-6)  # float32 on the air
    st = src.status()
    assert st["wrist"]["lost_packets"]["eda_samples"] == 0 and st["chest"]["connections"] == 1
    # arrival stamps follow the recording's timeline (the clock runs 4x; a packet is stamped on arrival)
    first_hr = got.samples("hr", "chest")[0]
    assert abs(first_hr.t - physio["hr"][0][0]) < 0.5 * clock.speed


def test_sensor_that_never_appears_is_reported_and_the_others_run(world, physio):
    from affectedge.config.app import AppConfig
    from affectedge.service.pipeline import Pipeline

    link, (central, hr_hci, _), made = world
    strap, clock = playing_strap(hr_hci, physio, made, speed=1.0)
    cfg = AppConfig.model_validate({"sources": {"physiology": [{
        "backend": "ble", "transport": "bumble", "hci": central, "sensors": [
            {"name": "chest", "profile": "heart_rate"},
            {"name": "wrist", "profile": "eda_affectedge", "address": "E0:00:00:00:00:99", "scan_timeout_s": 1.0}]}]}})

    class Events:
        def __init__(self):
            self.events, self.windows = [], 0

        def write_window(self, window, estimates):
            self.windows += 1

        def write_event(self, event):
            self.events.append(event)

        def close(self):
            pass

    sink = Events()
    from affectedge.service.assembly import build_sources

    pipeline = Pipeline(cfg, build_sources(cfg), [], [sink], clock=clock)
    stop = threading.Event()
    runner = threading.Thread(target=pipeline.run, args=(stop,), daemon=True)
    runner.start()
    time.sleep(4.0)
    status = pipeline.sources[0].status()
    stop.set()
    runner.join(timeout=15)
    assert not runner.is_alive()
    missing = [e for e in sink.events if e.kind == "sensor_not_found"]
    assert len(missing) == 1 and missing[0].source == "wrist"
    assert "E0:00:00:00:00:99" in missing[0].detail["looked_for"] and missing[0].detail["still_scanning"]
    assert status["wrist"]["state"] == "absent" and status["chest"]["state"] == "connected"
    assert pipeline.stats.samples["PhysioSample"] >= 3  # the strap kept feeding the windows
    assert sink.windows >= 5  # windows keep closing on the clock
