"""The shipped first-stage blobs are exactly what the shipped source assembles to."""

from __future__ import annotations

import hashlib
import re

import pytest

from ramsesbuild.nbi import firststage
from ramsesbuild.nbi.layout import geometry


@pytest.mark.parametrize("key", sorted(firststage.FLAVOURS))
def test_blob_matches_source(key: str) -> None:
    flavour = firststage.FLAVOURS[key]
    data, info = firststage.assemble_with_info(flavour)
    stale = f"{flavour.name}.bin is stale: run `python -m ramsesbuild.nbi.firststage` and commit the result"
    assert data == firststage.bundled(flavour), stale
    assert firststage.manifest()[flavour.name] == info, stale
    assert info["sha256"] == hashlib.sha256(data).hexdigest()
    assert 1000 < firststage.cmdline_capacity(flavour) < 2048


def test_blobs_fit_their_layouts() -> None:
    f16 = firststage.bundled(firststage.FLAVOURS["16"])
    f32 = firststage.bundled(firststage.FLAVOURS["32"])
    elf = firststage.bundled(firststage.FLAVOURS["32elf"])
    assert len(f16) <= geometry("1.0", 0x9000).first_mem
    assert len(f32) <= min(geometry("1.4.4", 0x9000).first_mem, geometry("ramses", 0x8000).first_mem)
    assert len(elf) == len(f32)
    assert len({hashlib.sha256(b).digest() for b in (f16, f32, elf)}) == 3


def test_source_is_ours_and_self_contained() -> None:
    text = firststage.source_path().read_text()
    assert "ramsesbuild" in text.splitlines()[1]
    assert not re.search(r"^\s*\.(include|incbin)", text, re.M)


def test_identity_is_stable() -> None:
    assert firststage.identity() == firststage.identity()
    assert re.fullmatch(r"[0-9a-f]{16}", firststage.identity())


def test_console_lines_fit_80_columns() -> None:
    """BIOS text consoles (and SeaBIOS's serial mirror of them) wrap at 80 columns: each
    message line the first stage prints must fit, or it arrives broken in two."""
    text = firststage.source_path().read_text()
    strings = dict(re.findall(r'^(s_\w+):\s+\.asciz\s+"((?:[^"\\]|\\.)*)"', text, re.M))
    lines = [strings["s_w_trunc"], strings["s_w_noroot"], strings["s_w_nomem"],
             strings["s_w_noreply"] + strings["s_iprom"] + strings["s_slash"] + strings["s_nfsrom"],
             strings["s_start"] + strings["s_initrd_at"] + "0x00000000" + strings["s_rparen"],
             strings["s_error"] + max((v for k, v in strings.items() if k.startswith("s_e_")), key=len)]
    for line in lines:
        line = line.replace("\\n", "")
        assert len(line) < 80, line
