"""Where every stage reads and writes. One place, so tasks, the summary, `status` and the
tests agree.

    build/<profile>/          one per profile: obj/ (modern O=), state/, artifacts/, staging/, shims/
    build/<profile>/src       the profile's own source tree (families that build in the tree: 2.4)
    build/source/src          one read-only source tree shared by every profile (O= families)
    build/state/              verified.json
    build/logs/<task>.log     per-task logs
    build/bootconf/           nodes.toml's generated dhcpd.conf, exports, tftpd-hpa (its default output)
"""

from __future__ import annotations

SHARED_TREE = "source"
STATE_DIR = "state"
LOG_DIR = "logs"
BOOTCONF_DIR = "bootconf"
# build/<profile> must not collide with these (ramses.toml's reader refuses them as profile names)
RESERVED_NAMES = (SHARED_TREE, STATE_DIR, LOG_DIR, BOOTCONF_DIR)
