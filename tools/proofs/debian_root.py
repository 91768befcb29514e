"""A Debian root to install affectedge into, as on a fresh board: shared by the arm64 proof
(qemu-user, a chroot) and the systemd proof (a KVM virtual machine booting the root).

The root is built once with debootstrap from this machine's Debian mirror and cached under
``~/.cache/affectedge``. Installing into it goes through ``packaging/install.sh`` from a copy of the
working tree, with this machine's pip settings and DNS copied in so apt and pip work inside.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

SUITE = "bookworm"  # Raspberry Pi OS and Jetson's Ubuntu are of this generation
DEFAULT_MIRROR = "http://deb.debian.org/debian"
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"
DONE_STAMP = ".affectedge-debootstrap-done"
CERT_KEYS = ("cert", "client-cert")


class ProofError(Exception):
    """A step of a proof could not be done; the message says which and why."""


def log(msg: str) -> None:
    tool = Path(sys.argv[0]).stem.replace("_", "-") or "proof"
    print(f"[{tool} {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    log("$ " + " ".join(cmd))
    try:
        return subprocess.run(cmd, check=True, **kw)
    except subprocess.CalledProcessError as exc:
        raise ProofError(f"command failed with exit {exc.returncode}: {' '.join(cmd)}") from None


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache") / "affectedge"


def ensure_host_packages(needed: dict[str, str]) -> None:
    """apt-install the Debian package of each missing program (``{path: package}``); needs root."""
    missing = sorted({pkg for path, pkg in needed.items() if not Path(path).exists()})
    if not missing:
        return
    if os.geteuid() != 0:
        raise ProofError(f"needs root to install {', '.join(missing)} (apt-get install {' '.join(missing)})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sh(["apt-get", "update", "-qq"], env=env)
    sh(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env)


def host_mirror() -> str:
    """The Debian mirror this machine uses (deb822 sources first), so the root fetches from the same place."""
    src = Path("/etc/apt/sources.list.d/debian.sources")
    if src.is_file():
        for line in src.read_text().splitlines():
            if line.startswith("URIs:"):
                for uri in line.split()[1:]:
                    if "security" not in uri:
                        return uri
    return DEFAULT_MIRROR


def ensure_root(root: Path, arch: str, packages: Sequence[str], mirror: str, variant: Optional[str] = "minbase") -> None:
    """debootstrap ``root`` once (``variant=None``: the standard system); a root without the done
    stamp (an interrupted run) is rebuilt."""
    stamp = root / DONE_STAMP
    if stamp.exists():
        log(f"{arch} root cached at {root}")
        return
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    variant_arg = [f"--variant={variant}"] if variant else []
    sh(["debootstrap", f"--arch={arch}", *variant_arg, f"--include={','.join(packages)}", SUITE, str(root), mirror])
    stamp.write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))


def pip_config_for_root(root: Path) -> tuple[str, dict[Path, Path]]:
    """This machine's pip settings for use inside ``root``, and the files to copy there for them.

    Values that point at local indexes or wheel folders (``file:`` URLs, paths) are dropped: the
    root does not have them. The CA bundle pip trusts is copied in, because behind a
    TLS-intercepting proxy the root's own bundle does not verify PyPI.
    """
    merged = configparser.ConfigParser()
    for path in (Path("/etc/pip.conf"), Path("/etc/xdg/pip/pip.conf"), Path.home() / ".config/pip/pip.conf", Path.home() / ".pip/pip.conf"):
        if path.is_file():
            merged.read(path)
    if os.environ.get("PIP_CERT"):  # pip's environment variables override its files
        if not merged.has_section("global"):
            merged.add_section("global")
        merged.set("global", "cert", os.environ["PIP_CERT"])
    out = configparser.ConfigParser()
    copies: dict[Path, Path] = {}
    for section in merged.sections():
        for key, value in merged.items(section):
            if key in CERT_KEYS and Path(value).is_file():
                inside = Path("/etc/affectedge-proof") / f"{key}-{Path(value).name}"
                copies[Path(value)] = root / inside.relative_to("/")
                kept = [str(inside)]
            else:
                kept = [tok for tok in value.split() if not tok.startswith("file:") and not tok.startswith("/")]
            if kept:
                if not out.has_section(section):
                    out.add_section(section)
                out.set(section, key, " ".join(kept))
    lines = []
    for section in out.sections():
        lines.append(f"[{section}]")
        lines += [f"{k} = {v}" for k, v in out.items(section)]
    return "\n".join(lines) + "\n", copies


def copy_tree_files(repo: Path, dest: Path) -> None:
    """Copy the working tree's tracked and untracked-but-not-ignored files (what `pip install .` needs)."""
    if dest.exists():
        shutil.rmtree(dest)
    names = subprocess.run(["git", "-C", str(repo), "ls-files", "-co", "--exclude-standard", "-z"], check=True, capture_output=True).stdout.split(b"\0")
    for name in filter(None, names):
        src = repo / name.decode()
        if src.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


def tree_name(repo: Path) -> str:
    return subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()


class Mounts:
    """/proc, /sys and /dev inside the root for the duration of the runs; always unmounted."""

    def __init__(self, root: Path):
        self.root = root
        self.done: list[Path] = []

    def __enter__(self) -> "Mounts":
        for src, args in (("/proc", ["-t", "proc", "proc"]), ("/sys", ["--rbind", "/sys"]), ("/dev", ["--rbind", "/dev"])):
            target = self.root / src.lstrip("/")
            target.mkdir(exist_ok=True)
            subprocess.run(["mount", *args, str(target)], check=True)
            if src != "/proc":
                subprocess.run(["mount", "--make-rslave", str(target)], check=True)
            self.done.append(target)
        return self

    def __exit__(self, *exc) -> None:
        # A run that crashed leaves its child processes (an embedded broker) running in the root.
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.readlink(f"/proc/{pid}/root") == str(self.root):
                    log(f"stopping process {pid} left in the root")
                    os.kill(int(pid), signal.SIGTERM)
            except OSError:
                continue
        for target in reversed(self.done):
            subprocess.run(["umount", "-R", "-l", str(target)], check=False)


def in_root(root: Path, command: str, path_prefix: str = "", **kw) -> subprocess.CompletedProcess:
    """Run a shell command inside the root with a clean environment (none of this machine's PIP_* vars)."""
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    env = {"HOME": "/root", "PATH": f"{path_prefix}:{path}" if path_prefix else path, "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
    return sh([CHROOT, str(root), "/bin/sh", "-c", command], env=env, **kw)


class NetworkForInstall:
    """DNS and pip settings copied in, and package scripts kept from starting daemons in the root,
    for the duration of an install; taken out again so the root ends as a fresh install would."""

    def __init__(self, root: Path):
        self.root = root
        self.added: list[Path] = []

    def __enter__(self) -> "NetworkForInstall":
        root = self.root
        resolv = root / "etc/resolv.conf"
        if resolv.is_symlink():
            resolv.unlink()
        shutil.copy2("/etc/resolv.conf", resolv)
        text, copies = pip_config_for_root(root)
        for host_file, target in copies.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(host_file, target)
            self.added.append(target)
        (root / "etc/pip.conf").write_text(text)
        self.added.append(root / "etc/pip.conf")
        # policy-rc.d: Debian's hook that tells package scripts not to start services (bluetoothd, dbus).
        policy = root / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        self.added.append(policy)
        return self

    def __exit__(self, *exc) -> None:
        for path in self.added:
            path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- the proofs' command line


def proof_arguments(description: str, root_help: str) -> argparse.ArgumentParser:
    """The options every proof takes: the session to replay, the tree to install, the root, the result file."""
    from affectedge.offline.demo_session import default_session_dir

    p = argparse.ArgumentParser(description=description)
    p.add_argument("--session", type=Path, default=default_session_dir(), help="demo session folder (default: the built one)")
    p.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[2], help="working tree to install (default: this one)")
    p.add_argument("--root", type=Path, default=None, help=root_help)
    p.add_argument("--result", type=Path, default=None, help="also write the result as JSON here")
    return p


def require_session(session: Path) -> None:
    from affectedge.offline.demo_session import SESSION_FILE

    if not (session / SESSION_FILE).is_file():
        raise ProofError(f"no demo session at {session}; build it with: python -m affectedge_tools.data.build_demo_session")


def run_proof(name: str, prove: Callable[[], dict], verdict: Callable[[dict], str], result_file: Optional[Path]) -> int:
    """Run a proof, print its result as JSON (and write it), then one verdict line; the exit code
    is 0 for a pass, 1 for a fail, 2 when a step could not be done."""
    try:
        result = prove()
    except ProofError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2)
    print(text)
    if result_file:
        result_file.parent.mkdir(parents=True, exist_ok=True)
        result_file.write_text(text + "\n")
    print(f"{name}: {'PASS' if result['ok'] else 'FAIL'}: {verdict(result)}")
    return 0 if result["ok"] else 1
