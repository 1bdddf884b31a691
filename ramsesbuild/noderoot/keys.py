"""A node's secrets: its ssh host keys and machine-id, made once and kept.

They live in <keys>/<name>/ (mode 0700, never exported): resetting a node's layer or
rebuilding its class's root copies them back, so the node keeps its identity and ssh clients
see the same host key. Only the node's own layer (exported to its address alone) holds a copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..errors import RootError, ToolMissing
from ..fsutil import atomic_write_text
from .spec import SSH_KEY_TYPES

MACHINE_ID = "machine-id"


def key_files(key_dir: Path) -> dict[str, Path]:
    """{path in the node's root (relative): file in the key store}."""
    out = {"etc/machine-id": key_dir / MACHINE_ID}
    for t in SSH_KEY_TYPES:
        for ext in ("", ".pub"):
            out[f"etc/ssh/ssh_host_{t}_key{ext}"] = key_dir / f"ssh_host_{t}_key{ext}"
    return out


def make_aside(key_dir: Path, name: str, ssh: bool = True) -> Path:
    """A new store for node *name* beside *key_dir* (plain writes, not flushed): the caller
    flushes a batch of them once and renames each into place."""
    key_dir.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(key_dir.parent, 0o700)
    tmp = key_dir.with_name(f".{key_dir.name}.new.ramses-tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(mode=0o700)
    with open(os.open(tmp / MACHINE_ID, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444), "w") as fh:
        fh.write(os.urandom(16).hex() + "\n")  # machine-id(5): 128 random bits, 32 hex digits
    if ssh:
        for t in SSH_KEY_TYPES:
            _keygen(tmp / f"ssh_host_{t}_key", t, name, aside=False)
    return tmp


def ensure(key_dir: Path, name: str, ssh: bool = True) -> bool:
    """Make what is missing in *key_dir* for node *name*; True if something was made."""
    made = False
    key_dir.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(key_dir.parent, 0o700)
    key_dir.mkdir(mode=0o700, exist_ok=True)
    mid = key_dir / MACHINE_ID
    if not mid.exists():
        # machine-id(5): 128 random bits, 32 lower-case hex digits and a newline
        atomic_write_text(mid, os.urandom(16).hex() + "\n", 0o444)
        made = True
    if not ssh:
        return made
    for t in SSH_KEY_TYPES:
        key = key_dir / f"ssh_host_{t}_key"
        if key.exists() and key.with_name(key.name + ".pub").exists():
            continue
        _keygen(key, t, name)
        made = True
    return made


def _keygen(key: Path, kind: str, name: str, aside: bool = True) -> None:
    exe = shutil.which("ssh-keygen")
    if exe is None:
        raise ToolMissing("ssh-keygen is missing: apt-get install openssh-client (node ssh host keys)")
    tmp = key.with_name(f".{key.name}.ramses-tmp") if aside else key
    for p in (tmp, tmp.with_name(tmp.name + ".pub")):
        p.unlink(missing_ok=True)
    r = subprocess.run([exe, "-q", "-t", kind, "-N", "", "-C", f"root@{name}", "-f", str(tmp)],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RootError(f"{key}: ssh-keygen -t {kind} failed: {r.stderr.strip() or r.returncode}")
    if aside:
        os.replace(tmp.with_name(tmp.name + ".pub"), key.with_name(key.name + ".pub"))
        os.replace(tmp, key)
