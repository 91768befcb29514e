"""Payload parsers: exact decoding of the standard formats, and totality under fuzzing."""

from __future__ import annotations

import math
import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from affectedge.ble.decoder import CharacteristicDecoder
from affectedge.ble.parsers import PARSERS
from affectedge.ble.parsers.eda_sequenced import EdaSequencedOptions, EdaSequencedParser
from affectedge.ble.parsers.heart_rate import HeartRateMeasurementParser
from affectedge.ble.profiles import load_profile
from affectedge.ble.simulator import eda_packets, heart_rate_packets, read_physio_csv

HRM = load_profile("heart_rate").characteristics[0]
EDA = load_profile("eda_affectedge").characteristics[0]
BATTERY = load_profile("heart_rate").characteristics[1]


def kinds(result):
    return [(r.kind, r.value) for r in result.readings]


def test_uint8_heart_rate_with_contact_and_rr_intervals():
    # flags 0x16: contact supported + detected, RR present; hr 76; RR 0x0333, 0x033d (1/1024 s)
    r = HeartRateMeasurementParser().parse(bytes([0x16, 76, 0x33, 0x03, 0x3D, 0x03]))
    assert r.rejection is None
    assert kinds(r) == [("hr", 76.0), ("contact", 1.0), ("rr", 0x033D / 1024), ("rr", 0x0333 / 1024)]
    # the last interval ends at arrival, the one before ends where the last began
    assert [x.offset_s for x in r.readings if x.kind == "rr"] == [0.0, -0x033D / 1024]


def test_uint16_heart_rate_energy_expended_and_no_contact():
    # flags 0x0d: uint16 hr, contact supported but not detected, energy expended present
    r = HeartRateMeasurementParser().parse(bytes([0x0D]) + struct.pack("<HH", 301, 1234))
    assert kinds(r) == [("hr", 301.0), ("contact", 0.0)]


@pytest.mark.parametrize("payload, reason", [
    (b"", "empty payload"),
    (bytes([0x01, 0x50]), "need at least 3"),
    (bytes([0x08, 70, 0x01]), "need at least 4"),
    (bytes([0x10, 70, 0x00, 0x04, 0x01]), "not a whole number"),
    (bytes([0x00, 70, 0x99]), "unexpected bytes"),
])
def test_broken_heart_rate_payloads_are_rejected_with_the_reason(payload, reason):
    r = HeartRateMeasurementParser().parse(payload)
    assert r.readings == [] and reason in r.rejection


def test_bumble_encoded_measurements_round_trip(real_physio_csv):
    """bumble's own HeartRateService encoder (not ours) against our parser, on a real recording."""
    from bumble.profiles.heart_rate_service import HeartRateService

    packets = heart_rate_packets(read_physio_csv(real_physio_csv))
    assert len(packets) > 80
    parser = HeartRateMeasurementParser()
    for _, payload in packets:
        ours = parser.parse(payload)
        theirs = HeartRateService.HeartRateMeasurement.from_bytes(payload)
        assert ours.rejection is None
        assert [r.value for r in ours.readings if r.kind == "hr"] == [theirs.heart_rate]
        assert [r.value for r in ours.readings if r.kind == "rr"] == list(reversed(theirs.rr_intervals or []))


def test_eda_float32_and_uint16_with_sequence_gaps():
    p = EdaSequencedParser(EdaSequencedOptions(encoding="float32", sample_rate_hz=4))
    r = p.parse(struct.pack("<H4f", 7, 6.5, 6.6, 6.7, 6.8))
    assert [round(x.value, 3) for x in r.readings] == [6.5, 6.6, 6.7, 6.8]
    assert [x.offset_s for x in r.readings] == [-0.75, -0.5, -0.25, 0.0]
    assert p.parse(struct.pack("<Hf", 10, 6.9)).lost_packets == 2  # 8 and 9 never came
    assert "repeated" in p.parse(struct.pack("<Hf", 10, 6.9)).rejection
    assert "goes back" in p.parse(struct.pack("<Hf", 3, 6.9)).rejection
    p.reset()  # a new connection restarts the counter
    assert p.parse(struct.pack("<Hf", 3, 6.9)).rejection is None
    q = EdaSequencedParser(EdaSequencedOptions(encoding="uint16", uint16_scale_us=0.01))
    r = q.parse(struct.pack("<H2H", 65535, 712, 1450))
    assert [round(x.value, 6) for x in r.readings] == [7.12, 14.5]
    assert q.parse(struct.pack("<HH", 0, 700)).lost_packets == 0  # wraps at 65536
    assert "non-finite" in p.parse(struct.pack("<Hf", 4, math.nan)).rejection
    assert "whole number" in p.parse(struct.pack("<H", 5) + b"\x00\x00\x80\x3f\x01").rejection


def test_decoder_refuses_values_outside_the_plausible_range():
    d = CharacteristicDecoder(HRM)
    out = d.decode(bytes([0x00, 0]), t=100.0)  # hr 0 bpm: some straps send it without skin contact
    assert out.values == [] and "hr=0 outside plausible" in out.implausible[0]
    out = d.decode(bytes([0x10, 70, 0x00, 0x10]), t=100.0)  # RR of 4 s
    assert out.values == [("hr", 100.0, 70.0)] and d.implausible["rr"] == 1
    assert d.decode(bytes([0x05]), t=101.0).rejection and sum(d.rejected.values()) == 1


# ---------------------------------------------------------------- fuzzing: >= 10,000 payloads


def _seed_payloads(real_physio_csv):
    physio = read_physio_csv(real_physio_csv)
    return [p for _, p in heart_rate_packets(physio)[:60]] + [p for _, p in eda_packets(physio)[:60]] + [bytes([87])]


def mutate(seed: bytes, rng: random.Random) -> bytes:
    """1-4 random edits of a real payload: bit flips, truncation, extension, boundary bytes, insertion."""
    data = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(("flip", "truncate", "extend", "set", "insert"))
        if op == "flip" and data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif op == "truncate":
            del data[rng.randint(0, len(data)):]
        elif op == "extend":
            data += rng.randbytes(rng.randint(1, 24))
        elif op == "set" and data:
            data[rng.randrange(len(data))] = rng.choice((0x00, 0xFF, 0x7F, 0x80, 0x1F))
        elif op == "insert":
            i = rng.randint(0, len(data))
            data[i:i] = rng.randbytes(rng.randint(1, 4))
    return bytes(data)


FUZZ_EXAMPLES = 3500  # x 3 characteristics: 10,500 payloads, a third of them random, the rest mutated


@pytest.mark.parametrize("characteristic", [HRM, EDA, BATTERY], ids=lambda c: c.parser)
def test_parsers_are_total_under_fuzzing(characteristic, real_physio_csv):
    seeds = _seed_payloads(real_physio_csv)
    decoder = CharacteristicDecoder(characteristic)
    raw_parser = PARSERS[characteristic.parser].factory(characteristic.parser_options())

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.binary(max_size=64), st.integers(0, len(seeds) - 1), st.randoms(use_true_random=False))
    def check(random_payload, seed_index, rng):
        payload = random_payload if rng.random() < 1 / 3 else mutate(seeds[seed_index], rng)
        result = raw_parser.parse(payload)  # the parser itself must not raise (no safety net here)
        assert (result.rejection is None) or result.readings == []
        out = decoder.decode(payload, t=1000.0)
        for kind, t, value in out.values:
            rng = characteristic.outputs[kind]
            assert math.isfinite(value) and rng.min <= value <= rng.max
            assert t <= 1000.0
        assert out.rejection is None or out.values == []

    check()
    assert decoder.parser_errors == 0
    assert decoder.payloads >= FUZZ_EXAMPLES
    # the fuzzer reached both sides: accepted payloads and counted rejections
    assert sum(decoder.rejected.values()) > 0 and decoder.payloads - sum(decoder.rejected.values()) > 0
