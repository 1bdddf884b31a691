"""`ramsesbuild mknbi-linux | mkelf-linux | nbi-info` through the real dispatcher."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ramsesbuild.cli import main
from ramsesbuild.nbi import MknbiOptions, build_image
from ramsesbuild.nbi.nbiformat import parse_header_block

from ..lib.nbi_fakes import fake_kernel, write_blob


@pytest.fixture
def kernel(tmp_path: Path) -> Path:
    k = tmp_path / "bzImage"
    k.write_bytes(fake_kernel(setup_sects=12, payload=50_000))
    return k


def test_mknbi_linux_options_like_getopt(tmp_path: Path, kernel: Path) -> None:
    rd = write_blob(tmp_path / "initrd", 3000)
    out = tmp_path / "linux.nb"
    # unique prefixes (Getopt::Long style), --opt value and --opt=value, 1.0's --ipaddrs spelling
    assert main(["mknbi-linux", "--out", str(out), "--ipaddrs=rom", "--rootd", "rom", "--app=console=ttyS0",
                 str(kernel), str(rd)]) == 0
    lib = tmp_path / "lib.nb"
    build_image(kernel, lib, MknbiOptions(ip="rom", rootdir="rom", append="console=ttyS0", initrd=rd))
    assert out.read_bytes() == lib.read_bytes()
    parsed = parse_header_block(out.read_bytes()[:512])
    assert parsed is not None and [s.tag for s in parsed.segments] == [16, 17, 18, 19, 20, 21]


def test_compat_layouts_and_first32(tmp_path: Path, kernel: Path) -> None:
    blob = write_blob(tmp_path / "first32@0x92800.linux", 3001)
    out = tmp_path / "a.nb"
    assert main(["mknbi-linux", "--layout=1.4.4", "--first32", str(blob), "--relocseg=0x8000", "--ip=dhcp",
                 f"--output={out}", str(kernel)]) == 0
    data = out.read_bytes()
    assert data[:4] == bytes.fromhex("3613031b") and data[8:16] == bytes.fromhex("0000 2082 0028 0800")
    assert data[512:512 + 3001] == blob.read_bytes()
    out10 = tmp_path / "b.nb"
    assert main(["mknbi-linux", "--layout", "1.0", "--output", str(out10), str(kernel)]) == 0
    assert out10.read_bytes()[4:16] == bytes.fromhex("34000000 00002093 00002092")


def test_mkelf_linux_defaults_to_elf(tmp_path: Path, kernel: Path) -> None:
    out = tmp_path / "linux.elf"
    assert main(["mkelf-linux", "--output", str(out), str(kernel)]) == 0
    assert out.read_bytes()[:4] == b"\x7fELF"
    nbi = tmp_path / "x.nb"
    assert main(["mkelf-linux", "--format=nbi", "--output", str(nbi), str(kernel)]) == 0
    assert nbi.read_bytes()[:4] == bytes.fromhex("3613031b")


def test_not_a_kernel_exits_1_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "vmlinux"
    junk.write_bytes(b"\x7fELF" + bytes(5000))
    out = tmp_path / "out.nb"
    assert main(["mknbi-linux", "--output", str(out), str(junk)]) == 1
    err = capsys.readouterr().err
    assert f"{junk}: not a Linux kernel image" in err and "bzImage" in err
    assert not out.exists()


def test_warnings_go_to_stderr(tmp_path: Path, kernel: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.nb"
    assert main(["mknbi-linux", "--ip=1.2.3.4:5.6.7.8", "--output", str(out), str(kernel)]) == 0
    assert "1.2.3.4:5.6.7.8: invalid specification" in capsys.readouterr().err


def test_bad_usage_exits_2(kernel: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["mknbi-linux", "--layout=2.0", str(kernel)])
    assert exc.value.code == 2
    assert main(["mknbi-linux", "--version"]) == 0
    assert "compatible with mknbi" in capsys.readouterr().err


def test_image_to_stdout(tmp_path: Path, kernel: Path) -> None:
    out = tmp_path / "stdout.nb"
    with open(out, "wb") as fh:
        proc = subprocess.run([sys.executable, "-m", "ramsesbuild.cli", "mknbi-linux", "--ip=rom", str(kernel)],
                              stdout=fh, stderr=subprocess.PIPE, cwd=Path(__file__).parents[2])
    assert proc.returncode == 0, proc.stderr
    ref = tmp_path / "ref.nb"
    build_image(kernel, ref, MknbiOptions(ip="rom"))
    assert out.read_bytes() == ref.read_bytes()


def test_nbi_info(tmp_path: Path, kernel: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rd = write_blob(tmp_path / "initrd", 3000)
    img = tmp_path / "linux.nb"
    build_image(kernel, img, MknbiOptions(ip="rom", rootdir="rom", initrd=rd))
    assert main(["nbi-info", str(img)]) == 0
    text = capsys.readouterr().out
    for needle in ("NBI (tagged) image", "entry linear 0x00089200", "vendor 'ramsesbuild-nbi-1'",
                   "command line (35 bytes): rw root=/dev/nfs nfsroot=rom ip=rom",
                   "kernel: bzImage, boot protocol 2.02, setup_sects 12", "initrd", "result: OK"):
        assert needle in text, needle
    # iPXE's rule: file length = 512 + sum(imglen)
    cut = tmp_path / "cut.nb"
    cut.write_bytes(img.read_bytes()[:-1])
    assert main(["nbi-info", str(cut)]) == 1
    assert "iPXE: length wrong" in capsys.readouterr().out
    # a descriptor that promises more than it reserves
    data = bytearray(img.read_bytes())
    parsed = parse_header_block(bytes(data[:512]))
    assert parsed is not None
    off = parsed.header.length + 16 * 4  # descriptor 5 (kernel)
    data[off + 12:off + 16] = (16).to_bytes(4, "little")
    bad = tmp_path / "bad.nb"
    bad.write_bytes(bytes(data))
    assert main(["nbi-info", str(bad)]) == 1
    assert "imglen" in capsys.readouterr().out
    junk = tmp_path / "junk"
    junk.write_bytes(bytes(1024))
    assert main(["nbi-info", str(junk)]) == 1
    assert "not a netboot image" in capsys.readouterr().err


def test_nbi_info_elf(tmp_path: Path, kernel: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = tmp_path / "linux.elf"
    build_image(kernel, img, MknbiOptions(format="elf"))
    assert main(["nbi-info", str(img)]) == 0
    text = capsys.readouterr().out
    assert "ELF netboot image" in text and "entry 0x00089200" in text and "result: OK" in text


def test_file_and_stream_output_agree_and_a_shrunk_kernel_is_refused(tmp_path: Path, kernel: Path) -> None:
    """An image file gets the kernel copied by the kernel (copy_file_range), a stream gets it
    through this process: the bytes are the same, and a kernel cut short after planning fails
    either way, leaving no output."""
    import io

    from ramsesbuild.errors import ImageError
    from ramsesbuild.nbi import make_plan, write_plan
    from ramsesbuild.nbi.writer import write_image

    initrd = write_blob(tmp_path / "initrd", 70_001)
    options = MknbiOptions(ip="rom", rootdir="rom", initrd=initrd)
    plan = make_plan(kernel, options)
    out = tmp_path / "file.nb"
    write_plan(plan, "nbi", out)
    stream = io.BytesIO()
    write_image(plan, "nbi", stream)
    assert out.read_bytes() == stream.getvalue()
    initrd.write_bytes(initrd.read_bytes()[:50_000])
    for target in (tmp_path / "cut.nb", io.BytesIO()):
        with pytest.raises(ImageError, match="shrank"):
            if isinstance(target, Path):
                write_plan(plan, "nbi", target)
            else:
                write_image(plan, "nbi", target)
    assert not (tmp_path / "cut.nb").exists() and [p.name for p in tmp_path.iterdir() if "ramses-tmp" in p.name] == []
