"""The guided calibration: check each sensor, record a resting baseline, write the person's profile.

Plain text on stdout, so it reads the same on a terminal, over SSH and in a log. Sources are the
service's own (``build_sources``) driven by the service's own pipeline, so a live sensor and a
replayed recording go through the same code.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, TextIO

from affectedge.config import AppConfig
from affectedge.perception.baseline import SCHEMA_VERSION, PersonBaseline
from affectedge.pipeline import Pipeline
from affectedge.pseudonym import load_or_create_secret, pseudonym
from affectedge.service import build_sources

from .camera_check import CameraCheck, project_face_detector
from .checks import CheckResult, worst
from .microphone_check import MicrophoneCheck, project_vad
from .phase import PhaseEndSink, PhaseSpan
from .physiology_baseline import FEATURE_NAMES, FEATURE_UNITS, PhysiologyBaselineRecorder, PhysiologyBaselineResult
from .physiology_check import PhysiologyCheck
from .profile_store import ProfileStore
from .progress import ProgressDisplay


@dataclass(frozen=True)
class CalibrationPlan:
    """What to calibrate: the sources (a service config), the span and where the profile goes."""

    config: AppConfig
    subject_id: str
    secret_file: Path
    profiles_dir: Path
    label: str  # what is being read, for the header ("replay of ...", a config path)
    start_s: Optional[float] = None  # replay: where the span starts on the source clock; live: None
    duration_s: Optional[float] = None  # None: calibration.baseline.duration_s
    force: bool = False  # record the baseline even when a check failed


@dataclass
class CalibrationOutcome:
    checks: list[CheckResult] = field(default_factory=list)
    baseline: Optional[PhysiologyBaselineResult] = None
    profile: Optional[PersonBaseline] = None
    profile_path: Optional[Path] = None
    rejected: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.profile_path is not None


def _without(config: AppConfig, *families: str) -> AppConfig:
    sources = config.sources.model_copy(update={f: ([] if f == "physiology" else None) for f in families})
    return config.model_copy(update={"sources": sources})


def _run_phase(config: AppConfig, analysers: list, span: PhaseSpan, progress=None) -> PhaseEndSink:
    stop = threading.Event()
    sink = PhaseEndSink(span, stop, progress)
    Pipeline(config, build_sources(config), analysers, [sink]).run(stop)
    return sink


def run_checks(plan: CalibrationPlan, out: TextIO) -> list[CheckResult]:
    """Watch every configured sensor for ``calibration.check_s`` and judge what arrived."""
    config = plan.config
    cal = config.calibration
    span = PhaseSpan(cal.check_s, plan.start_s)
    analysers: list = []
    camera = microphone = None
    if config.sources.camera is not None:
        detector, why = project_face_detector()
        camera = CameraCheck(cal.camera, span, detector, why)
        analysers.append(camera)
    if config.sources.microphone is not None:
        vad, why = project_vad()
        microphone = MicrophoneCheck(cal.microphone, span, vad, why)
        analysers.append(microphone)
    sensors = [s.name for s in build_sources(_without(config, "camera", "microphone"))]
    physiology = PhysiologyCheck(cal.physiology, config.perception.physiology, span, sensors)
    analysers.append(physiology)
    out.write(f"Step 1 of 2: checking the sensors for {cal.check_s:g} s. Sit the person as for a session; ask them to say a few sentences.\n")
    out.flush()
    sink = _run_phase(config, analysers, span)
    physiology.on_events(sink.events)

    results: list[CheckResult] = []
    if camera is not None:
        results += camera.results()
    else:
        results.append(CheckResult("camera", "configured", "unavailable", "no camera in the config", "the face modality will be off"))
    if microphone is not None:
        results += microphone.results()
    else:
        results.append(CheckResult("microphone", "configured", "unavailable", "no microphone in the config", "the voice modality will be off"))
    if sensors:
        results += physiology.results()
    else:
        results.append(CheckResult("physiology", "configured", "unavailable", "no physiological sensor in the config", "the physiology modality will be off"))
    for r in results:
        out.write(r.line() + "\n")
    for ev in sink.events:
        if ev.kind in ("source_failed", "disconnected", "connect_failed"):
            out.write(f"note: {ev.source}: {ev.kind} {dict(ev.detail)}\n")
    return results


def record_baseline(plan: CalibrationPlan, out: TextIO) -> PhysiologyBaselineResult:
    """Record the resting span with a progress display and summarise the physiology features."""
    config = plan.config
    cal = config.calibration
    duration = plan.duration_s or cal.baseline.duration_s
    out.write(f"Step 2 of 2: recording a resting baseline for {duration:g} s. The person sits quietly and calmly.\n")
    for modality, module in (("voice", "affectedge.perception.voice"), ("face", "affectedge.perception.face")):
        if importlib.util.find_spec(module) is None:
            out.write(f"{modality} baseline: not recorded (no {modality} path in this build: {module} is not installed)\n")
        else:
            # The path exists but its calibration is not written yet: say so rather than store a guess.
            out.write(f"{modality} baseline: not recorded (this calibration does not measure it yet; "
                      f"the {modality} path uses its population defaults)\n")
    out.flush()
    physiology_only = _without(config, "camera", "microphone")
    span = PhaseSpan(duration, plan.start_s)
    recorder = PhysiologyBaselineRecorder(config.perception.physiology, span)
    if not physiology_only.sources.physiology:
        return recorder.result(cal.baseline)
    progress = ProgressDisplay("baseline", duration, out)
    try:
        _run_phase(physiology_only, [recorder], span, progress)
    finally:
        progress.close(span.elapsed(span.last_t) if span.last_t is not None else 0.0)
    return recorder.result(cal.baseline)


def describe_baseline(res: PhysiologyBaselineResult) -> list[str]:
    lines = [f"recorded {res.recorded_s:.0f} s of physiology"]
    for f, s in res.features.items():
        name, unit = FEATURE_NAMES[f], FEATURE_UNITS[f]
        if s.norm is not None:
            floored = " (SD raised to the floor)" if s.sd_floored else ""
            lines.append(f"resting {name}: {s.norm.mean:.2f} {unit}, SD {s.norm.sd:.2f}{floored}; "
                         f"{len(s.values)} values, {s.artefact_fraction:.0%} of {s.kind} readings rejected")
        else:
            lines.append(f"resting {name}: rejected: {s.problem}")
    for f in res.absent:
        lines.append(f"resting {FEATURE_NAMES[f]}: no sensor for it (the population default will apply)")
    return lines


def calibrate(plan: CalibrationPlan, out: TextIO = sys.stdout) -> CalibrationOutcome:
    """The whole guided calibration. The profile is written only when the baseline is accepted."""
    outcome = CalibrationOutcome()
    out.write(f"affectedge calibrate: {plan.label}\n")
    key = load_or_create_secret(plan.secret_file)
    subject = pseudonym(plan.subject_id, key)
    out.write(f"subject pseudonym {subject} (HMAC-SHA256 with the device secret {plan.secret_file})\n")

    outcome.checks = run_checks(plan, out)
    failed = [r for r in outcome.checks if r.status == "fail"]
    if failed and not plan.force:
        outcome.rejected = [f"check failed: {r.sensor} {r.check}: {r.figure}" for r in failed]
        out.write(f"\n{len(failed)} check(s) failed: fix what the lines above say and run the calibration again "
                  "(or pass --force to record the baseline anyway).\n")
        return outcome
    counts = {status: sum(r.status == status for r in outcome.checks) for status in ("pass", "warn", "fail", "unavailable")}
    out.write(f"sensor checks: {worst(outcome.checks)} ({counts['pass']} passed, {counts['warn']} warnings, "
              f"{counts['fail']} failed, {counts['unavailable']} not measured)\n\n")

    res = record_baseline(plan, out)
    outcome.baseline = res
    for line in describe_baseline(res):
        out.write(line + "\n")
    baseline = res.baseline()
    if baseline is None:
        outcome.rejected = res.problems or ["no baseline figures: no sensor gave usable data during the recording"]
        out.write("baseline rejected:\n" + "".join(f"  - {p}\n" for p in outcome.rejected))
        out.write("Nothing was written. Fix the cause and run the calibration again.\n")
        return outcome

    profile = PersonBaseline(schema_version=SCHEMA_VERSION, subject=subject,
                             created=datetime.now(timezone.utc).replace(microsecond=0), physiology=baseline)
    comment = (f"affectedge calibrate {profile.created.isoformat()}: {plan.label}\n"
               f"resting span {res.recorded_s:.0f} s; checks: " + ", ".join(f"{r.sensor} {r.check} {r.status}" for r in outcome.checks))
    store = ProfileStore(plan.profiles_dir)
    outcome.profile = profile
    outcome.profile_path = store.save(profile, comment).resolve()
    n = len(store.history(subject))
    out.write(f"\nprofile written: {outcome.profile_path}\n"
              f"current profile: {store.current(subject).resolve()} ({n} calibration{'s' if n != 1 else ''} in its history)\n"
              f"use it with: perception.baseline_profile: {store.current(subject).resolve()}\n")
    return outcome
