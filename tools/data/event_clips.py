"""Label files of real recordings for scoring the vocal-event detector, split into calibration and test.

    python -m affectedge_tools.data.event_clips --out DIR [--donateacry DIR] [--nonverbal DIR] [--cache DIR]

Writes ``DIR/calibration.csv`` and ``DIR/test.csv`` (``file,label,group``, what
``affectedge evaluate --events`` reads) and ``DIR/make-up.json``. The split is by group (a baby's
app install, a speaker, a prompt), by the sha256 of its id, so no group is in both halves:
thresholds are chosen on calibration.csv (``affectedge_tools.models.choose_event_thresholds``) and
reported on test.csv, never the other way round.

Sets (docs/accuracy.md has their make-up):

* ``--donateacry``: the donateacry corpus's cleaned WAVs (gveres/donateacry-corpus,
  ``donateacry_corpus_cleaned_and_updated_data``; ODbL): infant cries -> distress; group = the
  app install's id.
* ``--nonverbal``: the Deeply Nonverbal Vocalization Dataset's ``dataset`` folder
  (deeplyinc/Nonverbal-Vocalization-Dataset at 3be16dc74cbf40e0d6f8372d2657b41f8a2ba284; CC BY-NC-ND 4.0, so it is read in place, never
  copied or committed): crying, screaming, moaning -> distress; laughing -> laughter; its other
  twelve sounds (coughs, sighs, yawns, sneezes...) -> other; group = the speaker id.
* ordinary speech, always: every prompt of Debian's asterisk-core-sounds-{en,es,fr,it,ru}-wav
  (four speakers, 8 kHz, CC-BY-SA-3.0; their tones, silences and tt-monkeys are "other"), the
  eight speaker-test prompts of alsa-utils and pyannote.audio's two-speaker sample, fetched like
  the demo session's (``--cache``) and written under ``DIR/speech/`` (outside the repository: GPL
  and CC-BY-SA data). Each prompt is its own group.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

from .build_demo_session import (ALSA_DIR, ALSA_PROMPTS, ALSA_UTILS, PYANNOTE, PYANNOTE_SAMPLE, DebPackage,
                                 default_cache_dir, fetch_deb, fetch_pypi, read_deb_members, read_member)

REPO_ROOT = Path(__file__).resolve().parents[2]
NONVERBAL_LABELS = {"crying": "distress", "screaming": "distress", "moaning": "distress", "laughing": "laughter"}
ASTERISK_ROOT = "usr/share/asterisk/sounds/"
# Debian's Asterisk prompts in five languages, four speakers (CC-BY-SA-3.0, like the demo's).
ASTERISK_PACKAGES = tuple(DebPackage(f"asterisk-core-sounds-{lang}-wav", "CC-BY-SA-3.0") for lang in ("en", "es", "fr", "it", "ru"))
# Files among the prompts that are not speech: tones, digital silence, and tt-monkeys (monkeys
# screeching, which the first test run counted as a false distress alarm "on speech").
ASTERISK_NOT_SPEECH = frozenset({"beep", "beeperr", "ascending-2tone", "descending-2tone", "tt-monkeys"})


def half(group: str) -> str:
    """'calibration' or 'test', fixed by the group's id."""
    return "calibration" if hashlib.sha256(group.encode("utf-8")).digest()[0] % 2 == 0 else "test"


def donateacry_rows(folder: Path) -> list[tuple[Path, str, str, str]]:
    rows = []
    for wav in sorted(folder.rglob("*.wav")):
        install = wav.name[:36]  # the app instance's uuid (the corpus's file-name convention)
        rows.append((wav, "distress", f"donateacry:{install}", f"donateacry/{wav.parent.name}"))
    if not rows:
        raise SystemExit(f"{folder}: no .wav files (give the corpus's donateacry_corpus_cleaned_and_updated_data folder)")
    return rows


def nonverbal_rows(folder: Path) -> list[tuple[Path, str, str, str]]:
    rows = []
    for wav in sorted(folder.glob("*/*.wav")):
        sound = wav.parent.name
        speaker = wav.name.split("_")[0]
        rows.append((wav, NONVERBAL_LABELS.get(sound, "other"), f"nonverbal:{speaker}", f"nonverbal/{sound}"))
    if not rows:
        raise SystemExit(f"{folder}: no class folders of .wav files (give the dataset's dataset/ folder)")
    return rows


def speech_rows(out: Path, cache: Path) -> list[tuple[Path, str, str, str]]:
    """Ordinary speech from the registries, written under ``out/speech``."""
    speech = out / "speech"
    speech.mkdir(parents=True, exist_ok=True)
    rows = []
    wheel = fetch_pypi(PYANNOTE, cache)
    sample = speech / "pyannote-sample.wav"
    sample.write_bytes(read_member(wheel, PYANNOTE_SAMPLE + "sample.wav"))
    rows.append((sample, "speech", "pyannote-sample", "speech/pyannote sample (two speakers)"))
    deb = fetch_deb(ALSA_UTILS, cache)
    if deb is not None:
        members = [f"{ALSA_DIR}{n}.wav" for n in ALSA_PROMPTS]
        for member, data in read_deb_members(deb, members).items():
            dest = speech / f"alsa-{Path(member).name}"
            dest.write_bytes(data)
            rows.append((dest, "speech", "alsa-speaker-test", "speech/alsa-utils speaker-test"))
    for package in ASTERISK_PACKAGES:
        deb = fetch_deb(package, cache)
        if deb is None:
            print(f"apt-get could not fetch {package.name}: the speech set is smaller", file=sys.stderr)
            continue
        tar_bytes = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as t:
            for m in sorted(t.getmembers(), key=lambda m: m.name):
                name = m.name.removeprefix("./")
                if not (m.isfile() and name.startswith(ASTERISK_ROOT) and name.endswith(".wav")):
                    continue
                voice, rel = name[len(ASTERISK_ROOT):].split("/", 1)
                stem = rel[:-4]
                dest = speech / f"asterisk-{voice}-{rel.replace('/', '-')}"
                dest.write_bytes(t.extractfile(m).read())
                if stem in ASTERISK_NOT_SPEECH or stem.startswith("silence/"):
                    rows.append((dest, "other", f"asterisk:{voice}:{rel}", "other/asterisk tones, silence, monkeys"))
                else:
                    rows.append((dest, "speech", f"asterisk:{voice}:{rel}", f"speech/asterisk prompts ({voice})"))
    return rows


def write(out: Path, rows: list[tuple[Path, str, str, str]]) -> dict:
    make_up: dict = {"calibration": {}, "test": {}}
    files = {"calibration": [], "test": []}
    for path, label, group, source in rows:
        h = half(group)
        files[h].append((str(path.resolve()), label, group))
        entry = make_up[h].setdefault(source, {"label": label, "clips": 0, "groups": set()})
        entry["clips"] += 1
        entry["groups"].add(group)
    for h, items in files.items():
        with (out / f"{h}.csv").open("w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["file", "label", "group"])
            w.writerows(items)
    for h in make_up:
        for entry in make_up[h].values():
            entry["groups"] = len(entry["groups"])
    (out / "make-up.json").write_text(json.dumps(make_up, indent=1, sort_keys=True) + "\n")
    return make_up


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for the label files and the speech clips (outside the repository)")
    p.add_argument("--donateacry", type=Path, default=None, help="donateacry_corpus_cleaned_and_updated_data folder")
    p.add_argument("--nonverbal", type=Path, default=None, help="the Deeply Nonverbal Vocalization Dataset's dataset/ folder")
    p.add_argument("--cache", type=Path, default=None, help="download cache (default: the demo session's)")
    args = p.parse_args(argv)
    out = args.out.resolve()
    if out == REPO_ROOT or REPO_ROOT in out.parents:
        raise SystemExit(f"{out}: inside the repository; the clips include GPL and CC-BY-SA recordings, write them elsewhere")
    out.mkdir(parents=True, exist_ok=True)
    cache = args.cache or default_cache_dir()
    rows = speech_rows(out, cache)
    if args.donateacry is not None:
        rows += donateacry_rows(args.donateacry)
    if args.nonverbal is not None:
        rows += nonverbal_rows(args.nonverbal)
    make_up = write(out, rows)
    for h, sources in make_up.items():
        print(f"{h}:")
        for source, e in sorted(sources.items()):
            print(f"  {source:<45} {e['label']:<9} {e['clips']:5d} clips {e['groups']:4d} groups")
    print(f"wrote {out / 'calibration.csv'} and {out / 'test.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
