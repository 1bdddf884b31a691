#!/usr/bin/env python3
"""Boot a kernel in qemu with its root file system on NFS, all inside a private network.

    nfsboot.py --kernel bzImage --export DIR --log serial.log [--nic ne2k_pci] [--timeout 90]
               [--append "extra args"] [--until "text"]
    nfsboot.py --disk DISK --net user,net=192.0.2.0/24,host=192.0.2.1 --export DIR --log serial.log ...

What it does, in order:

1. re-executes itself under ``unshare --net --mount``: a new network namespace whose only
   interface is ``lo`` (checked: it refuses to go on if any other link exists) and a private
   mount namespace, in which tmpfs is mounted over /run and /var/lib/nfs so that rpcbind's
   socket and nfs-ganesha's state never touch the host's;
2. starts ``rpcbind`` and ``nfs-ganesha`` (VFS FSAL, NFSv3 over UDP and TCP, DIR exported
   read-write with no root squash) on that loopback, and waits until mountd is registered;
3. starts ``qemu-system-i386 -nographic -no-reboot`` with user-mode networking, kernel command
   line ``console=ttyS0 root=/dev/nfs nfsroot=10.0.2.2:DIR,v3 ip=dhcp rw init=/init panic=1``,
   serial console copied to LOG, under a timeout; stops when the guest reboots (qemu exits),
   when the --until text appears, or at the timeout. With ``--disk`` qemu boots that raw disk
   instead (e.g. the emulated 3Com MBA ROM of tests/mba_emu.py, whose image brings its own
   command line), on the slirp network ``--net`` describes (its host address is this
   namespace's 127.0.0.1 as well);
4. stops qemu, ganesha and rpcbind (by their process ids) and exits with 0 if qemu exited by
   itself or the --until text was seen, 1 otherwise.

Why not ``-netdev user,restrict=on``: restricted slirp drops every UDP datagram to the host
except its own DHCP/TFTP, and Linux 2.4's NFS-root code always talks MOUNT (and the
portmapper) over UDP (fs/nfs/mount_clnt.c). So the guest gets unrestricted slirp, but slirp
itself runs in a namespace that has nothing but loopback: 10.0.2.2 is that namespace's
127.0.0.1, where only our rpcbind and ganesha listen, and every other address is unreachable.

Needs root (namespaces, mounts, NFS ports), qemu-system-i386, rpcbind, nfs-ganesha and
nfs-ganesha-vfs (Debian: apt-get install qemu-system-x86 rpcbind nfs-ganesha nfs-ganesha-vfs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import nsbox  # (tools/nsbox.py: the namespace shared with tools/cluster/clusterbox.py)

INNER = "RAMSES_NFSBOOT_INNER"

GANESHA_CONF = """\
NFS_CORE_PARAM {{
    Protocols = 3;
    NFS_Port = 2049;
    MNT_Port = 20048;
    Enable_NLM = false;
    Enable_RQUOTA = false;
}}
NFS_KRB5 {{ Active_krb5 = false; }}
NFSV4 {{ Graceless = true; }}
EXPORT {{
    Export_Id = 1;
    Path = "{export}";
    Pseudo = "/ramses";
    Access_Type = RW;
    Squash = No_Root_Squash;
    Protocols = 3;
    Transports = UDP, TCP;
    SecType = sys;
    FSAL {{ Name = VFS; }}
}}
LOG {{ Default_Log_Level = EVENT; }}
"""


def missing_tools() -> list[str]:
    need = ["unshare", "ip", "mount", "rpcbind", "rpcinfo", "ganesha.nfsd", "qemu-system-i386"]
    out = [t for t in need if not shutil.which(t)]
    if shutil.which("ganesha.nfsd") and not any(
            Path(d, "libfsalvfs.so").exists() for d in ("/usr/lib/x86_64-linux-gnu/ganesha", "/usr/lib/ganesha")):
        out.append("nfs-ganesha-vfs (libfsalvfs.so)")
    return out


def _wait_registered(deadline: float) -> None:
    while time.time() < deadline:
        if nsbox.rpc_registered():
            return
        time.sleep(0.3)
    raise RuntimeError("nfs-ganesha did not register NFS and MOUNT with rpcbind in time")


def inner(args: argparse.Namespace) -> int:
    refusal = nsbox.enter_private("nfsboot")
    if refusal:
        print(refusal, file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="nfsboot-", dir=args.workdir))
    conf = work / "ganesha.conf"
    conf.write_text(GANESHA_CONF.format(export=str(Path(args.export).resolve())))
    procs: list[subprocess.Popen] = []
    try:
        procs.append(subprocess.Popen(["rpcbind", "-w", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.3)
        procs.append(subprocess.Popen(
            ["ganesha.nfsd", "-F", "-f", str(conf), "-L", str(work / "ganesha.log"), "-p", str(work / "ganesha.pid")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        try:
            _wait_registered(time.time() + 30)
        except RuntimeError as e:
            print(f"nfsboot: {e}; ganesha log:\n{(work / 'ganesha.log').read_text(errors='replace')[-3000:]}",
                  file=sys.stderr)
            return 3
        export = str(Path(args.export).resolve())
        append = f"console=ttyS0 root=/dev/nfs nfsroot=10.0.2.2:{export},v3 ip=dhcp rw init=/init panic=1"
        if args.append:
            append += " " + args.append
        boot = (["-drive", f"file={args.disk},format=raw,if=ide", "-boot", "c"] if args.disk
                else ["-kernel", args.kernel, "-append", append])
        cmd = ["qemu-system-i386", "-m", "64", "-nographic", "-no-reboot", "-monitor", "none", *boot,
               "-netdev", f"{args.net},id=n0", "-device", f"{args.nic},netdev=n0"]
        return _run_qemu(cmd, Path(args.log), args.timeout, args.until)
    finally:
        nsbox.stop(procs)
        if (work / "ganesha.log").exists():
            shutil.copy(work / "ganesha.log", Path(args.log).with_suffix(".ganesha.log"))
        shutil.rmtree(work, ignore_errors=True)


def _run_qemu(cmd: list[str], log: Path, timeout: float, until: str | None) -> int:
    start = time.time()
    with open(log, "wb") as out:
        q = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            while q.poll() is None:
                if time.time() - start > timeout:
                    break
                if until and until.encode() in log.read_bytes():
                    time.sleep(0.5)
                    break
                time.sleep(0.2)
        finally:
            if q.poll() is None:
                q.terminate()
                try:
                    q.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    q.kill()
                    q.wait()
    seen = until is not None and until.encode() in log.read_bytes()
    return 0 if (seen or (until is None and q.returncode == 0)) else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    how = ap.add_mutually_exclusive_group(required=True)
    how.add_argument("--kernel", help="boot this bzImage with the NFS-root command line above")
    how.add_argument("--disk", help="boot this raw disk instead; the kernel's command line is its business")
    ap.add_argument("--net", default="user", help="qemu -netdev for the NIC (user-mode: slirp)")
    ap.add_argument("--export", required=True, help="directory served as the NFS root")
    ap.add_argument("--log", required=True, help="serial console output")
    ap.add_argument("--nic", default="ne2k_pci", help="qemu NIC model (ne2k_pci, rtl8139)")
    ap.add_argument("--timeout", type=float, default=90)
    ap.add_argument("--append", default="", help="extra kernel command line")
    ap.add_argument("--until", default=None, help="stop once this text is on the console")
    ap.add_argument("--workdir", default=None, help="where the ganesha config and log live")
    args = ap.parse_args(argv)
    if os.environ.get(INNER) == "1":
        return inner(args)
    miss = missing_tools()
    if miss:
        print(f"nfsboot: missing {', '.join(miss)}", file=sys.stderr)
        return 4
    env = {**os.environ, INNER: "1"}
    return subprocess.run(["unshare", "--net", "--mount", sys.executable, os.path.abspath(__file__),
                           *(argv if argv is not None else sys.argv[1:])], env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
