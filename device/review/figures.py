"""The report's plots (matplotlib, Agg: no display needed on a headless device or server)."""

from __future__ import annotations

import io
import math
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from ..core.types import MODALITIES, ZONES  # noqa: E402
from .analysis import NO_DATA, NO_ZONE, DaySummary, coverage_segments, zone_of  # noqa: E402
from .event_words import severity, words  # noqa: E402
from .log_reader import EventRow, WindowRow  # noqa: E402

ZONE_COLOURS = {"blue": "#2f6fd0", "green": "#2e9e4f", "yellow": "#f0c020", "red": "#d62839",
                NO_ZONE: "#b8b8b8", NO_DATA: "#ececec"}
ZONE_LABELS = {"blue": "blue (low)", "green": "green (regulated)", "yellow": "yellow (heightened)",
               "red": "red (extreme)", NO_ZONE: "no zone", NO_DATA: "no data"}
# Events a clinician should see on the timeline; artefact and late-sample counts go in the table.
NOTABLE_EVENTS = ("source_up", "source_down", "source_failed", "stage_down", "stage_up", "disconnected", "connect_failed",
                  "reconnected", "scan_failed", "sensor_not_found", "clip_changed", "recording_ended", "battery",
                  "packets_lost", "malformed_sample", "outage", "distress_heard", "laughter_heard", "shouting_heard")
_SEVERITY_STYLE = {"failing": ("#d62839", "v"), "back": ("#2e9e4f", "^"), "heard": ("#7c3aed", "*"), "fact": ("#4b5563", "o")}


def clock_format(seconds: float, _pos=None) -> str:
    # Truncated, as clock times are printed (strftime drops the fraction): "0:41 into the run" and
    # a start at 10:00:00 then agree with a clock time of 10:00:41.
    s = int(math.floor(seconds + 1e-6))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def zone_segments(windows: Sequence[WindowRow]) -> list[tuple[str, float, float]]:
    """(zone, start, end) of runs of consecutive windows in the same zone."""
    segs: list[tuple[str, float, float]] = []
    for w in windows:
        z = zone_of(w)
        if segs and segs[-1][0] == z and abs(segs[-1][2] - w.start) < 1e-6:
            segs[-1] = (z, segs[-1][1], w.end)
        else:
            segs.append((z, w.start, w.end))
    return segs


# What the microphone heard, marked under the zone band: the span of windows that carried it.
HEARD_STYLE = {"distress": ("#7f1d1d", "crying/screaming"), "laughter": ("#166534", "laughter"), "shouting": ("#9a3412", "shouting")}


def heard_segments(windows: Sequence[WindowRow]) -> list[tuple[str, float, float]]:
    """(event, start, end) of runs of consecutive windows in which a vocal event was heard."""
    segs: list[tuple[str, float, float]] = []
    for w in windows:
        for name in sorted(w.record.get("vocal_events") or {}):
            if segs and segs[-1][0] == name and abs(segs[-1][2] - w.start) < 1e-6:
                segs[-1] = (name, segs[-1][1], w.end)
            else:
                segs.append((name, w.start, w.end))
    return segs


def draw_zone_band(ax, windows: Sequence[WindowRow], t0: float) -> None:
    for z, a, b in zone_segments(windows):
        ax.broken_barh([(a - t0, b - a)], (0, 1), facecolors=ZONE_COLOURS[z], edgecolor="none")
    for name, a, b in heard_segments(windows):
        colour, words = HEARD_STYLE.get(name, ("#111827", name))
        ax.broken_barh([(a - t0, b - a)], (0, 0.4), facecolors=colour, edgecolor="none")
        ax.annotate(f"heard: {words}", (a - t0, 0.2), xytext=(2, 0), textcoords="offset points", fontsize=6.5,
                    color="white", va="center", clip_on=True)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_ylabel("zone", rotation=0, ha="right", va="center")


def draw_valence_arousal(ax, windows: Sequence[WindowRow], t0: float) -> None:
    t = [(w.start + w.end) / 2 - t0 for w in windows]
    half = [(1.0 - w.confidence) / 2 for w in windows]  # the band is wider where confidence is lower
    for name, colour, values in (("arousal", "#c2410c", [w.arousal for w in windows]),
                                 ("valence", "#6d28d9", [w.valence for w in windows])):
        y = [math.nan if v is None else v for v in values]
        lo = [v - h for v, h in zip(y, half)]
        hi = [v + h for v, h in zip(y, half)]
        ax.fill_between(t, lo, hi, color=colour, alpha=0.18, linewidth=0)
        known = sum(v is not None for v in values)
        ax.plot(t, y, color=colour, linewidth=1.4, label=name if known else f"{name} (no estimate)")
    ax.axhline(0, color="#888888", linewidth=0.6)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("valence /\narousal", rotation=0, ha="right", va="center")
    ax.legend(loc="upper right", fontsize=8, ncol=2, frameon=False)


def draw_coverage(ax, windows: Sequence[WindowRow], t0: float) -> None:
    for i, m in enumerate(MODALITIES):
        segs = [(a - t0, b - a) for a, b in coverage_segments(windows, m)]
        ax.broken_barh(segs, (i + 0.15, 0.7), facecolors="#4b5563")
    ax.set_ylim(0, len(MODALITIES))
    ax.set_yticks([i + 0.5 for i in range(len(MODALITIES))], list(MODALITIES), fontsize=8)
    ax.set_ylabel("live", rotation=0, ha="right", va="center")


def draw_events(ax, events: Sequence[EventRow], t0: float, t1: float) -> None:
    """One row per source; each marker says in words what happened (red: failing, green: back or
    started, grey: a fact such as a recording that ended)."""
    shown = [e for e in events if e.kind in NOTABLE_EVENTS]
    sources = sorted({e.source for e in shown})
    last_label: dict[tuple[str, str], float] = {}
    span = max(t1 - t0, 1e-6)
    for e in shown:
        y = sources.index(e.source) + 0.5
        colour, marker = _SEVERITY_STYLE[severity(e.kind)]
        ax.plot([e.t - t0], [y], marker=marker, color=colour, markersize=5)
        # A label per marker, unless the same words stand close by on the same row.
        key = (e.source, e.kind)
        if e.t - last_label.get(key, -math.inf) > 0.08 * span:
            right = e.t - t0 > 0.85 * span  # near the right edge the label runs leftwards, inside the axes
            ax.annotate(words(e.kind), (e.t - t0, y), xytext=(-3 if right else 3, 3), textcoords="offset points", fontsize=6,
                        color=colour, ha="right" if right else "left", clip_on=True)
            last_label[key] = e.t
    ax.set_ylim(0, max(len(sources), 1))
    ax.set_yticks([i + 0.5 for i in range(len(sources))], sources, fontsize=7)
    ax.set_ylabel("events", rotation=0, ha="right", va="center")
    ax.set_xlim(0, span)


def timeline_figure(windows: Sequence[WindowRow], events: Sequence[EventRow], title: str) -> Figure:
    """Zones, valence/arousal with confidence band, modality coverage and events of one run."""
    fig, axes = plt.subplots(4, 1, sharex=True, figsize=(11, 5.6),
                             gridspec_kw={"height_ratios": [0.55, 2.3, 1.0, 0.9], "hspace": 0.12})
    t0, t1 = windows[0].start, windows[-1].end
    draw_zone_band(axes[0], windows, t0)
    draw_valence_arousal(axes[1], windows, t0)
    draw_coverage(axes[2], windows, t0)
    draw_events(axes[3], [e for e in events if t0 <= e.t <= t1 + 1e-6], t0, t1)
    axes[3].xaxis.set_major_formatter(FuncFormatter(clock_format))
    axes[3].set_xlabel("time since the run started (m:ss); shaded band = 1 - confidence")
    fig.text(0.01, 0.965, title, fontsize=11, va="top")
    axes[0].legend(handles=[Patch(color=ZONE_COLOURS[z], label=ZONE_LABELS[z]) for z in ZONE_COLOURS],
                   loc="lower left", bbox_to_anchor=(0, 1.1), ncol=6, fontsize=7, frameon=False)
    fig.subplots_adjust(left=0.12, right=0.98, top=0.86, bottom=0.1)
    return fig


def events_figure(windows: Sequence[WindowRow], events: Sequence[EventRow], counts: Sequence[tuple[str, str, int, float, float]],
                  title: str) -> Figure:
    """What happened to the sources during one run: the markers in words, and every event counted."""
    fig = plt.figure(figsize=(11.69, 8.27))
    gs = fig.add_gridspec(2, 1, height_ratios=[1.0, 1.6], left=0.12, right=0.97, top=0.88, bottom=0.05, hspace=0.25)
    t0, t1 = windows[0].start, windows[-1].end
    ax = fig.add_subplot(gs[0])
    draw_events(ax, [e for e in events if t0 <= e.t <= t1 + 1e-6], t0, t1)
    ax.xaxis.set_major_formatter(FuncFormatter(clock_format))
    ax.set_xlabel("time since the run started (m:ss)")
    fig.text(0.03, 0.95, title, fontsize=12, va="top")
    tx = fig.add_subplot(gs[1])
    tx.axis("off")
    rows = [f"{'source':<14} {'what happened':<50} {'count':>6}  {'first':>6}  {'last':>6}"]
    for kind, source, n, first, last in counts[:40]:
        rows.append(f"{source[:14]:<14} {words(kind)[:50]:<50} {n:>6}  {clock_format(max(first - t0, 0)):>6}  {clock_format(max(last - t0, 0)):>6}")
    if len(counts) > 40:
        rows.append(f"... and {len(counts) - 40} more kinds (see the HTML report)")
    tx.text(0, 1, "\n".join(rows), fontsize=8, va="top", family="monospace")
    return fig


def draw_zone_bars(ax, zone_s: dict[str, float]) -> None:
    """Horizontal bars: minutes and share of the recorded time in each zone."""
    names = [z for z in (*ZONES, NO_ZONE, NO_DATA)]
    total = sum(zone_s.values()) or 1.0
    y = list(range(len(names)))[::-1]
    values = [zone_s[z] / 60 for z in names]
    ax.barh(y, values, color=[ZONE_COLOURS[z] for z in names], edgecolor="#555555", linewidth=0.5)
    for yi, z, v in zip(y, names, values):
        ax.text(v, yi, f"  {zone_s[z] / total:.0%}  ({clock_format(zone_s[z])})", va="center", fontsize=9)
    ax.set_yticks(y, [ZONE_LABELS[z] for z in names], fontsize=9)
    ax.set_xlabel("minutes")
    ax.set_xlim(0, max(values + [1e-3]) * 1.45)
    ax.spines[["top", "right"]].set_visible(False)


def zone_bars_figure(zone_s: dict[str, float], title: str = "Time in each zone") -> Figure:
    fig, ax = plt.subplots(figsize=(7, 3.2))
    draw_zone_bars(ax, zone_s)
    ax.set_title(title, loc="left")
    fig.tight_layout()
    return fig


def draw_days(ax, days: Sequence[DaySummary]) -> None:
    """Stacked bars: minutes per zone on each day."""
    labels = [d.day.strftime("%a %d %b") for d in days]
    bottom = [0.0] * len(days)
    for z in (*ZONES, NO_ZONE, NO_DATA):
        v = [d.zone_s[z] / 60 for d in days]
        ax.bar(labels, v, bottom=bottom, color=ZONE_COLOURS[z], label=ZONE_LABELS[z], edgecolor="white", linewidth=0.5)
        bottom = [b + x for b, x in zip(bottom, v)]
    ax.set_ylabel("minutes recorded")
    ax.legend(fontsize=7, ncol=3, frameon=False, loc="upper left", bbox_to_anchor=(0, -0.12))
    ax.spines[["top", "right"]].set_visible(False)


def days_figure(days: Sequence[DaySummary]) -> Figure:
    fig, ax = plt.subplots(figsize=(9, 3.8))
    draw_days(ax, days)
    ax.set_title("Day by day: time in each zone", loc="left")
    fig.tight_layout()
    return fig


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()
