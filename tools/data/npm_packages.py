"""npm packages that tools take model files from, pinned by sha256 and fetched with ``npm pack``
into the cache (never at run time on a device)."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NpmArchive:
    name: str
    version: str
    sha256: str
    licence: str

    @property
    def tarball(self) -> str:  # npm pack's file name: @scope/name -> scope-name-version.tgz
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"


HUMAN = NpmArchive("@vladmandic/human", "3.3.6", "425e9c51dbbca0c8934362b170cb0d54c2529c11c654b3c03092b16e9d6ad3f7", "MIT")
FACE_API = NpmArchive("@vladmandic/face-api", "1.7.15", "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031", "MIT")


def fetch_npm(archive: NpmArchive, cache: Path) -> Path:
    """The npm tarball from ``cache/npm``, fetched with ``npm pack`` if absent; sha256 checked
    (DownloadError when npm is missing or cannot fetch it, DemoSessionBuildError on a changed file)."""
    from ..data.build_demo_session import DemoSessionBuildError, DownloadError

    folder = cache / "npm"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / archive.tarball
    if not path.is_file():
        try:
            done = subprocess.run(["npm", "pack", f"{archive.name}@{archive.version}", "--pack-destination", str(folder)],
                                  capture_output=True, text=True)
        except OSError as exc:
            raise DownloadError(f"npm pack {archive.name}@{archive.version}: {exc}") from None
        if done.returncode != 0 or not path.is_file():
            raise DownloadError(f"npm pack {archive.name}@{archive.version} failed:\n{done.stderr.strip()[-2000:]}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != archive.sha256:
        raise DemoSessionBuildError(f"{path}: sha256 {digest} is not the pinned {archive.sha256}; delete the file and retry")
    return path
