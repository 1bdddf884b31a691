"""Real helpers for the tests: an HTTP mirror on 127.0.0.1 with Range support, a throw-away
gpg signer, fake kernel tarballs, and a project directory driven through real `doit`."""

from __future__ import annotations

import bz2
import http.server
import io
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import doitrun, tomlw

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
DATA = TESTS / "data"
FAKE = DATA / "fakekernel"
SHIPPED = REPO / "ramsesbuild" / "data" / "project"  # what `ramsesbuild init` writes (settings, nodes, kconfigs, ...)


# ------------------------------------------------------------------ fake kernel tarballs

FAKE_KINDS = {
    # kind: (tree dir, top-level dir in the tarball, tarball name, version)
    "k24": ("k24", "linux", "linux-2.4.18.tar.bz2", "2.4.18"),
    "modern": ("modern", "linux-6.1.99", "linux-6.1.99.tar.xz", "6.1"),
}


def fake_tree_files(kind: str) -> dict[str, Path]:
    tree = FAKE / FAKE_KINDS[kind][0]
    files = {str(p.relative_to(FAKE / "common")): p for p in (FAKE / "common").rglob("*") if p.is_file()}
    files.update({str(p.relative_to(tree)): p for p in tree.rglob("*") if p.is_file()})
    return files


def make_fake_tarball(kind: str, dest_dir: Path, extra: dict[str, bytes] | None = None) -> Path:
    _, top, name, _ = FAKE_KINDS[kind]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tf:
        info = tarfile.TarInfo(top)
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_000_000_000
        tf.addfile(info)
        members = {rel: path.read_bytes() for rel, path in sorted(fake_tree_files(kind).items())}
        members.update(extra or {})
        for rel, data in sorted(members.items()):
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size, info.mtime = len(data), 1_000_000_000
            info.mode = 0o755 if rel.endswith(".py") else 0o644
            tf.addfile(info, io.BytesIO(data))
    data = raw.getvalue()
    out = dest_dir / name
    out.write_bytes(bz2.compress(data) if name.endswith(".bz2") else lzma.compress(data))
    return out


def uncompressed(path: Path) -> bytes:
    opener = bz2.open if path.suffix == ".bz2" else lzma.open
    with opener(path, "rb") as fh:
        return fh.read()


# ------------------------------------------------------------------ HTTP mirror with Range

class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files with single-range support (206) and records every request."""

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        if server.truncate_first and self.path not in server.truncated:
            server.truncated.add(self.path)
            data = data[: len(data) // 2]
            self.send_response(200)
            self.send_header("Content-Length", str(len(data) * 2))
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True
            return
        rng = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and server.ranges:
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Mirror:
    """A real HTTP server on 127.0.0.1 serving *root* (ThreadingHTTPServer in a thread)."""

    def __init__(self, root: Path, ranges: bool = True, truncate_first: bool = False):
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        handler = lambda *a, **kw: _Handler(*a, directory=str(root), **kw)  # noqa: E731
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.requests = []
        self.httpd.ranges = ranges
        self.httpd.truncate_first = truncate_first
        self.httpd.truncated = set()
        # shutdown() waits for the serving loop to look at its flag, once per poll interval: the
        # default 0.5 s would be half a second of idle in every test that uses a mirror
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    @property
    def requests(self) -> list[tuple[str, str | None]]:
        return self.httpd.requests

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# ------------------------------------------------------------------ throw-away gpg keys

@dataclass
class Signer:
    """A real gpg key made for the test, in its own GNUPGHOME."""

    home: Path
    fingerprint: str
    public_key: Path

    @classmethod
    def create(cls, home: Path, name: str = "Ramses Test Signer") -> Signer:
        home.mkdir(mode=0o700, parents=True)
        env = {**os.environ, "GNUPGHOME": str(home)}
        uid = f"{name} <{name.lower().replace(' ', '.')}@example.invalid>"
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never"],
                       env=env, check=True, capture_output=True)
        out = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys"], env=env, check=True,
                             capture_output=True, text=True).stdout
        fpr = next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))
        pub = home.parent / f"{home.name}.asc"
        pub.write_bytes(subprocess.run(["gpg", "--batch", "--armor", "--export", fpr], env=env, check=True,
                                       capture_output=True).stdout)
        return cls(home, fpr, pub)

    def sign(self, data: bytes, out: Path, at: int | None = None) -> Path:
        """A detached armored signature over *data*; *at* (seconds since the epoch) is gpg's clock
        when it signs (``--faked-system-time``), e.g. while a key that has expired since was valid."""
        env = {**os.environ, "GNUPGHOME": str(self.home)}
        clock = [] if at is None else ["--faked-system-time", str(at)]
        sig = subprocess.run(["gpg", "--batch", *clock, "--pinentry-mode", "loopback", "--passphrase", "", "--armor",
                              "--detach-sign", "-u", self.fingerprint, "-o", "-", "-"],
                             input=data, env=env, check=True, capture_output=True).stdout
        out.write_bytes(sig)
        return out

    def stop(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "all"], capture_output=True)


# ------------------------------------------------------------------ node inventories

def nodes_toml(*nodes: str) -> str:
    """A nodes.toml on 192.0.2.0/24 (server .1): one [[node]] per entry, "name[:extra lines]",
    numbered .11, .12, ... with MACs 52:54:00:12:34:01, :02, ..."""
    text = '[network]\nsubnet = "192.0.2.0/24"\nserver = "192.0.2.1"\n'
    for i, spec in enumerate(nodes, 1):
        name, _, extra = spec.partition(":")
        text += f'[[node]]\nname = "{name}"\nmac = "52:54:00:12:34:{i:02x}"\nip = "192.0.2.{10 + i}"\n'
        text += f"{extra}\n" if extra else ""
    return text


# ------------------------------------------------------------------ a project driven by doit

@dataclass
class Project:
    """A throw-away project dir: its own ramses.toml, kconfigs, patches, downloads, build.

    ramses.toml is data (:meth:`settings_doc`, written by tests/lib/tomlw.py): one [profile.X] per
    entry of *profiles* (name -> fragments), *overrides* merged in last, e.g.
    ``{"kernel": {"wrapper": "ccache"}}``; :meth:`set` changes one key and rewrites the file."""

    dir: Path
    mirror_url: str
    tarball: str
    version: str
    sha256: str
    signature: str | None = None
    signer: Signer | None = None
    profile_base: str = "defconfig"
    netboot_format: str = "nbi"
    netboot_append: str = "ramdisk_size=1024"
    kconfigs: Path = FAKE / "kconfigs"  # copied into the project, so tests may edit them
    patches: Path | None = None  # copied likewise; None = no series
    extra_env: dict[str, str] = field(default_factory=dict)
    dpkg: str | None = None  # trust dpkg --verify instead of a sha256 pin (Debian linux-source)
    nodes: str | None = None  # nodes.toml text, written into the project when given
    profiles: dict[str, list[str]] = field(default_factory=lambda: {
        "server": ["kconfigs/RamsesServer.conf"], "client": ["kconfigs/RamsesCluster.conf"]})
    netboot_profile: str = "client"  # the profile wrapped by `doit netboot-image`
    overrides: dict[str, Any] = field(default_factory=dict)  # merged into ramses.toml last

    @property
    def settings_path(self) -> Path:
        return self.dir / "ramses.toml"

    @property
    def make_log(self) -> Path:
        return self.dir / "make-calls.log"

    def setup(self) -> Project:
        shutil.copytree(self.kconfigs, self.dir / "kconfigs")
        if self.patches is not None:
            shutil.copytree(self.patches, self.dir / "patches")
        else:
            (self.dir / "patches").mkdir()  # no series for this version: no patches
        self.write_settings()
        if self.nodes is not None:
            (self.dir / "nodes.toml").write_text(self.nodes)
        return self

    def write_settings(self) -> None:
        self.settings_path.write_text(self.settings_text())

    def set(self, dotted: str, value: Any) -> Project:
        """Set one key (``"netboot.mba"``, ``'source."2.4.18".sha256'``) and rewrite ramses.toml."""
        *tables, name = _split_dotted(dotted)
        table = self.overrides
        for t in tables:
            table = table.setdefault(t, {})
        table[name] = value
        self.write_settings()
        return self

    def settings_doc(self) -> dict[str, Any]:
        """This project's ramses.toml as data."""
        source: dict[str, Any] = {"tarball": self.tarball, "mirrors": [self.mirror_url]}
        if self.sha256:
            source["sha256"] = self.sha256
        if self.dpkg:
            source["dpkg"] = self.dpkg
        elif self.signature:
            assert self.signer is not None
            source |= {"signature": self.signature, "signers": [self.signer.fingerprint],
                       "keys": [str(self.signer.public_key)]}
        else:
            source["unsigned"] = "test source"
        netboot: dict[str, Any] = {"format": self.netboot_format, "output": "vmlinuz-{version}-cluster",
                                   "append": self.netboot_append, "ip": "rom", "rootdir": "rom"}
        if self.netboot_profile != "client":
            netboot = {"profiles": [self.netboot_profile], **netboot}
        doc = {
            "kernel": {"version": self.version, "arch": "i386", "jobs": 2},
            "paths": {"build": "build", "downloads": "downloads", "tftpboot": "tftpboot"},
            "source": {self.version: source},
            "profile": {name: {"base": self.profile_base, "fragments": list(frags)}
                        for name, frags in self.profiles.items()},
            "netboot": netboot,
        }
        return _merged(doc, self.overrides)

    def settings_text(self, netboot: dict[str, Any] | None = None, paths: dict[str, Any] | None = None) -> str:
        """This project's ramses.toml. *netboot* replaces the [netboot] table and *paths* is merged
        into [paths]: a second settings file for the same build and doit state."""
        doc = self.settings_doc()
        if netboot is not None:
            doc["netboot"] = netboot
        doc["paths"] = {**doc["paths"], **(paths or {})}
        return tomlw.dumps(doc)

    def doit(self, *args: str, check: bool = True, timeout: int = 300, config: Path | None = None,
             process: bool = False) -> subprocess.CompletedProcess:
        """Real `doit` on this project; *config* replaces its ramses.toml for this run. In the test
        process (tests/lib/doitrun.py) unless *process*: then `python -m doit` in a subprocess,
        for what only a process shows (signals, concurrent runs, a terminal, the real start-up)."""
        env = {**os.environ, "RAMSES_CONFIG": str(config or self.settings_path), "FAKE_MAKE_LOG": str(self.make_log),
               **self.extra_env}
        if process:
            proc = subprocess.run([sys.executable, "-m", "doit", "-f", str(REPO / "dodo.py"), *args],
                                  cwd=self.dir, env=env, capture_output=True, text=True, timeout=timeout)
        else:
            proc = doitrun.run(REPO / "dodo.py", list(args), self.dir, env, timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"doit {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def make_calls(self) -> list[str]:
        return self.make_log.read_text().splitlines() if self.make_log.exists() else []

    def clear_make_calls(self) -> None:
        self.make_log.unlink(missing_ok=True)


def _split_dotted(dotted: str) -> list[str]:
    return [p.strip('"') for p in re.findall(r'"[^"]*"|[^.]+', dotted)]


def _merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in changes.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) \
            and not isinstance(v, tomlw.Inline) else v
    return out
