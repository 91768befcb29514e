"""Physiological sensor checks: data arriving, notification rate, plausibility, contact, battery.

One set of checks per configured sensor (source name), from its samples and its events (a BLE
source reports ``battery`` events with ``level`` in percent; replayed files have none).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from affectedge.perception.physiology import PhysiologyConfig
from affectedge.perception.physiology_features import in_range
from affectedge.core.types import Event, PhysioSample, Sample

from .checks import CheckResult, graded
from ..config.calibration import PhysiologyCheckConfig
from .phase import PhaseSpan

_NAMES = {"hr": "heart rate", "rr": "RR interval", "eda": "EDA"}


@dataclass
class _SensorStats:
    values: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    first_t: dict[str, float] = field(default_factory=dict)
    battery: Optional[float] = None


class PhysiologyCheck:
    """Collects every physiological sensor's samples in the phase span."""

    modality = "physiology"

    def __init__(self, config: PhysiologyCheckConfig, physiology: PhysiologyConfig, span: PhaseSpan, sensors: list[str],
                 expected: Optional[dict[str, dict[str, float]]] = None, gappy: Optional[dict[str, frozenset]] = None):
        self.config = config
        self.physiology = physiology
        self.span = span
        self.stats: dict[str, _SensorStats] = {name: _SensorStats() for name in sensors}
        self.expected = expected or {}  # sensor -> the kinds it sends (and when the first comes)
        self.gappy = gappy or {}  # sensor -> kinds it leaves gaps in by design (a wristband's beats)

    def accepts(self, sample: Sample) -> bool:
        return isinstance(sample, PhysioSample)

    def push(self, sample: Sample) -> None:
        if self.span.admits(sample.t):
            st = self.stats.setdefault(sample.source, _SensorStats())
            st.values[sample.kind].append(sample.value)
            st.first_t.setdefault(sample.kind, sample.t)

    def on_events(self, events: list[Event]) -> None:
        for ev in events:
            if ev.kind == "battery" and ev.source in self.stats and "level" in ev.detail:
                self.stats[ev.source].battery = float(ev.detail["level"])

    def estimate(self, start: float, end: float):
        return None

    def take_events(self) -> list[Event]:
        return []

    # ------------------------------------------------------------------ verdicts

    def results(self) -> list[CheckResult]:
        out: list[CheckResult] = []
        for name, st in self.stats.items():
            out.extend(self._sensor_results(name, st))
        return out

    def _sensor_results(self, name: str, st: _SensorStats) -> list[CheckResult]:
        c, p = self.config, self.physiology
        data = {k: v for k, v in st.values.items() if k in _NAMES}
        seconds = self.span.length_s
        if not data:
            return [CheckResult(name, "data", "fail", f"no readings in {seconds:.0f} s",
                                "is the sensor switched on, worn, charged and paired with this device?")]
        counts = ", ".join(f"{k} {len(v)}" for k, v in sorted(data.items()))
        out = [CheckResult(name, "data", "pass", f"readings in {seconds:.0f} s: {counts}")]
        for kind in sorted(set(self.expected.get(name, {})) - set(data)):
            out.append(CheckResult(name, f"data {kind}", "fail", f"no {_NAMES[kind]} reading in {seconds:.0f} s (this sensor sends one)",
                                   "is the sensor worn snugly? a wristband needs skin contact under its optical sensor for the heart"))

        for kind, values in sorted(data.items()):
            v = np.asarray(values)
            if kind == "rr":
                # Beats are not sent at a fixed rate; the intervals should tile the time instead.
                ok = v[(v >= p.rr_range_s[0]) & (v <= p.rr_range_s[1])]
                ratio = float(ok.sum()) / seconds
                figure = f"RR intervals cover {ratio:.0%} of the time"
            else:
                # Counted from the first reading: a strap's first HR needs a few beats, which is not loss.
                expected = p.hr_rate_hz if kind == "hr" else p.eda_rate_hz
                since = max(self.span.end - st.first_t[kind], 1.0 / expected)
                rate = len(v) / since
                ratio = rate / expected
                figure = f"{_NAMES[kind]} at {rate:.2f} Hz, expected {expected:g} Hz"
            status = graded(min(ratio, 1.0), c.rate_fail_below, c.rate_warn_below)
            advice = "" if status == "pass" else "readings are being lost: move the device closer to the sensor, or charge the sensor"
            if kind in self.gappy.get(name, ()) and status != "pass":
                status = "warn"
                advice = "this sensor drops the beats it is unsure of by design; heart rate comes from its own HR readings then"
            out.append(CheckResult(name, f"rate {kind}", status, figure, advice))

            low, high = {"hr": p.hr_range_bpm, "rr": p.rr_range_s, "eda": p.eda_range_us}[kind]
            plausible = sum(in_range(float(x), (low, high)) for x in v) / len(v)
            status = graded(plausible, c.plausible_fail_below, c.plausible_warn_below)
            unit = {"hr": "bpm", "rr": "s", "eda": "uS"}[kind]
            figure = f"{plausible:.0%} of {_NAMES[kind]} readings plausible ({low:g}-{high:g} {unit})"
            advice = "" if status == "pass" else (
                "the electrodes are not touching the skin: tighten the band and clean the skin" if kind == "eda"
                else "the strap is loose or dry: moisten the electrodes and tighten the strap")
            if kind == "eda" and status == "pass" and len(v) > 4 and float(v.std()) == 0.0:
                status, advice = "warn", "EDA does not change at all: the electrodes may be dry or the sensor stuck"
                figure += ", but perfectly flat"
            out.append(CheckResult(name, f"plausible {kind}", status, figure, advice))

        contact = st.values.get("contact")
        if contact:
            frac = float(np.mean(np.asarray(contact) >= 0.5))
            status = graded(frac, c.contact_fail_below, c.contact_warn_below)
            figure = f"skin contact in {frac:.0%} of {len(contact)} contact reports"
            out.append(CheckResult(name, "contact", status, ("no skin contact: " if frac < c.contact_fail_below else "") + figure,
                                   "" if status == "pass" else "moisten the electrodes and tighten the strap until the sensor reports contact"))
        else:
            out.append(CheckResult(name, "contact", "unavailable", "not reported", "this sensor does not send a contact bit"))

        if st.battery is None:
            out.append(CheckResult(name, "battery", "unavailable", "not reported", "this source does not report a battery level"))
        else:
            status = graded(st.battery, c.battery_fail_below, c.battery_warn_below)
            out.append(CheckResult(name, "battery", status, f"battery {st.battery:.0f} %",
                                   "" if status == "pass" else "charge or replace the sensor's battery before the session"))
        return out
