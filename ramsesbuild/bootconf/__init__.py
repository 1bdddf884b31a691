"""The cluster's boot configuration from one node inventory (nodes.toml).

:func:`load` reads and checks the inventory; :func:`write_config` writes the DHCP server's
configuration (ISC dhcpd.conf or kea-dhcp4.conf), exports, tftpd-hpa and, when nodes fetch over
HTTP, the web server's site to the inventory's output directory; :func:`write_tftp` writes the
per-node iPXE scripts into the tftp root. The ``render_*`` functions return the text without
writing.
"""

from __future__ import annotations

from .check import missing_files
from .inventory import Inventory, Network, Node, load, loads
from .kea import render_kea
from .render import kernel_args, render_dhcpd, render_exports, render_ipxe, render_tftpd
from .web import render_nginx, web_files
from .write import config_files, tftp_files, write_config, write_tftp

__all__ = [
    "Inventory",
    "Network",
    "Node",
    "config_files",
    "kernel_args",
    "load",
    "loads",
    "missing_files",
    "render_dhcpd",
    "render_exports",
    "render_ipxe",
    "render_kea",
    "render_nginx",
    "render_tftpd",
    "tftp_files",
    "web_files",
    "write_config",
    "write_tftp",
]
