"""A UEFI x86-64 node for the cluster box: qemu-system-x86_64 with OVMF (Debian's ``ovmf``).

The NIC is virtio-net without an option ROM, so the firmware's own network stack boots it
(OVMF drives virtio-net itself): "UEFI PXEv4" (DHCP option 93 = 7, the loader by TFTP) or, with
``http=True``, "UEFI HTTPv4" (option 93 = 16, vendor class HTTPClient, the loader by URL): OVMF's
PXE is switched off through its fw_cfg knob so the HTTP boot option is the one that runs. IPv6 is
off either way (the box has no IPv6 service, and OVMF would wait for one). TCG only: KVM is
not always usable where the box runs (nested virtualisation).

    python3 tools/cluster/uefinode.py --pid PID --tap rtap0 --mac 52:54:00:12:34:21 [--http]

runs one node in the box whose ``serve`` has that pid (``ready.json``), console on stdout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

OVMF_DIR = Path("/usr/share/OVMF")
OVMF_CODE = "OVMF_CODE_4M.fd"
OVMF_VARS = "OVMF_VARS_4M.fd"


def missing() -> str | None:
    """What is missing to run a UEFI node (program and Debian package), or None."""
    if not shutil.which("qemu-system-x86_64"):
        return "qemu-system-x86_64 (apt-get install qemu-system-x86)"
    if not (OVMF_DIR / OVMF_CODE).is_file() or not (OVMF_DIR / OVMF_VARS).is_file():
        return f"{OVMF_DIR / OVMF_CODE} (apt-get install ovmf)"
    return None


def qemu_args(tap: str, mac: str, variables: Path, http: bool = False, memory: str = "256") -> list[str]:
    """qemu-system-x86_64 arguments for one node on *tap*; *variables* is the node's own copy
    of OVMF_VARS (the firmware writes its boot entries there): see :func:`fresh_variables`."""
    knobs = {"IPv6Support": "n", **({"IPv4PXESupport": "n"} if http else {})}
    return ["qemu-system-x86_64", "-accel", "tcg", "-m", memory, "-nographic", "-no-reboot", "-monitor", "none",
            "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_DIR / OVMF_CODE}",
            "-drive", f"if=pflash,format=raw,file={variables}",
            *[a for name, value in knobs.items() for a in ("-fw_cfg", f"name=opt/org.tianocore/{name},string={value}")],
            "-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no",
            "-device", f"virtio-net-pci,netdev=n0,mac={mac},romfile=,bootindex=1"]


def fresh_variables(dest: Path) -> Path:
    """A fresh copy of OVMF's variable store for one node (one boot)."""
    shutil.copyfile(OVMF_DIR / OVMF_VARS, dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pid", required=True, help="pid of the box's serve (ready.json)")
    ap.add_argument("--tap", required=True, help="tap device in the box, e.g. rtap0")
    ap.add_argument("--mac", required=True, help="the node's MAC from nodes.toml")
    ap.add_argument("--http", action="store_true", help="UEFI HTTP boot instead of PXE")
    args = ap.parse_args(argv)
    problem = missing()
    if problem:
        print(f"uefinode: missing {problem}", file=sys.stderr)
        return 4
    with tempfile.TemporaryDirectory(prefix="uefinode-") as tmp:
        variables = fresh_variables(Path(tmp) / OVMF_VARS)
        cmd = ["nsenter", f"--net=/proc/{args.pid}/ns/net", *qemu_args(args.tap, args.mac, variables, args.http)]
        return os.spawnvp(os.P_WAIT, cmd[0], cmd)


if __name__ == "__main__":
    sys.exit(main())
