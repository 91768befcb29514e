"""Pipeline event kinds in words, for people reading a report (the log keeps the identifiers).

``words(kind)`` names what happened; ``severity(kind)`` says how to draw it: a sensor failing, a
sensor back or starting, a sound the microphone heard (crying, laughter), or a plain fact (a recording ended, a clip changed, a count).
"""

from __future__ import annotations

from typing import Literal

_WORDS = {
    "source_up": "started",
    "source_down": "stopped delivering",
    "stage_up": "back",
    "stage_down": "down",
    "stage_restarting": "restarting after a failure",
    "source_failed": "failed",
    "clip_changed": "clip ended, next clip",
    "recording_ended": "recording ended",
    "connected": "connected",
    "disconnected": "disconnected",
    "connect_failed": "could not connect",
    "reconnected": "reconnected",
    "scan_failed": "Bluetooth scan failed",
    "sensor_not_found": "sensor not found",
    "battery": "battery level",
    "packets_lost": "packets lost",
    "malformed_packet": "malformed packets dropped",
    "malformed_sample": "malformed readings dropped",
    "implausible_value": "implausible values dropped",
    "artefact_rejected": "readings rejected as artefacts",
    "late_sample": "readings too late for their window",
    "frames_skipped": "frames not analysed (frame-rate limit)",
    "frames_dropped": "frames dropped (analysis slower than the camera)",
    "frames_bad": "unreadable frames",
    "audio_gap": "gap in the audio",
    "audio_overflow": "audio lost (buffer overflow)",
    "voice_mode": "how the voice is analysed",
    "sink_failed": "log writing failed",
    "sink_recovered": "log writing again",
    "analyser_failed": "analysis failed",
    "analyser_recovered": "analysis back",
    "outage": "outage",
    "distress_heard": "crying or screaming heard",
    "distress_ended": "crying or screaming over",
    "laughter_heard": "laughter heard",
    "laughter_ended": "laughter over",
    "shouting_heard": "shouting heard",
    "shouting_ended": "shouting over",
    "caregiver_label": "caregiver label stored",
    "label_refused": "caregiver label refused",
}
_FAILING = frozenset({"source_down", "stage_down", "stage_restarting", "source_failed", "disconnected", "connect_failed",
                      "scan_failed", "sensor_not_found", "sink_failed", "analyser_failed", "outage"})
_BACK = frozenset({"source_up", "stage_up", "connected", "reconnected", "sink_recovered", "analyser_recovered"})
# What the microphone heard (vocal events), drawn apart from the pipeline's own facts.
HEARD = frozenset({"distress_heard", "laughter_heard", "shouting_heard"})


def words(kind: str) -> str:
    """What an event kind means, in words (an unknown kind with its underscores as spaces)."""
    return _WORDS.get(kind, kind.replace("_", " "))


def severity(kind: str) -> Literal["failing", "back", "heard", "fact"]:
    if kind in _FAILING:
        return "failing"
    if kind in _BACK:
        return "back"
    return "heard" if kind in HEARD else "fact"
