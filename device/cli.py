"""The `affectedge` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import AffectEdgeError, ConfigError


def _cmd_check_config(args) -> int:
    from .config import load_config

    try:
        load_config(args.file)
    except ConfigError as exc:
        for p in exc.problems:
            print(p, file=sys.stderr)
        return 1
    print(f"{args.file}: ok")
    return 0


def _cmd_run(args) -> int:
    from .config import load_config
    from .daemon import Service

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"affectedge: refusing to start, {args.config} is invalid:", file=sys.stderr)
        for p in exc.problems:
            print(p, file=sys.stderr)
        return 1
    service = Service(args.config)
    service.install_signal_handlers()
    return service.run(config)


def _cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(out=args.out, session_dir=args.session, console=args.live)


def _cmd_config_reference(args) -> int:
    from .config_reference import config_reference

    text = config_reference()
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="affectedge", description="On-device affect sensing for caregivers.")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check-config", help="validate a config file; exit 0 if valid, 1 otherwise")
    c.add_argument("file", type=Path)
    c.set_defaults(func=_cmd_check_config)

    r = sub.add_parser("run", help="run the device service")
    r.add_argument("--config", type=Path, required=True)
    r.set_defaults(func=_cmd_run)

    d = sub.add_parser("demo", help="replay the bundled demo session through the whole pipeline")
    d.add_argument("--out", type=Path, default=Path("out/demo"), help="folder for the session log and window records (default: out/demo)")
    d.add_argument("--session", type=Path, default=None, help="session folder (default: the one tools/build_demo_session.py built)")
    d.add_argument("--live", action="store_true", help="also print the live line per second of session time")
    d.set_defaults(func=_cmd_demo)

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


if __name__ == "__main__":
    sys.exit(main())
