"""Stress-Predict (Iqbal et al. 2022) subjects S01-S20 through affectedge: labels, baseline, analysis.

    python -m affectedge_tools.data.stress_predict RAW_DATA_DIR --out DIR [--subjects S01-S20]

For each subject folder ``RAW_DATA_DIR/SXX`` (an Empatica E4 export and ``tags_SXX.csv``):

1. **labels** (``DIR/SXX/labels.csv``): the protocol's spans on the E4's clock, from the tags:
   rest before the Stroop test, Stroop, rest, interview, rest, hyperventilation, rest; ``label``
   is ``stress`` or ``rest`` and ``task`` names the span. The tags are the start and end of each
   task; a subject's seven protocol tags are the run of seven whose sixth minus fifth (the
   hyperventilation, about two minutes) lies in 90-200 s. Tags off by twelve hours (S17, S18: an
   AM/PM slip in the logging) are moved back by twelve hours, and the tool says so.
2. **baseline** (``DIR/SXX/profiles``): ``affectedge calibrate`` on the first rest (the span before
   the Stroop test), adult heart-rate norms.
3. **session log** (``DIR/SXX/session.sqlite``): ``affectedge analyse`` of the whole recording
   against that baseline, and the labels stored in it with ``affectedge label``.
4. **personalise** (with ``--personalise``): ``affectedge personalise`` on each subject's log,
   which writes a personal head into the subject's profile only where it beats the generic
   arousal beyond the interval; then one table: per subject the generic and the personal ROC AUC
   (mean over the three task rotations), with and without the hyperventilation, and whether it
   was written; medians and counts below it.

Subjects S21-S35 are never read: they are held out for an independent check (issue 24); the
tool refuses them. Nothing of the data set is committed except the test subset in
tests/data/stress_predict (MIT, with the citation).
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ALLOWED = tuple(f"S{i:02d}" for i in range(1, 21))
TWELVE_HOURS = 43_200.0
TASKS = ("rest0", "stroop", "rest1", "interview", "rest2", "hyperventilation", "rest3")
STRESS = frozenset({"stroop", "interview", "hyperventilation"})
# Which spans go together when a personal model is trained on two tasks and tested on the third:
# each task with the rest before it (the last rest goes with the last task).
BLOCKS = {"rest0": "stroop", "stroop": "stroop", "rest1": "interview", "interview": "interview",
          "rest2": "hyperventilation", "hyperventilation": "hyperventilation", "rest3": "hyperventilation"}


class ProtocolError(Exception):
    """A subject's tags do not give the protocol's seven spans (the subject is left out, and said so)."""


@dataclass(frozen=True)
class Protocol:
    subject: str
    t0: float                       # the E4's clock origin (earliest file start, UNIX s)
    spans: list[tuple[float, float, str]]   # (start, end, task) on the E4 clock
    notes: list[str]


def subjects(spec: str) -> list[str]:
    """``S01-S20`` or ``S01,S05``; refuses the held-out S21-S35."""
    out = []
    for part in spec.split(","):
        part = part.strip().upper()
        if "-" in part:
            a, b = part.split("-")
            out += [f"S{i:02d}" for i in range(int(a[1:]), int(b[1:]) + 1)]
        elif part:
            out.append(part)
    refused = [s for s in out if s not in ALLOWED]
    if refused:
        raise SystemExit(f"{', '.join(refused)}: only S01-S20 may be read; S21-S35 are held out for an independent check")
    return out


def e4_origin(folder: Path) -> float:
    starts = []
    for name in ("EDA.csv", "HR.csv", "IBI.csv"):
        path = folder / name
        if path.is_file():
            with path.open() as f:
                starts.append(float(f.readline().split(",")[0]))
    if not starts:
        raise SystemExit(f"{folder}: no EDA.csv, HR.csv or IBI.csv")
    return min(starts)


def protocol(folder: Path, subject: str) -> Protocol:
    t0 = e4_origin(folder)
    tags_path = folder / f"tags_{subject}.csv"
    tags = [float(line.split(",")[0]) for line in tags_path.read_text().split() if line.strip()]
    notes = []
    fixed = []
    for i, t in enumerate(tags):
        rel = t - t0
        if rel < -TWELVE_HOURS / 2 or rel > TWELVE_HOURS:
            moved = rel + TWELVE_HOURS if rel < 0 else rel - TWELVE_HOURS
            notes.append(f"{tags_path.name}:{i + 1}: tag {rel:.0f} s from the recording's start, moved by 12 h to {moved:.0f} s")
            rel = moved
        fixed.append(rel)
    run = None
    for i in range(len(fixed) - 6):
        seven = fixed[i:i + 7]
        if all(b > a for a, b in zip(seven, seven[1:])) and 90.0 <= seven[5] - seven[4] <= 200.0:
            run = seven
            break
    if run is None:
        raise ProtocolError(f"{tags_path}: no run of seven increasing tags with a 90-200 s hyperventilation "
                            f"(tags at {', '.join(f'{t:.0f}' for t in fixed)} s): the protocol's spans cannot be told")
    if i:
        notes.append(f"{tags_path.name}: the protocol's tags are {i + 1}-{i + 7} of {len(fixed)}")
    bounds = [0.0, *run]
    spans = [(bounds[k], bounds[k + 1], TASKS[k]) for k in range(7)]
    return Protocol(subject, t0, spans, notes)


def write_labels(p: Protocol, path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["start", "end", "label", "task"])
        for a, b, task in p.spans:
            w.writerow([f"{a:.3f}", f"{b:.3f}", "stress" if task in STRESS else "rest", task])


def _affectedge(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "affectedge", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"affectedge {' '.join(args)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r.stdout


def prepare(folder: Path, subject: str, out: Path, check_s: float = 35.0) -> Path:
    """Labels, baseline on the first rest, and the labelled session log of one subject. The sensor
    check takes 35 s (an E4's first beat interval comes by 30 s); the baseline is the rest after it."""
    out.mkdir(parents=True, exist_ok=True)
    p = protocol(folder, subject)
    write_labels(p, out / "labels.csv")
    rest_end = p.spans[0][1]
    config = {
        "device": {"subject_id": f"stress-predict-{subject.lower()}"},
        "run": {"pace": "fast"}, "log": {"console": False},
        "sources": {"physiology": [{"backend": "replay_csv", "path": str(folder.resolve()), "format": "e4"}]},
        "perception": {"physiology": {"population": "adult"}},
        "calibration": {"check_s": check_s, "profiles_dir": str(out / "profiles"),
                        "baseline": {"duration_s": max(60.0, rest_end - check_s), "min_duration_s": 60.0}},
    }
    (out / "calibrate.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    _affectedge("calibrate", "--config", str(out / "calibrate.yaml"), "--profiles", str(out / "profiles"),
                "--secret", str(out / "pseudonym.secret"), "--force")
    profile = next((out / "profiles").glob("*/current.yaml"))
    analyse = {"perception": {"physiology": {"population": "adult"}, "baseline_profile": str(profile)}}
    (out / "analyse.yaml").write_text(yaml.safe_dump(analyse, sort_keys=False))
    _affectedge("analyse", "--physiology", str(folder.resolve()), "--physiology-format", "e4", "--config",
                str(out / "analyse.yaml"), "--out", str(out / "analysis"), "--name", subject)
    log = out / "analysis" / "session.sqlite"
    _affectedge("label", str(log), "--labels", str(out / "labels.csv"))
    for n in p.notes:
        print(f"{subject}: {n}")
    return log


def personalise_table(out: Path, names: list[str]) -> str:
    """``affectedge personalise`` per prepared subject (writing where it wins) and the table."""
    import json
    import statistics

    rows = []
    for s in names:
        folder = out / s
        log = folder / "analysis" / "session.sqlite"
        if not log.is_file():
            continue
        subject = next((folder / "profiles").glob("*/current.yaml")).parent.name
        _affectedge("personalise", str(log), "--subject", subject, "--profiles", str(folder / "profiles"), "--out", str(folder))
        r = json.loads((folder / f"personalise-{subject}.json").read_text())
        f = r["figures"]
        hv = f["without"].get("hyperventilation", {})
        rows.append((s, f["generic_auc"], f["personal_auc"], hv.get("generic_auc"), hv.get("personal_auc"),
                     f["difference_low"], f["difference_high"], r["written"] is not None))
    lines = [f"{'subject':<8}{'generic':>9}{'personal':>10}{'generic -HV':>13}{'personal -HV':>14}  {'difference 95% CI':<20}written",
             *(f"{s:<8}{g:>9.3f}{p:>10.3f}{gh:>13.3f}{ph:>14.3f}  [{lo:+.3f}, {hi:+.3f}]    {'yes' if w else 'no'}"
               for s, g, p, gh, ph, lo, hi, w in rows)]
    med = [statistics.median(r[i] for r in rows) for i in (1, 2, 3, 4)]
    better = sum(1 for r in rows if r[2] > r[1])
    lines.append(f"{'median':<8}{med[0]:>9.3f}{med[1]:>10.3f}{med[2]:>13.3f}{med[3]:>14.3f}")
    lines.append(f"personal above generic in {better} of {len(rows)} subjects; beyond the interval (written) in "
                 f"{sum(1 for r in rows if r[7])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("raw", type=Path, help="the data set's Raw_data folder")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--subjects", default="S01-S20", help="S01-S20 (default) or a comma list; S21-S35 are held out and refused")
    ap.add_argument("--personalise", action="store_true", help="then run affectedge personalise on each and print the table")
    ap.add_argument("--skip-prepare", action="store_true", help="use the logs already in --out (with --personalise)")
    args = ap.parse_args(argv)
    left_out = []
    names = subjects(args.subjects)
    for s in ([] if args.skip_prepare else names):
        try:
            log = prepare(args.raw / s, s, args.out / s)
        except ProtocolError as exc:
            left_out.append(s)
            print(f"{s}: left out: {exc}")
            continue
        print(f"{s}: {log}")
    if left_out:
        print(f"left out: {', '.join(left_out)}")
    if args.personalise:
        print(personalise_table(args.out, names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
