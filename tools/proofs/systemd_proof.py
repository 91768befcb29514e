"""systemd proof without a board: a Debian VM set up by docs/service.md, booted, the unit checked.

It installs affectedge in a Debian root exactly as docs/service.md tells a newcomer, boots it in
qemu with systemd as PID 1, and checks the unit from inside.

Steps (the Debian root is cached; the rest is done fresh each run):

1. apt-installs debootstrap, qemu-system-x86 and e2fsprogs on this machine (needs root);
2. builds an amd64 Debian bookworm root (debootstrap's standard system plus a kernel), cached in
   ``~/.cache/affectedge/vm-root``, and copies it to a work folder;
3. follows docs/service.md inside it (chroot): step 2's apt commands (less picamera2, which only
   Raspberry Pi's archive has), step 3's ``sudo packaging/install.sh`` from a copy of the working
   tree, step 4's config block and ``check-config`` as the service user;
4. adds what stands for the hardware and the test bench: the demo session under /srv (real
   sources to switch to), and a unit that starts ``affectedge_tools.proofs.systemd_proof_guest`` just
   before the service and powers the VM off when it ends;
5. packs the root into an ext4 image and boots it with qemu (emulated CPU; ``--kvm`` to use KVM): a
   virtio disk, no network card (the broker is the VM's own mosquitto), an HDA sound card with
   silent input as the microphone, no camera;
6. reads the guest's result line from the serial console and prints it.

Usage (root): ``python -m affectedge_tools.proofs.systemd_proof [--result FILE]``. About 10 minutes the
first time (debootstrap), 6 to 8 after. See docs/service.md, "The unit under a real systemd".
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from .debian_root import (Mounts, NetworkForInstall, ProofError, cache_dir, copy_tree_files, ensure_host_packages, ensure_root,
                          host_mirror, in_root, log, proof_arguments, require_session, run_proof, sh, tree_name)
from .systemd_proof_guest import DEMO_SESSION, RESULT_TAG

HOST_PROGRAMS = {"/usr/sbin/debootstrap": "debootstrap", "/usr/bin/qemu-system-x86_64": "qemu-system-x86",
                 "/usr/sbin/mkfs.ext4": "e2fsprogs"}
# debootstrap's standard system stands for a fresh Raspberry Pi OS Lite; a kernel to boot it with.
ROOT_PACKAGES = ["linux-image-amd64", "sudo", "dbus", "udev"]
REPO_IN_ROOT = "/root/affectedge"  # "copy the affectedge repository to the Pi"
HOSTNAME = "affectedge-vm"
BOOT_TIMEOUT_S = 20 * 60
PROOF_UNIT = """\
[Unit]
Description=affectedge systemd proof: checks affectedge.service.assembly, then powers off (tools/proofs/systemd_proof.py)
# Started before the service, so it is subscribed before the first summary; it waits for READY itself.
After=mosquitto.service
Before=affectedge.service.assembly
Wants=mosquitto.service
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=simple
ExecStart=/opt/affectedge/venv/bin/python -m affectedge_tools.proofs.systemd_proof_guest
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=15min

[Install]
WantedBy=multi-user.target
"""


def doc_section(doc: str, heading: str) -> str:
    """The text of one ``## heading`` section of a Markdown file."""
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", doc, re.M | re.S)
    if not m:
        raise ProofError(f"docs/service.md has no section '## {heading}'")
    return m.group(1)


def code_blocks(section: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", section, re.M | re.S)


def docs_steps(repo: Path) -> tuple[list[str], str, str]:
    """Step 2's apt commands (without picamera2), step 4's config and its check-config command."""
    doc = (repo / "docs/service.md").read_text()
    apt = [line.split("#")[0].strip() for line in code_blocks(doc_section(doc, "2. System packages"), "sh")[0].splitlines()]
    apt = [cmd for cmd in apt if cmd and "picamera2" not in cmd]
    step4 = doc_section(doc, "4. Configure")
    config = code_blocks(step4, "yaml")[0]
    check = next(line for block in code_blocks(step4, "sh") for line in block.splitlines() if "check-config" in line)
    return apt, config, check


def install_as_documented(work: Path, repo: Path) -> str:
    """docs/service.md steps 2 to 4 inside the root; returns the board install.sh chose."""
    apt, config, check = docs_steps(repo)
    copy_tree_files(repo, work / REPO_IN_ROOT.lstrip("/"))
    with Mounts(work), NetworkForInstall(work):
        in_root(work, "apt-get update -qq")
        for cmd in apt:  # step 2
            in_root(work, f"DEBIAN_FRONTEND=noninteractive {cmd}")
        in_root(work, f"cd {REPO_IN_ROOT} && sudo packaging/install.sh")  # step 3
        board = re.search(r'--board (\S+)"', (work / "etc/default/affectedge").read_text()).group(1)
        (work / "etc/affectedge/config.yaml").write_text(config)  # step 4, as the guide shows it
        in_root(work, check.replace("--board pi5", f"--board {board}"))
    return board


def name_host(work: Path) -> None:
    """As the imager does before first boot (install.sh makes the device id from the host name)."""
    (work / "etc/hostname").write_text(HOSTNAME + "\n")
    (work / "etc/hosts").write_text(f"127.0.0.1 localhost\n127.0.1.1 {HOSTNAME}\n::1 localhost ip6-localhost ip6-loopback\n")


def add_bench(work: Path, session: Path) -> None:
    """What is not part of the install: the root file system, the demo session, the proof unit."""
    (work / "etc/fstab").write_text("/dev/vda / ext4 rw,errors=remount-ro 0 1\n")
    dest = work / DEMO_SESSION.relative_to("/")
    shutil.copytree(session, dest, dirs_exist_ok=True)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    unit = work / "etc/systemd/system/affectedge-proof.service"
    unit.write_text(PROOF_UNIT)
    wants = work / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / unit.name
    link.unlink(missing_ok=True)
    link.symlink_to(f"/etc/systemd/system/{unit.name}")


def make_image(work: Path, image: Path) -> None:
    used = int(subprocess.run(["du", "-sxb", str(work)], capture_output=True, text=True, check=True).stdout.split()[0])
    image.unlink(missing_ok=True)
    size_mib = used // 2**20 + 1536  # room for the logs, the outbox and the journal
    sh(["mkfs.ext4", "-q", "-F", "-L", "affectedge", "-d", str(work), str(image), f"{size_mib}M"])


def boot(work: Path, image: Path, console: Path, kvm: bool) -> float:
    """Boot the image and wait for the guest to power itself off; returns the seconds it took.

    Without ``kvm`` the CPU is emulated (TCG): slower, but it works everywhere, including in the
    nested VMs of CI machines, where /dev/kvm exists and a KVM guest can hang in early boot (seen
    here: no console output after "Probing EDD", and "failed to set MSR 0x10a" with -cpu host).
    """
    kernel = max((work / "boot").glob("vmlinuz-*"))
    initrd = work / "boot" / kernel.name.replace("vmlinuz", "initrd.img")
    console.unlink(missing_ok=True)
    cmd = ["qemu-system-x86_64", "-machine", f"q35,accel={'kvm' if kvm else 'tcg'}", "-cpu", "host,-arch-capabilities" if kvm else "max",
           "-smp", "2", "-m", "3072", "-display", "none", "-monitor", "none", "-no-reboot",
           "-kernel", str(kernel), "-initrd", str(initrd),
           "-append", "root=/dev/vda rw console=ttyS0 panic=-1 net.ifnames=0",
           "-drive", f"file={image},format=raw,if=virtio",
           "-nic", "none",
           "-audiodev", "none,id=snd0", "-device", "ich9-intel-hda", "-device", "hda-duplex,audiodev=snd0",
           "-serial", f"file:{console}"]
    log(f"booting ({'KVM' if kvm else 'emulated CPU'}); console in {console}")
    t0 = time.perf_counter()
    try:
        sh(cmd, timeout=BOOT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ProofError(f"the VM did not power off within {BOOT_TIMEOUT_S} s; see {console}") from None
    return time.perf_counter() - t0


def read_result(console: Path) -> dict:
    text = console.read_text(errors="replace") if console.exists() else ""
    for line in reversed(text.splitlines()):
        i = line.find(RESULT_TAG + " ")
        if i >= 0:
            try:
                return json.loads(line[i + len(RESULT_TAG) + 1:])
            except json.JSONDecodeError:
                continue  # a line broken by other console output; the unit prints it twice
    raise ProofError(f"no result line on the VM's console; see {console}")


def prove(repo: Path, session: Path, base: Optional[Path] = None, kvm: bool = False) -> dict:
    require_session(session)
    if os.uname().machine != "x86_64":
        raise ProofError(f"this proof boots an amd64 VM; this machine is {os.uname().machine}")
    base = base or cache_dir() / "vm-root"
    out = cache_dir() / "systemd-proof"
    work, image, console = out / "root", out / "root.img", out / "console.log"
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ensure_host_packages(HOST_PROGRAMS)
    ensure_root(base, "amd64", ROOT_PACKAGES, host_mirror(), variant=None)
    timings["root_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if work.exists():
        shutil.rmtree(work)
    out.mkdir(parents=True, exist_ok=True)
    sh(["cp", "-a", "--reflink=auto", str(base), str(work)])
    tree = tree_name(repo)
    name_host(work)
    board = install_as_documented(work, repo)
    add_bench(work, session)
    timings["install_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    make_image(work, image)
    timings["image_s"] = time.perf_counter() - t0
    timings["vm_s"] = boot(work, image, console, kvm)
    result = read_result(console)
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "tree": tree, "board": board, "kvm": kvm,
            "timings_s": {k: round(v, 1) for k, v in timings.items()}, **result}


def main(argv: list[str] | None = None) -> int:
    p = proof_arguments(__doc__.splitlines()[0], "cached Debian root (default: ~/.cache/affectedge/vm-root)")
    p.add_argument("--kvm", action="store_true", help="use KVM (fast where nested virtualisation works; see boot())")
    args = p.parse_args(argv)

    def verdict(result: dict) -> str:
        failed = [c["name"] for c in result["checks"] if not c["ok"]]
        return (f"{len(result['checks']) - len(failed)}/{len(result['checks'])} checks" + (f"; failed: {'; '.join(failed)}" if failed else "")
                + f"; {result['facts'].get('systemd', '')}")

    return run_proof("systemd proof", lambda: prove(args.repo, args.session, args.root, args.kvm), verdict, args.result)


if __name__ == "__main__":
    sys.exit(main())
