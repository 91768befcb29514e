"""The review report: one self-contained HTML file (plots inlined as PNG) and a PDF.

The HTML has no external reference (no stylesheet, script or image URL), so it can be mailed or
archived as one file. Its figures also carry machine-readable ``data-*`` attributes, which the
tests compare with the log. The PDF is drawn with matplotlib's PdfPages; its first page is the
summary a clinician reads first, and can be saved as a PNG too.
"""

from __future__ import annotations

import base64
import html
import textwrap
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Optional, Sequence

import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from .. import __version__
from ..core.types import ZONES
from .analysis import (
    NO_DATA,
    NO_ZONE,
    DaySummary,
    Episode,
    by_day,
    coverage_share,
    episodes,
    event_counts,
    longest,
    time_in_zones,
)
from .figures import (
    ZONE_COLOURS,
    ZONE_LABELS,
    clock_format,
    days_figure,
    draw_coverage,
    draw_days,
    draw_valence_arousal,
    draw_zone_band,
    draw_zone_bars,
    events_figure,
    png_bytes,
    timeline_figure,
    zone_bars_figure,
)
from .event_words import words
from .log_reader import SessionLogData

TOP_EPISODES = 5
# What the numbers on the valence/arousal plots mean, for a reader who has not met the circumplex.
AFFECT_SCALE = ("Valence runs from -1 (very unpleasant: distressed, angry, sad) through 0 (neither) to +1 (very "
                "pleasant: happy, content). Arousal runs from -1 (very low activation: drowsy, withdrawn) through 0 "
                "(the person's usual level, or the population's without a calibration) to +1 (highly activated: "
                "excited, agitated, alarmed). Both are estimates with a confidence, not measurements of feeling.")


@dataclass
class Report:
    logs: list[SessionLogData]
    tz: tzinfo
    zone_s: dict[str, float] = field(default_factory=dict)
    windows: int = 0
    episodes: list[Episode] = field(default_factory=list)
    days: list[DaySummary] = field(default_factory=list)
    evaluations: list = field(default_factory=list)  # evaluate.Evaluation, when labels were given

    @property
    def problems(self) -> list[str]:
        return [p for d in self.logs for p in d.problems]

    def local(self, when: Optional[datetime]) -> str:
        return "" if when is None else when.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S")


def build_report(logs: Sequence[SessionLogData], tz: tzinfo = timezone.utc) -> Report:
    all_windows = [w for d in logs for w in d.windows]
    rep = Report(list(logs), tz)
    rep.zone_s = time_in_zones(all_windows)
    rep.windows = len(all_windows)
    rep.episodes = [e for d in logs for e in episodes(d)]
    rep.days = by_day(logs, tz)
    return rep


# ------------------------------------------------------------------------------------ HTML

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1150px;color:#1f2937;padding:0 1em}
h1{margin-bottom:.2em} h2{border-bottom:2px solid #e5e7eb;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0} th,td{padding:.25em .7em;border-bottom:1px solid #e5e7eb;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.swatch{display:inline-block;width:.9em;height:.9em;border-radius:2px;margin-right:.4em;vertical-align:-.1em;border:1px solid #999}
.problem{background:#fff4e5;border-left:4px solid #f59e0b;padding:.4em .8em;margin:.3em 0}
.muted{color:#6b7280} img{max-width:100%}
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _img(fig: Figure, alt: str) -> str:
    data = base64.b64encode(png_bytes(fig)).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _zone_table(zone_s: dict[str, float], table_id: str) -> str:
    total = sum(zone_s.values())
    rows = []
    for z in (*ZONES, NO_ZONE, NO_DATA):
        share = zone_s[z] / total if total else 0.0
        rows.append(f'<tr data-zone="{_e(z)}" data-seconds="{zone_s[z]:.3f}"><td><span class="swatch" style="background:{ZONE_COLOURS[z]}"></span>{_e(ZONE_LABELS[z])}</td>'
                    f'<td class="num">{clock_format(zone_s[z])}</td><td class="num">{share:.1%}</td></tr>')
    return (f'<table id="{_e(table_id)}"><tr><th>zone</th><th class="num">time (m:ss)</th><th class="num">share</th></tr>'
            + "".join(rows) + "</table>")


def _episode_table(rep: Report, eps: Sequence[Episode]) -> str:
    if not eps:
        return '<p id="episodes" data-count="0">No yellow or red episode.</p>'
    rows = []
    for i, e in enumerate(eps, 1):
        into = clock_format(e.start - _first(rep, e))
        rows.append(f'<tr class="episode" data-log="{_e(e.log)}" data-run="{e.run_id}" data-start="{e.start:.3f}" data-end="{e.end:.3f}" '
                    f'data-clock="{_e(rep.local(e.started_at))}" data-into="{into}" '
                    f'data-duration="{e.duration_s:.3f}" data-peak="{e.peak}"><td class="num">{i}</td><td>{_e(rep.local(e.started_at))}</td>'
                    f'<td>{_e(e.log)} run {e.run_id}</td><td class="num">{into}</td>'
                    f'<td class="num">{e.duration_s:.1f} s</td><td><span class="swatch" style="background:{ZONE_COLOURS[e.peak]}"></span>{e.peak}</td>'
                    f'<td class="num">{e.red_s:.1f} s</td></tr>')
    return ('<table id="episodes"><tr><th class="num">#</th><th>started (clock)</th><th>log</th><th class="num">at (m:ss into run)</th>'
            '<th class="num">duration</th><th>peak zone</th><th class="num">time in red</th></tr>' + "".join(rows) + "</table>")


def _first(rep: Report, e: Episode) -> float:
    for d in rep.logs:
        if d.path.name == e.log and e.run_id in d.first_t:
            return d.first_t[e.run_id]
    return 0.0


def _run_section(rep: Report, data: SessionLogData, run_id: int) -> str:
    run = data.runs[run_id]
    wins = data.run_windows(run_id)
    evs = [e for e in data.events if e.run_id == run_id]
    title = f"{data.path.name}, run {run_id}: {rep.local(run.started_utc)} ({_tzname(rep)}), {len(wins)} windows"
    parts = [f'<section class="run" data-log="{_e(data.path.name)}" data-run="{run_id}" data-windows="{len(wins)}">', f"<h3>{_e(title)}</h3>"]
    b = run.baseline
    parts.append("<p>Calibration used: " + (_e(f"profile {b.get('path')} (subject {b.get('subject', '?')}, calibrated {b.get('created', '?')})")
                                            if b else "none (population defaults)") + f' <span class="muted">device {_e(run.device_id)}, affectedge {_e(run.version)}</span></p>')
    if not wins:
        parts.append("<p>No readable windows in this run.</p></section>")
        return "".join(parts)
    share = coverage_share(wins)
    parts.append("<p>Modality coverage: " + ", ".join(f"{m} {v:.0%}" for m, v in share.items()) + "</p>")
    parts.append(_img(timeline_figure(wins, evs, title), f"timeline of {title}"))
    counts = [c for c in event_counts(data) if c[5] == run_id]
    if counts:
        parts.append('<table class="events"><tr><th>source</th><th>what happened</th><th class="num">count</th><th class="num">first (m:ss)</th><th class="num">last (m:ss)</th></tr>')
        t0 = data.first_t.get(run_id, 0.0)
        for kind, source, n, first, last, _ in counts:
            parts.append(f'<tr data-kind="{_e(kind)}" data-count="{n}"><td>{_e(source)}</td><td>{_e(words(kind))} <span class="muted">({_e(kind)})</span></td><td class="num">{n}</td>'
                         f'<td class="num">{clock_format(max(first - t0, 0))}</td><td class="num">{clock_format(max(last - t0, 0))}</td></tr>')
        parts.append("</table>")
    parts.append("</section>")
    return "".join(parts)


def _evaluation_section(ev) -> str:
    from .evaluate import format_text, reliability_figure

    parts = [f'<section class="evaluation" data-labels="{_e(ev.labels)}" data-kind="{_e(ev.kind)}">',
             "<h2>Agreement with the labels</h2>",
             f'<p class="muted">{_e(ev.what)} against {_e(ev.labels)}: unlabelled windows are left out; "covered" is the '
             "share of labelled windows with an estimate, and the other figures are over those (docs/accuracy.md).</p>",
             '<table><tr><th>source</th><th class="num">labelled</th><th class="num">covered</th><th class="num">macro-F1 [95% CI]</th>'
             '<th class="num">balanced accuracy [95% CI]</th><th class="num">kappa</th><th class="num">ECE</th></tr>']
    for s in ev.scores:
        def iv(i):
            return "-" if i is None else f"{i.value:.3f} [{i.low:.3f}, {i.high:.3f}]"
        parts.append(f'<tr class="score" data-source="{_e(s.source)}" data-macro-f1="{"" if s.macro_f1 is None else f"{s.macro_f1.value:.6f}"}">'
                     f"<td>{_e(s.source)}</td><td class=\"num\">{s.labelled}</td><td class=\"num\">{s.coverage:.1%}</td>"
                     f'<td class="num">{iv(s.macro_f1)}</td><td class="num">{iv(s.balanced_accuracy)}</td>'
                     f'<td class="num">{"-" if s.kappa is None else f"{s.kappa:.3f}"}</td><td class="num">{"-" if s.ece is None else f"{s.ece:.3f}"}</td></tr>')
    parts.append("</table>")
    parts.append(f"<pre>{_e(format_text(ev))}</pre>")
    if any(s.reliability for s in ev.scores):
        parts.append(_img(reliability_figure(ev), "reliability of the confidence"))
    parts.append("</section>")
    return "".join(parts)


def _tzname(rep: Report) -> str:
    return str(getattr(rep.tz, "key", None) or rep.tz.tzname(None) or "UTC")


def render_html(rep: Report) -> str:
    logs = ", ".join(d.path.name for d in rep.logs)
    n_runs = sum(len(d.runs) for d in rep.logs)
    out = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>affectedge review</title>',
           f"<style>{_CSS}</style></head><body>",
           "<h1>Session review</h1>",
           f'<p class="muted">{_e(logs)}; times in {_e(_tzname(rep))}; made by affectedge {_e(__version__)} on '
           f"{datetime.now(rep.tz).strftime('%Y-%m-%d %H:%M')}</p>"]
    for p in rep.problems:
        out.append(f'<p class="problem">{_e(p)}</p>')
    out.append('<h2>Summary</h2>')
    out.append(f'<p id="counts" data-windows="{rep.windows}" data-runs="{n_runs}" data-logs="{len(rep.logs)}" data-episodes="{len(rep.episodes)}">'
               f"{rep.windows} windows in {n_runs} run(s) from {len(rep.logs)} log(s); {len(rep.episodes)} yellow/red episode(s).</p>")
    out.append(_zone_table(rep.zone_s, "zone-time"))
    out.append(_img(zone_bars_figure(rep.zone_s), "time in each zone"))
    out.append("<h2>Longest yellow/red episodes</h2>")
    out.append('<p class="muted">An episode is a stretch of consecutive windows in the yellow or red zone; any other window, or a gap in the data, ends it.</p>')
    out.append(_episode_table(rep, longest(rep.episodes, TOP_EPISODES)))
    out.append("<h2>Day by day</h2>")
    out.append('<table id="days"><tr><th>day</th><th class="num">runs</th><th class="num">windows</th>'
               + "".join(f'<th class="num">{_e(z)}</th>' for z in (*ZONES, NO_DATA)) + '<th class="num">episodes</th><th class="num">longest</th></tr>')
    for d in rep.days:
        out.append(f'<tr data-day="{d.day.isoformat()}" data-windows="{d.windows}"><td>{d.day.strftime("%a %Y-%m-%d")}</td><td class="num">{d.runs}</td><td class="num">{d.windows}</td>'
                   + "".join(f'<td class="num">{clock_format(d.zone_s[z])}</td>' for z in (*ZONES, NO_DATA))
                   + f'<td class="num">{d.episodes}</td><td class="num">{d.longest_s:.1f} s</td></tr>')
    out.append("</table>")
    if len(rep.days) > 1:
        out.append(_img(days_figure(rep.days), "time in each zone, day by day"))
    for ev in rep.evaluations:
        out.append(_evaluation_section(ev))
    out.append("<h2>Runs</h2>")
    out.append(f'<p id="affect-scale">{_e(AFFECT_SCALE)}</p>')
    for data in rep.logs:
        for run_id in data.runs:
            out.append(_run_section(rep, data, run_id))
    out.append("</body></html>\n")
    return "\n".join(out)


# ------------------------------------------------------------------------------------ PDF

def first_page(rep: Report) -> Figure:
    """The summary page: zone shares, key figures, longest episodes, and the timeline or the days."""
    fig = plt.figure(figsize=(11.69, 8.27))  # A4 landscape
    gs = fig.add_gridspec(2, 2, height_ratios=[1.0, 1.55], width_ratios=[1.15, 1], hspace=0.3, wspace=0.3,
                          left=0.15, right=0.97, top=0.86, bottom=0.13)
    n_runs = sum(len(d.runs) for d in rep.logs)
    starts = [r.started_utc for d in rep.logs for r in d.runs.values()]
    period = f"{rep.local(min(starts))} to {rep.local(max(starts))}" if starts else "no runs"
    fig.text(0.03, 0.95, "Session review", fontsize=20, weight="bold")
    fig.text(0.03, 0.915, f"{len(rep.logs)} log(s), {n_runs} run(s), {rep.windows} windows; runs started {period} ({_tzname(rep)})",
             fontsize=10, color="#4b5563")
    if rep.problems:
        fig.text(0.03, 0.89, f"Warning: {len(rep.problems)} problem(s) reading the log(s); see the HTML report. {rep.problems[0][:140]}",
                 fontsize=8, color="#b45309")
    ax = fig.add_subplot(gs[0, 0])
    draw_zone_bars(ax, rep.zone_s)
    ax.set_title("Time in each zone", loc="left", fontsize=12)

    tx = fig.add_subplot(gs[0, 1])
    tx.axis("off")
    lines = ["Longest yellow/red episodes"]
    top = longest(rep.episodes, TOP_EPISODES)
    if not top:
        lines.append("  none")
    for i, e in enumerate(top, 1):
        # Clock time to the second, and the same moment as time into its run (both truncated).
        lines.append(f"{i}. {e.duration_s:5.1f} s {e.peak:<6} {rep.local(e.started_at)[11:19]}, run {e.run_id} at {clock_format(e.start - _first(rep, e))}")
    recorded = sum(rep.zone_s.values())
    lines += ["", f"Recorded time   {clock_format(recorded)}",
              f"With data       {1 - rep.zone_s[NO_DATA] / recorded:.0%}" if recorded else "With data       -"]
    tx.text(0, 1, lines[0], fontsize=12, va="top", weight="bold")
    body = tx.text(0, 0.86, "\n".join(lines[1:]), fontsize=10, va="top", family="monospace")
    fit_in_figure(fig, body)

    if len(rep.days) > 1:
        ax = fig.add_subplot(gs[1, :])
        draw_days(ax, rep.days)
        ax.set_title("Day by day", loc="left", fontsize=12)
    else:
        data, run_id = max(((d, r) for d in rep.logs for r in d.runs), key=lambda x: len(x[0].run_windows(x[1])), default=(None, None))
        wins = data.run_windows(run_id) if data is not None else []
        if wins:
            sub = gs[1, :].subgridspec(3, 1, height_ratios=[0.3, 2, 0.8], hspace=0.1)
            az, av, ac = fig.add_subplot(sub[0]), fig.add_subplot(sub[1]), fig.add_subplot(sub[2])
            t0, span = wins[0].start, wins[-1].end - wins[0].start
            draw_zone_band(az, wins, t0)
            draw_valence_arousal(av, wins, t0)
            draw_coverage(ac, wins, t0)
            for a in (az, av, ac):
                a.set_xlim(0, span)
            az.set_xticks([])
            av.set_xticklabels([])
            ac.xaxis.set_major_formatter(FuncFormatter(clock_format))
            ac.set_xlabel("time since the run started (m:ss); shaded band = 1 - confidence")
            az.set_title(f"Timeline: {data.path.name}, run {run_id}, started {rep.local(data.runs[run_id].started_utc)}", loc="left", fontsize=12)
    scale = fig.text(0.03, 0.008, textwrap.fill(AFFECT_SCALE, 190), fontsize=7, color="#4b5563")
    fit_in_figure(fig, scale)
    return fig


def fit_in_figure(fig: Figure, text, min_size: float = 6.0) -> None:
    """Shrink a text's font until it lies inside the page (a long line once ran off its edge)."""
    renderer = fig.canvas.get_renderer()
    while text.get_fontsize() > min_size:
        box = text.get_window_extent(renderer).transformed(fig.transFigure.inverted())
        if box.x0 >= 0 and box.x1 <= 1 and box.y0 >= 0 and box.y1 <= 1:
            return
        text.set_fontsize(text.get_fontsize() - 0.5)


def page_one_run(rep: Report) -> Optional[tuple[str, int]]:
    """(log name, run id) of the run whose timeline page one shows (one day recorded), else None."""
    if len(rep.days) > 1:
        return None
    best = max(((d, r) for d in rep.logs for r in d.runs), key=lambda x: len(x[0].run_windows(x[1])), default=None)
    return None if best is None or not best[0].run_windows(best[1]) else (best[0].path.name, best[1])


def render_pdf(rep: Report, path: Path, first_page_png: Optional[Path] = None) -> None:
    """The PDF report; optionally its first page as a PNG as well (the same drawing)."""
    with PdfPages(path, metadata={"Title": "affectedge session review", "Creator": f"affectedge {__version__}"}) as pdf:
        fig = first_page(rep)
        pdf.savefig(fig)
        if first_page_png is not None:
            fig.savefig(first_page_png, dpi=100)
        plt.close(fig)
        shown = page_one_run(rep)
        for data in rep.logs:
            for run_id in data.runs:
                wins = data.run_windows(run_id)
                if not wins:
                    continue
                title = f"{data.path.name}, run {run_id}: {rep.local(data.runs[run_id].started_utc)}"
                evs = [e for e in data.events if e.run_id == run_id]
                if (data.path.name, run_id) == shown:
                    # Page one holds this run's timeline: this page says what happened to the sources.
                    counts = [c[:5] for c in event_counts(data) if c[5] == run_id]
                    fig = events_figure(wins, evs, counts, f"What happened to the sources: {title}")
                else:
                    fig = timeline_figure(wins, evs, title)
                    fig.set_size_inches(11.69, 8.27)
                pdf.savefig(fig)
                plt.close(fig)
