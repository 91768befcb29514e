"""`affectedge doctor`: what this machine has for the service, and what is missing and how to get it.

Every probe reads files under /proc, /sys and /dev or tries an import; a probe that fails reports
its failure as a finding instead of stopping the report.
"""

from __future__ import annotations

import glob
import importlib
import importlib.metadata
import os
import platform
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional


from ..config.boards import detect_board


@dataclass(frozen=True)
class Finding:
    """One line of the report: ``ok`` (present), ``missing`` (with how to get it) or ``info``."""

    status: str  # "ok" | "missing" | "info"
    what: str
    detail: str
    fix: str = ""


def _text(path: str | Path) -> str:
    try:
        return Path(path).read_text(errors="replace").strip()
    except OSError:
        return ""


# ---------------------------------------------------------------------------- machine


def probe_machine() -> list[Finding]:
    cpu = ""
    for line in _text("/proc/cpuinfo").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware") and value.strip():
            cpu = value.strip()
            break
    mem_kib = 0
    for line in _text("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    os_name = ""
    for line in _text("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            os_name = line.split("=", 1)[1].strip('"')
    return [
        Finding("info", "cpu", f"{cpu or 'unknown model'}, {platform.machine()}, {os.cpu_count()} cores, {mem_kib / 2**20:.1f} GiB memory"),
        Finding("info", "os", f"{os_name or platform.system()}, kernel {platform.release()}, Python {platform.python_version()}"),
    ]


# ---------------------------------------------------------------------------- camera


def _on_a_pi() -> bool:
    return detect_board()[0] in ("pi4", "pi5")


def _on_a_jetson() -> bool:
    return (detect_board()[0] or "").startswith("jetson")


def probe_cameras() -> list[Finding]:
    out = []
    nodes = sorted(glob.glob("/dev/video*"), key=lambda p: (len(p), p))
    if nodes:
        for node in nodes:
            name = _text(f"/sys/class/video4linux/{Path(node).name}/name") or "unknown"
            out.append(Finding("ok", "camera", f"{node}: {name}"))
    else:
        out.append(Finding("missing", "camera", "no /dev/video* device: no camera attached or its driver is not loaded",
                           "attach a USB webcam, or a Camera Module with camera_auto_detect=1 in /boot/firmware/config.txt on a Pi"))
    libcamera = [p for p in ("rpicam-hello", "libcamera-hello", "cam") if shutil.which(p)]
    has_py = importlib.util.find_spec("libcamera") is not None
    if libcamera or has_py:
        what = ", ".join(libcamera + (["python bindings"] if has_py else []))
        out.append(Finding("ok", "libcamera", what))
    elif _on_a_pi():
        out.append(Finding("missing", "libcamera", "not installed (needed for a Pi Camera Module via picamera2)",
                           "sudo apt install --no-install-recommends python3-picamera2"))
    else:
        out.append(Finding("info", "libcamera", "not installed (only a Pi Camera Module needs it; USB webcams use OpenCV)"))
    return out


# ---------------------------------------------------------------------------- audio


def probe_audio() -> list[Finding]:
    out = []
    cards = [line.strip() for line in _text("/proc/asound/cards").splitlines() if line[:3].strip().isdigit()]
    capture = [line for line in _text("/proc/asound/pcm").splitlines() if "capture" in line]
    if not Path("/proc/asound").exists():
        out.append(Finding("missing", "sound cards", "no /proc/asound: ALSA is not available (no sound card or a container)",
                           "attach a USB microphone"))
    elif not capture:
        out.append(Finding("missing", "audio input", f"{len(cards)} sound card(s), none with a capture device",
                           "attach a USB microphone (the Pi has no microphone input)"))
    else:
        for line in capture:
            out.append(Finding("ok", "audio input", f"ALSA {line.split(':')[0].strip()}: {line.split(':')[1].strip() if ':' in line else line}"))
    try:
        sd = importlib.import_module("sounddevice")
        inputs = [d for d in sd.query_devices() if d.get("max_input_channels", 0) > 0]
        if inputs:
            for d in inputs:
                out.append(Finding("ok", "sounddevice", f"input {d['index']}: {d['name']} ({d['max_input_channels']} ch, {d['default_samplerate']:.0f} Hz)"))
        else:
            out.append(Finding("missing", "sounddevice", "PortAudio sees no input device", "attach a USB microphone"))
    except ImportError:
        out.append(Finding("missing", "sounddevice", "Python module not installed", "pip install 'affectedge[audio]'"))
    except OSError as exc:  # the module imports but libportaudio is missing
        out.append(Finding("missing", "sounddevice", f"the module imports but its library does not load: {exc}", "sudo apt install libportaudio2"))
    return out


# ---------------------------------------------------------------------------- bluetooth


def probe_bluetooth() -> list[Finding]:
    out = []
    adapters = sorted(Path("/sys/class/bluetooth").glob("hci*")) if Path("/sys/class/bluetooth").exists() else []
    adapters = [a for a in adapters if ":" not in a.name]  # hci0:12 entries are connections
    if adapters:
        for a in adapters:
            out.append(Finding("ok", "bluetooth adapter", f"{a.name}: {_text(a / 'address') or _text(a / 'device/address') or 'address unknown'}"))
    else:
        out.append(Finding("missing", "bluetooth adapter", "none in /sys/class/bluetooth",
                           "the Pi and Jetson have one built in (enable it: sudo rfkill unblock bluetooth); elsewhere plug in a USB BLE 4.0+ dongle"))
    if not hasattr(socket, "AF_BLUETOOTH"):
        # bleak reaches BlueZ over D-Bus and does not need it; raw HCI transports (bumble) do.
        out.append(Finding("info", "AF_BLUETOOTH", "this Python was built without Bluetooth sockets (bleak does not need them; raw HCI does)"))
    else:
        try:
            socket.socket(socket.AF_BLUETOOTH, socket.SOCK_RAW, socket.BTPROTO_HCI).close()
            out.append(Finding("ok", "AF_BLUETOOTH", "the kernel supports Bluetooth sockets"))
        except OSError as exc:
            # EAFNOSUPPORT: no bluetooth module in the kernel (or a container); EPERM/EACCES: allowed but unprivileged.
            if exc.errno in (1, 13):
                out.append(Finding("ok", "AF_BLUETOOTH", f"supported by the kernel (raw socket refused to this user: {exc.strerror})"))
            else:
                out.append(Finding("missing", "AF_BLUETOOTH", f"the kernel refuses Bluetooth sockets ({exc.strerror})",
                                   "a kernel with the bluetooth module (sudo modprobe bluetooth); in a container, use the host"))
    if shutil.which("bluetoothd") or Path("/usr/libexec/bluetooth/bluetoothd").exists() or Path("/usr/lib/bluetooth/bluetoothd").exists():
        out.append(Finding("ok", "bluez", "bluetoothd installed (bleak talks to it over D-Bus)"))
    else:
        out.append(Finding("missing", "bluez", "bluetoothd not installed (bleak needs it on Linux)", "sudo apt install bluez"))
    return out


# ---------------------------------------------------------------------------- runtimes

# (import name, distribution for the version, what it is for, how to get it, needed here?)
RUNTIMES: tuple[tuple[str, str, str, str, Callable[[], bool]], ...] = (
    ("ai_edge_litert", "ai-edge-litert", "LiteRT models (default on a Pi)", "pip install 'affectedge[litert]'", lambda: True),
    ("tflite_runtime", "tflite-runtime", "LiteRT fallback on NumPy-1 board images", "", lambda: False),
    # Only the Jetson profile runs ONNX models by default (the VAD runs in NumPy); elsewhere a
    # missing onnxruntime is information, with the extra that brings it for face.backend: onnx.
    ("onnxruntime", "onnxruntime", "ONNX models: face.backend onnx, e.g. a Jetson's onnxruntime-gpu", "pip install 'affectedge[onnx]'", _on_a_jetson),
    ("cv2", "opencv-python-headless", "USB/V4L2 cameras, video replay", "pip install 'affectedge[camera]'", lambda: True),
    ("picamera2", "picamera2", "Pi Camera Module", "sudo apt install --no-install-recommends python3-picamera2 (venv with --system-site-packages)", _on_a_pi),
    ("bleak", "bleak", "BLE sensors", "pip install 'affectedge[ble]'", lambda: True),
    ("paho.mqtt", "paho-mqtt", "publishing over MQTT", "pip install 'affectedge[mqtt]'", lambda: True),
)
# sounddevice is in the audio section, where a missing PortAudio library is told apart.


def _version(dist: str, module) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return getattr(module, "__version__", "?")


def probe_runtimes() -> list[Finding]:
    out = []
    for name, dist, purpose, fix, needed in RUNTIMES:
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # ImportError, or e.g. tflite_runtime's AttributeError under NumPy 2
            absent = isinstance(exc, ModuleNotFoundError) and exc.name is not None and name.startswith(exc.name)
            detail = f"not installed ({purpose})" if absent else f"does not import: {type(exc).__name__}: {exc}"
            out.append(Finding("missing", name, detail, fix) if needed() else Finding("info", name, f"{detail}{'; ' + fix if fix else ''}"))
            continue
        detail = f"{_version(dist, module)} ({purpose})"
        if name == "onnxruntime":
            try:
                detail += "; providers: " + ", ".join(module.get_available_providers())
            except Exception as exc:
                detail += f"; providers unknown ({exc})"
        out.append(Finding("ok", name, detail))
    return out


# ---------------------------------------------------------------------------- models


def probe_models(manifest: Optional[Path] = None) -> list[Finding]:
    """Every file that the model manifest lists, present and matching its sha256 (as loading checks it)."""
    from ..core.errors import ModelError
    from ..inference.manifest import bundled_manifest_path, parse_manifest

    manifest = manifest or bundled_manifest_path()
    try:
        models = parse_manifest(manifest)
    except ModelError as exc:
        return [Finding("missing", "models", str(exc), "reinstall affectedge (the models ship inside the package)")]
    out = []
    for key, formats in models.items():
        for fmt, spec in formats.items():
            try:
                size = len(spec.verify_file())
            except ModelError as exc:
                out.append(Finding("missing", f"model {key}", f"{fmt}: {exc}", "reinstall affectedge"))
                continue
            out.append(Finding("ok", f"model {key}", f"{fmt}: {spec.file.name} ({size / 1024:.0f} KiB, sha256 ok)"))
    return out or [Finding("info", "models", f"{manifest} lists no models")]


# ---------------------------------------------------------------------------- report


def probe_board() -> list[Finding]:
    board, why = detect_board()
    if board is None:
        return [Finding("missing", "board profile", why, "pass --board with a profile file of your own (docs/service.md)")]
    return [Finding("ok", "board profile", f"{board} ({why}); run with: affectedge run --board {board} --config FILE")]


SECTIONS: tuple[tuple[str, Callable[[], list[Finding]]], ...] = (
    ("machine", probe_machine),
    ("camera", probe_cameras),
    ("audio", probe_audio),
    ("bluetooth", probe_bluetooth),
    ("runtimes", probe_runtimes),
    ("models", probe_models),
    ("board", probe_board),
)


def collect() -> list[tuple[str, list[Finding]]]:
    report = []
    for title, probe in SECTIONS:
        try:
            findings = probe()
        except Exception as exc:  # a probe must never take the report down
            findings = [Finding("missing", title, f"probe failed: {type(exc).__name__}: {exc}")]
        report.append((title, findings))
    return report


def format_report(report: list[tuple[str, list[Finding]]]) -> str:
    mark = {"ok": "ok     ", "missing": "MISSING", "info": "       "}
    lines = ["affectedge doctor"]
    for title, findings in report:
        lines.append(f"\n{title}")
        for f in findings:
            lines.append(f"  {mark[f.status]} {f.what:<18} {f.detail}")
            if f.fix:
                lines.append(f"  {'':7} {'':<18} -> {f.fix}")
    missing = sum(f.status == "missing" for _, fs in report for f in fs)
    lines.append(f"\n{missing} thing(s) missing" if missing else "\nnothing missing")
    return "\n".join(lines)


def run_doctor(fitting_board_only: bool = False) -> int:
    if fitting_board_only:
        board, why = detect_board()
        if board is None:
            print(why, file=sys.stderr)
            return 1
        print(board)
        return 0
    print(format_report(collect()))
    return 0
