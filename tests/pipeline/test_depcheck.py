"""doit's file_dep records with the pipeline's digests (ramsesbuild.depcheck): the tarball is
read once per run, and a build recorded by doit's own md5 checker stays up to date."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from ..lib.support import REPO


def ran(proc) -> list[str]:
    return re.findall(r"^\.  (\S+)", proc.stdout, re.M)


def test_verify_and_dependency_record_read_the_tarball_once(tmp_path: Path) -> None:
    tarball = tmp_path / "linux-x.tar.xz"
    tarball.write_bytes(os.urandom(3 << 20))
    code = textwrap.dedent("""
        import hashlib, json, sys
        from pathlib import Path
        tarball = sys.argv[1]
        opened = []
        sys.addaudithook(lambda event, args: opened.append(args[0]) if event == "open" and args[0] == tarball else None)
        from ramsesbuild.depcheck import MD5Checker
        from ramsesbuild.fsutil import sha256_file
        digest = sha256_file(tarball)                    # the verify step's pin check
        state = MD5Checker().get_state(tarball, None)    # doit records verify's file_dep
        reads = len(opened)
        with open(tarball, "ab") as fh:                  # the file changes: it is read again
            fh.write(b"more")
        again = MD5Checker().get_state(tarball, None)
        rereads = len(opened) - reads - 1
        print(json.dumps({"reads": reads, "rereads": rereads, "digest": digest, "state": state, "again": again,
                          "expected": hashlib.sha256(Path(tarball).read_bytes()).hexdigest()}))
        """)
    proc = subprocess.run([sys.executable, "-c", code, str(tarball)], env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, check=True)
    out = json.loads(proc.stdout)
    assert out["state"][2] == out["digest"] and out["again"][2] == out["expected"] != out["digest"]
    assert out["reads"] == 1 and out["rereads"] == 1


def test_a_build_recorded_by_doits_own_checker_stays_up_to_date(modern_project) -> None:
    p = modern_project
    first = p.doit("--check_file_uptodate=md5", "kernel-client")  # doit's md5 records, as before
    assert "compile-client" in ran(first)
    p.clear_make_calls()
    assert ran(p.doit("kernel-client")) == [] and p.make_calls() == []
    frag = p.dir / "kconfigs" / "RamsesCluster.conf"
    frag.write_text(frag.read_text())  # new mtime, same bytes: compared against the md5 record
    assert ran(p.doit("kernel-client")) == [] and p.make_calls() == []
    frag.write_text(frag.read_text() + "\n# a comment changes the file, not the .config\n")
    assert ran(p.doit("kernel-client")) == ["config-client"]
    frag.write_text(frag.read_text())  # recorded as sha256 now: same bytes, new mtime
    assert ran(p.doit("kernel-client")) == []
