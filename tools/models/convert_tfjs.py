"""Expression models from npm (TF.js) -> ONNX FP32 -> ONNX INT8, each checked against TF.js itself.

    python -m affectedge_tools.models.convert_tfjs --out build/tfjs-models [--install models/]

Two expression classifiers ship inside npm tarballs reachable here (issue 13's survey):

* ``human_emotion``: @vladmandic/human 3.3.6, ``models/emotion.{json,bin}``: oarriaga's FER2013
  CNN (github.com/oarriaga/face_classification, MIT), 64x64 grey, as a TF.js *graph* model. It is
  translated op by op (the op set below; anything else is refused by name).
* ``faceapi_expression``: @vladmandic/face-api 1.7.15, ``model/face_expression_model*``: face-api.js's
  FaceExpressionNet (MIT), 112x112 RGB, a TF.js *weights-only* model whose graph is code; the graph
  is rebuilt here from face-api's own source (``denseBlock4`` x4, average pool, fully connected).

Each becomes an NHWC float ONNX model (so the face path feeds it like the FER model), then an INT8
QDQ model (onnxruntime static quantisation, calibrated on real face crops cut by the device's own
face path from one clip). The fidelity report compares FP32 ONNX against the original running in
TF.js (``node`` with ``@tensorflow/tfjs`` from npm, on the held-out crops) and INT8 against FP32.
No TensorFlow is needed: the translation writes ONNX with the ``onnx`` package.

The tarballs are fetched with ``npm pack`` into the download cache and pinned by sha256; the
device never runs this.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.npm_packages import FACE_API, HUMAN, NpmArchive, fetch_npm
from .model_io import fidelity, quantise_qdq, run_onnx
from ..data.face_data import scratch_manifest

REPO = Path(__file__).resolve().parents[2]


TFJS_VERSION = "4.22.0"  # the reference runtime, installed into a scratch folder by npm


# ------------------------------------------------------------------------------ TF.js weights


def decode_weights(specs: list[dict], data: bytes) -> dict[str, np.ndarray]:
    """TF.js weight specs + their concatenated shard bytes -> named arrays (uint8/uint16
    quantisation undone: value = min + q * scale, or float16)."""
    out, offset = {}, 0
    for spec in specs:
        shape, count = spec["shape"], int(np.prod(spec["shape"], dtype=np.int64))
        q = spec.get("quantization")
        if q:
            qdtype = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}[q["dtype"]]
            raw = np.frombuffer(data, qdtype, count, offset)
            offset += raw.nbytes
            value = raw.astype(np.float32) if q["dtype"] == "float16" else raw.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"])
        else:
            dtype = {"float32": np.float32, "int32": np.int32}[spec["dtype"]]
            value = np.frombuffer(data, dtype, count, offset)
            offset += value.nbytes
        out[spec["name"]] = value.reshape(shape).astype(np.float32 if spec["dtype"] == "float32" else np.int32)
    if offset != len(data):
        raise ValueError(f"the weight specs cover {offset} bytes, the shards hold {len(data)}")
    return out


# ------------------------------------------------------------------------------ ONNX writing


class Graph:
    """A small NCHW ONNX graph writer for the ops these nets use (TF kernels are HWIO)."""

    def __init__(self, name: str):
        self.name, self.nodes, self.inits, self._n = name, [], [], 0

    def _fresh(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, value: np.ndarray, hint: str = "c") -> str:
        from onnx import numpy_helper
        name = self._fresh(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        from onnx import helper
        out = out or self._fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    @staticmethod
    def _pads(padding: str) -> dict:
        # TF's SAME puts the odd pixel at the bottom/right, which is ONNX's SAME_UPPER.
        return {"auto_pad": "SAME_UPPER"} if padding == "SAME" else {"pads": [0, 0, 0, 0]}

    def conv(self, x: str, hwio: np.ndarray, bias: np.ndarray | None, stride: int, padding: str) -> str:
        w = self.const(hwio.transpose(3, 2, 0, 1), "w")
        ins = [x, w] + ([self.const(bias, "b")] if bias is not None else [])
        return self.op("Conv", ins, strides=[stride, stride], kernel_shape=list(hwio.shape[:2]), **self._pads(padding))

    def depthwise(self, x: str, hwcm: np.ndarray, stride: int, padding: str) -> str:
        kh, kw, c, m = hwcm.shape
        w = self.const(hwcm.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw), "dw")
        return self.op("Conv", [x, w], strides=[stride, stride], kernel_shape=[kh, kw], group=c, **self._pads(padding))

    def model(self, input_name: str, input_shape: list[int], output: str, n_out: int):
        from onnx import TensorProto, checker, helper
        graph = helper.make_graph(
            self.nodes, self.name,
            [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, input_shape)],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, [1, n_out])],
            self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="affectedge_tools.models.convert_tfjs")
        model.ir_version = 8
        checker.check_model(model)
        return model


def _attr_s(node: dict, key: str) -> str:
    return base64.b64decode(node["attr"][key]["s"]).decode()


def _strides(node: dict) -> int:
    s = [int(v) for v in node["attr"]["strides"]["list"]["i"]]
    layout = _attr_s(node, "data_format") if "data_format" in node["attr"] else "NHWC"
    if s[1] != s[2] or layout != "NHWC":
        raise ValueError(f"node {node['name']}: only square strides over NHWC are translated")
    return s[1]


def graph_model_to_onnx(model_json: dict, weights: dict[str, np.ndarray], name: str):
    """A TF.js graph model (NHWC) -> ONNX taking the same NHWC input. Op set: Placeholder, Const,
    _FusedConv2D (BiasAdd[, Relu]), DepthwiseConv2dNative, MaxPool, AddV2, Relu, Mean over H,W,
    Softmax, Identity."""
    g = Graph(name)
    nodes = model_json["modelTopology"]["node"]
    placeholder = [n for n in nodes if n["op"] == "Placeholder"]
    if len(placeholder) != 1:
        raise ValueError(f"{name}: expected one input, found {len(placeholder)}")
    dims = [int(d["size"]) for d in placeholder[0]["attr"]["shape"]["shape"]["dim"]]
    input_name = "input"
    value = {placeholder[0]["name"]: g.op("Transpose", [input_name], perm=[0, 3, 1, 2])}
    for node in nodes:
        op, ins = node["op"], [i.split(":")[0] for i in node.get("input", [])]
        if op in ("Placeholder", "Const"):
            continue
        x = value.get(ins[0]) if ins else None
        if op == "_FusedConv2D":
            fused = [base64.b64decode(s).decode() for s in node["attr"]["fused_ops"]["list"]["s"]]
            if fused not in (["BiasAdd"], ["BiasAdd", "Relu"]):
                raise ValueError(f"{name}: node {node['name']}: fused ops {fused} are not translated")
            y = g.conv(x, weights[ins[1]], weights[ins[2]], _strides(node), _attr_s(node, "padding"))
            value[node["name"]] = g.op("Relu", [y]) if fused[-1] == "Relu" else y
        elif op == "DepthwiseConv2dNative":
            value[node["name"]] = g.depthwise(x, weights[ins[1]], _strides(node), _attr_s(node, "padding"))
        elif op == "MaxPool":
            k = [int(v) for v in node["attr"]["ksize"]["list"]["i"]]
            value[node["name"]] = g.op("MaxPool", [x], kernel_shape=k[1:3], strides=[_strides(node)] * 2,
                                       **Graph._pads(_attr_s(node, "padding")))
        elif op in ("AddV2", "Add"):
            value[node["name"]] = g.op("Add", [x, value[ins[1]]])
        elif op == "Relu":
            value[node["name"]] = g.op("Relu", [x])
        elif op == "Mean":
            axes = weights[ins[1]].tolist()
            if sorted(axes) != [1, 2]:
                raise ValueError(f"{name}: node {node['name']}: Mean over {axes} is not translated (only H,W)")
            keep = int(node["attr"].get("keep_dims", {}).get("b", False))
            value[node["name"]] = g.op("ReduceMean", [x], axes=[2, 3], keepdims=keep)
        elif op == "Softmax":
            value[node["name"]] = g.op("Softmax", [x], axis=-1)
        elif op == "Identity":
            value[node["name"]] = x
        else:
            raise ValueError(f"{name}: node {node['name']}: op {op} is not translated")
    outputs = [n["name"] for n in nodes if n["op"] == "Identity"] or [nodes[-1]["name"]]
    g.op("Identity", [value[outputs[0]]], out="scores")
    n_out = _n_classes(model_json, weights)
    return g.model(input_name, [1] + dims[1:], "scores", n_out)


def _n_classes(model_json: dict, weights: dict[str, np.ndarray]) -> int:
    # The last conv's output channels: the classifier width.
    convs = [n for n in model_json["modelTopology"]["node"] if n["op"] == "_FusedConv2D"]
    return int(weights[convs[-1]["input"][1]].shape[-1])


def faceapi_expression_to_onnx(weights: dict[str, np.ndarray], name: str):
    """face-api.js's FaceExpressionNet (src/faceFeatureExtractor/FaceFeatureExtractor.ts,
    denseBlock.ts, faceProcessor/FaceProcessor.ts): RGB 112x112 in 0..255, minus the mean RGB
    (122.782, 117.001, 104.298), / 255; four denseBlock4 (the first with a plain strided conv, the
    rest depthwise-separable, all downscaling by 2); 7x7 average pool; fully connected 256 -> 7;
    softmax. The normalisation stays in the face path's lookup table (the manifest says it)."""
    g = Graph(name)
    x = g.op("Transpose", ["input"], perm=[0, 3, 1, 2])

    def separable(t: str, prefix: str, stride: int) -> str:
        d = g.depthwise(t, weights[f"{prefix}/depthwise_filter"], stride, "SAME")
        return g.conv(d, weights[f"{prefix}/pointwise_filter"], weights[f"{prefix}/bias"], 1, "SAME")

    for block in range(4):
        p = f"dense{block}"
        if block == 0:
            out1 = g.conv(x, weights[f"{p}/conv0/filters"], weights[f"{p}/conv0/bias"], 2, "SAME")
        else:
            out1 = separable(x, f"{p}/conv0", 2)
        out1 = g.op("Relu", [out1])
        out2 = separable(out1, f"{p}/conv1", 1)
        in3 = g.op("Relu", [g.op("Add", [out1, out2])])
        out3 = separable(in3, f"{p}/conv2", 1)
        in4 = g.op("Relu", [g.op("Add", [out1, g.op("Add", [out2, out3])])])
        out4 = separable(in4, f"{p}/conv3", 1)
        x = g.op("Relu", [g.op("Add", [out1, g.op("Add", [out2, g.op("Add", [out3, out4])])])])
    pooled = g.op("AveragePool", [x], kernel_shape=[7, 7], strides=[2, 2])
    flat = g.op("Flatten", [pooled], axis=1)
    logits = g.op("Gemm", [flat, g.const(weights["fc/weights"], "fc_w"), g.const(weights["fc/bias"], "fc_b")])
    g.op("Softmax", [logits], out="scores", axis=1)
    return g.model("input", [1, 112, 112, 3], "scores", int(weights["fc/bias"].shape[0]))


# ------------------------------------------------------------------------------ the candidates


@dataclass(frozen=True)
class Candidate:
    key: str              # manifest key
    kind: str             # "graph": a TF.js graph model, translated op by op; "faceapi": face-api's FaceExpressionNet, rebuilt
    archive: NpmArchive
    members: tuple[str, ...]   # model JSON first, then its weight shards
    description: str
    upstream: str
    expression: dict      # the manifest's expression section (how the face path feeds and reads it)


CANDIDATES = (
    Candidate("human_emotion", "graph", HUMAN, ("package/models/emotion.json", "package/models/emotion.bin"),
              "FER2013 CNN (oarriaga/face_classification) as shipped by @vladmandic/human, INT8 QDQ.",
              "https://github.com/oarriaga/face_classification (MIT), converted to TF.js by github.com/vladmandic",
              # human's emotion.ts: bilinear resize of the face box, grey, (x - 0.5) * 2 on 0..1 pixels.
              {"size": 64, "colour": "grey", "layout": "nhwc", "normalise": {"divide": 127.5, "subtract": 1.0},
               "crop": {"scale": 1.2, "shift_up": 0.13},
               "classes": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"], "scores": "probabilities"}),
    Candidate("faceapi_expression", "faceapi", FACE_API,
              ("package/model/face_expression_model-weights_manifest.json", "package/model/face_expression_model.bin"),
              "face-api.js FaceExpressionNet (densenet-style, 112x112 RGB) as shipped by @vladmandic/face-api, INT8 QDQ.",
              "https://github.com/justadudewhohacks/face-api.js (MIT), maintained fork github.com/vladmandic/face-api (MIT)",
              # FaceFeatureExtractor.ts: (rgb - [122.782, 117.001, 104.298]) / 255 on 0..255 pixels.
              {"size": 112, "colour": "rgb", "layout": "nhwc",
               "normalise": {"divide": 255.0, "subtract": [122.782 / 255, 117.001 / 255, 104.298 / 255]},
               "crop": {"scale": 1.2, "shift_up": 0.13},
               "classes": ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"], "scores": "probabilities"}),
)


def load_candidate(c: Candidate, cache: Path) -> tuple[dict, dict[str, np.ndarray], bytes, bytes]:
    """(model JSON, weights, raw JSON bytes, raw shard bytes) of a candidate, from its npm tarball."""
    from ..data.build_demo_session import read_member

    tarball = fetch_npm(c.archive, cache)
    raw_json = read_member(tarball, c.members[0])
    shards = b"".join(read_member(tarball, m) for m in c.members[1:])
    doc = json.loads(raw_json)
    specs = doc["weightsManifest"][0]["weights"] if isinstance(doc, dict) else [w for group in doc for w in group["weights"]]
    return doc, decode_weights(specs, shards), raw_json, shards


def to_onnx(c: Candidate, doc: dict, weights: dict[str, np.ndarray]):
    return graph_model_to_onnx(doc, weights, c.key) if c.kind == "graph" else faceapi_expression_to_onnx(weights, c.key)


# ------------------------------------------------------------------------------ face crops


def face_path_for(manifest: Path, key: str):
    from affectedge.perception.face import FaceConfig, load_face_path
    return load_face_path(FaceConfig(min_face_px=24, expression_model=key, backend="onnx", manifest=str(manifest)))


def candidate_crops(manifest: Path, key: str) -> tuple[np.ndarray, np.ndarray, object]:
    """(calibration, evaluation) uint8 crops in model ``key``'s size and colour, cut by the device's
    face path from the same real footage as convert_models uses (the calibration clip held apart)."""
    import cv2

    from .convert_models import CALIBRATION_CLIPS, EVALUATION_CLIPS, EVALUATION_PHOTOS
    from ..data.face_data import extract_feat_data, video_frames

    path = face_path_for(manifest, key)

    def crops(images) -> np.ndarray:
        out = []
        for image in images:
            face = path.choose(path.detect(image))
            if face is not None:
                out.append(path.model_crop(image, face).copy())
        return np.stack(out)

    with tempfile.TemporaryDirectory() as tmp:
        data = extract_feat_data(Path(tmp) / "feat")
        calibration = crops(f for clip in CALIBRATION_CLIPS for f in video_frames(data / clip, step=2))
        photos = [cv2.imread(str(data / p)) for p in EVALUATION_PHOTOS]
        evaluation = crops(photos + [f for clip in EVALUATION_CLIPS for f in video_frames(data / clip)])
    return calibration, evaluation, path.spec


def model_inputs(crops: np.ndarray, spec) -> np.ndarray:
    """uint8 crops -> the model's float NHWC input, through the same table the face path uses."""
    table = spec.lookup_table().reshape(256, -1)
    pixels = crops.reshape(len(crops), spec.size, spec.size, spec.channels).astype(np.intp)
    x = np.stack([table[pixels[..., ch], ch] for ch in range(spec.channels)], axis=-1)
    return np.ascontiguousarray(x, dtype=np.float32)


# ------------------------------------------------------------------------------ manifests


def manifest_entry(c: Candidate, file: Path, n_out: int, size: int, channels: int) -> dict:
    return {
        "description": c.description,
        "source": {"registry": "npm", "package": c.archive.name, "version": c.archive.version,
                   "path": ", ".join(m.removeprefix("package/") for m in c.members), "upstream": c.upstream},
        "licence": c.archive.licence,
        "licence_file": f"LICENSES/{c.archive.name.split('/')[-1]}-MIT.txt",
        "files": {"onnx": {"file": str(file), "sha256": hashlib.sha256(file.read_bytes()).hexdigest(),
                           "weights": "int8 QDQ (activations int8, per-channel weights)" if "int8" in file.name else "float32",
                           "converted": "tools/models/convert_tfjs.py (TF.js -> ONNX opset 13; onnxruntime quantize_static)"}},
        "inputs": [{"name": "input", "shape": [1, size, size, channels], "dtype": "float32"}],
        "outputs": [{"name": "scores", "shape": [1, n_out], "dtype": "float32"}],
        "labels": list(c.expression["classes"]),
        "expression": c.expression,
    }


# ------------------------------------------------------------------------------ quantise, check


TFJS_REFERENCE = r"""
// The original model in TF.js (CPU backend): argv = kind, model json, shards, input .f32, shape json, output .f32
const tf = require('@tensorflow/tfjs');
const fs = require('fs');
const [kind, jsonPath, binPath, inPath, shapeJson, outPath] = process.argv.slice(2);
const doc = JSON.parse(fs.readFileSync(jsonPath));
const bin = fs.readFileSync(binPath);
const data = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
const shape = JSON.parse(shapeJson);
const raw = fs.readFileSync(inPath);
const x = tf.tensor4d(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), shape);
(async () => {
  await tf.setBackend('cpu');
  let y;
  if (kind === 'graph') {
    const model = await tf.loadGraphModel(tf.io.fromMemory({modelTopology: doc.modelTopology,
      weightSpecs: doc.weightsManifest[0].weights, weightData: data}));
    y = model.execute(x);
  } else {
    // face-api's FaceExpressionNet, line for line from its src/ (denseBlock.ts, FaceFeatureExtractor.ts,
    // depthwiseSeparableConv.ts, fullyConnectedLayer.ts), after its (rgb - mean) / 255 normalisation.
    const w = tf.io.decodeWeights(data, doc[0].weights);
    const sep = (t, p, s) => tf.add(tf.separableConv2d(t, w[p + '/depthwise_filter'], w[p + '/pointwise_filter'], s, 'same'), w[p + '/bias']);
    const block = (t, p, first) => {
      const out1 = tf.relu(first ? tf.add(tf.conv2d(t, w[p + '/conv0/filters'], [2, 2], 'same'), w[p + '/conv0/bias']) : sep(t, p + '/conv0', [2, 2]));
      const out2 = sep(out1, p + '/conv1', [1, 1]);
      const in3 = tf.relu(tf.add(out1, out2));
      const out3 = sep(in3, p + '/conv2', [1, 1]);
      const in4 = tf.relu(tf.add(out1, tf.add(out2, out3)));
      const out4 = sep(in4, p + '/conv3', [1, 1]);
      return tf.relu(tf.add(out1, tf.add(out2, tf.add(out3, out4))));
    };
    let t = block(x, 'dense0', true);
    t = block(t, 'dense1'); t = block(t, 'dense2'); t = block(t, 'dense3');
    t = tf.avgPool(t, [7, 7], [2, 2], 'valid');
    y = tf.softmax(tf.add(tf.matMul(t.as2D(t.shape[0], -1), w['fc/weights']), w['fc/bias']));
  }
  fs.writeFileSync(outPath, Buffer.from((await y.data()).buffer));
})();
"""


def tfjs_reference(c: Candidate, raw_json: bytes, shards: bytes, x: np.ndarray, cache: Path, work: Path) -> np.ndarray:
    """The original model's output on ``x`` (N, H, W, C), run by TF.js in node."""
    ref = cache / "npm" / f"tfjs-{TFJS_VERSION}"
    if not (ref / "node_modules" / "@tensorflow" / "tfjs").is_dir():
        done = subprocess.run(["npm", "install", "--no-save", "--prefix", str(ref), f"@tensorflow/tfjs@{TFJS_VERSION}"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"npm install @tensorflow/tfjs@{TFJS_VERSION} failed:\n{done.stderr[-2000:]}")
    script = ref / "reference.js"
    script.write_text(TFJS_REFERENCE)
    (work / "model.json").write_bytes(raw_json)
    (work / "weights.bin").write_bytes(shards)
    x.astype(np.float32).tofile(work / "x.f32")
    done = subprocess.run(["node", str(script), c.kind, str(work / "model.json"), str(work / "weights.bin"), str(work / "x.f32"),
                           json.dumps(list(x.shape)), str(work / "y.f32")], capture_output=True, text=True,
                          env={"NODE_PATH": str(ref / "node_modules"), "PATH": os.environ["PATH"]})
    if done.returncode != 0:
        raise SystemExit(f"TF.js reference failed:\n{done.stderr[-3000:]}")
    return np.fromfile(work / "y.f32", np.float32).reshape(len(x), -1)


def convert_all(out: Path, cache: Path) -> dict:
    """Every candidate: FP32 and INT8 ONNX in ``out``, and the fidelity report."""
    out.mkdir(parents=True, exist_ok=True)
    report = {}
    for c in CANDIDATES:
        doc, weights, raw_json, shards = load_candidate(c, cache)
        model = to_onnx(c, doc, weights)
        fp32, int8 = out / f"{c.key}_fp32.onnx", out / f"{c.key}_int8.onnx"
        fp32.write_bytes(model.SerializeToString())
        n_out = model.graph.output[0].type.tensor_type.shape.dim[1].dim_value
        size, channels = c.expression["size"], 1 if c.expression["colour"] == "grey" else 3
        manifest = scratch_manifest(out, entries={f"{c.key}_fp32": manifest_entry(c, fp32, n_out, size, channels)})
        calibration, evaluation, spec = candidate_crops(manifest, f"{c.key}_fp32")
        xc, xe = model_inputs(calibration, spec), model_inputs(evaluation, spec)
        quantise_qdq(fp32, int8, xc, "input")
        with tempfile.TemporaryDirectory() as tmp:
            reference = tfjs_reference(c, raw_json, shards, xe, cache, Path(tmp))
        y32, y8 = run_onnx(fp32, xe)[0], run_onnx(int8, xe)[0]
        report[c.key] = {
            "source": f"{c.archive.name} {c.archive.version}",
            "calibration_crops": len(xc), "evaluation_crops": len(xe),
            "onnx_fp32_vs_tfjs": fidelity(reference, y32), "onnx_int8_vs_tfjs": fidelity(reference, y8),
            "kb": {"fp32": round(fp32.stat().st_size / 1024, 1), "int8": round(int8.stat().st_size / 1024, 1)},
            "entry": manifest_entry(c, int8, n_out, size, channels),
        }
    return report


def print_report(report: dict) -> None:
    print(f"{'model':<20} {'crops cal/eval':>14} {'vs TF.js':>10} {'top-1':>7} {'max |dp|':>9} {'mean |dp|':>10} {'KB':>7}")
    for key, r in report.items():
        for kind in ("fp32", "int8"):
            f = r[f"onnx_{kind}_vs_tfjs"]
            print(f"{key:<20} {r['calibration_crops']:>6}/{r['evaluation_crops']:<7} {'ONNX ' + kind.upper():>10} "
                  f"{f['top1_agreement']:>7.1%} {f['max_prob_diff']:>9.4f} {f['mean_prob_diff']:>10.5f} {r['kb'][kind]:>7}")


def install(report: dict, out: Path) -> None:
    """Copy the INT8 files into models/ and print their manifest entries (file names relative)."""
    import yaml

    for key, r in report.items():
        src = out / f"{key}_int8.onnx"
        shutil.copyfile(src, REPO / "models" / src.name)
        entry = dict(r["entry"])
        entry["files"]["onnx"]["file"] = src.name
        print(yaml.safe_dump({key: entry}, sort_keys=False))


def main(argv: list[str] | None = None) -> int:
    from ..data.build_demo_session import default_cache_dir

    p = argparse.ArgumentParser(prog="convert_tfjs", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "build" / "tfjs-models")
    p.add_argument("--cache", type=Path, default=None, help="download cache (default: the demo session's)")
    p.add_argument("--json", type=Path, default=None, help="also write the report as JSON")
    p.add_argument("--install", action="store_true", help="copy the INT8 models into models/ and print their manifest entries")
    args = p.parse_args(argv)
    args.out = args.out.resolve()
    report = convert_all(args.out, args.cache or default_cache_dir())
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    if args.install:
        install(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
