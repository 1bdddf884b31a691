"""ramsesbuild.steps.base: task names made in one place, identities stored as doit stores them."""

from __future__ import annotations

import pytest
from doit.tools import config_changed

from ramsesbuild.steps.base import Stage, TaskName, digest, task_name


@pytest.mark.parametrize("stage, of, name, basename, subname", [
    (Stage.FETCH, None, "fetch", "fetch", None),
    (Stage.COMPILE, "client", "compile-client", "compile-client", None),
    (Stage.KERNEL, "compute-gpu", "kernel-compute-gpu", "kernel-compute-gpu", None),
    (Stage.UNPACK, "source", "unpack:source", "unpack", "source"),
    (Stage.NETBOOT, "client", "netboot-image:client", "netboot-image", "client"),
    (Stage.NETBOOT, None, "netboot-image", "netboot-image", None),
])
def test_task_names(stage, of, name, basename, subname):
    t = TaskName(stage, of)
    assert (str(t), t.basename, t.subname) == (name, basename, subname)
    assert task_name(stage, of) == name


def test_an_identity_is_stored_as_doit_config_changed_stores_it():
    """So a project built by an earlier version (config_changed) stays up to date."""
    identity = {"make_vars": {"X": "1"}, "arch": "i386", "families": "ab", "format": "nbi"}
    assert digest(identity) == config_changed(identity)._calc_digest()
