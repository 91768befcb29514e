"""Train affectedge's own facial-expression model on FER2013 (issue 25).

    python -m affectedge_tools.models.train_face_model FER_DIR --out DIR [--epochs N]
    python -m affectedge_tools.models.train_face_model FER_DIR --out DIR --export

FER_DIR is a Kaggle-style image folder: ``train/`` (28,709 ``Training_*.jpg``), ``validation/``
(3,589 ``PublicTest_*``) and ``test/`` (``PrivateTest_*``, held out), each with the seven class folders.
The rules of the split are code, not care:

* every choice (epochs, augmentation, the checkpoint kept, the temperature) is made on a
  validation split carved from ``train/`` (10 %, stratified, seeded);
* ``validation/`` (PublicTest) is the test and is read only by ``--export``, after training;
* ``test/`` (PrivateTest) is never opened: it is held out for an independent check of what ships.

Training runs on PyTorch (the ``train`` extra, CPU build; a GPU is used when one is present, and
nothing depends on it). It is seeded, records the versions it ran with, and checkpoints after every
epoch, so a stopped run resumes where it left off. ``--export`` writes the FP32 ONNX, the INT8 QDQ
model through the project's quantiser with its fidelity report, the PublicTest figures and the
manifest section that plugs the model into the expression slot with no code.

FER2013 carries no licence: its images are never committed; only the trained weights ship, with a
model card that says so (docs/vision.md).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .face_model_export import export
from .face_net import SEED, FerLayoutError, augment, build_net, normalise, predict, prepare, versions

def train(fer_dir: Path, out: Path, epochs: int, batch: int, lr: float, width: int, threads: int) -> Path:
    """Train (or resume) and return the path of the checkpoint that scored best on the carve."""
    import torch
    import torch.nn.functional as F

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)
    if threads:
        torch.set_num_threads(threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    data = prepare(fer_dir, out)
    x_fit = torch.from_numpy(data["images"][data["fit"]]).unsqueeze(1)
    y_fit = torch.from_numpy(data["labels"][data["fit"]])
    choose_images, choose_labels = data["images"][data["choose"]], data["labels"][data["choose"]]

    net = build_net(width).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps = (len(x_fit) + batch - 1) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps, pct_start=0.15)
    generator = torch.Generator().manual_seed(SEED)
    state = {"epoch": 0, "history": [], "best_acc": -1.0, "args": {"epochs": epochs, "batch": batch, "lr": lr, "width": width}}
    last = out / "checkpoint.pt"
    if last.exists():
        ck = torch.load(last, map_location=device, weights_only=False)
        if ck["state"]["args"] != state["args"]:
            raise SystemExit(f"{last}: made with {ck['state']['args']}, not {state['args']}: use another --out")
        net.load_state_dict(ck["net"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        generator.set_state(ck["generator"])
        state = ck["state"]
        print(f"resuming after epoch {state['epoch']}", flush=True)
    meta = {"seed": SEED, "versions": versions(), "fer_dir": str(fer_dir), "n_fit": len(x_fit),
            "n_choose": len(choose_labels), **state["args"],
            "parameters": sum(p.numel() for p in net.parameters())}
    (out / "train_meta.json").write_text(json.dumps(meta, indent=2))

    for epoch in range(state["epoch"], epochs):
        net.train()
        t0 = time.time()
        order = torch.randperm(len(x_fit), generator=generator)
        total = 0.0
        for s in range(steps):
            idx = order[s * batch : (s + 1) * batch]
            x = augment(normalise(x_fit[idx]), generator).to(device)
            loss = F.cross_entropy(net(x), y_fit[idx].to(device), label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        acc = float((predict(net, choose_images, device).argmax(1) == choose_labels).mean())
        state["epoch"] = epoch + 1
        state["history"].append({"epoch": epoch + 1, "loss": total / steps, "carve_acc": acc, "seconds": time.time() - t0})
        print(f"epoch {epoch + 1}/{epochs} loss {total / steps:.4f} carve acc {acc:.4f} ({time.time() - t0:.0f} s)", flush=True)
        if acc > state["best_acc"]:
            state["best_acc"] = acc
            torch.save({"net": net.state_dict(), "epoch": epoch + 1, "carve_acc": acc, "width": width}, out / "best.pt")
        # Written last and atomically: a run killed mid-save resumes from the previous epoch.
        tmp = out / "checkpoint.pt.tmp"
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "generator": generator.get_state(), "state": state}, tmp)
        tmp.replace(last)
    (out / "history.json").write_text(json.dumps(state["history"], indent=2))
    return out / "best.pt"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m affectedge_tools.models.train_face_model", description=__doc__.split("\n")[0])
    ap.add_argument("fer_dir", type=Path, help="FER2013 image folders (train/, validation/; test/ is never read)")
    ap.add_argument("--out", type=Path, required=True, help="run folder: checkpoints, exports, reports")
    ap.add_argument("--epochs", type=int, default=36)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--width", type=int, default=32, help="channels of the first stage (doubled each stage)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--export", action="store_true", help="export the best checkpoint (after training)")
    args = ap.parse_args(argv)
    try:
        if args.export:
            export(args.fer_dir, args.out)
        else:
            train(args.fer_dir, args.out, args.epochs, args.batch, args.lr, args.width, args.threads)
    except FerLayoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
