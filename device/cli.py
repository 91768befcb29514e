"""The `affectedge` command line."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .core.errors import AffectEdgeError, ConfigError


def _cmd_check_config(args) -> int:
    from .config.app import load_config

    try:
        load_config(args.file, args.board)
    except ConfigError as exc:
        for p in exc.problems:
            print(p, file=sys.stderr)
        return 1
    print(f"{args.file}: ok" + (f" (over board profile {args.board})" if args.board else ""))
    return 0


def _cmd_run(args) -> int:
    from .config.app import load_config
    from .service.daemon import Service

    try:
        config = load_config(args.config, args.board)
    except ConfigError as exc:
        print(f"affectedge: refusing to start, {args.config} is invalid:", file=sys.stderr)
        for p in exc.problems:
            print(p, file=sys.stderr)
        return 1
    service = Service(args.config, load=lambda path: load_config(path, args.board))
    service.install_signal_handlers()
    from .service.sd_notify import notify_ready

    # Type=notify: systemd counts the service as started once the pipeline is built (a no-op outside systemd).
    return service.run(config, on_ready=lambda: notify_ready(f"running with {args.config}"))


def _cmd_demo(args) -> int:
    from .offline.demo import run_demo

    return run_demo(out=args.out, session_dir=args.session, console=args.live, broker=args.broker,
                    embedded_broker=args.embedded_broker, ble_sim=args.ble_sim, ble_speed=args.ble_speed,
                    baseline=args.baseline, dashboard=args.dashboard, pace=args.pace, linger_s=args.linger)


def _cmd_dashboard(args) -> int:
    from .dashboard.server import make_server, page_config

    server = make_server(args.bind, args.port, page_config(args.broker, args.prefix, args.username, args.password_file))
    host, port = server.server_address[:2]
    print(f"affectedge dashboard: http://{host}:{port}/ (feed {args.broker}, prefix {args.prefix}); Ctrl-C stops", flush=True)

    def shutdown(*_):
        # serve_forever runs in this thread: shutdown() must come from another one.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    server.serve_forever()
    server.server_close()
    return 0


def _cmd_calibrate(args) -> int:
    from affectedge.calibration.calibrate import calibrate
    from affectedge.calibration.plans import plan_from_config, plan_from_replay

    if args.config is not None:
        if args.rest or args.start is not None:
            print("affectedge calibrate: --rest and --start go with --replay", file=sys.stderr)
            return 2
        plan = plan_from_config(args.config, args.subject, args.profiles, args.secret, args.duration,
                                args.min_duration, args.force)
    else:
        plan = plan_from_replay(Path(args.replay) if args.replay else None, args.rest, args.start or 0.0, args.duration,
                                args.min_duration, args.subject, args.profiles, args.secret, args.force)
    outcome = calibrate(plan)
    return 0 if outcome.ok else 1


def _cmd_personalise(args) -> int:
    from affectedge.calibration.personalise import PersonaliseError, format_outcome, personalise

    from .review.cli import read_logs

    try:
        logs = read_logs(args.logs, args.key)
        outcome = personalise(logs, args.subject, args.profiles, write=not args.dry_run)
    except PersonaliseError as exc:
        print(f"affectedge personalise: {exc}", file=sys.stderr)
        return 1
    print(format_outcome(outcome))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"personalise-{args.subject}.json").write_text(outcome.to_json() + "\n", encoding="utf-8")
    return 0


def _cmd_config_reference(args) -> int:
    from .config.reference import config_reference

    text = config_reference()
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


BOARD_HELP = ("board profile under the config: pi4, pi5, jetson-orin-nano, x86-64 (firmware_configs/boards/) "
              "or a profile file's path; the config overrides it key by key. `affectedge doctor` says which fits")


def _cmd_doctor(args) -> int:
    from .service.doctor import run_doctor

    return run_doctor(fitting_board_only=args.fitting_board)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="affectedge", description="On-device affect sensing for caregivers.")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check-config", help="validate a config file; exit 0 if valid, 1 otherwise")
    c.add_argument("file", type=Path)
    c.add_argument("--board", default=None, help=BOARD_HELP)
    c.set_defaults(func=_cmd_check_config)

    r = sub.add_parser("run", help="run the device service")
    r.add_argument("--config", type=Path, required=True)
    r.add_argument("--board", default=None, help=BOARD_HELP)
    r.set_defaults(func=_cmd_run)

    d = sub.add_parser("demo", help="replay the bundled demo session through the whole pipeline")
    d.add_argument("--out", type=Path, default=Path("out/demo"), help="folder for the session log and window records (default: out/demo)")
    d.add_argument("--session", type=Path, default=None, help="session folder (default: the one tools/data/build_demo_session.py built)")
    d.add_argument("--live", action="store_true", help="also print the live line per second of session time")
    d.add_argument("--broker", default=None, metavar="HOST:PORT", help="publish to this MQTT broker (plain TCP, anonymous) instead of an embedded one")
    d.add_argument("--embedded-broker", choices=("auto", "mosquitto", "amqtt"), default="auto",
                   help="which embedded broker to start when --broker is not given (auto: mosquitto when installed, else amqtt)")
    d.add_argument("--ble-sim", action="store_true", help="take the physiology from simulated BLE sensors (bumble) replaying the session, instead of the CSV replay")
    d.add_argument("--ble-speed", type=float, default=4.0, help="with --ble-sim: replay speed, x real time (default 4)")
    d.add_argument("--baseline", type=Path, default=None, help="baseline profile to judge arousal against (from `affectedge calibrate`; see docs/calibration.md)")
    d.add_argument("--dashboard", nargs="?", type=int, const=0, default=None, metavar="PORT",
                   help="also serve the caregiver page (on PORT, default a free one) fed by the embedded broker's WebSocket "
                        "listener, replay at the recording's own pace, and keep the page up afterwards (until Ctrl-C)")
    d.add_argument("--pace", choices=("fast", "realtime"), default=None,
                   help="replay as fast as possible or at the recording's own pace (default: fast; realtime with --dashboard)")
    d.add_argument("--linger", type=float, default=None, metavar="S",
                   help="with --dashboard: keep the page up S seconds after the replay (default: until Ctrl-C on a terminal)")
    d.set_defaults(func=_cmd_demo)

    o = sub.add_parser("doctor", help="print what this machine has (CPU, cameras, audio, Bluetooth, runtimes, models) and which board profile fits")
    o.add_argument("--fitting-board", action="store_true", help="print only the name of the board profile that fits (nothing, exit 1, if none)")
    o.set_defaults(func=_cmd_doctor)

    b = sub.add_parser("dashboard", help="serve the caregiver dashboard (reads the MQTT feed over WebSockets)")
    b.add_argument("--broker", default="ws://127.0.0.1:9001", help="the broker's websockets listener, ws://host:port or wss://...")
    b.add_argument("--prefix", default="affectedge", help="topic prefix of the devices (publish.prefix)")
    b.add_argument("--username", default=None, help="read-only dashboard user on the broker")
    b.add_argument("--password-file", type=Path, default=None, help="file holding that user's password (handed to the page)")
    b.add_argument("--bind", default="127.0.0.1", help="address to serve on (default: localhost only)")
    b.add_argument("--port", type=int, default=8080)
    b.set_defaults(func=_cmd_dashboard)

    k = sub.add_parser("calibrate", help="check the sensors, record a resting baseline, write the person's profile")
    src = k.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", type=Path, help="the service config: its sources are the sensors checked and recorded")
    src.add_argument("--replay", nargs="?", const="", metavar="SESSION",
                     help="replay the demo session folder instead (default folder: the one the builder made)")
    k.add_argument("--rest", action="store_true", help="with --replay: physiology from the session's resting span (rest/, built with --rest)")
    k.add_argument("--start", type=float, default=None, help="with --replay: where the span starts, seconds (default 0)")
    k.add_argument("--duration", type=float, default=None, help="baseline length, seconds (default: calibration.baseline.duration_s, 180; with --replay the rest of the recording)")
    k.add_argument("--min-duration", type=float, default=None, help="shortest acceptable baseline, seconds (default: calibration.baseline.min_duration_s, 120)")
    k.add_argument("--subject", default=None, help="subject id (default: device.subject_id); only its pseudonym is stored")
    k.add_argument("--profiles", type=Path, default=None, help="profiles folder (default: calibration.profiles_dir; with --replay ./profiles)")
    k.add_argument("--secret", type=Path, default=None, help="per-device pseudonym secret file (created if missing)")
    k.add_argument("--force", action="store_true", help="record the baseline even when a sensor check failed")
    k.set_defaults(func=_cmd_calibrate)

    e = sub.add_parser("personalise", help="learn a person's arousal from caregivers' labels; written into their profile only where it beats the generic output")
    e.add_argument("logs", type=Path, nargs="+", metavar="LOG", help="session logs of this person with stored labels (`affectedge label`, or the caregiver page)")
    e.add_argument("--subject", required=True, metavar="PSEUDONYM", help="the person's pseudonym (their profile folder's name)")
    e.add_argument("--profiles", type=Path, required=True, help="profiles folder holding PSEUDONYM/current.yaml (from `affectedge calibrate`)")
    e.add_argument("--key", type=Path, default=None, help="key file of encrypted logs")
    e.add_argument("--dry-run", action="store_true", help="report the figures; write nothing")
    e.add_argument("--out", type=Path, default=None, help="also write personalise-PSEUDONYM.json here")
    e.set_defaults(func=_cmd_personalise)

    from .review.cli import add_parsers as add_review_parsers

    add_review_parsers(sub)

    from .offline.cli import add_parsers as add_analyse_parsers

    add_analyse_parsers(sub)

    from .fleet.cli import add_parsers as add_fleet_parsers

    add_fleet_parsers(sub)

    g = sub.add_parser("config-reference", help="print the config reference generated from the field descriptions")
    g.add_argument("--out", type=Path, default=None)
    g.set_defaults(func=_cmd_config_reference)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AffectEdgeError as exc:
        print(f"affectedge: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("affectedge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
