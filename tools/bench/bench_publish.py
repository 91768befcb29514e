"""Window close to PUBACK: latency of publishing summaries over the demo session, per broker.

Replays the demo session (fast pace, so summaries come as quickly as the pipeline makes them)
through the whole pipeline with the publishing sink, once per embedded broker on loopback
(Debian's mosquitto, and amqtt, the pure-Python fallback), and prints p50/p99/max of the time
from the close of a period's last window to the broker's PUBACK of its summary, side by side.
Goal: p99 <= 50 ms on loopback.

    python -m affectedge_tools.bench.bench_publish [--session DIR] [--period S] [--brokers mosquitto,amqtt] [--pace realtime]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

GOAL_P99_MS = 50.0


def _quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def run_once(session, broker_kind: str, period_s: float, workdir: Path, pace: str = "fast") -> list[float]:
    from affectedge.config.app import AppConfig
    from affectedge.offline.demo import demo_config_dict
    from affectedge.publish.local_broker import start_session_broker
    from affectedge.publish.sink import PublishSink
    from affectedge.service.assembly import build_pipeline

    broker = start_session_broker(workdir / "broker", prefer=broker_kind)
    try:
        data = demo_config_dict(session, workdir, console=False, broker=(broker.host, broker.port))
        data["publish"]["period_s"] = period_s
        data["run"]["pace"] = pace
        pipeline = build_pipeline(AppConfig.model_validate(data))
        pipeline.run()
        sink = next(s for s in pipeline.sinks if isinstance(s, PublishSink))
        lat = list(sink.publisher.ack_latencies_s)
        if len(lat) != sink.summaries_submitted:
            raise SystemExit(f"{broker_kind}: {sink.summaries_submitted} summaries, only {len(lat)} acknowledged")
        return lat
    finally:
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    from affectedge.offline.demo_session import default_session_dir, load_session

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--session", type=Path, default=None)
    ap.add_argument("--period", type=float, default=1.0, help="summary period in seconds (default 1: more samples)")
    ap.add_argument("--brokers", default="mosquitto,amqtt")
    ap.add_argument("--pace", choices=("fast", "realtime"), default="fast",
                    help="fast: the pipeline saturates a core (worst case for the tail); realtime: as on a device")
    args = ap.parse_args(argv)
    session = load_session(args.session or default_session_dir())
    rows = []
    for kind in args.brokers.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            lat = run_once(session, kind, args.period, Path(tmp), args.pace)
        rows.append((kind, len(lat), _quantile(lat, 0.5) * 1e3, _quantile(lat, 0.99) * 1e3, max(lat) * 1e3))
    print(f"demo session {session.name}, {session.duration_s:.0f} s at {args.pace} pace, summaries every {args.period:g} s, loopback")
    print(f"{'broker':<10} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind, n, p50, p99, mx in rows:
        print(f"{kind:<10} {n:>5} {p50:>8.2f} {p99:>8.2f} {mx:>8.2f}")
    if len(rows) > 1:
        base = rows[0]
        for r in rows[1:]:
            print(f"{r[0]} / {base[0]}: p50 x{r[2] / base[2]:.2f}, p99 x{r[3] / base[3]:.2f}")
    worst = rows[0][3]
    print(f"goal p99 <= {GOAL_P99_MS:.0f} ms ({rows[0][0]}): {'met' if worst <= GOAL_P99_MS else 'NOT met'} ({worst:.2f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
