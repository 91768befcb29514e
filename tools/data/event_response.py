"""The physiology path's event-related response on systole's Task1 recording.

Systole's Task1 (Legrand et al. 2020; one healthy participant rating neutral and disgusting
pictures, ECG and EDA at 1000 Hz, 25.6 min) marks each picture onset in its Stim channel: code 1
is a neutral picture and code 2 a disgusting one (systole's own plot_events and plot_evoked
docstrings: ``np.where(stim == 2)`` labelled "Disgust", ``== 1`` "Neutral").

The whole recording is turned into what the sensors would send (the demo-session builder's
``physiology_span``: strap RR/HR from NeuroKit2 R-peaks, wristband EDA at 4 Hz) and run through
the device's PhysiologyAnalyser window by window (200 ms, population defaults), as the service
would. For every onset it measures, from the path's own outputs:

* HR: mean ``hr_bpm`` over 1-6 s after the onset minus the mean over the 2 s before;
* EDA: ``eda_tonic_us`` 6 s after the onset minus at the onset;
* SCR: whether the path's SCR detector (the analyser's own filters and threshold) marks an onset
  1-5 s after the picture (the customary latency window);
* arousal: mean over 1-6 s after minus the mean over the 2 s before.

and reports per picture kind the mean with a 95 % bootstrap interval, disgust minus neutral, and
how often an SCR falls in a 1-5 s window after any second of the recording (the chance level).

    python -m affectedge_tools.data.event_response [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from affectedge.perception.physiology import PhysiologyAnalyser, PhysiologyConfig
from affectedge.perception.physiology_features import LowPass, ScrDetector
from affectedge.core.types import PhysioSample

from .build_demo_session import PAD_S, SYSTOLE, default_cache_dir, fetch_pypi, load_systole_channel, physiology_span

KINDS = {1: "neutral", 2: "disgust"}
WINDOW_S = 0.2
RATE = 1000
BEFORE_S = 2.0
AFTER_S = (1.0, 6.0)
SCR_LATENCY_S = (1.0, 5.0)
BOOTSTRAP = 5000


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class KindResponse:
    kind: str
    onsets: int
    hr_change_bpm: Interval
    eda_change_us: Interval
    scr_share: Interval
    arousal_change: Interval


def bootstrap(values: np.ndarray, rng: np.random.Generator) -> Interval:
    """Mean and 95 % percentile-bootstrap interval."""
    values = values[np.isfinite(values)]
    means = rng.choice(values, size=(BOOTSTRAP, len(values)), replace=True).mean(axis=1)
    return Interval(float(values.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5)))


def bootstrap_difference(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> Interval:
    """Mean of a minus mean of b, with a 95 % bootstrap interval (each group resampled on its own)."""
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    da = rng.choice(a, size=(BOOTSTRAP, len(a)), replace=True).mean(axis=1)
    db = rng.choice(b, size=(BOOTSTRAP, len(b)), replace=True).mean(axis=1)
    d = da - db
    return Interval(float(a.mean() - b.mean()), float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5)))


def path_outputs(rows: list[tuple[float, str, float]], duration_s: float, config: PhysiologyConfig) -> dict[str, np.ndarray]:
    """Per 200 ms window (end times): the analyser's hr_bpm, eda_tonic_us and arousal (NaN where
    absent), and the times of the SCR onsets its detector marks."""
    analyser = PhysiologyAnalyser(config)
    for t, kind, value in rows:
        analyser.push(PhysioSample(t, kind, value, "strap" if kind in ("rr", "hr") else "band"))
    n = int(duration_s / WINDOW_S)
    ends = (np.arange(n) + 1) * WINDOW_S
    out = {name: np.full(n, np.nan) for name in ("hr_bpm", "eda_tonic_us", "arousal")}
    for i, end in enumerate(ends):
        e = analyser.estimate(end - WINDOW_S, end)
        if e is None:
            continue
        out["arousal"][i] = e.arousal
        for name in ("hr_bpm", "eda_tonic_us"):
            out[name][i] = e.features.get(name, np.nan)
    # The analyser's own SCR chain (tonic low-pass, smoothing low-pass, detector), on the same samples.
    tonic, smooth, detector = LowPass(config.eda_tonic_cutoff_hz), LowPass(config.scr_smoothing_hz), ScrDetector(config.scr_threshold_us)
    scr = [t for t, kind, v in rows if kind == "eda" and detector.step(smooth.step(t, v) - tonic.step(t, v))]
    return {"t": ends, **out, "scr_onsets": np.asarray(scr)}


def _mean_between(t: np.ndarray, x: np.ndarray, a: float, b: float) -> float:
    sel = (t > a) & (t <= b) & np.isfinite(x)
    return float(x[sel].mean()) if sel.any() else float("nan")


def _at(t: np.ndarray, x: np.ndarray, when: float) -> float:
    i = int(np.searchsorted(t, when))
    return float(x[i]) if i < len(x) else float("nan")


def responses(out: dict[str, np.ndarray], onsets: np.ndarray) -> dict[str, np.ndarray]:
    """Per onset: HR change, tonic EDA change, SCR in the latency window (0/1), arousal change."""
    t = out["t"]
    hr, eda, scr, aro = [], [], [], []
    for o in onsets:
        hr.append(_mean_between(t, out["hr_bpm"], o + AFTER_S[0], o + AFTER_S[1]) - _mean_between(t, out["hr_bpm"], o - BEFORE_S, o))
        eda.append(_at(t, out["eda_tonic_us"], o + AFTER_S[1]) - _at(t, out["eda_tonic_us"], o))
        s = out["scr_onsets"]
        scr.append(float(np.any((s >= o + SCR_LATENCY_S[0]) & (s <= o + SCR_LATENCY_S[1]))))
        aro.append(_mean_between(t, out["arousal"], o + AFTER_S[0], o + AFTER_S[1]) - _mean_between(t, out["arousal"], o - BEFORE_S, o))
    return {"hr": np.array(hr), "eda": np.array(eda), "scr": np.array(scr), "arousal": np.array(aro)}


def analyse(cache: Path | None = None, seed: int = 0) -> dict:
    """The whole analysis; returns the figures as a dict (what ``main`` prints)."""
    sdist = fetch_pypi(SYSTOLE, cache or default_cache_dir())
    ecg, eda, stim = (load_systole_channel(sdist, k) for k in ("ECG", "EDA", "Stim"))
    start, stop = int(PAD_S * RATE), len(ecg) - int(PAD_S * RATE)
    duration = (stop - start) / RATE
    rows, _, _ = physiology_span(ecg, eda, RATE, start, stop, duration)
    config = PhysiologyConfig()
    out = path_outputs(rows, duration, config)
    rng = np.random.default_rng(seed)
    by_kind, per_kind = {}, []
    for code, name in KINDS.items():
        onsets = (np.flatnonzero(stim[start:stop] == code)) / RATE
        onsets = onsets[(onsets >= BEFORE_S + 30.0) & (onsets <= duration - AFTER_S[1])]  # after the 30 s RMSSD/HR warm-up
        r = responses(out, onsets)
        by_kind[name] = r
        per_kind.append(KindResponse(name, len(onsets), bootstrap(r["hr"], rng), bootstrap(r["eda"], rng),
                                     bootstrap(r["scr"], rng), bootstrap(r["arousal"], rng)))
    # How often an SCR falls in a 4 s latency window anyway: every second of the recording as a
    # pretend onset, so the share after pictures can be read against it.
    grid = np.arange(BEFORE_S + 30.0, duration - AFTER_S[1], 1.0)
    s = out["scr_onsets"]
    chance = float(np.mean([np.any((s >= g + SCR_LATENCY_S[0]) & (s <= g + SCR_LATENCY_S[1])) for g in grid]))
    difference = {k: asdict(bootstrap_difference(by_kind["disgust"][k], by_kind["neutral"][k], rng))
                  for k in ("hr", "eda", "scr", "arousal")}
    return {"recording": "systole 0.3.1 Task1 (GPL-3.0), 1000 Hz, via the demo session's sensor model",
            "kinds": [asdict(k) for k in per_kind], "disgust_minus_neutral": difference,
            "scr_share_any_second": chance, "scr_onsets": int(len(s)), "duration_s": duration}


def _fmt(i: dict, digits: int = 2) -> str:
    return f"{i['mean']:+.{digits}f} [{i['low']:+.{digits}f}, {i['high']:+.{digits}f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    result = analyse()
    print(f"{'':10}{'onsets':>7}  {'HR change, bpm':>24}  {'tonic EDA change, uS':>24}  {'share with an SCR':>24}  {'arousal change':>24}")
    for k in result["kinds"]:
        print(f"{k['kind']:10}{k['onsets']:>7}  {_fmt(k['hr_change_bpm']):>24}  {_fmt(k['eda_change_us'], 3):>24}  "
              f"{_fmt(k['scr_share']):>24}  {_fmt(k['arousal_change'], 3):>24}")
    d = result["disgust_minus_neutral"]
    print(f"{'disgust-neutral':17}  {_fmt(d['hr']):>24}  {_fmt(d['eda'], 3):>24}  {_fmt(d['scr']):>24}  {_fmt(d['arousal'], 3):>24}")
    print(f"SCR in a 1-5 s window after any second of the recording: {result['scr_share_any_second']:.2f} "
          f"({result['scr_onsets']} SCRs in {result['duration_s'] / 60:.1f} min)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
