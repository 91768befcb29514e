"""The `review` and `export` subcommands (argument handling only; the work is in this package)."""

from __future__ import annotations

import sys
from datetime import datetime, timezone, tzinfo
from pathlib import Path

from ..core.errors import AffectEdgeError


class ReviewArgumentError(AffectEdgeError):
    """A command-line value of review/export is invalid."""


def timezone_named(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReviewArgumentError(f"--timezone {name!r}: unknown time zone (use e.g. UTC or Europe/London)") from None


def parse_time(value: str | None, tz: tzinfo, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ReviewArgumentError(f"{option} {value!r}: expected an ISO 8601 time such as 2025-03-14T09:30") from None
    return when if when.tzinfo else when.replace(tzinfo=tz)


def read_logs(paths: list[Path], key_file: Path | None = None):
    """Read every log; a damaged one is reported and its readable part kept."""
    from .log_reader import log_paths, read_log

    logs = []
    for p in log_paths(paths):
        data = read_log(p, key_file)
        for problem in data.problems:
            print(f"affectedge: warning: {problem}", file=sys.stderr)
        if data.problems:
            print(f"affectedge: {p}: readable: {len(data.runs)} run(s), {len(data.windows)} windows, "
                  f"{len(data.estimates)} estimates, {len(data.events)} events", file=sys.stderr)
        logs.append(data)
    return logs


def _dataset_filters(args, tz) -> dict:
    return {"devices": args.device or (), "subject": args.subject,
            "t_from": parse_time(args.t_from, tz, "--from"), "t_to": parse_time(args.t_to, tz, "--to")}


def cmd_review(args) -> int:
    from ..fleet.dataset_review import is_dataset
    from .report import build_report, render_html, render_pdf

    tz = timezone_named(args.timezone)
    if len(args.logs) == 1 and is_dataset(args.logs[0]):
        from ..fleet.dataset_review import per_device, render_html as render_site

        filters = _dataset_filters(args, tz)
        columns, rows = per_device(args.logs[0], **filters)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "site-report.html").write_text(render_site(args.logs[0], columns, rows, filters), encoding="utf-8")
        print(f"wrote {args.out / 'site-report.html'} ({len(rows)} device(s))")
        return 0
    logs = read_logs(args.logs, args.key)
    rep = build_report(logs, tz)
    if args.labels is not None:
        from .evaluate import evaluate_log
        from .labels import read_session_labels

        labels = read_session_labels(args.labels)
        rep.evaluations = [evaluate_log(data, labels) for data in logs]
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    html_path = out / "report.html"
    html_path.write_text(render_html(rep), encoding="utf-8")
    print(f"wrote {html_path}")
    if not args.no_pdf:
        pdf_path = out / "report.pdf"
        render_pdf(rep, pdf_path, out / "report-first-page.png")
        print(f"wrote {pdf_path}\n      {out / 'report-first-page.png'}")
    return 0


def cmd_label(args) -> int:
    """Caregivers' labels added to a session log afterwards, from a label file."""
    from ..sinks.session_log import append_labels
    from .labels import read_session_labels

    labels = read_session_labels(args.labels)
    (data,) = read_logs([args.log], args.key)
    if data.windows:
        start, end = min(w.start for w in data.windows), max(w.end for w in data.windows)
        outside = [s for s in labels.spans if s.end <= start or s.start >= end]
        if outside:
            s = outside[0]
            print(f"affectedge label: {args.labels}: {len(outside)} span(s) fall outside the log's session "
                  f"({start:g}-{end:g} s), the first {s.start:g}-{s.end:g} s; label times are seconds from the session's start",
                  file=sys.stderr)
            return 2
    cipher = None
    if args.key is not None:
        from ..privacy.log_crypto import LogCipher

        cipher = LogCipher.from_key_file(args.key)
    spans = [{"start": s.start, "end": s.end, "label": s.label, "valence": s.valence, "arousal": s.arousal, "task": s.task}
             for s in labels.spans]
    added, duplicates = append_labels(args.log, spans, f"file:{Path(args.labels).name}", cipher)
    print(f"{args.log}: {added} label span(s) added, {duplicates} already there (not added twice)")
    return 0


def cmd_evaluate(args) -> int:
    from .evaluate import evaluate_images, evaluate_log, format_text, reliability_figure
    from .labels import read_image_labels, read_session_labels, stored_labels

    if args.events is not None:
        return _evaluate_events(args)
    if (args.log is None) == (args.images is None):
        print("affectedge evaluate: give a session LOG with --labels FILE, or --images FILE (image,label) or FOLDER (class folders), "
              "or --events FILE (file,label audio clips)", file=sys.stderr)
        return 2
    if args.log is not None and (args.faces_cropped or args.model or args.backend):
        print("affectedge evaluate: --faces-cropped, --model and --backend go with --images", file=sys.stderr)
        return 2
    if args.log is not None:
        (data,) = read_logs([args.log], args.key)
        labels = read_session_labels(args.labels) if args.labels is not None else stored_labels(data, args.log)
        ev = evaluate_log(data, labels)
    else:
        from ..config.app import load_config
        from ..perception.face import FaceConfig, load_face_path

        face = load_config(args.config).perception.face if args.config else FaceConfig()
        if args.model is not None:
            face = face.model_copy(update={"expression_model": args.model, "backend": args.backend or face.backend})
        elif args.backend is not None:
            face = face.model_copy(update={"backend": args.backend})
        ev = evaluate_images(read_image_labels(args.images), load_face_path(face), str(args.images), cropped=args.faces_cropped)
    print(format_text(ev))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "evaluation.json").write_text(ev.to_json() + "\n", encoding="utf-8")
        fig = reliability_figure(ev)
        fig.savefig(args.out / "reliability.png", dpi=110)
        print(f"wrote {args.out / 'evaluation.json'}\n      {args.out / 'reliability.png'}")
    return 0


def _evaluate_events(args) -> int:
    from ..config.app import load_config
    from ..perception.audio_events import AudioEventModel
    from ..perception.voice import VoiceConfig
    from ..perception.vocal_events import VocalEventDetector
    from .evaluate_events import evaluate_events, format_events_text
    from .labels import read_clip_labels

    if args.log is not None or args.images is not None or args.labels is not None:
        print("affectedge evaluate: --events scores audio clips on its own; leave out LOG, --labels and --images", file=sys.stderr)
        return 2
    clips = read_clip_labels(args.events)
    events = (load_config(args.config).perception.voice if args.config else VoiceConfig()).events
    model = AudioEventModel(threads=events.threads)

    def progress(done: int, total: int) -> None:
        if done % 200 == 0 or done == total:
            print(f"  {done}/{total} clips", file=sys.stderr)

    ev = evaluate_events(clips, lambda: VocalEventDetector(events, model=model, keep_scores=True), str(args.events), progress)
    print(format_events_text(ev))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "events-evaluation.json").write_text(ev.to_json() + "\n", encoding="utf-8")
        print(f"wrote {args.out / 'events-evaluation.json'}")
    return 0


def cmd_export(args) -> int:
    from .export import table_rows, write_tables

    tz = timezone_named(args.timezone)
    t_from, t_to = parse_time(args.t_from, tz, "--from"), parse_time(args.t_to, tz, "--to")
    from ..fleet.dataset_review import is_dataset, query

    if len(args.logs) == 1 and is_dataset(args.logs[0]):
        columns, rows = query(args.logs[0], "*", args.device or (), args.subject, t_from, t_to, order_by="device, seq")
        table = [dict(zip(columns, r)) for r in rows]
        for name, path in write_tables({"summaries": table}, args.out, args.format).items():
            print(f"wrote {path} ({len(table)} rows)")
        return 0
    logs = read_logs(args.logs, args.key)
    tables = table_rows(logs, t_from, t_to, args.subject)
    for name, path in write_tables(tables, args.out, args.format).items():
        print(f"wrote {path} ({len(tables[name])} rows)")
    return 0


def add_parsers(sub) -> None:
    r = sub.add_parser("review", help="report on one or more session logs (HTML and PDF); never modifies the logs")
    r.add_argument("logs", type=Path, nargs="+", metavar="LOG", help="session log file(s), a folder of rotated logs, or a collector dataset folder")
    r.add_argument("--key", type=Path, default=None, help="key file of encrypted logs (log.encryption_key_file)")
    r.add_argument("--out", type=Path, default=Path("out/review"), help="folder for report.html, report.pdf and report-first-page.png (default: out/review)")
    r.add_argument("--timezone", default="UTC", help="time zone for clock times and days (default UTC; e.g. Europe/London)")
    r.add_argument("--no-pdf", action="store_true", help="write only the HTML report")
    r.add_argument("--device", action="append", default=None, help="a collector dataset: only this device (repeat for several)")
    r.add_argument("--subject", default=None, metavar="PSEUDONYM", help="a collector dataset: only this subject")
    r.add_argument("--from", dest="t_from", default=None, help="a collector dataset: summaries created at or after (ISO 8601)")
    r.add_argument("--to", dest="t_to", default=None, help="a collector dataset: summaries created before (ISO 8601)")
    r.add_argument("--labels", type=Path, default=None, help="human labels of the session (see `affectedge evaluate`): the report adds the agreement figures")
    r.set_defaults(func=cmd_review)

    e = sub.add_parser("export", help="export windows, estimates, events, labels (and summaries) to CSV or Parquet")
    e.add_argument("logs", type=Path, nargs="+", metavar="LOG", help="session log file(s), or a folder of rotated logs")
    e.add_argument("--key", type=Path, default=None, help="key file of encrypted logs")
    e.add_argument("--format", choices=("csv", "parquet"), default="csv")
    e.add_argument("--from", dest="t_from", default=None, help="keep records at or after this clock time (ISO 8601; --timezone if no offset)")
    e.add_argument("--to", dest="t_to", default=None, help="keep records before this clock time (ISO 8601)")
    e.add_argument("--subject", default=None, metavar="PSEUDONYM", help="keep the runs made with this subject's baseline profile (a collector dataset: this subject's summaries)")
    e.add_argument("--device", action="append", default=None, help="a collector dataset: only this device (repeat for several)")
    e.add_argument("--timezone", default="UTC", help="time zone of --from/--to without an offset (default UTC)")
    e.add_argument("--out", type=Path, default=Path("out/export"), help="output folder (default: out/export)")
    e.set_defaults(func=cmd_export)

    lab = sub.add_parser("label", help="add caregivers' labels to a session log afterwards, from a label file (the formats evaluate reads)")
    lab.add_argument("log", type=Path, metavar="LOG", help="the session log")
    lab.add_argument("--labels", type=Path, required=True, help="CSV of start,end,label (spans) or t,label (one row per step); "
                                                                 "label a zone or an emotion, optional valence,arousal")
    lab.add_argument("--key", type=Path, default=None, help="key file of an encrypted log")
    lab.set_defaults(func=cmd_label)

    v = sub.add_parser("evaluate", help="score a session log (or still faces) against human labels: recall, macro-F1, "
                                        "balanced accuracy, kappa, confusion, CCC/RMSE, calibration (docs/accuracy.md)")
    v.add_argument("log", type=Path, nargs="?", default=None, metavar="LOG", help="session log to score")
    v.add_argument("--labels", type=Path, default=None, help="(default: the labels stored in the log by `affectedge label`) CSV of start,end,label (spans) or t,label (CALMED-style, one row per step), "
                                                               "label a zone or an emotion, optional valence,arousal columns")
    v.add_argument("--images", type=Path, default=None, help="CSV of image,label, or a folder of class folders (label = folder name, "
                                                               "e.g. FER2013's validation/): score the face path on still images instead")
    v.add_argument("--faces-cropped", action="store_true", help="with --images: the images are already face crops; skip detection "
                                                                 "(BlazeFace finds no face in a 48x48 FER2013 crop)")
    v.add_argument("--model", default=None, metavar="KEY", help="with --images: the expression model's manifest key (default: the config's)")
    v.add_argument("--backend", choices=("litert", "onnx"), default=None, help="with --images: the inference runtime")
    v.add_argument("--events", type=Path, default=None, help="CSV of file,label[,group] audio clips (label distress, laughter, shouting, speech "
                                                               "or other): score the vocal-event detector (ROC AUC, precision/recall, false alarms per hour of speech)")
    v.add_argument("--config", type=Path, default=None, help="with --images or --events: a service config whose perception.face or perception.voice.events to use")
    v.add_argument("--key", type=Path, default=None, help="key file of an encrypted log")
    v.add_argument("--out", type=Path, default=None, help="also write evaluation.json and reliability.png here")
    v.set_defaults(func=cmd_evaluate)
