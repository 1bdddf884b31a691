"""[profile.<name>] arch through doit: each profile's make runs with its own ARCH, and a change
of arch rebuilds exactly the profiles it applies to (the fake modern tree)."""

from __future__ import annotations

import re

from .test_pipeline import calls


def make_arches(project, profile: str) -> set[str]:
    """The ARCH= of every make the profile's compile step ran (its task log)."""
    log = (project.dir / "build" / "logs" / f"compile-{profile}.log").read_text()
    return set(re.findall(r"^==== \S+ make .* ARCH=(\S+)", log, re.M))


def test_each_profile_builds_its_own_arch(modern_project):
    p = modern_project
    p.set("profile.uefi", {"arch": "x86_64", "base": "tinyconfig", "fragments": ["kconfigs/RamsesCluster.conf"]})
    p.doit("kernel-client", "kernel-uefi")
    assert make_arches(p, "uefi") == {"x86_64"} and make_arches(p, "client") == {"i386"}

    p.clear_make_calls()
    p.set("kernel.arch", "x86_64")  # the client follows [kernel]; uefi keeps its own
    p.doit("kernel-client", "kernel-uefi")
    assert calls(p, "client")[:2] == ["tinyconfig", "olddefconfig"] and calls(p, "uefi") == []
    assert make_arches(p, "client") == {"x86_64"}

    p.clear_make_calls()
    p.set("profile.uefi.arch", "i386")
    p.doit("kernel-client", "kernel-uefi")
    assert calls(p, "uefi")[:2] == ["tinyconfig", "olddefconfig"] and calls(p, "client") == []
    assert make_arches(p, "uefi") == {"i386"}
