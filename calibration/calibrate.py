"""The guided calibration: check each sensor, record a resting baseline, write the person's profile.

Plain text on stdout, so it reads the same on a terminal, over SSH and in a log. Sources are the
service's own (``build_sources``) driven by the service's own pipeline, so a live sensor and a
replayed recording go through the same code.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, TextIO

from affectedge.config.app import AppConfig
from affectedge.service.assembly import build_analysers
from affectedge.perception.baseline import SCHEMA_VERSION, PersonBaseline, PhysiologyBaseline
from affectedge.perception.expression import valence_arousal
from affectedge.service.pipeline import Pipeline
from affectedge.privacy.pseudonym import load_or_create_secret, pseudonym
from affectedge.service.assembly import build_sources
from affectedge.core.types import LABELS

from .camera_check import CameraCheck, project_face_detector
from .checks import CheckResult, worst
from .microphone_check import MicrophoneCheck, project_vad
from .phase import PhaseEndSink, PhaseSpan
from .physiology_baseline import FEATURE_NAMES, FEATURE_UNITS, PhysiologyBaselineRecorder, PhysiologyBaselineResult
from .physiology_check import PhysiologyCheck
from .profile_store import ProfileStore
from .progress import ProgressDisplay
from .voice_baseline import VoiceBaselineRecorder, VoiceBaselineResult


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
    voice: Optional[VoiceBaselineResult] = None
    rejected: list[str] = field(default_factory=list)  # why nothing was written
    left_out: list[str] = field(default_factory=list)  # sections rejected on their own (the rest was written)

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
    physio_sources = build_sources(_without(config, "camera", "microphone"))
    expected = {s.name: getattr(s, "expected_kinds", {}) for s in physio_sources}
    # Long enough for every reading the sensors say they send (an E4's first beat interval comes
    # after about 25 s): a shorter check would pass on EDA alone and never check the heart.
    first = max((t for kinds in expected.values() for t in kinds.values()), default=0.0)
    check_s = max(cal.check_s, first + 5.0) if first else cal.check_s
    span = PhaseSpan(check_s, plan.start_s)
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
    sensors = [s.name for s in physio_sources]
    physiology = PhysiologyCheck(cal.physiology, config.perception.physiology, span, sensors, expected,
                                 {s.name: getattr(s, "gappy_kinds", frozenset()) for s in physio_sources})
    analysers.append(physiology)
    longer = f" (not {cal.check_s:g} s: a sensor here sends its first reading of every kind only by {first:g} s)" if check_s > cal.check_s else ""
    out.write(f"Step 1 of 2: checking the sensors for {check_s:g} s{longer}. Sit the person as for a session; ask them to say a few sentences.\n")
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


@dataclass
class BaselineRecording:
    """What the resting span gave, per modality (None: that sensor is not in the config)."""

    physiology: PhysiologyBaselineResult
    voice: Optional[VoiceBaselineResult] = None
    missing: dict[str, str] = field(default_factory=dict)  # modality -> why it was not recorded


def _product_analyser(config: AppConfig, family: str):
    """The service's own analyser for one source family (the microphone), without a baseline.

    Returns (analyser, None) or (None, why it cannot run in this build).
    """
    others = [f for f in ("camera", "microphone", "physiology") if f != family]
    try:
        (analyser,) = build_analysers(_without(config, *others), baseline=None)
    except Exception as exc:  # a missing runtime, model or extra: say why, do not substitute
        return None, f"the {'face' if family == 'camera' else 'voice'} path cannot start ({exc})"
    return analyser, None


def record_baseline(plan: CalibrationPlan, out: TextIO) -> BaselineRecording:
    """Record the resting span with a progress display: physiology and voice in one pass."""
    config = plan.config
    cal = config.calibration
    duration = plan.duration_s or cal.baseline.duration_s
    out.write(f"Step 2 of 2: recording a resting baseline for {duration:g} s. The person sits quietly and calmly")
    if config.sources.microphone is not None:
        out.write(f"; for the voice baseline ask them to talk calmly for a while (at least {cal.baseline.min_voiced_speech_s:g} s "
                  "of speech), e.g. about a familiar picture")
    out.write(".\n")
    span = PhaseSpan(duration, plan.start_s)
    physiology = PhysiologyBaselineRecorder(config.perception.physiology, span)
    recorders: list = [physiology] if config.sources.physiology else []
    rec = BaselineRecording(physiology=PhysiologyBaselineResult())
    voice = None
    if config.sources.microphone is not None:
        analyser, why = _product_analyser(config, "microphone")
        if analyser is None:
            rec.missing["voice"] = why
        else:
            voice = VoiceBaselineRecorder(analyser, span)
            recorders.append(voice)
    out.flush()
    if recorders:
        progress = ProgressDisplay("baseline", duration, out)
        try:
            _run_phase(config, recorders, span, progress)
        finally:
            progress.close(span.elapsed(span.last_t) if span.last_t is not None else 0.0)
    rec.physiology = physiology.result(cal.baseline)
    rec.voice = voice.finish(cal.baseline) if voice is not None else None
    return rec


def describe_baseline(res: PhysiologyBaselineResult) -> list[str]:
    lines = [f"recorded {res.recorded_s:.0f} s of physiology"]
    for f, s in res.features.items():
        name, unit = FEATURE_NAMES[f], FEATURE_UNITS[f]
        if s.norm is not None:
            floored = " (SD raised to the floor)" if s.sd_floored else ""
            lines.append(f"resting {name}: {s.norm.mean:.2f} {unit}, SD {s.norm.sd:.2f}{floored}; "
                         f"{len(s.values)} values, {s.artefact_fraction:.0%} of {s.kind} readings rejected")
        elif s.problem.startswith("too noisy"):
            lines.append(f"resting {name}: rejected: {s.problem}")
        else:
            lines.append(f"resting {name}: left out ({s.problem}); the population norm stands for it")
    for f in res.absent:
        lines.append(f"resting {FEATURE_NAMES[f]}: no sensor for it (the population default will apply)")
    return lines


def describe_voice(res: Optional[VoiceBaselineResult], missing: Optional[str]) -> list[str]:
    if missing:
        return [f"voice baseline: not recorded ({missing}); the voice path uses its population defaults"]
    if res is None:
        return ["voice baseline: no microphone in the config (the voice path's population defaults will apply)"]
    if res.baseline is None:
        return [f"voice baseline: rejected, left out of the profile: {res.problem}"]
    b = res.baseline
    floored = f" ({' and '.join(res.sd_floored)} SD raised to the floor)" if res.sd_floored else ""
    return [f"voice baseline: {res.voiced_s:.1f} s of voiced speech ({res.speech_s:.1f} s of speech in {res.audio_s:.0f} s of audio); "
            f"pitch {b.f0_hz.mean:.1f} Hz (SD {b.f0_hz.sd:.1f}), loudness {b.loudness_db.mean:.1f} dB (SD {b.loudness_db.sd:.1f}){floored}; "
            f"{len(res.f0_hz)} windows with a pitch"]


# The face baseline is not recorded (issue 24): docs/calibration.md has the measurement.
FACE_NOT_RECORDED = ("face baseline: not recorded: the model's output during a rest is not a neutral face to divide out "
                     "(on the demo's labelled windows that lowered macro-F1 from 0.657 to 0.310; docs/calibration.md); "
                     "the face path reads on the population scale")


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

    rec = record_baseline(plan, out)
    res = rec.physiology
    outcome.baseline, outcome.voice = res, rec.voice
    lines = describe_baseline(res) if plan.config.sources.physiology else ["physiology baseline: no physiological sensor in the config"]
    lines += describe_voice(rec.voice, rec.missing.get("voice"))
    if plan.config.sources.camera is not None:
        lines.append(FACE_NOT_RECORDED)
    for line in lines:
        out.write(line + "\n")
    baseline = res.baseline()
    voice = rec.voice.baseline if rec.voice is not None else None
    outcome.left_out = [f"voice: {rec.voice.problem}"] if rec.voice is not None and rec.voice.problem else []
    outcome.left_out += [f"physiology: {p}" for p in res.left_out]
    # A physiology problem rejects the whole profile (arousal rests on it); a voice section that
    # fails its own rule is only left out, and the voice path keeps its population defaults.
    if res.problems or (baseline is None and voice is None):
        outcome.rejected = res.problems or outcome.left_out or ["no baseline figures: no sensor gave usable data during the recording"]
        out.write("baseline rejected:\n" + "".join(f"  - {p}\n" for p in outcome.rejected))
        out.write("Nothing was written. Fix the cause and run the calibration again.\n")
        return outcome

    profile = PersonBaseline(schema_version=SCHEMA_VERSION, subject=subject,
                             created=datetime.now(timezone.utc).replace(microsecond=0),
                             physiology=baseline or PhysiologyBaseline(), voice=voice)
    sections = ", ".join(name for name, v in (("physiology", baseline), ("voice", voice)) if v is not None)
    comment = (f"affectedge calibrate {profile.created.isoformat()}: {plan.label}\n"
               f"resting span {res.recorded_s:.0f} s of physiology; sections: {sections}; checks: " + ", ".join(f"{r.sensor} {r.check} {r.status}" for r in outcome.checks))
    store = ProfileStore(plan.profiles_dir)
    outcome.profile = profile
    outcome.profile_path = store.save(profile, comment).resolve()
    n = len(store.history(subject))
    out.write(f"\nprofile written: {outcome.profile_path}\n"
              f"current profile: {store.current(subject).resolve()} ({n} calibration{'s' if n != 1 else ''} in its history)\n"
              f"use it with: perception.baseline_profile: {store.current(subject).resolve()}\n")
    return outcome
