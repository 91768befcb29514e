"""Per-person profiles on disk: PROFILES/<pseudonym>/<timestamp>.yaml, plus current.yaml.

Every calibration adds a timestamped file and replaces current.yaml (a copy, not a link: SD cards
formatted FAT have no links), so the history of a person's baselines is kept. A profile holds
only aggregates (means and SDs), never samples.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

from affectedge.perception.baseline import PersonBaseline, load_baseline

CURRENT = "current.yaml"


class ProfileStore:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    def folder(self, subject: str) -> Path:
        return self.root / subject

    def save(self, profile: PersonBaseline, comment: str = "") -> Path:
        """Write the profile as a new history entry and as current.yaml; return the entry's path.

        The text is validated by reading it back with the service's own loader before it
        replaces current.yaml, so the service can never be handed a profile it cannot read.
        """
        folder = self.folder(profile.subject)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = profile.created.strftime("%Y%m%dT%H%M%SZ")
        entry = folder / f"{stamp}.yaml"
        n = 1
        while entry.exists():  # two calibrations in one second keep both
            n += 1
            entry = folder / f"{stamp}-{n}.yaml"
        header = "".join(f"# {line}\n" for line in comment.splitlines())
        text = header + yaml.safe_dump(profile.model_dump(mode="json", exclude_none=True), sort_keys=False)
        _write_atomic(entry, text)
        load_baseline(entry)
        _write_atomic(folder / CURRENT, text)
        return entry

    def history(self, subject: str) -> list[Path]:
        """The subject's profiles, oldest first (current.yaml excluded)."""
        return sorted(p for p in self.folder(subject).glob("*.yaml") if p.name != CURRENT)

    def current(self, subject: str) -> Path:
        return self.folder(subject) / CURRENT


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
