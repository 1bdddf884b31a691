"""The whole pipeline through real `doit` on small fake kernel trees: real HTTP mirror,
real gpg, real make. Checks incrementality (what re-runs, whether make is called)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import tomllib

from ramsesbuild import commands
from ramsesbuild.fsutil import sha256_file
from ramsesbuild.nbi import inspect_image

from ..lib.docs import DOCS, fenced_block
from ..lib.support import SHIPPED


def ran(proc) -> list[str]:
    """Tasks doit executed (".  name"), as opposed to up-to-date ones ("-- name")."""
    return re.findall(r"^\.  (\S+)", proc.stdout, re.M)


def calls(project, profile):
    """make goals run in *profile*'s tree; bzImage and modules run in parallel (-j2), so their
    relative order is normalised."""
    goals = [c.split()[1] for c in project.make_calls() if f"/build/{profile}/" in c]
    for i in range(len(goals) - 1):
        if goals[i:i + 2] == ["modules", "bzImage"]:
            goals[i:i + 2] = ["bzImage", "modules"]
    return goals


def test_full_run_builds_both_kernels_and_installs_netboot_image(k24_project):
    p = k24_project
    p.doit()
    assert calls(p, "server") == ["oldconfig", "dep", "bzImage", "modules", "modules_install"]
    assert calls(p, "client") == ["oldconfig", "dep", "bzImage", "modules", "modules_install"]
    b = p.dir / "build"
    client_image = b / "client" / "artifacts" / "bzImage"
    installed = p.dir / "tftpboot" / "vmlinuz-2.4.18-cluster"
    report = inspect_image(installed)
    assert report.kind == "nbi" and report.ok, report.render()
    kernel = client_image.read_bytes()
    assert kernel[0x200:] in installed.read_bytes()  # the protected-mode part is carried verbatim
    assert installed.read_bytes() == (b / "client" / "artifacts" / "vmlinuz-2.4.18-cluster").read_bytes()
    assert (b / "client" / "staging" / "lib/modules/2.4.18/kernel/drivers/net/dummy.o").is_file()
    # reproducibility shims: pinned .version and identity shims end up in the image
    assert b"#1 ramses@ramsesbuild" in client_image.read_bytes()
    client_cfg = (b / "client" / "artifacts" / "config").read_text()
    assert "CONFIG_VORTEX=y" in client_cfg and "# CONFIG_MODVERSIONS is not set" in client_cfg
    assert "CONFIG_NFSD=y" in (b / "server" / "artifacts" / "config").read_text()
    verified = json.loads((b / "state" / "verified.json").read_text())
    assert verified["signer"] == p.signer.fingerprint and verified["signed_data"] == "uncompressed"
    for task in ("fetch", "verify", "unpack-client", "patch-server", "config-client", "compile-server",
                 "modules-client", "netboot-image-client"):
        assert (b / "logs" / f"{task}.log").read_text().rstrip().endswith("ok"), task


def test_second_run_is_a_noop_and_never_calls_make(k24_project):
    p = k24_project
    p.doit()
    p.clear_make_calls()
    second = p.doit()
    assert ran(second) == []
    assert p.make_calls() == []


def test_fragment_edit_rebuilds_only_the_client(k24_project):
    p = k24_project
    p.doit()
    server_image = sha256_file(p.dir / "build/server/artifacts/bzImage")
    p.clear_make_calls()
    frag = p.dir / "kconfigs" / "RamsesCluster.conf"
    frag.write_text(frag.read_text() + "# CONFIG_SERIAL_CONSOLE is not set\n")
    out = p.doit()
    assert set(ran(out)) == {"config-client", "compile-client", "modules-client", "netboot-image:client"}
    assert calls(p, "server") == []
    assert calls(p, "client") == ["oldconfig", "dep", "bzImage", "modules", "modules_install"]
    assert sha256_file(p.dir / "build/server/artifacts/bzImage") == server_image
    assert "# CONFIG_SERIAL_CONSOLE is not set" in (p.dir / "build/client/artifacts/config").read_text()


def test_comment_only_edit_reconfigures_but_does_not_rebuild(k24_project):
    p = k24_project
    p.doit()
    p.clear_make_calls()
    frag = p.dir / "kconfigs" / "RamsesCluster.conf"
    frag.write_text("# a comment that changes nothing\n" + frag.read_text())
    out = p.doit()
    assert ran(out) == ["config-client"]
    assert calls(p, "client") == ["oldconfig"]


def test_option_that_does_not_land_fails_naming_fragment_line(k24_project):
    p = k24_project
    frag = p.dir / "kconfigs" / "RamsesCluster.conf"
    lines = frag.read_text().splitlines()
    lines[lines.index("CONFIG_IP_PNP=y")] = "# CONFIG_IP_PNP is not set"  # ROOT_NFS and IP_PNP_DHCP need it
    lines.append("CONFIG_NO_SUCH_THING=y")
    frag.write_text("\n".join(lines) + "\n")
    out = p.doit("kernel-client", check=False)
    assert out.returncode != 0
    err = out.stdout + out.stderr
    assert "3 requested kconfig option(s) did not land" in err
    for sym in ("CONFIG_IP_PNP_DHCP", "CONFIG_ROOT_NFS"):
        line = lines.index(f"{sym}=y") + 1
        assert f"RamsesCluster.conf:{line}: {sym}=y requested, .config has it unset (a dependency" in err
    assert f"RamsesCluster.conf:{len(lines)}: CONFIG_NO_SUCH_THING=y requested" in err
    assert "no such symbol in this kernel" in err
    assert "log: " in err and "config-client.log" in err
    assert not (p.dir / "build/client/state/config.json").exists()
    assert "bzImage" not in calls(p, "client")


def test_tampered_download_is_never_marked_verified(k24_project):
    p = k24_project
    dl = p.dir / "downloads"
    p.doit("fetch")
    tarball = dl / p.tarball
    data = bytearray(tarball.read_bytes())
    data[-20] ^= 1
    tarball.write_bytes(bytes(data))
    out = p.doit("kernel-client", check=False)
    assert out.returncode != 0
    assert "but ramses.toml pins" in out.stdout + out.stderr
    assert not (p.dir / "build/state/verified.json").exists()
    assert not (p.dir / "build/client/src").exists()


def test_wrong_signature_via_doit_leaves_nothing_verified(k24_project, mirror):
    p = k24_project
    p.doit("verify")
    assert (p.dir / "build/state/verified.json").exists()
    for sig in (p.dir / "downloads" / p.signature, mirror.root / p.signature):  # bad here and on the mirror
        p.signer.sign(b"not the kernel\n", sig)
    out = p.doit("verify", check=False)
    err = out.stdout + out.stderr
    assert out.returncode != 0 and "BAD signature" in err
    assert "a fresh copy of linux-2.4.18.tar.sign from the mirrors failed the same way" in err
    assert not (p.dir / "build/state/verified.json").exists()


def test_signature_damaged_locally_is_fetched_again(k24_project, mirror):
    p = k24_project
    p.doit("fetch")
    sig = p.dir / "downloads" / p.signature
    good = sig.read_bytes()
    sig.write_bytes(good[: len(good) // 2])  # damaged in transit, but kept its final name
    out = p.doit("verify")
    assert "fetching it once more from the mirrors" in out.stderr
    assert sig.read_bytes() == good
    assert (p.dir / "build/state/verified.json").exists()


def test_make_failure_names_target_and_log(k24_project):
    p = k24_project
    p.extra_env["FAKE_FAIL"] = "1"
    out = p.doit("kernel-client", check=False)
    err = out.stdout + out.stderr
    assert out.returncode != 0
    assert "`make bzImage modules` failed (exit 2)" in err
    assert "init/main.c:1: error: fake failure requested" in err
    assert "compile-client.log" in err
    assert not (p.dir / "build/client/state/kernel.json").exists()
    p.extra_env.pop("FAKE_FAIL")
    p.doit("kernel-client")  # and it recovers
    assert (p.dir / "build/client/state/kernel.json").exists()


def test_make_dep_errors_are_caught_although_it_exits_zero(k24_project):
    p = k24_project
    frag = p.dir / "kconfigs" / "RamsesCluster.conf"
    frag.write_text(frag.read_text() + "CONFIG_MODVERSIONS=y\n")  # needs genksyms: dep "fails" with rc 0
    out = p.doit("kernel-client", check=False)
    assert out.returncode != 0
    assert "`make dep` reported errors although it exited 0" in out.stdout + out.stderr
    assert "genksyms: not found" in out.stdout + out.stderr


def _patch_for_main(p, text):
    pdir = p.dir / "patches" / p.version
    pdir.mkdir(parents=True, exist_ok=True)
    (pdir / "0001-main.patch").write_text(
        "Why: the test needs a marker in init/main.c.\n\n"
        "--- a/init/main.c\n+++ b/init/main.c\n@@ -1 +1,2 @@\n int start_kernel(void) { return 0; }\n"
        f"+/* {text} */\n")
    (pdir / "series").write_text("0001-main.patch\n")


def test_patch_series_applies_to_both_trees_and_change_rebuilds(k24_project):
    p = k24_project
    _patch_for_main(p, "ramses marker one")
    p.doit()
    for prof in ("server", "client"):
        assert "ramses marker one" in (p.dir / f"build/{prof}/src/init/main.c").read_text()
    p.clear_make_calls()
    _patch_for_main(p, "ramses marker two")
    out = p.doit()
    assert {"patch:server", "patch:client", "compile-server", "compile-client"} <= set(ran(out))
    for prof in ("server", "client"):
        text = (p.dir / f"build/{prof}/src/init/main.c").read_text()
        assert "marker two" in text and "marker one" not in text


def test_modern_family_builds_out_of_tree(modern_project):
    p = modern_project
    p.doit("kernel-client", "modules-client")
    b = p.dir / "build" / "client"
    assert calls(p, "client") == ["tinyconfig", "olddefconfig", "bzImage", "modules", "modules_install"]
    assert all(c.split()[0] == str(b / "obj") for c in p.make_calls())
    src = p.dir / "build" / "source" / "src"  # one source tree, shared by every profile
    assert not (b / "src").exists() and (src / "Makefile").is_file()
    assert not (src / ".config").exists(), "O= build must keep the source tree clean"
    assert (b / "obj" / ".config").exists()
    assert b"#1 ramses@ramsesbuild" in (b / "artifacts" / "bzImage").read_bytes()
    assert (b / "staging/lib/modules/6.1.99/kernel/drivers/net/dummy.ko").is_file()
    assert "CONFIG_SERIAL_8250_CONSOLE=y" in (b / "artifacts" / "config").read_text()


def test_doit_list_documents_every_task(k24_project):
    out = k24_project.doit("list").stdout
    for task in ("fetch", "verify", "unpack", "patch", "config-server", "config-client", "kernel-server",
                 "kernel-client", "modules-server", "modules-client", "netboot-image"):
        line = next(x for x in out.splitlines() if x.split()[0] == task)
        assert len(line.split()) > 3, f"{task} has no doc"


def test_settings_error_is_one_clear_line(k24_project):
    p = k24_project
    p.settings_path.write_text(p.settings_path.read_text().replace('sha256 = "', 'sha256 = "x'))
    out = p.doit("list", check=False)
    assert out.returncode != 0
    assert "sha256 must be 64 hex digits" in out.stderr
    assert "Traceback" not in out.stderr


def test_netboot_settings_change_rewraps_without_rebuilding(k24_project):
    p = k24_project
    p.doit()
    installed = p.dir / "tftpboot" / "vmlinuz-2.4.18-cluster"
    first = installed.read_bytes()
    p.clear_make_calls()
    p.settings_path.write_text(p.settings_path.read_text().replace('append = "ramdisk_size=1024"',
                                                                   'append = "ramdisk_size=2048"'))
    out = p.doit()
    assert ran(out) == ["netboot-image:client"]
    assert p.make_calls() == []
    assert b"ramdisk_size=2048" in installed.read_bytes()
    assert installed.with_name(installed.name + ".old").read_bytes() == first


def test_mba_setting_installs_the_3com_image_next_to_the_nbi_image(k24_project, tmp_path, monkeypatch):
    """[netboot] mba = true: <output>-imggen is what docs/howto/3com-mba.md's recipe by hand (`cd tftpboot
    && ramsesbuild imggen -a <output> <output>-imggen`, run as copied) makes, installed with it, and
    boot-config gives nodes.toml's 3Com node (node03, rom = "3com", as the page shows it) that file."""
    p = k24_project
    p.settings_path.write_text(p.settings_path.read_text().replace('rootdir = "rom"', 'rootdir = "rom"\nmba = true'))
    shutil.copy(SHIPPED / "nodes.toml", p.dir / "nodes.toml")
    out = p.doit()
    tftp = p.dir / "tftpboot"
    nbi, mba = tftp / "vmlinuz-2.4.18-cluster", tftp / "vmlinuz-2.4.18-cluster-imggen"
    assert "netboot-image:client" in ran(out)
    cd, _, command = fenced_block(DOCS / "howto/3com-mba.md", "3Com MBA ROMs", "sh").strip().partition(" && ")
    copy = tmp_path / cd.removeprefix("cd ")  # a copy of tftpboot, to run the recipe in
    copy.mkdir()
    shutil.copy(nbi, copy / nbi.name)
    argv = shlex.split(command)
    with monkeypatch.context() as m:
        m.chdir(copy)
        assert argv[:3] == ["ramsesbuild", "imggen", "-a"] and commands.main(argv[1:]) == 0
    by_hand = copy / argv[-1]
    assert mba.read_bytes() == by_hand.read_bytes()
    node = fenced_block(DOCS / "howto/3com-mba.md", "In the pipeline", "toml")
    assert tomllib.loads(node)["node"][0] in tomllib.loads((SHIPPED / "nodes.toml").read_text())["node"]
    assert "(nbi mode: ramsesbuild NBI (layout ramses), 32-bit entry" in (p.dir / "build/logs/netboot-image-client.log").read_text()
    assert 'filename "vmlinuz-2.4.18-cluster-imggen";' in (p.dir / "build/bootconf/dhcpd.conf").read_text()
    assert "node03 boots" not in (p.dir / "build/logs/boot-config.log").read_text()  # it is there
    assert ran(p.doit()) == []  # both images up to date
    mba.unlink()
    assert ran(p.doit()) == ["netboot-image:client"]  # a missing target is rebuilt
    assert mba.read_bytes() == by_hand.read_bytes()


def test_default_run_includes_boot_config_when_nodes_toml_exists(k24_project):
    p = k24_project
    assert "boot-config" not in p.doit("list").stdout  # no inventory, no boot tasks
    shutil.copy(SHIPPED / "nodes.toml", p.dir / "nodes.toml")
    out = p.doit()
    assert {"boot-config", "boot-tftp", "netboot-image:client"} <= set(ran(out))
    dhcpd = (p.dir / "build" / "bootconf" / "dhcpd.conf").read_text()
    assert 'filename "vmlinuz-2.4.18-cluster";' in dhcpd
    assert "boots vmlinuz-2.4.18-cluster, not (yet)" not in (p.dir / "build/logs/boot-config.log").read_text()


def test_make_variable_change_rebuilds_from_clean_on_2_4(k24_project):
    p = k24_project
    p.doit("kernel-client")
    p.clear_make_calls()
    p.settings_path.write_text(p.settings_path.read_text().replace('jobs = 2', 'jobs = 2\nmake_vars = { KCFLAGS = "-g" }'))
    out = p.doit("kernel-client")
    assert {"config-client", "compile-client"} <= set(ran(out))
    assert calls(p, "client") == ["oldconfig", "clean", "dep", "bzImage", "modules"]
    p.clear_make_calls()
    p.doit("kernel-client")  # same variables again: no clean, no make at all
    assert calls(p, "client") == []


def test_modern_fragment_edit_reuses_the_base_config(modern_project):
    """As by hand: a fragment change costs one olddefconfig, not tinyconfig + olddefconfig."""
    p = modern_project
    p.doit("kernel-client")
    p.clear_make_calls()
    frag = p.dir / "kconfigs" / "RamsesCluster.conf"
    frag.write_text(frag.read_text() + "# CONFIG_SERIAL_8250_CONSOLE is not set\n")
    out = p.doit("kernel-client", check=False)
    assert calls(p, "client")[:1] == ["olddefconfig"], calls(p, "client")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "base config: 'tinyconfig' from " in (p.dir / "build/logs/config-client.log").read_text()
    p.settings_path.write_text(p.settings_path.read_text().replace('arch = "i386"', 'arch = "x86_64"'))
    p.clear_make_calls()
    p.doit("config-client", check=False)
    assert calls(p, "client")[:2] == ["tinyconfig", "olddefconfig"]  # another arch: a new base
