"""Node roots without mmdebstrap: per-node layers, reset, exports, escaping, and a base root
built through a stand-in for mmdebstrap (a runner that makes a tree, or fails like it)."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ramsesbuild.errors import RootError
from ramsesbuild.noderoot import build, escape, exports, finish, layer, modules
from ramsesbuild.noderoot.spec import MOUNT_POINT, SKEL, ClusterSpec, LayerSpec, NodeSpec, RootKind, RootSpec

from ..lib.support import REPO

NET = ipaddress.IPv4Network("192.0.2.0/24")
SERVER = ipaddress.IPv4Address("192.0.2.1")


def fake_debian_tree(tree: Path) -> None:
    """What mmdebstrap leaves that the finishing step cares about (host leaks included)."""
    for d in ("etc/ssh", "var/log/apt", "var/lib/systemd", "var/lib/nfs/sm", "var/lib/dpkg", "var/tmp",
              "var/cache/apt", "var/spool", "root", "sbin", "usr/lib"):
        (tree / d).mkdir(parents=True, exist_ok=True)
    (tree / "etc/hostname").write_text("buildhost\n")
    (tree / "etc/resolv.conf").write_text("nameserver 10.255.255.53\n")
    (tree / "etc/ssh/ssh_host_ed25519_key").write_text("SECRET OF THE BUILD\n")
    (tree / "etc/ssh/ssh_host_rsa_key").write_text("SECRET\n")
    (tree / "var/log/dpkg.log").write_text("x" * 100000)
    (tree / "var/lib/nfs/state").write_bytes(b"\0\0\0\1")
    (tree / "var/lib/dpkg/status").write_text("Package: systemd\nVersion: 252.36-1~deb12u1\n\n")
    (tree / "root/.profile").write_text("# profile\n")
    (tree / "sbin/init.distrib").symlink_to("/lib/systemd/systemd")


def fake_runner(status: int = 0, output: str = "I: success\n", make_tree: bool = True) -> build.Runner:
    def run(cmd, env, log):
        assert env["SOURCE_DATE_EPOCH"].isdigit()
        if make_tree:
            fake_debian_tree(Path(cmd[-2]))
        return status, output
    return run


@pytest.fixture
def cluster(tmp_path: Path):
    srv = tmp_path / "srv"
    spec = RootSpec("client")
    c = ClusterSpec(NET, SERVER, srv, domain="box.example")
    build.build(spec, c.base("client"), runner=fake_runner())
    nodes = tuple(NodeSpec(f"node{i:02d}", ipaddress.IPv4Address(f"192.0.2.{10 + i}"), f"52:54:00:00:00:{i:02x}",
                           "client") for i in (1, 2))
    return LayerSpec(c, nodes, {"client": spec})


def test_finished_root_keeps_nothing_of_a_node_or_of_the_build_host(cluster: LayerSpec) -> None:
    base = cluster.cluster.base("client")
    assert os.readlink(base / "etc/hostname") == f"{MOUNT_POINT}/etc/hostname"
    assert os.readlink(base / "var/log") == f"{MOUNT_POINT}/var/log"
    assert not list((base / "etc/ssh").glob("ssh_host_rsa*"))  # a host key readable by every node: gone
    assert os.readlink(base / "etc/ssh/ssh_host_ed25519_key") == f"{MOUNT_POINT}/etc/ssh/ssh_host_ed25519_key"
    assert "10.255" not in (base / "etc/resolv.conf").read_text()
    assert (base / SKEL.lstrip("/") / "var/log/dpkg.log").exists()  # the original, read-only, for reference
    assert (base / "sbin/init").read_text().startswith("#!/bin/sh")
    assert "HostKey /etc/ssh/ssh_host_ed25519_key" in (base / "etc/ssh/sshd_config.d/ramses.conf").read_text()
    newest = max(os.lstat(os.path.join(d, n)).st_mtime for d, ds, ns in os.walk(base) for n in ds + ns)
    assert newest <= RootSpec("x").source_date_epoch


def test_layers_render_each_node_and_only_what_changed(cluster: LayerSpec, tmp_path: Path) -> None:
    state = tmp_path / "layers.json"
    res = layer.sync(cluster, state)
    assert res.created == ("node01", "node02") and res.unchanged == 0
    n1 = cluster.cluster.node_dir("node01")
    assert (n1 / "etc/hostname").read_text() == "node01\n"
    hosts = (n1 / "etc/hosts").read_text()
    assert "192.0.2.12\tnode02.box.example node02\n" in hosts and "192.0.2.1\tserver.box.example server\n" in hosts
    assert f"#   192.0.2.1:{cluster.cluster.node_dir('node01')} {MOUNT_POINT} nfs rw," in (n1 / "etc/fstab").read_text()
    key = n1 / "etc/ssh/ssh_host_ed25519_key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert (n1 / "var/lib/nfs/state").read_bytes() == b"\0\0\0\1"  # seed "copy"
    assert (n1 / "var/log/apt").is_dir() and not (n1 / "var/log/dpkg.log").exists()  # seed "dirs"
    assert (n1 / "var/tmp").stat().st_mode & 0o7777 == 0o1777
    ids = {(cluster.cluster.node_dir(n) / "etc/machine-id").read_text() for n in ("node01", "node02")}
    assert len(ids) == 2 and all(len(i) == 33 for i in ids)
    assert layer.layer_size(n1) < 1 << 20
    again = layer.sync(cluster, state)
    assert again.rendered == () and again.unchanged == 2
    # node01 gets a per-node override: only node01 is rendered
    over = tmp_path / "over"
    (over / "node01/root/.ssh").mkdir(parents=True)
    (over / "node01/root/.ssh/authorized_keys").write_text("ssh-ed25519 AAAA admin\n")
    spec2 = LayerSpec(ClusterSpec(**{**cluster.cluster.__dict__, "node_overrides": over}), cluster.nodes,
                      cluster.roots)
    one = layer.sync(spec2, state)
    assert one.rendered == ("node01",)
    assert (n1 / "root/.ssh/authorized_keys").read_text() == "ssh-ed25519 AAAA admin\n"


def test_a_per_node_override_outside_the_per_node_paths_is_refused(cluster: LayerSpec, tmp_path: Path) -> None:
    over = tmp_path / "over"
    (over / "node02/etc").mkdir(parents=True)
    (over / "node02/etc/motd").write_text("hi\n")
    spec = LayerSpec(ClusterSpec(**{**cluster.cluster.__dict__, "node_overrides": over}), cluster.nodes,
                     cluster.roots)
    with pytest.raises(RootError, match=r"node02/etc/motd: /etc/motd is not a per-node path of class 'client'"):
        layer.sync(spec, tmp_path / "layers.json")


def test_reset_keeps_keys_and_the_directory_and_drops_what_the_node_wrote(cluster: LayerSpec,
                                                                         tmp_path: Path) -> None:
    layer.sync(cluster, tmp_path / "layers.json")
    n1 = cluster.cluster.node_dir("node01")
    inode = n1.stat().st_ino
    key = (n1 / "etc/ssh/ssh_host_ed25519_key").read_bytes()
    (n1 / "var/tmp/junk").write_text("node01 was here\n")
    (n1 / "etc/hostname").write_text("broken\n")
    (n1 / "var/log/apt").rmdir()
    layer.reset(cluster, "node01")
    assert not (n1 / "var/tmp/junk").exists() and (n1 / "etc/hostname").read_text() == "node01\n"
    assert (n1 / "var/log/apt").is_dir() and n1.stat().st_ino == inode
    assert (n1 / "etc/ssh/ssh_host_ed25519_key").read_bytes() == key
    assert not list(n1.parent.glob(".*ramses-tmp"))
    with pytest.raises(RootError, match="node 'node09' is not in nodes.toml"):
        layer.reset(cluster, "node09")


def test_a_removed_node_loses_its_layer_never_the_base(cluster: LayerSpec, tmp_path: Path) -> None:
    state = tmp_path / "layers.json"
    layer.sync(cluster, state)
    smaller = LayerSpec(cluster.cluster, cluster.nodes[:1], cluster.roots)
    res = layer.sync(smaller, state)
    assert res.removed == ("node02",)
    assert not cluster.cluster.node_dir("node02").exists()
    assert cluster.cluster.key_dir("node02").is_dir()  # comes back with the same identity
    assert (cluster.cluster.base("client") / "sbin/init").exists()
    relative = ClusterSpec(NET, SERVER, Path("srv"))
    with pytest.raises(RootError, match="must be an absolute path"):
        layer.sync(LayerSpec(relative, (), {}), state)


def test_exports_base_to_the_subnet_and_each_layer_to_its_node(cluster: LayerSpec) -> None:
    text = exports.render_exports(cluster)
    rows = [line.split() for line in text.splitlines() if not line.startswith("#")]
    base, n1, n2 = (str(cluster.cluster.base("client")), str(cluster.cluster.node_dir("node01")),
                    str(cluster.cluster.node_dir("node02")))
    assert rows == [[base, "192.0.2.0/24(ro,no_root_squash,no_subtree_check)"],
                    [n1, "192.0.2.11(rw,no_root_squash,no_subtree_check)"],
                    [n2, "192.0.2.12(rw,no_root_squash,no_subtree_check)"]]


def test_escaping_per_format() -> None:
    assert escape.fstab_field("/srv/a b\\c") == "/srv/a\\040b\\134c"
    assert escape.sh_quote("it's") == "'it'\\''s'"
    nasty = 'a$(id) `x` "q"\''
    assert subprocess.run(["sh", "-c", "printf %s " + escape.sh_quote(nasty)],
                          capture_output=True, text=True).stdout == nasty
    for bad in ("Node01", "a b", "-x", "x" * 64, "n\nx"):
        with pytest.raises(RootError):
            escape.hostname(bad)
    with pytest.raises(RootError):
        escape.ganesha_string('a"b')


def test_a_failed_build_keeps_the_old_root_and_says_why(cluster: LayerSpec) -> None:
    base = cluster.cluster.base("client")
    marker = base / "usr/lib/old-root"
    marker.write_text("still here\n")
    spec = cluster.roots["client"]
    for output, expected in [
        ("E: Unable to locate package systemd-sysvv\n", "package 'systemd-sysvv' does not exist in bookworm"),
        ("E: Failed to fetch http://deb.example/dists/bookworm/InRelease  Could not resolve 'deb.example'\n",
         "cannot use the package source http://deb.debian.org/debian: Could not resolve 'deb.example'"),
        ("E: cannot copy: No space left on device\n", "no space left on the device"),
    ]:
        with pytest.raises(RootError) as err:
            build.build(spec, base, runner=fake_runner(100, output, make_tree=False))
        assert expected in str(err.value) and "\n" not in str(err.value)
        assert marker.read_text() == "still here\n"
        assert not list(base.parent.glob(".*ramses-tmp"))


MOUNTED_TREE = """
import sys
from pathlib import Path
from ramsesbuild.noderoot import build
tree = Path(sys.argv[1])
print(len(build.mounts_below(tree)))
build.remove_tree(tree)
print(tree.exists(), build.mounts_below(tree))
"""


def test_a_half_built_root_is_unmounted_before_it_is_removed(tmp_path: Path) -> None:
    """A killed mmdebstrap (root mode) leaves /proc, /sys, /dev/pts and /dev/shm mounted in its
    tree: the next build unmounts them (deepest first, a name with a space too) before it removes
    the tree, and never removes anything across a mount (here: in a private mount namespace)."""
    from ..lib.tools import need_private_mounts

    need_private_mounts()
    tree = tmp_path / "a b" / ".client.new.ramses-tmp"
    mounts = "; ".join(f"mkdir -p '{tree / d}'; mount -t tmpfs ramses-test '{tree / d}'"
                       for d in ("proc", "dev/shm", "dev/shm/inner"))  # inner: a mount inside a mount
    script = f"{mounts}; touch '{tree}/dev/shm/inner/x'; exec \"$0\" -c \"$1\" '{tree}'"
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-ec", script, sys.executable,
                        MOUNTED_TREE], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["3", "False []"], r.stdout + r.stderr


def test_disk_full_while_finishing_keeps_the_old_root(cluster: LayerSpec, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "ramses-test", str(small)], check=True)
    try:
        old = small / "client"
        (old / "usr").mkdir(parents=True)
        (old / "usr/old-root").write_text("still here\n")

        def fill(cmd, env, log):
            fake_debian_tree(Path(cmd[-2]))
            (Path(cmd[-2]) / "big").write_bytes(b"\0" * (2 << 20))  # ENOSPC
            return 0, ""

        with pytest.raises(RootError, match="no space left on the device.*the old root .* is kept"):
            build.build(cluster.roots["client"], old, runner=fill)
        assert (old / "usr/old-root").read_text() == "still here\n"
        assert [p.name for p in small.iterdir()] == ["client"]
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_staged_modules_land_in_the_root(tmp_path: Path) -> None:
    staging, root = tmp_path / "staging", tmp_path / "root"
    mod = staging / "lib/modules/2.4.18/kernel/drivers/net"
    mod.mkdir(parents=True)
    (mod / "3c59x.o").write_bytes(b"\x7fELF")
    (staging / "lib/modules/2.4.18/build").symlink_to("/build/host/tree")
    assert modules.install(staging, root) == ["2.4.18"]
    assert (root / "lib/modules/2.4.18/kernel/drivers/net/3c59x.o").read_bytes() == b"\x7fELF"
    assert not (root / "lib/modules/2.4.18/build").is_symlink()
    shutil.rmtree(staging / "lib/modules/2.4.18")
    assert modules.install(staging, root) == [] and not (root / "lib/modules/2.4.18").exists()


def test_cluster_file_needs_a_finished_root(tmp_path: Path) -> None:
    c = ClusterSpec(NET, SERVER, tmp_path)
    with pytest.raises(RootError, match="not a node root"):
        finish.write_cluster_file(c.base("client"), c)


SETTINGS = """[kernel]
version = "6.1"
[source."6.1"]
tarball = "linux-6.1.tar.xz"
mirrors = ["file:///nonexistent/"]
sha256 = "{zero}"
unsigned = "test settings: nothing is fetched"
[netboot]
[profile.server]
[profile.client]
[profile.client.root]
{root}
"""


@pytest.mark.parametrize(("root", "message"), [
    ('packages = ["systemd-sysv", "Bad Name"]', "[profile.client.root] packages: 'Bad Name' is not a Debian package name"),
    ('node_dirs = ["var/lib/slurm"]', "node_dirs: 'var/lib/slurm' must be an absolute directory"),
    ('mirror = "deb.debian.org"', "mirror 'deb.debian.org' must be one http://, https:// or file:// URL"),
    ('suites = "bookworm"', "unknown key 'suites'"),
    ('[profile.server.root]', "profile 'server' has a node root but no netboot image"),
])
def test_root_settings_errors_name_the_line(tmp_path: Path, root: str, message: str) -> None:
    from ramsesbuild import settings
    from ramsesbuild.errors import SettingsError

    path = tmp_path / "ramses.toml"
    text = SETTINGS.format(zero="0" * 64, root=root)
    path.write_text(text)
    line = text.splitlines().index(root) + 1
    with pytest.raises(SettingsError) as err:
        settings.load(path)
    assert str(err.value).startswith(f"{path}:{line}: ") and message in str(err.value), str(err.value)
    assert "\n" not in str(err.value)


def test_root_settings_become_a_spec(tmp_path: Path) -> None:
    from ramsesbuild import settings
    from ramsesbuild.noderoot.project import config

    path = tmp_path / "ramses.toml"
    path.write_text(SETTINGS.format(zero="0" * 64, root='node_dirs = ["/var/lib/slurm"]') +
                    '[paths]\nroots = "/srv/ramses"\n')
    cfg = config(settings.load(path))
    assert cfg is not None and cfg.roots == Path("/srv/ramses") and list(cfg.classes) == ["client"]
    spec = cfg.classes["client"]
    assert (spec.kind, spec.architecture, spec.suite) == ("debian", "i386", "bookworm")
    assert "openssh-server" in spec.package_list and spec.overrides == tmp_path / "overrides/class/client"
    assert "/var/lib/slurm" in [p.path for p in spec.node_paths]
    assert cfg.node_overrides == tmp_path / "overrides/node"


@pytest.mark.parametrize(("root", "key", "output", "message"), [
    ('packages = ["systemd-sysv", "does-not-exist-pkg"]', "packages", "E: Unable to locate package does-not-exist-pkg\n",
     "package 'does-not-exist-pkg' does not exist in bookworm"),
    ('mirror = "http://deb.example/debian"', "mirror",
     "E: Failed to fetch http://deb.example/debian/dists/bookworm/InRelease  Could not resolve 'deb.example'\n",
     "cannot use the package source http://deb.example/debian: Could not resolve 'deb.example'"),
    ("", None, "E: Unable to locate package systemd-sysvv\n", "package 'systemd-sysvv' does not exist"),
])
def test_a_failed_root_build_names_the_settings_line_to_fix(tmp_path: Path, root: str, key: str | None,
                                                            output: str, message: str) -> None:
    """mmdebstrap's refusal names the [profile.X.root] key at fault; at_setting puts it at that key's
    ramses.toml line (the [profile.X.root] header where the key is left to its default)."""
    from ramsesbuild import settings
    from ramsesbuild.errors import RootSettingError
    from ramsesbuild.noderoot.project import at_setting, config

    path = tmp_path / "ramses.toml"
    text = SETTINGS.format(zero="0" * 64, root=root)
    path.write_text(text)
    s = settings.load(path)
    cfg = config(s)
    assert cfg is not None
    line = text.splitlines().index(root if key else "[profile.client.root]") + 1
    with pytest.raises(RootSettingError) as err:
        build.build(cfg.classes["client"], tmp_path / "roots/base/client", runner=fake_runner(100, output, False))
    assert err.value.key == (key or "packages")
    located = str(at_setting(s, err.value, "client"))
    assert located.startswith(f"{path}:{line}: root 'client': mmdebstrap: {message}"), located
    assert "\n" not in located


def test_a_nodes_class_is_the_profile_it_names_or_whose_image_it_boots(tmp_path: Path) -> None:
    from ramsesbuild import bootconf
    from ramsesbuild.errors import BootConfigError

    nodes = tmp_path / "nodes.toml"
    base = '[network]\nsubnet = "192.0.2.0/24"\nserver = "192.0.2.1"\n'
    nodes.write_text(base + '[[node]]\nname = "a"\nmac = "52:54:00:00:00:01"\nip = "192.0.2.11"\n'
                     '[[node]]\nname = "b"\nmac = "52:54:00:00:00:02"\nip = "192.0.2.12"\nimage = "b.elf"\n'
                     'profile = "client"\n'
                     '[[node]]\nname = "c"\nmac = "52:54:00:00:00:03"\nip = "192.0.2.13"\nimage = "other"\n')
    inv = bootconf.load(nodes, "vmlinuz-client", {"client": "vmlinuz-client"})
    assert [(n.name, n.image, n.profile) for n in inv.nodes] == [
        ("a", "vmlinuz-client", "client"), ("b", "b.elf", "client"), ("c", "other", None)]
    nodes.write_text(nodes.read_text().replace('profile = "client"', 'profile = "clinet"'))
    with pytest.raises(BootConfigError, match=r"nodes.toml:\d+: .*profile 'clinet' has no netboot image"):
        bootconf.load(nodes, "vmlinuz-client", {"client": "vmlinuz-client"})


def klibc_tree(tree: Path) -> None:
    (tree / "usr/lib/klibc/bin").mkdir(parents=True)
    (tree / "usr/lib/klibc/bin/sh").write_text("#!fake klibc sh\n")
    (tree / ".ramses-debs").write_text("klibc-utils_2.0.12-1_i386.deb\nlibklibc_1%3a2.0.12-1_i386.deb\n")


def test_a_2_4_root_gets_our_init_rc_and_nfs_mounter(tmp_path: Path) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("gcc missing: apt-get install gcc (compiles the 2.4 root's NFS mounter)")

    def run(cmd, env, log):
        assert "--variant=extract" in cmd and any(c.startswith("--extract-hook=") for c in cmd)
        klibc_tree(Path(cmd[-2]))
        return 0, ""

    spec = RootSpec("old", kind=RootKind.KLIBC, command="cat /etc/hosts")
    a, b = tmp_path / "a", tmp_path / "b"
    built = build.build(spec, a, runner=run)
    build.build(spec, b, runner=run)
    assert built.packages == {"klibc-utils": "2.0.12-1", "libklibc": "1:2.0.12-1"}  # from the .deb names
    assert not (a / ".ramses-debs").exists()
    helper = a / "sbin/ramses-nfsmount"
    head = helper.read_bytes()[:20]
    assert head[:4] == b"\x7fELF" and head[4] == 1 and head[18] == 3  # ELF32, EM_386
    assert helper.read_bytes() == (b / "sbin/ramses-nfsmount").read_bytes()  # the same bytes again
    assert "ramses-nfsmount" in (a / "sbin/init").read_text() and (a / "etc/rc").exists()
    assert (a / "etc/ramses/command").read_text().endswith("cat /etc/hosts\n")
    assert os.readlink(a / "bin") == "usr/lib/klibc/bin"


def test_the_2_4_nfs_mounter_speaks_portmap_and_mount_v3(tmp_path: Path) -> None:
    """ramses-nfsmount against a portmapper and MOUNT server in a private network namespace:
    the calls decode as the protocols say, and a refused MNT is one line, before any mount(2)."""
    import json
    import sys

    from ramsesbuild.noderoot import helper24

    for tool, pkg in (("gcc", "gcc"), ("unshare", "util-linux"), ("ip", "iproute2")):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} missing: apt-get install {pkg}")
    if os.geteuid() != 0:
        pytest.skip("a private network namespace and port 111 need root")
    helper = helper24.compile_into(tmp_path)
    fake = Path(__file__).parent.parent / "lib" / "rpcfake.py"
    script = (f"ip link set lo up && {{ {sys.executable} {fake} 3 > {tmp_path}/calls & }} && "
              f"for i in $(seq 50); do grep -q ready {tmp_path}/calls 2>/dev/null && break; sleep 0.1; done; "
              f"{helper} 127.0.0.1:/srv/ramses/node/node01 {tmp_path} udp; echo rc=$?; wait")
    r = subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert "rc=1" in r.stdout, r.stdout + r.stderr
    assert r.stderr.strip() == ("ramses-nfsmount: the server refused to mount /srv/ramses/node/node01 (MOUNT v3 "
                                "status 13: permission denied: is it exported to this node's address?)")
    calls = [json.loads(line) for line in (tmp_path / "calls").read_text().splitlines()[1:]]
    assert [c.get("getport") for c in calls] == [[100005, 3, 17], [100003, 3, 17], None]
    mnt = calls[2]
    assert (mnt["prog"], mnt["vers"], mnt["proc"], mnt["flavor"]) == (100005, 3, 1, 1)  # MNT, AUTH_UNIX
    assert mnt["path"] == "/srv/ramses/node/node01" and (mnt["uid"], mnt["gid"]) == (0, 0)
    assert mnt["peer_port"] < 1024  # from a reserved port
