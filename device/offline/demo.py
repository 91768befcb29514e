"""`affectedge demo`: replay the bundled demo session through the whole pipeline."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import yaml

from ..config.app import AppConfig
from ..core.errors import SourceError
from ..service.pipeline import RunStats
from .demo_session import DemoSession, default_session_dir, load_session
from ..core.types import MODALITIES, ZONES


def demo_config_dict(session: DemoSession, out: Path, console: bool, broker: Optional[tuple[str, int]] = None,
                     physiology: Optional[list[dict]] = None, baseline: Optional[Path] = None, pace: str = "fast") -> dict:
    """The service config that replays ``session`` (also written next to the outputs for reuse).

    ``broker`` adds the publish section; ``physiology`` replaces the CSV replay of the physiology
    (the simulated BLE sensors); ``baseline`` is a profile from `affectedge calibrate`
    (docs/calibration.md), so arousal is judged relative to that person."""
    sources: dict = {
        "camera": {
            "backend": "replay_video",
            "clips": [{"path": str(c.path), "start_s": c.start_s} for c in session.camera_clips],
            # As a live camera is configured (opencv's default): 15 fps is 3 frames per 200 ms window.
            "max_fps": 15.0,
        },
        "microphone": {"backend": "replay_wav", "path": str(session.microphone.path), "start_s": session.microphone.start_s},
        "physiology": physiology or [{"backend": "replay_csv", "path": str(session.physiology.path), "start_s": session.physiology.start_s}],
    }
    return {
        "device": {"id": "affectedge-demo", "subject_id": "demo-subject"},
        "sources": sources,
        "log": {"sqlite": str(out / "session.sqlite"), "jsonl": str(out / "windows.jsonl"), "console": console},
        "run": {"pace": pace},
        **({"perception": {"baseline_profile": str(Path(baseline).resolve())}} if baseline else {}),
        **({"publish": {
            "host": broker[0],
            "port": broker[1],
            "outbox": str(out / "outbox.sqlite"),
            "pseudonym_secret_file": str(out / "pseudonym.secret"),
        }} if broker else {}),
    }


def _parse_broker(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SourceError(f"--broker {text!r}: expected HOST:PORT")
    return host, int(port)


def publish_report(sinks) -> str:
    """Summaries published and window-close-to-PUBACK latency, from the publishing sink."""
    from ..publish.sink import PublishSink

    sink = next((s for s in sinks if isinstance(s, PublishSink)), None)
    if sink is None:
        return "published      nothing (no publish section)"
    lat = sorted(sink.publisher.ack_latencies_s)
    line = f"published      {sink.summaries_submitted} summaries, {len(lat)} acknowledged (PUBACK)"
    if lat:
        p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(0.99 * len(lat)))]
        line += f"; window close to PUBACK p50 {p50 * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms"
    return line


def summary_table(stats: RunStats, config: AppConfig) -> str:
    """Windows, per-modality coverage and zone time shares, as a short text table."""
    n = max(stats.windows, 1)
    lines = [f"windows        {stats.windows} x {config.window.length_s:.3g} s  ({stats.windows * config.window.length_s:.1f} s of session)"]
    lines.append(f"no data        {stats.no_data / n:6.1%}")
    for m in MODALITIES:
        state = "" if m in config.fusion.weights else "  (not fused)"
        lines.append(f"{m:<14} {stats.modality_windows[m] / n:6.1%} of windows{state}")
    with_zone = sum(stats.zone_windows.values())
    for z in ZONES:
        share = stats.zone_windows[z] / with_zone if with_zone else 0.0
        lines.append(f"zone {z:<9} {share:6.1%} of windows with a zone")
    if stats.events:
        from ..review.event_words import words

        lines.append("events         " + "; ".join(f"{words(k)}: {v}" for k, v in sorted(stats.events.items())))
    return "\n".join(lines)


def run_demo(out: Path, session_dir: Optional[Path] = None, console: bool = False, broker: Optional[str] = None,
             embedded_broker: str = "auto", ble_sim: bool = False, ble_speed: float = 4.0,
             baseline: Optional[Path] = None, dashboard: Optional[int] = None, pace: Optional[str] = None,
             linger_s: Optional[float] = None) -> int:
    """Replay the demo session; summaries go to ``broker`` (HOST:PORT) or to an embedded broker.

    ``dashboard`` (a port, 0 for a free one) also serves the caregiver page, fed by the embedded
    broker's WebSocket listener, replays at the recording's own pace (unless ``pace`` says
    otherwise) and keeps the page up afterwards: ``linger_s`` seconds, or until Ctrl-C on a terminal.
    """
    from ..publish.local_broker import start_session_broker

    if dashboard is not None and broker is not None:
        raise SourceError("--dashboard shows the embedded broker's feed; with --broker, run `affectedge dashboard "
                          "--broker ws://HOST:PORT` against that broker's WebSocket listener instead")
    pace = pace or ("realtime" if dashboard is not None else "fast")

    session_dir = Path(session_dir) if session_dir else default_session_dir()
    session = load_session(session_dir)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("session.sqlite", "session.sqlite-wal", "session.sqlite-shm", "windows.jsonl",
                  "outbox.sqlite", "outbox.sqlite-wal", "outbox.sqlite-shm"):
        (out / stale).unlink(missing_ok=True)  # a demo run starts a fresh log and outbox
    local = None
    if broker is None:
        # No broker named: start one for this session so the whole path runs on a fresh machine.
        local = start_session_broker(out / "broker", prefer=None if embedded_broker == "auto" else embedded_broker)
        print(f"affectedge demo: publishing to an embedded broker, {local.describe()}")
        address = (local.host, local.port)
    else:
        address = _parse_broker(broker)
        print(f"affectedge demo: publishing to the MQTT broker {address[0]}:{address[1]}")
    page = None
    try:
        if dashboard is not None:
            page = _serve_dashboard(dashboard, f"ws://{local.host}:{local.ws_port}")
        elif local is not None:
            print("affectedge demo: to watch it on the caregiver page, run `affectedge demo --dashboard`")
        if ble_sim:
            code = _run_demo_ble_sim(out, session, session_dir, console, address, ble_speed, baseline)
        else:
            code = _run_demo(out, session, session_dir, console, address, baseline, pace)
        if page is not None:
            _linger(page, linger_s)
        return code
    finally:
        if page is not None:
            page.shutdown()
            page.server_close()
        if local is not None:
            local.stop()


def _serve_dashboard(port: int, feed: str):
    """The caregiver page on loopback, fed by ``feed`` (the embedded broker's WebSocket listener)."""
    import threading

    from ..dashboard.server import make_server, page_config

    server = make_server("127.0.0.1", port, page_config(feed, "affectedge", None, None))
    threading.Thread(target=server.serve_forever, name="dashboard", daemon=True).start()
    print(f"affectedge demo: dashboard at http://127.0.0.1:{server.server_address[1]}/ (feed {feed}); open it in a browser",
          flush=True)
    return server


def _linger(server, linger_s: Optional[float]) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    if linger_s is None:
        if not sys.stdin.isatty():
            return
        print(f"affectedge demo: the replay is over; the dashboard stays at {url} until Ctrl-C", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return
    print(f"affectedge demo: the dashboard stays at {url} for {linger_s:g} s", flush=True)
    time.sleep(linger_s)


def _run_demo(out: Path, session: DemoSession, session_dir: Path, console: bool, broker: tuple[str, int],
              baseline: Optional[Path], pace: str = "fast") -> int:
    from ..service.assembly import build_pipeline

    data = demo_config_dict(session, out, console, broker, baseline=baseline, pace=pace)
    config_path = out / "demo-config.yaml"
    config_path.write_text(yaml.safe_dump(data, sort_keys=False))
    config = AppConfig.model_validate(data)
    print(f"affectedge demo: replaying {session.name} ({session.duration_s:.0f} s of real recordings) from {session_dir}")
    if baseline is not None:
        from ..perception.baseline import describe_profile

        print(f"baseline profile: {describe_profile(config.perception.baseline_profile)}")
    pipeline = build_pipeline(config, run_info={"demo_session": str(session_dir)})
    for analyser in pipeline.analysers:
        describe = getattr(analyser, "describe", None)  # what a modality can and cannot estimate
        if describe is not None:
            print(describe())
    t0 = time.perf_counter()
    stats = pipeline.run()
    wall = time.perf_counter() - t0
    print(summary_table(stats, config))
    print(publish_report(pipeline.sinks))
    speed = (stats.windows * config.window.length_s) / wall if wall > 0 else float("inf")
    print(f"replayed in {wall:.2f} s ({speed:.0f}x real time)")
    print(f"wrote {config.log.sqlite}\n      {config.log.jsonl}\n      {config_path}")
    sys.stdout.flush()
    return 0


def _run_demo_ble_sim(out: Path, session: DemoSession, session_dir: Path, console: bool, broker: tuple[str, int],
                      speed: float, baseline: Optional[Path]) -> int:
    """The demo with its physiology from simulated BLE sensors instead of the CSV replay.

    Two bumble peripherals (a standard heart-rate strap and the affectedge EDA band) replay the
    session's physio.csv over bumble's real Bluetooth stack; affectedge connects to them with the
    `ble` source (transport bumble), exactly as it would to real sensors. Camera and microphone
    are replayed as usual. One ScaledClock paces all of it at ``speed`` x real time: the pipeline
    closes windows on it, the BLE source stamps arrivals with it, the sensors send each packet when
    it passes the packet's time, and the recordings are paced to it. It starts once both sensors
    are subscribed, so the session's first second reaches the pipeline too.
    """
    import threading

    from ..core.clock import ScaledClock
    from ..core.errors import SourceError
    from ..service.assembly import build_pipeline
    from ..core.extras import require_module

    require_module("bumble", "demo --ble-sim", "ble-sim")
    from affectedge.ble.simulator import SimulatedLink, eda_band, eda_packets, heart_rate_packets, heart_rate_strap, read_physio_csv

    physio = read_physio_csv(session.physiology.path)
    clock = ScaledClock(speed)
    link = SimulatedLink(3)
    central, strap_hci, band_hci = link.start()
    sensors = [heart_rate_strap(strap_hci, heart_rate_packets(physio), clock).start(),
               eda_band(band_hci, eda_packets(physio), clock).start()]
    try:
        physiology = [{"backend": "ble", "transport": "bumble", "hci": central, "sensors": [
            {"name": "chest_strap", "profile": "heart_rate", "scan_timeout_s": 10.0},
            {"name": "eda_band", "profile": "eda_affectedge", "scan_timeout_s": 10.0}]}]
        data = demo_config_dict(session, out, console, broker, physiology, baseline)
        # Packets are stamped on arrival; at `speed` x, scheduling jitter is stretched by the same
        # factor, so windows wait a little longer for late samples (in session seconds).
        data["window"] = {"allowed_lateness_s": min(10.0, max(1.0, 0.5 * speed))}
        config_path = out / "demo-config.yaml"
        config_path.write_text(yaml.safe_dump(data, sort_keys=False))
        config = AppConfig.model_validate(data)
        print(f"affectedge demo: {session.name} with physiology from simulated BLE sensors (bumble), {speed:g}x real time")
        pipeline = build_pipeline(config, run_info={"demo_session": str(session_dir), "ble_sim": True}, clock=clock)
        stop = threading.Event()
        problem: list[str] = []

        def conduct() -> None:
            # The pipeline runs on this (the main) thread, since its session log is bound to it;
            # this helper starts the clock once the sensors listen, and ends the run after the session.
            if not all(s.subscribed.wait(20) for s in sensors):
                problem.append("the simulated BLE sensors were not subscribed within 20 s")
                stop.set()
                return
            print(f"sensors connected and subscribed after {time.perf_counter() - t0:.1f} s; replaying", flush=True)
            clock.start()
            end = session.duration_s + config.window.allowed_lateness_s + config.window.length_s
            while clock() < end and not stop.wait(0.05):
                pass
            stop.set()

        t0 = time.perf_counter()
        threading.Thread(target=conduct, name="demo-conductor", daemon=True).start()
        stats = pipeline.run(stop)
        if problem:
            raise SourceError(problem[0])
        wall = time.perf_counter() - t0
    finally:
        for s in sensors:
            s.stop()
        link.stop()
    print(summary_table(stats, config))
    print(publish_report(pipeline.sinks))
    print(f"ran in {wall:.2f} s; BLE: " + ", ".join(f"{s.name} sent {s.sent} packets" for s in sensors))
    print(f"wrote {config.log.sqlite}\n      {config.log.jsonl}\n      {config_path}")
    sys.stdout.flush()
    return 0
