"""Fit an expression model's confidence temperature on a calibration split; report ECE before/after.

    python -m affectedge_tools.models.calibrate_expression [--model fer_mini_xception] [--images LABELS.csv]

The demo session's camera track is replayed through the device's face path with the model
uncalibrated (T = 1). Its labelled windows (tools/data/labels/demo-session-emotions.csv) are cut into
5 s blocks, the blocks alternate between a **calibration split** (even blocks) and an
**evaluation split** (odd blocks), so both hold every person and class. T minimises the negative
log-likelihood of the labelled class on the calibration split (grid over 0.2..5, log-spaced); the
expected calibration error (10 bins, `affectedge evaluate`'s own measure) is reported on the
evaluation split before and after, and on the still faces when given. It prints the manifest line;
the figures go to docs/accuracy.md. Neighbouring blocks are not independent (same people, same
clips), which the docs say next to the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from .compare_expression_models import LABELS as LABELS_CSV
from .compare_expression_models import replay_face

BLOCK_S = 5.0
GRID = np.exp(np.linspace(np.log(0.2), np.log(5.0), 401))


def labelled_face_windows(db: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probabilities in LABELS order, true label index, 5 s block index) of every labelled window
    with a face estimate."""
    from affectedge.review.labels import read_session_labels
    from affectedge.review.log_reader import read_log
    from affectedge.core.types import LABELS

    data, labels = read_log(db), read_session_labels(LABELS_CSV)
    faces = {(e["run_id"], e["window_seq"]): e for e in data.estimates if e["modality"] == "face"}
    probs, truth, blocks = [], [], []
    for w in data.windows:
        span = labels.at((w.start + w.end) / 2)
        e = faces.get((w.run_id, w.seq))
        if span is None or span.label is None or e is None or not e.get("probabilities"):
            continue
        probs.append([e["probabilities"][lab] for lab in LABELS])
        truth.append(LABELS.index(span.label))
        blocks.append(int(w.start // BLOCK_S))
    return np.array(probs), np.array(truth), np.array(blocks)


def scaled(p: np.ndarray, t: float) -> np.ndarray:
    q = np.power(np.clip(p, 1e-12, 1.0), 1.0 / t)
    return q / q.sum(axis=1, keepdims=True)


def nll(p: np.ndarray, truth: np.ndarray, t: float) -> float:
    return float(-np.mean(np.log(scaled(p, t)[np.arange(len(truth)), truth])))


def best_temperature(p: np.ndarray, truth: np.ndarray) -> float:
    return float(GRID[int(np.argmin([nll(p, truth, g) for g in GRID]))])


def ece(p: np.ndarray, truth: np.ndarray) -> float:
    from affectedge.review.metrics import calibration

    return calibration(p.max(axis=1), p.argmax(axis=1) == truth)[0]


def fit(model: str, images: Path | None) -> dict:
    from affectedge.offline.demo_session import default_session_dir, load_session

    from ..data.build_demo_session import default_cache_dir, ensure_session

    session = load_session(ensure_session(default_session_dir(), default_cache_dir())[0])
    with tempfile.TemporaryDirectory() as tmp:
        db = replay_face(model, session, Path(tmp), backend="litert" if model == "fer_mini_xception" else "onnx", temperature=1.0)
        p, truth, blocks = labelled_face_windows(db)
    folds = []
    for fit_on in (0, 1):  # two folds: even blocks fit / odd evaluate, then the other way round
        cal, ev = blocks % 2 == fit_on, blocks % 2 != fit_on
        t = best_temperature(p[cal], truth[cal])
        folds.append({
            "fit_on": "even blocks" if fit_on == 0 else "odd blocks", "temperature": round(t, 3),
            "calibration_windows": int(cal.sum()), "evaluation_windows": int(ev.sum()),
            "nll_before": nll(p[ev], truth[ev], 1.0), "nll_after": nll(p[ev], truth[ev], t),
            "ece_before": ece(p[ev], truth[ev]), "ece_after": ece(scaled(p[ev], t), truth[ev]),
            "accuracy": float(np.mean(p[ev].argmax(axis=1) == truth[ev])),
        })
    # A temperature ships only when it helps the windows it was not fitted on, in both folds;
    # otherwise the model stays uncalibrated (T = 1) and the docs say why.
    helps = all(f["nll_after"] < f["nll_before"] and f["ece_after"] < f["ece_before"] for f in folds)
    t_all = best_temperature(p, truth)
    result = {"model": model, "folds": folds, "temperature_all": round(t_all, 3), "ship": helps,
              "temperature": round(t_all, 3) if helps else 1.0}
    if images is not None:
        result["images"] = image_ece(model, images, t_all)
    return result


def image_ece(model: str, labels_csv: Path, t: float) -> dict:
    import cv2

    from affectedge.perception.face import FaceConfig, load_face_path
    from affectedge.review.labels import read_image_labels
    from affectedge.core.types import LABELS

    path = load_face_path(FaceConfig(expression_model=model, backend="litert" if model == "fer_mini_xception" else "onnx",
                                      manifest=None))
    probs, truth = [], []
    for item in read_image_labels(labels_csv):
        obs = path.process(cv2.imread(str(item.image), cv2.IMREAD_UNCHANGED))
        if obs is not None:
            probs.append(obs.probabilities)
            truth.append(LABELS.index(item.label))
    p, y = np.array(probs), np.array(truth)
    return {"photographs": len(y), "ece_before": ece(p, y), "ece_after": ece(scaled(p, t), y)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="calibrate_expression", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="fer_mini_xception")
    ap.add_argument("--images", type=Path, default=None, help="still-face labels CSV (build_eval_faces)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    r = fit(args.model, args.images)
    for f in r["folds"]:
        print(f"{r['model']}: T = {f['temperature']} fitted on {f['calibration_windows']} windows ({f['fit_on']}); "
              f"on the other {f['evaluation_windows']} (top-1 accuracy {f['accuracy']:.3f}): "
              f"NLL {f['nll_before']:.3f} -> {f['nll_after']:.3f}, ECE {f['ece_before']:.3f} -> {f['ece_after']:.3f}")
    if "images" in r:
        i = r["images"]
        print(f"still faces ({i['photographs']} read), T = {r['temperature_all']} fitted on every window: "
              f"ECE {i['ece_before']:.3f} -> {i['ece_after']:.3f}")
    verdict = "helps held-out windows in both folds" if r["ship"] else "does not help held-out windows in both folds: keep T = 1"
    print(f"T fitted on every window: {r['temperature_all']} ({verdict})")
    print(f"manifest (models.{r['model']}.expression):  temperature: {r['temperature']}")
    if args.json:
        args.json.write_text(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
