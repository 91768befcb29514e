"""`affectedge analyse`: one session from files, or a study (a folder or CSV manifest of sessions)."""

from __future__ import annotations

import sys
from pathlib import Path


def offset_seconds(text: str) -> float:
    """argparse type of the --*-start flags: finite, 0..MAX_START_S (the flag named by argparse)."""
    import argparse
    import math

    from ..sources.base import MAX_START_S

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(v) and 0.0 <= v <= MAX_START_S):
        raise argparse.ArgumentTypeError(f"{text} s is not an offset on the session clock (0 to {MAX_START_S:.0f} s)")
    return v


def cmd_analyse(args) -> int:
    from .inputs import SessionFiles
    from .session import analyse_session
    from .study import discover, run_study

    if args.out.exists() and not args.out.is_dir():
        print(f"affectedge analyse: --out {args.out} is a file, not a folder: name a folder (it is created if missing)", file=sys.stderr)
        return 2

    if args.study is not None:
        if args.video or args.audio or args.physiology:
            print("affectedge analyse: --study takes its sessions from the folder or manifest; drop --video/--audio/--physiology",
                  file=sys.stderr)
            return 2
        result = run_study(discover(args.study), args.out, args.config, args.workers, args.scheduler, progress=not args.quiet)
        print(f"{len(result.done)} session(s) analysed, {len(result.skipped)} already done (skipped), "
              f"{len(result.failed)} failed; {result.windows} windows in {result.seconds:.1f} s")
        for name, error in sorted(result.failed.items()):
            print(f"  failed: {name}: {error}")
        if result.dataset is not None:
            print(f"dataset: {result.dataset} (Parquet, partitioned by session)")
        if result.interrupted:
            print("interrupted: the finished sessions are kept; run the same command again to resume "
                  "(finished sessions are skipped)", file=sys.stderr)
            return 130
        return 1 if result.failed else 0
    files = SessionFiles(args.name, args.video, args.audio, tuple(args.physiology or ()),
                         args.video_start, args.audio_start, args.physiology_start, args.physiology_format)
    r = analyse_session(files, args.out, args.config, report=args.report)
    for warning in r.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{r.windows} windows in {r.seconds:.1f} s\nwrote {r.log}\n      {r.out / 'windows.parquet'}"
          + (f"\n      {r.out / 'report.html'}\n      {r.out / 'report.pdf'}" if args.report else ""))
    return 0


def add_parsers(sub) -> None:
    a = sub.add_parser("analyse", help="run the device's analysers over your own recordings: one session, or a whole study (docs/analyse.md)")
    a.add_argument("--video", type=Path, default=None, help="video file (its audio track is used when no --audio is given)")
    a.add_argument("--audio", type=Path, default=None, help="WAV file")
    a.add_argument("--physiology", type=Path, action="append", default=None, help="physiology file (see --physiology-format); repeat for several")
    a.add_argument("--physiology-format", choices=("affectedge", "rr_text", "e4", "edf"), default="affectedge",
                   help="affectedge: t,kind,value CSV; rr_text: RR intervals one per line (Polar/Kubios); e4: an Empatica E4 export folder; "
                        "edf: EDF/EDF+/BDF with EDA and HR channels")
    a.add_argument("--video-start", type=offset_seconds, default=0.0, metavar="S", help="where the video starts on the session clock (s)")
    a.add_argument("--audio-start", type=offset_seconds, default=0.0, metavar="S", help="where the audio starts on the session clock (s)")
    a.add_argument("--physiology-start", type=offset_seconds, default=0.0, metavar="S", help="offset added to the physiology times (s)")
    a.add_argument("--study", type=Path, default=None, help="a folder of session folders, or a CSV manifest (session,video,audio,physiology,...)")
    a.add_argument("--config", type=Path, default=None, help="service config whose perception/fusion/zones/window settings apply (its sources are replaced)")
    a.add_argument("--out", type=Path, default=Path("out/analyse"), help="output folder (a study: one folder per session plus windows/)")
    a.add_argument("--name", default="session", help="session name in the outputs (one session)")
    a.add_argument("--report", action="store_true", help="one session: also write the review report")
    a.add_argument("--workers", type=int, default=None, help="study: local processes (default: every core)")
    a.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT", help="study: run the sessions on this Dask cluster")
    a.add_argument("--quiet", action="store_true", help="study: no progress bar")
    a.set_defaults(func=cmd_analyse)
