"""arm64 proof without a board: run the demo session in an emulated arm64 Debian and compare.

Steps (each skipped when already done, so a rerun only reinstalls the project and replays):

1. apt-installs debootstrap (needs root) and fetches qemu-user from bookworm-backports with apt
   into the cache (Debian 12's own qemu 7.2 crashes in onnxruntime's arm64 extension);
2. registers binfmt_misc for aarch64 with that qemu and the F flag (the kernel opens the
   interpreter once, so it also works inside a chroot that has no qemu binary);
3. builds an arm64 Debian bookworm root with debootstrap, cached in
   ``~/.cache/affectedge/arm64-root``;
4. copies this machine's pip configuration (minus local indexes, which do not exist in the root)
   and resolv.conf in, and runs packaging/install.sh from a copy of the working tree inside it,
   as for a Raspberry Pi 5 (``--board pi5 --no-start``): apt packages, the service user, the venv
   in /opt/affectedge with the arm64 wheels (NumPy 1, as picamera2 needs), config and key;
5. runs ``affectedge demo`` inside under emulation and on this machine, and compares the two
   ``windows.jsonl``: same seq/status/zone/modalities, the same top label but for close calls,
   every number within ``--tolerance`` (DEFAULT_TOLERANCE below says why 0.05).

Usage (root): ``python -m affectedge_tools.proofs.arm64_proof [--result FILE]``. Slow: tens of minutes the
first time (debootstrap and pip under emulation), minutes after. See docs/arm64.md.
"""

from __future__ import annotations

import json
import math
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from .debian_root import (CHROOT, Mounts, NetworkForInstall, ProofError, cache_dir, copy_tree_files, ensure_host_packages,
                          ensure_root, host_mirror, in_root, log, proof_arguments, require_session, run_proof, sh, tree_name)

# Debian packages inside the root: python and what the wheels need at run time.
ROOT_PACKAGES = ["python3", "python3-venv", "python3-pip", "ca-certificates", "libgomp1"]
VENV_IN_ROOT = "/opt/affectedge/venv"  # where packaging/install.sh puts it
SRC_IN_ROOT = "/opt/affectedge-src"
SESSION_IN_ROOT = "/root/.cache/affectedge/demo-session-v2"
OUT_IN_ROOT = "/tmp/arm64-demo"
# From qemu's scripts/qemu-binfmt-conf.sh: an ELF64 little-endian header with e_machine = 183 (AArch64).
AARCH64_MAGIC = r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00"
AARCH64_MASK = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
# Debian 12's qemu 7.2 crashes loading onnxruntime >= 1.30's arm64 extension (SIGSEGV at import),
# which qemu 10 runs, so the emulator comes from bookworm-backports, unpacked into the cache.
QEMU_SUITE = "bookworm-backports"
QEMU_PACKAGE = "qemu-user"
BINFMT = Path("/proc/sys/fs/binfmt_misc")


# ---------------------------------------------------------------------------- comparison


@dataclass
class Comparison:
    """The result of comparing two windows.jsonl files."""

    windows: int = 0
    close_calls: int = 0  # windows whose top label differs in a close call
    max_abs_diff: float = 0.0
    max_diff_at: str = ""
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.windows > 0 and not self.mismatches


EXACT_KEYS = ("seq", "status", "zone", "top")


def _numbers(a, b, path: str) -> Iterator[tuple[str, object, object]]:
    """Pairs of leaves of two records with the same structure (a structural difference is a leaf pair)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            yield path, sorted(a), sorted(b)
            return
        for k in sorted(a):
            yield from _numbers(a[k], b[k], f"{path}.{k}" if path else k)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from _numbers(x, y, f"{path}[{i}]")
    else:
        yield path, a, b


# Why these bounds: the face path runs INT8 models whose XNNPACK kernels (and OpenCV's SIMD resize
# and colour conversion) take different instruction paths on arm64 and x86-64, so its numbers are
# not bit-identical across architectures even with identical wheels (measured: up to 0.031; the
# paths without INT8 models agree within 1e-6). 0.05 is a sixth of the narrowest zone band, and
# zones, statuses and modalities must still be equal. The top label may differ only in a close
# call: both labels within CLOSE_CALL of each other in both records.
DEFAULT_TOLERANCE = 0.05
CLOSE_CALL = 0.02


def _close_call(a: dict, b: dict, margin: float) -> bool:
    pa, pb = a.get("probabilities") or {}, b.get("probabilities") or {}
    la, lb = a.get("top"), b.get("top")
    if la not in pa or lb not in pa or la not in pb or lb not in pb:
        return False
    return abs(pa[la] - pa[lb]) <= margin and abs(pb[la] - pb[lb]) <= margin


def compare_windows(reference: Path, candidate: Path, tolerance: float = DEFAULT_TOLERANCE, keep: int = 20,
                    close_call: float = CLOSE_CALL) -> Comparison:
    """Compare window records line by line: exact on seq/status/zone/modalities, ``top`` exact but
    for close calls (counted), numbers within ``tolerance``."""
    ref = reference.read_text(encoding="utf-8").splitlines()
    cand = candidate.read_text(encoding="utf-8").splitlines()
    result = Comparison()
    if len(ref) != len(cand):
        result.mismatches.append(f"{len(ref)} windows in {reference}, {len(cand)} in {candidate}")
    for lineno, (ra, rb) in enumerate(zip(ref, cand), start=1):
        a, b = json.loads(ra), json.loads(rb)
        result.windows += 1
        for key in EXACT_KEYS:
            if a.get(key) != b.get(key):
                if key == "top" and _close_call(a, b, close_call):
                    result.close_calls += 1
                    continue
                result.mismatches.append(f"line {lineno}: {key} {a.get(key)!r} != {b.get(key)!r}")
        if sorted(a.get("modalities") or {}) != sorted(b.get("modalities") or {}):
            result.mismatches.append(f"line {lineno}: modalities {sorted(a.get('modalities') or {})} != {sorted(b.get('modalities') or {})}")
            continue
        for path, x, y in _numbers(a, b, ""):
            if path.split(".")[0] in EXACT_KEYS:
                continue
            if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
                d = abs(float(x) - float(y))
                if d > result.max_abs_diff:
                    result.max_abs_diff, result.max_diff_at = d, f"line {lineno} {path}"
                if not d <= tolerance or math.isnan(d):
                    result.mismatches.append(f"line {lineno}: {path} {x} vs {y} (|diff| {d:.3g} > {tolerance:g})")
            elif x != y:
                result.mismatches.append(f"line {lineno}: {path} {x!r} != {y!r}")
    del result.mismatches[keep:]
    return result


# ---------------------------------------------------------------------------- host preparation


def ensure_qemu(mirror: str) -> Path:
    """qemu-aarch64 from bookworm-backports, fetched by apt into the cache (the host's apt setup untouched)."""
    base = cache_dir() / "qemu"
    binary = base / "root/usr/bin/qemu-aarch64"
    if binary.exists():
        return binary
    parts = base / "apt/sources.list.d"
    parts.mkdir(parents=True, exist_ok=True)
    (parts / "backports.sources").write_text(
        f"Types: deb\nURIs: {mirror}\nSuites: {QEMU_SUITE}\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    for d in ("lists/partial", "cache/archives/partial"):
        (base / "apt" / d).mkdir(parents=True, exist_ok=True)
    opts = ["-o", "Dir::Etc::SourceList=/dev/null", "-o", f"Dir::Etc::SourceParts={parts}",
            "-o", f"Dir::State::Lists={base / 'apt/lists'}", "-o", f"Dir::Cache={base / 'apt/cache'}",
            "-o", "APT::Sandbox::User=root", "-qq"]
    sh(["apt-get", *opts, "update"])
    for old in base.glob("*.deb"):
        old.unlink()
    sh(["apt-get", *opts, "download", f"{QEMU_PACKAGE}/{QEMU_SUITE}"], cwd=base)
    (deb,) = base.glob(f"{QEMU_PACKAGE}_*.deb")
    sh(["dpkg-deb", "-x", str(deb), str(base / "root")])
    if not binary.exists():
        raise ProofError(f"{deb.name} has no usr/bin/qemu-aarch64")
    return binary


def ensure_binfmt(qemu: Path) -> None:
    """Make the kernel run aarch64 ELF files through ``qemu``, also inside a chroot (F flag)."""
    if not (BINFMT / "register").exists():
        sh(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)])
    entry = BINFMT / "qemu-aarch64"
    if entry.exists():
        text = entry.read_text()
        if "enabled" in text and "F" in _flags(text) and f"interpreter {qemu}" in text:
            return
        log(f"replacing the binfmt_misc entry {entry} (interpreter {_field(text, 'interpreter')}, flags {_flags(text) or '-'})")
        entry.write_text("-1")
    (BINFMT / "register").write_text(f":qemu-aarch64:M::{AARCH64_MAGIC}:{AARCH64_MASK}:{qemu}:F")
    if "enabled" not in entry.read_text():
        raise ProofError(f"binfmt_misc entry {entry} did not register")


def _field(entry_text: str, name: str) -> str:
    for line in entry_text.splitlines():
        if line.startswith(name):
            return line[len(name):].strip(" :")
    return ""


def _flags(entry_text: str) -> str:
    return _field(entry_text, "flags")


# ---------------------------------------------------------------------------- the arm64 root


def install_in_root(root: Path) -> None:
    """Install as on a fresh Pi: packaging/install.sh, with apt and pip working inside the root."""
    with NetworkForInstall(root):
        in_root(root, f"bash {SRC_IN_ROOT}/packaging/install.sh --board pi5 --no-start")
        # The demo publishes to an embedded broker: mosquitto, the optional broker of docs/service.md step 2.
        in_root(root, "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto")


def versions_in(python_cmd) -> dict:
    code = (
        "import json, platform, importlib.metadata as m\n"
        "names = ['affectedge', 'numpy', 'scipy', 'pydantic', 'opencv-python-headless', 'ai-edge-litert', 'onnxruntime']\n"
        "v = {}\n"
        "for n in names:\n"
        "    try: v[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: v[n] = None\n"
        "v['python'] = platform.python_version(); v['machine'] = platform.machine()\n"
        "print(json.dumps(v))\n"
    )
    return json.loads(python_cmd(code).strip().splitlines()[-1])


# ---------------------------------------------------------------------------- the proof


def run_demo_host(out: Path, session: Path) -> float:
    t0 = time.perf_counter()
    sh([sys.executable, "-m", "affectedge", "demo", "--out", str(out), "--session", str(session)])
    return time.perf_counter() - t0


def run_demo_root(root: Path, session: Path) -> float:
    dest = root / SESSION_IN_ROOT.lstrip("/")
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(session, dest)
    t0 = time.perf_counter()
    in_root(root, f"affectedge demo --out {OUT_IN_ROOT} --session {SESSION_IN_ROOT}", path_prefix=f"{VENV_IN_ROOT}/bin")
    return time.perf_counter() - t0


def prove(repo: Path, session: Path, tolerance: float, root: Optional[Path] = None) -> dict:
    """Run every step and return the result record (also printed)."""
    root = root or cache_dir() / "arm64-root"
    if platform.machine() != "x86_64":
        raise ProofError(f"this proof emulates arm64 on an x86-64 machine; this one is {platform.machine()}")
    require_session(session)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    mirror = host_mirror()
    ensure_host_packages({"/usr/sbin/debootstrap": "debootstrap"})
    qemu = ensure_qemu(mirror)
    ensure_binfmt(qemu)
    ensure_root(root, "arm64", ROOT_PACKAGES, mirror)
    timings["root_s"] = time.perf_counter() - t0
    # The tree is copied and the x86-64 reference run right after, so both runs use the same code
    # even if the working tree changes during the (long) emulated part.
    copy_tree_files(repo, root / SRC_IN_ROOT.lstrip("/"))
    tree = tree_name(repo)
    host_out = cache_dir() / "arm64-proof" / "x86_64-demo"
    timings["x86_64_demo_s"] = run_demo_host(host_out, session)
    with Mounts(root):
        t0 = time.perf_counter()
        install_in_root(root)
        timings["install_s"] = time.perf_counter() - t0
        arm_versions = versions_in(lambda code: subprocess.run(
            [CHROOT, str(root), f"{VENV_IN_ROOT}/bin/python", "-c", code], check=True, capture_output=True, text=True,
            env={"HOME": "/root", "PATH": "/usr/bin:/bin"}).stdout)
        timings["arm64_demo_s"] = run_demo_root(root, session)
    host_versions = versions_in(lambda code: subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    cmp = compare_windows(host_out / "windows.jsonl", root / OUT_IN_ROOT.lstrip("/") / "windows.jsonl", tolerance)
    session_s = cmp.windows * 0.2
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "tree": tree,
        "ok": cmp.ok,
        "tolerance": tolerance,
        "comparison": {**asdict(cmp), "ok": cmp.ok},
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "emulated_speed_x_realtime": round(session_s / timings["arm64_demo_s"], 2) if timings["arm64_demo_s"] else None,
        "emulation_slowdown_vs_x86_64": round(timings["arm64_demo_s"] / timings["x86_64_demo_s"], 1),
        "versions": {"arm64": arm_versions, "x86_64": host_versions},
        "qemu": subprocess.run([str(qemu), "--version"], capture_output=True, text=True).stdout.splitlines()[0],
    }
    return result


def main(argv: list[str] | None = None) -> int:
    p = proof_arguments(__doc__.splitlines()[0], "arm64 root folder (default: ~/.cache/affectedge/arm64-root)")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, help="largest allowed |difference| of any number in a window record (see DEFAULT_TOLERANCE for why)")
    args = p.parse_args(argv)

    def verdict(result: dict) -> str:
        c = result["comparison"]
        return (f"{c['windows']} windows, max |diff| {c['max_abs_diff']:.3g} (tolerance {args.tolerance:g}); emulated demo "
                f"{result['timings_s']['arm64_demo_s']} s ({result['emulated_speed_x_realtime']}x real time, "
                f"{result['emulation_slowdown_vs_x86_64']}x the x86-64 run)")

    return run_proof("arm64 proof", lambda: prove(args.repo, args.session, args.tolerance, args.root), verdict, args.result)


if __name__ == "__main__":
    sys.exit(main())
