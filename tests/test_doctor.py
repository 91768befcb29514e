"""`affectedge doctor` on this machine (no camera, microphone or Bluetooth) and on broken installs."""

from __future__ import annotations

import glob
import hashlib
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from affectedge.service.doctor import format_report, probe_models

REPO = Path(__file__).resolve().parents[1]


def doctor(*args: str, pre: str = "", extra_path: str | None = None) -> subprocess.CompletedProcess:
    code = f"{pre}\nimport sys\nfrom affectedge.cli import main\nsys.exit(main(['doctor', *{list(args)!r}]))"
    env = dict(os.environ)
    if extra_path:
        env["PYTHONPATH"] = extra_path + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


def test_reports_every_section_and_what_this_machine_lacks():
    r = doctor()
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for section in ("machine", "camera", "audio", "bluetooth", "runtimes", "models", "board"):
        assert f"\n{section}\n" in out
    assert f"{platform.machine()}, {os.cpu_count()} cores" in out
    # Each finding matches what the machine really has.
    if not glob.glob("/dev/video*"):
        assert "MISSING camera" in out and "attach a USB webcam" in out
    if not Path("/proc/asound").exists():
        assert "MISSING sound cards" in out
    if not any(Path("/sys/class/bluetooth").glob("hci*")) if Path("/sys/class/bluetooth").exists() else True:
        assert "MISSING bluetooth adapter" in out
    if not shutil.which("bluetoothd") and not Path("/usr/libexec/bluetooth/bluetoothd").exists():
        assert "sudo apt install bluez" in out
    if platform.machine() == "x86_64" and not Path("/proc/device-tree/model").exists():
        assert "board profile      x86-64" in out
    assert "thing(s) missing" in out or "nothing missing" in out


def test_fitting_board_prints_only_the_name():
    r = doctor("--fitting-board")
    if platform.machine() == "x86_64" and not Path("/proc/device-tree/model").exists():
        assert (r.returncode, r.stdout) == (0, "x86-64\n")


def test_a_missing_runtime_names_its_extra():
    # sys.modules[name] = None makes `import name` fail as if it were not installed.
    r = doctor(pre="import sys; sys.modules['bleak'] = None; sys.modules['onnxruntime'] = None")
    assert r.returncode == 0, r.stderr
    assert "MISSING bleak" in r.stdout and "pip install 'affectedge[ble]'" in r.stdout
    # onnxruntime is only needed where ONNX models run by default (a Jetson); elsewhere its absence
    # is information that still names the extra (the VAD runs in NumPy).
    if platform.machine() == "x86_64" and not Path("/proc/device-tree/model").exists():
        assert "MISSING onnxruntime" not in r.stdout
        line = next(x for x in r.stdout.splitlines() if "onnxruntime" in x and "not installed" in x)
        assert "face.backend onnx" in line and "pip install 'affectedge[onnx]'" in line


def test_a_runtime_that_crashes_on_import_is_reported_not_raised(tmp_path):
    # As tflite_runtime does under NumPy 2: the module is there but raises while importing.
    (tmp_path / "cv2.py").write_text("raise AttributeError('_ARRAY_API not found')\n")
    r = doctor(extra_path=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "MISSING cv2" in r.stdout and "does not import: AttributeError: _ARRAY_API not found" in r.stdout


def test_models_checked_against_their_sha256(tmp_path):
    good = tmp_path / "good.tflite"
    shutil.copy(REPO / "device" / "fusion" / "fuse.py", good)  # any real file stands for a model here
    bad = tmp_path / "bad.tflite"
    shutil.copy(good, bad)
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    data = bytearray(bad.read_bytes())
    data[100] ^= 0xFF  # one flipped byte on disk
    bad.write_bytes(bytes(data))
    tensors = "inputs: [{name: x, shape: [1, 4], dtype: float32}], outputs: [{name: y, shape: [1, 2], dtype: float32}]"
    (tmp_path / "manifest.yaml").write_text(
        "models:\n"
        f"  good: {{files: {{tflite: {{file: good.tflite, sha256: {digest}}}}}, {tensors}}}\n"
        f"  bad: {{files: {{tflite: {{file: bad.tflite, sha256: {digest}}}}}, {tensors}}}\n"
        f"  gone: {{files: {{onnx: {{file: gone.onnx, sha256: {digest}}}}}, {tensors}}}\n"
    )
    findings = {f.what: f for f in probe_models(tmp_path / "manifest.yaml")}
    assert findings["model good"].status == "ok" and "sha256 ok" in findings["model good"].detail
    assert findings["model bad"].status == "missing" and "does not match the manifest" in findings["model bad"].detail
    assert findings["model gone"].status == "missing" and "not found" in findings["model gone"].detail
    assert "MISSING" in format_report([("models", list(findings.values()))])


def test_no_manifest_is_reported(tmp_path):
    (finding,) = probe_models(tmp_path / "manifest.yaml")
    assert finding.status == "missing" and "model manifest not found" in finding.detail
