"""packages.txt is the one list of what ramsesbuild needs outside Python: every program the
package names with a Debian package (families.toml, wrappers.toml, iPXE's build, the
decompressors) is on the line of that package, so ./setup.sh installs it and a test that needs
it skips naming the same package. ./setup.sh reads the same file."""

from __future__ import annotations

import subprocess

import pytest

from ramsesbuild import ipxerom, wrappers
from ramsesbuild.family import load_families
from ramsesbuild.tarstream import DECOMPRESSORS

from ..lib import tools
from ..lib.support import REPO


def named_by_the_package() -> dict[str, str]:
    """program -> Debian package, as ramsesbuild's own data and modules name them."""
    named: dict[str, str] = {}
    for fam in load_families():
        named.update(fam.tools)
    for name in wrappers.names():
        named.update(wrappers.get(name).commands)
    named.update(ipxerom.BUILD_DEPS)
    for d in DECOMPRESSORS:
        named[d.commands[-1][0]] = d.package
    return named


@pytest.mark.parametrize("program,package", sorted(named_by_the_package().items()))
def test_every_program_the_package_names_is_listed_with_its_package(program, package):
    assert tools.provider(program).package == package


def test_entries_are_unique_and_well_formed():
    packages = [e.package for e in tools.entries()]
    assert len(packages) == len(set(packages))
    commands = [c for e in tools.entries() for c in e.commands]
    assert len(commands) == len(set(commands))
    for e in tools.entries():
        assert e.package.startswith("npm:") or e.package.replace("-", "").replace(".", "").isalnum(), e


def test_setup_installs_exactly_the_list():
    """./setup.sh's own reader of packages.txt agrees with the tests' (tests/tools.py)."""
    script = f'source <(sed -n "/^packages()/,/^}}/p" {REPO}/setup.sh); LIST={tools.LIST}; packages deb; packages npm'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.split()
    npm = [e.package for e in tools.entries() if e.package.startswith("npm:")]
    assert [f"npm:{p}" for p in out if "@" in p] == npm
    must = {e.package for e in tools.entries() if not e.if_missing} - set(npm)
    maybe = {e.package for e in tools.entries() if e.if_missing}
    assert must <= {p for p in out if "@" not in p} <= must | maybe


def test_a_missing_program_skips_naming_its_package():
    assert tools.missing("sh") is None
    assert tools.missing("/usr/lib/ipxe/qemu/efi-rtl8139.rom") in (None, "/usr/lib/ipxe/qemu/efi-rtl8139.rom not "
                                                                       "installed (apt-get install ipxe-qemu; ./setup.sh "
                                                                       "installs everything)")
    with pytest.raises(LookupError, match="not in packages.txt"):
        tools.provider("no-such-program")
