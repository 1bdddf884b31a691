"""Typed state: every stamp and build/summary.json is a frozen dataclass that goes to JSON and
back unchanged; a damaged file (truncated, garbage, another shape) is one line naming it
(tests/pipeline/test_state_doit.py: what doit then does)."""

from __future__ import annotations

import json
import re
from dataclasses import fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ramsesbuild import state
from ramsesbuild.state import (
    DamagedState,
    NetbootStamp,
    ShapeError,
    Summary,
    TaskRun,
    from_json,
    read_state,
    read_summary,
    to_json,
    write_state,
)

STAMPS = (state.VerifiedStamp, state.UnpackedStamp, state.PatchedStamp, state.ConfigStamp, state.KernelStamp,
          state.ModulesStamp, state.NetbootStamp)
finite = st.floats(allow_nan=False, allow_infinity=False)
summaries = st.builds(Summary, seconds=finite,
                      tasks=st.lists(st.builds(TaskRun, seconds=st.none() | finite), max_size=3).map(tuple))


# ------------------------------------------------------------------ the round trip

@pytest.mark.parametrize("cls", STAMPS, ids=lambda c: c.__name__)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_stamp_goes_to_json_and_back(cls, data):
    stamp = data.draw(st.from_type(cls))
    assert from_json(cls, json.loads(json.dumps(to_json(stamp)))) == stamp


@settings(max_examples=25, deadline=None)
@given(summary=summaries)
def test_the_summary_goes_to_json_and_back(summary):
    assert from_json(Summary, json.loads(json.dumps(to_json(summary)))) == summary


def test_write_and_read_a_stamp_file(tmp_path):
    stamp = state.KernelStamp("2.4.18", "k24", 7, "build/client/artifacts/bzImage", 1024, "ab" * 32)
    path = tmp_path / "kernel.json"
    write_state(path, stamp)
    assert read_state(path, state.KernelStamp) == stamp
    assert path.read_text() == json.dumps(to_json(stamp), indent=1, sort_keys=True) + "\n"
    assert read_state(tmp_path / "missing.json", state.KernelStamp) is None


def test_a_stamp_written_before_a_field_existed_still_reads():
    later = ("mba_size", "mba_previous_sha256", "identity", "kernel_sha256")
    old = {f.name: None for f in fields(NetbootStamp) if f.name not in later}
    old.update(profile="client", image="v", installed="tftpboot/v", artifact="a", format="nbi", layout="ramses",
               size=1, sha256="x", fragments=[], base="defconfig")
    stamp = from_json(NetbootStamp, old)
    assert stamp.mba_previous_sha256 is None and stamp.identity == "" and stamp.kernel_sha256 is None


@pytest.mark.parametrize("data, message", [
    ([], "expected a JSON object, got a list"),
    ({"modules": 3}, "staging is missing"),
    ({"modules": "3", "staging": "s"}, "modules: expected int, got a string"),
    ({"modules": True, "staging": "s"}, "modules: expected int, got true/false"),
    ({"modules": 3, "staging": "s", "extra": 1}, "unknown field 'extra'"),
])
def test_a_wrong_shape_names_the_field(data, message):
    with pytest.raises(ShapeError, match=re.escape(message)):
        from_json(state.ModulesStamp, data)


def test_enums_and_nested_types_are_checked():
    summary = to_json(Summary(2, "0.1.0", "/p/ramses.toml", state.Result.OK, "t", 1.0, (), {}, ()))
    with pytest.raises(ShapeError, match="result: 'fine' is not one of ok, failed"):
        from_json(Summary, {**summary, "result": "fine"})
    with pytest.raises(ShapeError, match=r"tasks\[0\]"):
        from_json(Summary, {**summary, "tasks": [{"name": "x"}]})


@pytest.mark.parametrize("content, message", [
    (b'{"modules": 3, "stag', "damaged: not JSON (Unterminated string"),
    (b"", "damaged: empty"),
    (b"\x00\xff\x13garbage", "damaged: not text (byte 0xff)"),
    (b'{"modules": 3}', "damaged: not a ModulesStamp (staging is missing)"),
    (b'["modules"]', "damaged: not a ModulesStamp (expected a JSON object, got a list)"),
])
def test_a_damaged_file_is_one_line_naming_it(tmp_path, content, message):
    path = tmp_path / "modules.json"
    path.write_bytes(content)
    with pytest.raises(DamagedState) as exc:
        read_state(path, state.ModulesStamp)
    assert str(exc.value).startswith(f"{path}: {message}") and "\n" not in str(exc.value), str(exc.value)
    assert state.intact(path, state.ModulesStamp) == str(exc.value)


def test_a_summary_of_an_older_schema_is_not_damage(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"schema": 1, "profiles": {"client": {"netboot": {"nodes": ["node01"]}}}}))
    assert read_summary(path) is None
    path.write_text('{"schema": 2, "profiles": ')
    with pytest.raises(DamagedState, match="summary.json: damaged: not JSON"):
        read_summary(path)


def test_the_summary_reference_lists_every_field():
    from ramsesbuild.docgen import pages

    page = pages()["summary-json.md"]
    for cls in (Summary, state.ProfileSummary, state.NetbootImage, state.InstalledFile, state.NodeBoot,
                state.TaskRun, state.Failure, state.KernelImage, state.StagedModules):
        for f in fields(cls):
            assert f.metadata.get("doc"), (cls.__name__, f.name)
            assert f"| `{f.name}` |" in page
    assert '`"direct"`, `"ipxe-script"`, `"wrapped"`' in page


def test_the_status_reference_lists_every_field():
    from ramsesbuild import status
    from ramsesbuild.docgen import pages

    page = pages()["status-json.md"]
    for cls in (status.Status, status.Image, status.NodeStatus, status.NodeProblem, status.LastRun, state.NodeBoot):
        for f in fields(cls):
            assert f.metadata.get("doc"), (cls.__name__, f.name)
            assert f"| `{f.name}` |" in page
    assert '`"missing"`, `"changed"`, `"stale"`, `"outdated"`' in page


def test_status_json_round_trips():
    from ramsesbuild import status
    from ramsesbuild.formats import ImageKind
    from ramsesbuild.state import BootRoute, NodeBoot, from_json, to_json

    st = status.Status(
        schema=status.STATUS_SCHEMA, settings="/p/ramses.toml", tftpboot="/p/tftpboot", tftpboot_exists=True,
        images={"v": status.Image(ImageKind.NBI, 3, "ab", status.Origin.BUILT, "client", "2.4.18", "k24", ("f",),
                                  (NodeBoot("n1", BootRoute.DIRECT),))},
        nodes_file="/p/nodes.toml",
        nodes=(status.NodeStatus("n1", "52:54:00:00:00:01", "192.0.2.11", "direct", "v", "v",
                                 (status.NodeProblem("v", status.Problem.MISSING, "v not in tftpboot"),)),),
        last_run=status.LastRun("ok", "2026-01-01T00:00:00+00:00", 1.5, "build/summary.json"), notes=())
    assert from_json(status.Status, to_json(st)) == st
    assert not st.ok
