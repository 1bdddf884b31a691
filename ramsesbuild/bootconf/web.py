"""The boot server's web server: an nginx site that serves, read-only and over plain HTTP on the
cluster address, exactly the files the nodes fetch by HTTP (the EFI iPXE for UEFI HTTP boot;
the script, kernel, initrd and layers of nodes with transfer "http"), from the tftp root.

Every other path is 404, so what else lies under the tftp root (the recipe keeps the nodes'
NFS roots there) is never served, and a node removed from nodes.toml loses its files at the
next boot-config. TFTP stays for what firmware can only fetch by TFTP: the loader.
"""

from __future__ import annotations

from pathlib import Path

from ..valuerules import NGINX_LISTEN, nginx_text
from ..vocabulary import Firmware, Transfer
from .inventory import Inventory
from .render import GENERATED

SITE_NAME = "nginx-boot.conf"


def web_files(inv: Inventory) -> list[str]:
    """The files the web server serves, relative to the tftp root."""
    files: set[str] = set()
    for node in inv.web_nodes:
        if node.firmware is Firmware.UEFI:
            files.add(inv.efi_loader)
        if node.transfer is Transfer.HTTP:
            files.update((node.ipxe_script, node.image, *node.initrds))
    return sorted(files)


def render_nginx(inv: Inventory, tftp_root: Path) -> str:
    """An nginx ``server {}`` block (a site: it goes inside nginx's ``http {}``)."""
    listen = f"{NGINX_LISTEN.text(str(inv.network.server), '[network] server')}:{inv.http_port:d}"
    lines = [f"# nginx site for the cluster's boot server: {GENERATED}.",
             "# Install as /etc/nginx/sites-enabled/ramses-boot (Debian's nginx.conf includes that",
             "# directory inside http {}), then `nginx -t && systemctl reload nginx`.",
             "# Serves only the files listed below from the tftp root; every other path is 404.",
             "server {",
             f"    listen {listen};",
             f"    root {nginx_text(str(tftp_root), 'the tftp root')};",
             "    types { }",
             "    default_type application/octet-stream;",
             "    sendfile on;",
             "    tcp_nopush on;",
             "    autoindex off;",
             "    location / { return 404; }"]
    for rel in web_files(inv):
        lines.append(f"    location = {nginx_text('/' + rel, f'file {rel!r}')} {{ }}")
    lines.append("}")
    return "\n".join(lines) + "\n"
