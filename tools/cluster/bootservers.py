"""The cluster box's servers for today's nodes (issue 21): Kea instead of ISC dhcpd, and nginx,
each started from the file `doit boot-config` generated, inside the box's namespaces.

* Kea: when the configuration directory holds ``kea-dhcp4.conf`` (nodes.toml chose Kea), the box
  runs ``kea-dhcp4 -c`` on it instead of ISC dhcpd. Kea's state stays private: a tmpfs over
  /var/lib/kea (its memfile leases) and its pid/lock files in the box's work directory.
* nginx: when it holds ``nginx-boot.conf`` (a node fetches over HTTP), the box runs nginx with a
  main configuration of its own (process, logs and temporary files in the work directory) that
  includes the generated site unchanged; the site's ``listen`` puts it on the server address.

clusterbox.py calls these; nothing here runs outside the box's namespaces.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
from pathlib import Path

KEA_CONF = "kea-dhcp4.conf"
DHCPD_CONF = "dhcpd.conf"
NGINX_SITE = "nginx-boot.conf"
TOOLS = {"kea-dhcp4": "kea-dhcp4-server", "nginx": "nginx-light"}
KEA_STATE = "/var/lib/kea"


def dhcp_server(conf_dir: Path) -> str:
    """"kea" when boot-config wrote kea-dhcp4.conf, else "isc" (dhcpd.conf)."""
    return "kea" if (conf_dir / KEA_CONF).is_file() else "isc"


def web_site(conf_dir: Path) -> Path | None:
    site = conf_dir / NGINX_SITE
    return site if site.is_file() else None


def missing_packages(conf_dir: Path) -> list[str]:
    """Debian packages for the servers *conf_dir* asks for that are not installed."""
    wanted = (["kea-dhcp4"] if dhcp_server(conf_dir) == "kea" else []) + (["nginx"] if web_site(conf_dir) else [])
    return sorted({TOOLS[t] for t in wanted if shutil.which(t) is None})


def kea_document(path: Path) -> dict:
    """kea-dhcp4.conf as JSON (Kea allows //, # and /* */ comments; boot-config writes //
    lines only)."""
    text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith(("//", "#")))
    return json.loads(text)


def kea_subnet(conf_dir: Path) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(kea_document(conf_dir / KEA_CONF)["Dhcp4"]["subnet4"][0]["subnet"])


def private_state(tool: str) -> None:
    """Kea's lease directory on a tmpfs of the box's own (call inside the box's mount namespace,
    after nsbox.enter_private)."""
    state = Path(KEA_STATE)
    state.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=750", f"ramses-{tool}-kea", str(state)], check=True)


def carrier(bridge: str) -> None:
    """Give *bridge* carrier before any qemu opens a tap: Kea skips interfaces that are not
    running when it starts (ISC dhcpd does not care). One end of a veth pair as a bridge port
    does it (the other end only holds the link up; it has no address and carries nothing)."""
    for cmd in (["ip", "link", "add", "rcarrier0", "type", "veth", "peer", "name", "rcarrier1"],
                ["ip", "link", "set", "rcarrier0", "master", bridge],
                ["ip", "link", "set", "rcarrier0", "up"], ["ip", "link", "set", "rcarrier1", "up"]):
        subprocess.run(cmd, check=True)


def kea_command(conf_dir: Path) -> list[str]:
    return ["kea-dhcp4", "-c", str(conf_dir / KEA_CONF)]


def kea_environment(work: Path) -> dict[str, str]:
    return {**os.environ, "KEA_PIDFILE_DIR": str(work), "KEA_LOCKFILE_DIR": str(work)}


def nginx_main(site: Path, work: Path) -> str:
    """The box's nginx.conf: its own process settings, logs and temporary directories, then the
    generated site as it is. Workers run as root: the test trees live under root-only
    directories (the box is a private namespace, not a server)."""
    tmp = work / "nginx-tmp"
    temps = " ".join(f"{kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                    "scgi"))
    return "\n".join([
        "# the cluster box's nginx: process settings of its own around the generated site",
        f"daemon off; user root; worker_processes 2; pid {work / 'nginx.pid'};",
        f"error_log {work / 'nginx-error.log'} info;",
        "events { worker_connections 4096; }",
        "http {",
        "    log_format boot '$remote_addr \"$request\" $status $body_bytes_sent $request_time';",
        f"    access_log {work / 'nginx-access.log'} boot;",
        f"    {temps}",
        f"    include {site};",
        "}",
    ]) + "\n"


def nginx_command(site: Path, work: Path) -> list[str]:
    (work / "nginx-tmp").mkdir(parents=True, exist_ok=True)
    (work / "nginx.conf").write_text(nginx_main(site, work))
    return ["nginx", "-c", str(work / "nginx.conf")]


def tcp_listening(port: int, addr: ipaddress.IPv4Address) -> bool:
    """A TCP socket in LISTEN state on *addr* (or any address) and *port* in this namespace."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        hexip, hexport = fields[1].split(":")
        ip = ipaddress.IPv4Address(bytes(reversed(bytes.fromhex(hexip))))
        if fields[3] == "0A" and int(hexport, 16) == port and ip in (addr, ipaddress.IPv4Address(0)):
            return True
    return False


def site_port(site: Path) -> int:
    """The port of the site's first ``listen ADDRESS:PORT;``."""
    for line in site.read_text().splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "listen":
            return int(words[1].rstrip(";").rsplit(":", 1)[1])
    raise SystemExit(f"clusterbox: {site}: no `listen ADDRESS:PORT;` line")
