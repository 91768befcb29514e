"""models/silero_vad.onnx -> models/silero_vad_16k.npz, the weights device/perception/silero.py runs.

    python -m affectedge_tools.models.silero_weights [--out models/silero_vad_16k.npz]

Takes the constants of the ONNX graph's 16 kHz branch (the ``If`` on ``sr == 16000``) by their
PyTorch names, writes them as float32 arrays, then runs the NumPy VAD and onnxruntime side by side
on the demo session's real audio (every 512-sample chunk, state carried) and prints the largest
probability difference, the decisions that differ at 0.5 and 0.35 (the segmenter's thresholds),
the time per chunk of each, and the file's sha256 for models/manifest.yaml. Needs the ``tools``
extra (onnx, onnxruntime); the device never runs this.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
ONNX = REPO / "models" / "silero_vad.onnx"
PREFIX = "If_0_then_branch__Inline_0__"
NAMES = ("stft.forward_basis_buffer",
         *(f"encoder.{i}.reparam_conv.{p}" for i in range(4) for p in ("weight", "bias")),
         "decoder.rnn.weight_ih", "decoder.rnn.weight_hh", "decoder.rnn.bias_ih", "decoder.rnn.bias_hh",
         "decoder.decoder.2.weight", "decoder.decoder.2.bias")


def extract(onnx_path: Path = ONNX) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    branch = next(a.g for n in model.graph.node if n.op_type == "If" for a in n.attribute if a.name == "then_branch")
    found = {n.output[0].removeprefix(PREFIX): numpy_helper.to_array(n.attribute[0].t)
             for n in branch.node if n.op_type == "Constant"}
    missing = [k for k in NAMES if k not in found]
    if missing:
        raise SystemExit(f"{onnx_path}: the 16 kHz branch has no {missing} (another Silero version?)")
    return {k: found[k].astype(np.float32) for k in NAMES}


def npz_bytes(weights: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **weights)  # uncompressed: the same bytes every time for the same arrays
    return buf.getvalue()


def compare(weights: dict[str, np.ndarray], audio: np.ndarray) -> dict:
    """The NumPy VAD against onnxruntime on ``audio`` (16 kHz), chunk by chunk."""
    from affectedge.perception.silero import CHUNK, SileroNumpy

    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(ONNX), options, providers=["CPUExecutionProvider"])
    ours = SileroNumpy(weights)
    state = np.zeros((2, 1, 128), np.float32)
    buf = np.zeros((1, 64 + CHUNK), np.float32)
    sr = np.array(16000, np.int64)
    a, b, t_ort, t_np = [], [], 0.0, 0.0
    for i in range(len(audio) // CHUNK):
        chunk = audio[i * CHUNK:(i + 1) * CHUNK]
        buf[0, :64] = buf[0, -64:]
        buf[0, 64:] = chunk
        t0 = time.perf_counter()
        out, state = session.run(None, {"input": buf, "state": state, "sr": sr})
        t1 = time.perf_counter()
        b.append(ours.probability(chunk))
        t_np += time.perf_counter() - t1
        t_ort += t1 - t0
        a.append(float(out[0, 0]))
    a, b = np.array(a), np.array(b)
    return {"chunks": len(a), "max_abs_diff": float(np.abs(a - b).max()),
            "flips_at_0.5": int(np.sum((a >= 0.5) != (b >= 0.5))), "flips_at_0.35": int(np.sum((a >= 0.35) != (b >= 0.35))),
            "us_per_chunk_onnxruntime": t_ort / len(a) * 1e6, "us_per_chunk_numpy": t_np / len(a) * 1e6}


def demo_audio() -> np.ndarray:
    from affectedge.offline.demo_session import default_session_dir, load_session
    from affectedge.sources.replay_wav import read_wav, resample

    from ..data.build_demo_session import default_cache_dir, ensure_session

    session = load_session(ensure_session(default_session_dir(), default_cache_dir())[0])
    x, rate = read_wav(session.microphone.path)
    return resample(x, rate)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="silero_weights", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "models" / "silero_vad_16k.npz")
    args = p.parse_args(argv)
    weights = extract()
    data = npz_bytes(weights)
    args.out.write_bytes(data)
    r = compare(weights, demo_audio())
    print(f"wrote {args.out} ({len(data) / 1024:.0f} KiB), sha256 {hashlib.sha256(data).hexdigest()}")
    print(f"NumPy vs onnxruntime on {r['chunks']} real chunks: max |dp| {r['max_abs_diff']:.2e}, decisions changed "
          f"{r['flips_at_0.5']} at 0.5 and {r['flips_at_0.35']} at 0.35; {r['us_per_chunk_numpy']:.0f} us vs "
          f"{r['us_per_chunk_onnxruntime']:.0f} us per chunk")
    return 0


if __name__ == "__main__":
    sys.exit(main())
