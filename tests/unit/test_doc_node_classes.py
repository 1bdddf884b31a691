"""The node-class example of docs/howto/node-classes.md, copied literally into the shipped ramses.toml with a node of
that class: every image it installs is booted by a node (no -imggen image that no node boots)."""

from __future__ import annotations

from ramsesbuild import settings as _settings
from ramsesbuild.bootconf import loads
from ramsesbuild.bootmap import users
from ramsesbuild.steps.netboot import wanted

from ..lib.docs import DOCS, fenced_block
from ..lib.support import REPO, nodes_toml


def test_the_node_class_example_installs_only_images_that_nodes_boot(tmp_path):
    example = fenced_block(DOCS / "howto/node-classes.md", "A gateway class", "toml")
    (tmp_path / "ramses.toml").write_text((REPO / "ramsesbuild/data/project/ramses.toml").read_text() + "\n" + example)
    s = _settings.load(tmp_path / "ramses.toml")
    assert "gateway" in s.profiles and s.profiles["gateway"].netboot is not None
    nodes = nodes_toml("node01", 'node03:rom = "3com"', 'gw01:profile = "gateway"')
    inv = loads(tmp_path / "nodes.toml", nodes.encode(), s.default_netboot_image(), s.netboot_images())
    booted = set(users(inv))
    unbooted = sorted(wanted(s) - booted)
    assert unbooted == [], f"the example installs images no node boots: {unbooted}"
