"""Board profiles: a partial service config per board, which the user's config overrides key by key.

A profile (firmware_configs/boards/<name>.yaml) has the schema of the service config. The config
file is merged over it (``merge_config``): mappings merge key by key, anything else (a value, a
list, ``null``) replaces what the profile set, and a section whose ``backend`` differs from the
profile's is replaced whole, since its other keys belong to the other backend. Validation errors
point at whichever file set the offending key.
"""

from __future__ import annotations

import importlib.resources
import platform
from pathlib import Path
from typing import Any, Optional

from ..core.config_yaml import LocatedYaml, read_mapping
from ..core.errors import ConfigError

# The profiles are package data of affectedge.firmware_configs (firmware_configs/boards/ in the repo).
BOARDS_DIR = Path(str(importlib.resources.files("affectedge.firmware_configs") / "boards"))


def board_names() -> list[str]:
    """The shipped board profiles, by name."""
    return sorted(p.stem for p in BOARDS_DIR.glob("*.yaml"))


def board_profile_path(board: str) -> Path:
    """A shipped profile by name, or a profile file given by path (for a board that ships none)."""
    if board.endswith((".yaml", ".yml")) or "/" in board:
        return Path(board)
    path = BOARDS_DIR / f"{board}.yaml"
    if not path.is_file():
        raise ConfigError([f"--board {board}: no such board profile; shipped: {', '.join(board_names())}"])
    return path


def _replaces(base: Any, override: Any) -> bool:
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return True
    return "backend" in base and "backend" in override and base["backend"] != override["backend"]


def merge_config(base: Any, override: Any) -> Any:
    """``override`` over ``base``: mappings key by key; a changed ``backend`` or any non-mapping replaces."""
    if _replaces(base, override):
        return override
    merged = dict(base)
    for key, value in override.items():
        merged[key] = merge_config(base[key], value) if key in base else value
    return merged


class LayeredYaml:
    """YAML files merged in order (later wins); an error is located in the file that set the key."""

    def __init__(self, layers: list[LocatedYaml]):
        self.layers = layers
        self.data: Any = {}
        self._owner: dict[tuple, int] = {}  # key path -> index of the layer its merged value came from
        for i, layer in enumerate(layers):
            self._own((), self.data, layer.data, i)
            self.data = merge_config(self.data, layer.data)

    def _own(self, prefix: tuple, base: Any, value: Any, i: int) -> None:
        replaced = _replaces(base, value)
        if replaced:  # what earlier layers set below this key is gone
            for key in [k for k in self._owner if len(k) > len(prefix) and k[: len(prefix)] == prefix]:
                del self._owner[key]
        self._owner[prefix] = i
        if isinstance(value, dict):
            for k, v in value.items():
                self._own(prefix + (k,), None if replaced else base.get(k), v, i)
        elif isinstance(value, list):
            for j, v in enumerate(value):
                self._own(prefix + (j,), None, v, i)

    def where(self, key_path: tuple) -> str:
        for n in range(len(key_path), -1, -1):
            if tuple(key_path[:n]) in self._owner:
                return self.layers[self._owner[tuple(key_path[:n])]].where(key_path)
        return self.layers[-1].where(key_path)


def read_layers(config_path: Path, board: Optional[str]) -> LayeredYaml:
    """The board's profile (if any) under the config file, each read with its line numbers."""
    layers = [read_mapping(board_profile_path(board), "board profile")] if board else []
    layers.append(read_mapping(config_path, "file"))
    return LayeredYaml(layers)


# ---------------------------------------------------------------------------- which board is this


def detect_board(root: Path = Path("/")) -> tuple[Optional[str], str]:
    """The shipped profile that fits this machine and the evidence, or (None, why none fits).

    Raspberry Pi and Jetson identify themselves in the device tree's model string; a Jetson also
    has /etc/nv_tegra_release (L4T). Any other x86-64 machine gets the generic profile.
    """
    model = _read_text(root / "proc/device-tree/model")
    if model:
        if model.startswith("Raspberry Pi 5"):
            return "pi5", f"device tree: {model}"
        if model.startswith("Raspberry Pi 4") or model.startswith("Raspberry Pi Compute Module 4"):
            return "pi4", f"device tree: {model}"
        if "Orin Nano" in model:
            return "jetson-orin-nano", f"device tree: {model}"
    tegra = _read_text(root / "etc/nv_tegra_release")
    if tegra:
        return "jetson-orin-nano", f"/etc/nv_tegra_release: {tegra.splitlines()[0]} (a Jetson; the Orin Nano profile is the closest shipped)"
    if model:
        return None, f"device tree says {model!r}, which no shipped profile describes; write one (see docs/service.md)"
    machine = platform.machine()
    if machine in ("x86_64", "AMD64"):
        return "x86-64", f"architecture {machine}, no board device tree"
    return None, f"architecture {machine} without a known device tree model; no shipped profile fits"


def _read_text(path: Path) -> str:
    try:
        # Device-tree strings end in NUL.
        return path.read_bytes().decode("utf-8", "replace").rstrip("\x00").strip()
    except OSError:
        return ""
