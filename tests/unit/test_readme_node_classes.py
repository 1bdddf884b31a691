"""The README's node-class example, copied literally into the shipped ramses.toml with a node of
that class: every image it installs is booted by a node (no -imggen image that no node boots)."""

from __future__ import annotations

import re

from ramsesbuild import settings as _settings
from ramsesbuild.bootconf import loads
from ramsesbuild.bootmap import users
from ramsesbuild.steps.netboot import wanted

from ..lib.support import REPO, nodes_toml


def readme_block(section: str) -> str:
    text = (REPO / "README.md").read_text()
    part = text[text.index(section):]
    return re.search(r"```toml\n(.*?)```", part, re.S).group(1)


def test_the_node_class_example_installs_only_images_that_nodes_boot(tmp_path):
    example = readme_block("### Node classes")
    (tmp_path / "ramses.toml").write_text((REPO / "ramsesbuild/data/project/ramses.toml").read_text() + "\n" + example)
    s = _settings.load(tmp_path / "ramses.toml")
    assert "gateway" in s.profiles and s.profiles["gateway"].netboot is not None
    nodes = nodes_toml("node01", 'node03:rom = "3com"', 'gw01:profile = "gateway"')
    inv = loads(tmp_path / "nodes.toml", nodes.encode(), s.default_netboot_image(), s.netboot_images())
    booted = set(users(inv))
    unbooted = sorted(wanted(s) - booted)
    assert unbooted == [], f"the example installs images no node boots: {unbooted}"
