"""What each source is doing, in words a person can act on, once per change.

The session log keeps every event with its raw detail; a person watching the console (or the
journal) needs one line when a source goes down, comes back or ends, saying why and what to do,
not a `no data` line repeated forever with the reason hidden in the log. ``explain`` turns the
raw error texts of the backends into that advice (the same knowledge as `affectedge doctor`);
``SourceStatus`` keeps the last state and reason per source and yields a line only on a change.
"""

from __future__ import annotations

import re
from typing import Optional

from .types import Event

# (pattern in the raw error, what to say). First match wins; the raw text follows in brackets.
_ADVICE: tuple[tuple[str, str], ...] = (
    (r"PortAudio library not found|libportaudio",
     "the PortAudio sound library is not installed: sudo apt install libportaudio2"),
    (r"16 kHz mono input stream|Error querying device|Invalid (input )?device|no input device|PortAudio sees no",
     "no usable microphone: plug in a USB microphone and check `affectedge doctor`"),
    (r"OpenCV cannot open|cannot open camera|Camera __init__ sequence did not complete|no cameras? (available|found)",
     "no camera there, or another program holds it: check the cable and `ls /dev/video*`, then `affectedge doctor`"),
    (r"(scan failed|BleakDBusError|DBus|dbus).*(FileNotFoundError|No such file|org\.freedesktop\.DBus|ServiceUnknown)"
     r"|org\.bluez|bluetoothd",
     "bleak cannot reach BlueZ over D-Bus (the system bus or bluetoothd is missing): "
     "sudo apt install bluez && sudo systemctl enable --now bluetooth; in a container, mount /run/dbus"),
    (r"No Bluetooth adapters? found|adapter .* not found|hci\d+ .*(not found|down)|No powered Bluetooth adapters",
     "no Bluetooth adapter is up: sudo rfkill unblock bluetooth (Pi, Jetson), or plug in a USB BLE dongle"),
    (r"Permission denied|EACCES|Operation not permitted",
     "permission denied: run as a user in the video/audio/bluetooth groups (the installed service is)"),
    (r"stalled",
     "stopped delivering; restarting it"),
)


def explain(error: str) -> str:
    """Actionable advice for a backend's raw error text, followed by that text."""
    for pattern, advice in _ADVICE:
        if re.search(pattern, error, re.IGNORECASE):
            return f"{advice} ({error})"
    return error


def _state_of(event: Event) -> Optional[tuple[str, str]]:
    """(state, reason) an event puts its source in, or None for events that are not about that."""
    d = event.detail
    kind = event.kind
    if kind in ("source_up", "stage_up", "connected"):
        what = d.get("clip") or d.get("file") or d.get("address") or d.get("device") or d.get("camera")
        return "up", f"({what})" if what not in (None, "None") else ""
    if kind == "recording_ended":
        return "ended", f"{d.get('clip') or d.get('file') or 'the recording'} ended: nothing more to replay"
    if kind == "clip_changed":
        return "up", f"({d.get('next')}, after {d.get('clip')} ended)"
    if kind in ("stage_down", "stage_restarting", "source_failed", "source_down"):
        error = str(d.get("error") or "")
        return ("retrying" if kind == "stage_restarting" else "down"), explain(error) if error else "stopped"
    if kind == "scan_failed":
        return "retrying", explain(str(d.get("reason", "")))
    if kind == "sensor_not_found":
        return "searching", f"no sensor answers ({d.get('looked_for', '?')}): is it on, charged and near? still scanning"
    if kind == "disconnected":
        return "retrying", f"disconnected ({d.get('reason', 'no reason given')}); reconnecting"
    return None


class SourceStatus:
    """Per source, the last (state, reason); ``line`` gives a sentence only when either changes."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[str, str]] = {}

    def line(self, event: Event) -> Optional[str]:
        state = _state_of(event)
        if state is None or self._last.get(event.source) == state:
            return None
        first = event.source not in self._last
        self._last[event.source] = state
        if first and event.kind == "stage_up":
            # The supervisor's thread started delivering; the source says what it opened itself
            # (source_up, connected). "Up" is news only after a "down".
            return None
        what, why = state
        words = {"up": "is up", "down": "is down", "retrying": "is down, retrying", "searching": "is searching",
                 "ended": "finished"}[what]
        if not why:
            return f"{event.source} {words}"
        # "up" names what was opened, "(hci0)"; the others say why, after a colon.
        return f"{event.source} {words}{' ' if what == 'up' else ': '}{why}"
