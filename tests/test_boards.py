"""Board profiles: merging under the config file, errors located in the right file, board detection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from affectedge.config.boards import BOARDS_DIR, board_names, detect_board, merge_config
from affectedge.config.app import load_config
from affectedge.core.errors import ConfigError

# A profile using only keys that exist on every branch (the shipped ones also set camera/face/voice).
PROFILE = """\
window:
  length_s: 0.5
  smoothing_tau_s: 2.0
fusion:
  weights: {face: 1.0, voice: 0.5, physiology: 0.8}
sources:
  physiology:
    - backend: replay_csv
      path: /profile/physio.csv
log:
  console: false
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_merge_mappings_key_by_key_and_replace_everything_else():
    base = {"a": {"x": 1, "y": {"p": 1, "q": 2}}, "l": [1, 2], "n": {"k": 1}, "s": 3}
    over = {"a": {"y": {"q": 20}, "z": 3}, "l": [9], "n": None, "t": 4}
    assert merge_config(base, over) == {"a": {"x": 1, "y": {"p": 1, "q": 20}, "z": 3}, "l": [9], "n": None, "s": 3, "t": 4}
    assert base["a"]["y"] == {"p": 1, "q": 2}  # inputs untouched


def test_a_section_with_another_backend_replaces_the_profiles_section():
    profile = {"camera": {"backend": "picamera2", "width": 640, "fps": 15}}
    assert merge_config(profile, {"camera": {"fps": 30}}) == {"camera": {"backend": "picamera2", "width": 640, "fps": 30}}
    user = {"camera": {"backend": "replay_video", "clips": [{"path": "a.mp4"}]}}
    assert merge_config(profile, user) == user


def test_config_overrides_profile_field_by_field(tmp_path):
    profile = write(tmp_path / "board.yaml", PROFILE)
    config = write(tmp_path / "cfg.yaml", "window:\n  length_s: 0.2\nfusion:\n  weights: {physiology: 1.0}\n")
    cfg = load_config(config, str(profile))
    assert cfg.window.length_s == 0.2          # overridden
    assert cfg.window.smoothing_tau_s == 2.0   # from the profile
    assert cfg.fusion.weights == {"face": 1.0, "voice": 0.5, "physiology": 1.0}  # mappings merge
    assert cfg.sources.physiology[0].path == Path("/profile/physio.csv")
    assert cfg.log.console is False
    # Without the board the same file gives the defaults.
    assert load_config(config).window.smoothing_tau_s == 1.0


def test_config_replaces_lists_and_can_remove_a_profile_section(tmp_path):
    profile = write(tmp_path / "board.yaml", PROFILE)
    config = write(tmp_path / "cfg.yaml", "sources:\n  physiology: []\n")
    assert load_config(config, str(profile)).sources.physiology == []


def test_errors_name_the_file_and_line_that_set_the_key(tmp_path):
    profile = write(tmp_path / "board.yaml", PROFILE.replace("smoothing_tau_s: 2.0", "smoothing_tau_s: -1"))
    config = write(tmp_path / "cfg.yaml", "device:\n  id: ok-id\nwindow:\n  lenght_s: 0.2\nsources:\n  physiology:\n    - backend: replay_csv\n")
    with pytest.raises(ConfigError) as info:
        load_config(config, str(profile))
    problems = info.value.problems
    assert any(p.startswith(f"{profile}:3: window.smoothing_tau_s: ") for p in problems), problems
    assert any(p.startswith(f"{config}:4: window.lenght_s: unknown key") for p in problems), problems
    # The user's list replaced the profile's, so its missing path is the user's line.
    assert any(p.startswith(f"{config}:7: sources.physiology[0].path: Field required") for p in problems), problems
    assert len(problems) == 3


def test_unknown_board_lists_the_shipped_ones(tmp_path):
    config = write(tmp_path / "cfg.yaml", "{}\n")
    with pytest.raises(ConfigError, match="no such board profile; shipped: .*pi5"):
        load_config(config, "pi3")


def test_cli_check_config_with_board(tmp_path):
    profile = write(tmp_path / "board.yaml", PROFILE)
    config = write(tmp_path / "cfg.yaml", "window:\n  length_s: 0.01\n")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "affectedge", *args], capture_output=True, text=True, timeout=60)

    bad = cli("check-config", "--board", str(profile), str(config))
    assert bad.returncode == 1 and f"{config}:2: window.length_s" in bad.stderr
    write(config, "window:\n  length_s: 0.3\n")
    good = cli("check-config", "--board", str(profile), str(config))
    assert good.returncode == 0 and "over board profile" in good.stdout, good.stderr
    unknown = cli("check-config", "--board", "pi3", str(config))
    assert unknown.returncode == 1 and "shipped: jetson-orin-nano, pi4, pi5, x86-64" in unknown.stderr


def test_the_four_boards_ship():
    assert board_names() == ["jetson-orin-nano", "pi4", "pi5", "x86-64"]


@pytest.mark.parametrize("board", ["jetson-orin-nano", "pi4", "pi5", "x86-64"])
def test_every_shipped_profile_validates_under_a_minimal_config(tmp_path, board):
    # Needs the camera backends (opencv, picamera2), perception.face and perception.voice of the
    # vision and voice work; see docs/service.md for the keys the profiles use.
    config = write(tmp_path / "cfg.yaml", "device:\n  id: board-test\n")
    cfg = load_config(config, board)
    assert cfg.sources.camera is not None and cfg.sources.microphone is not None


@pytest.mark.parametrize("board", ["jetson-orin-nano", "pi4", "pi5", "x86-64"])
def test_every_model_a_profile_names_ships_in_its_runtimes_format(board):
    from affectedge.inference import BACKENDS, model_spec

    face = yaml.safe_load((BOARDS_DIR / f"{board}.yaml").read_text())["perception"]["face"]
    for key in (face["detector_model"], face["expression_model"]):
        model_spec(key, BACKENDS[face["backend"]].format).verify_file()  # ModelError names what is missing


# Model strings as the boards' device trees give them (/proc/device-tree/model, NUL-terminated).
@pytest.mark.parametrize("files, expected", [
    ({"proc/device-tree/model": b"Raspberry Pi 5 Model B Rev 1.0\x00"}, "pi5"),
    ({"proc/device-tree/model": b"Raspberry Pi 4 Model B Rev 1.5\x00"}, "pi4"),
    ({"proc/device-tree/model": b"Raspberry Pi Compute Module 4 Rev 1.1\x00"}, "pi4"),
    ({"proc/device-tree/model": b"NVIDIA Jetson Orin Nano Developer Kit\x00"}, "jetson-orin-nano"),
    ({"etc/nv_tegra_release": b"# R36 (release), REVISION: 3.0, GCID: 36923193, BOARD: generic, EABI: aarch64\n"}, "jetson-orin-nano"),
    ({"proc/device-tree/model": b"Raspberry Pi 3 Model B Plus Rev 1.3\x00"}, None),
])
def test_detect_board_from_the_device_tree(tmp_path, files, expected):
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    board, why = detect_board(tmp_path)
    assert board == expected, why
    assert why


def test_detect_board_here_is_x86_64_without_a_device_tree(tmp_path):
    import platform

    board, why = detect_board(tmp_path)
    assert board == ("x86-64" if platform.machine() == "x86_64" else None), why
