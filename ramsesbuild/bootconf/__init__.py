"""The cluster's boot configuration from one node inventory (nodes.toml).

:func:`load` reads and checks the inventory; :func:`write_config` writes dhcpd.conf, exports
and tftpd-hpa to the inventory's output directory; :func:`write_tftp` writes the per-node iPXE
scripts into the tftp root. The ``render_*`` functions return the text without writing.
"""

from __future__ import annotations

from .inventory import Inventory, Network, Node, load, loads
from .render import kernel_args, render_dhcpd, render_exports, render_ipxe, render_tftpd
from .write import config_files, tftp_files, write_config, write_tftp

__all__ = [
    "Inventory",
    "Network",
    "Node",
    "config_files",
    "kernel_args",
    "load",
    "loads",
    "render_dhcpd",
    "render_exports",
    "render_ipxe",
    "render_tftpd",
    "tftp_files",
    "write_config",
    "write_tftp",
]
