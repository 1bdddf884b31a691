"""A damaged doit database (build/.doit.db) is one line and heals: it is kept aside, a fresh one
holds the records still readable, and re-running what lost its record is cheap because unpack
and patch find their trees current from their stamps. Never a traceback, never stuck."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from ramsesbuild.doitdb import examine
from ramsesbuild.fsutil import sha256_file

from ..lib.hardening import k24_copy, no_leftovers, screen
from .test_pipeline import calls, ran

IMAGE = "tftpboot/vmlinuz-2.4.18-cluster"


@pytest.fixture
def k24_built(tmp_path_factory, signer, tmp_path):
    return k24_copy(tmp_path_factory, signer, tmp_path)


def bad_json_row(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("update doit set task_data = '{\"truncat' where task_id = 'compile-client'")
    conn.commit()
    conn.close()


DAMAGE = {
    "garbage": lambda db: db.write_bytes(b"this is not sqlite\n" * 10),
    "truncated-header": lambda db: db.write_bytes(db.read_bytes()[:100]),
    "truncated-pages": lambda db: db.write_bytes(db.read_bytes()[:5000]),
    "bad-json-row": bad_json_row,
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_database_is_one_line_kept_aside_and_rebuilt_cheaply(k24_built, damage):
    p = k24_built
    db = p.dir / "build" / ".doit.db"
    image = sha256_file(p.dir / IMAGE)
    trees = {name: (p.dir / "build" / name / "src" / "Makefile").stat().st_mtime_ns for name in ("server", "client")}
    DAMAGE[damage](db)
    damaged = db.read_bytes()
    out = p.doit(check=False)
    text = screen(out)
    assert out.returncode == 0, text
    lines = [line for line in text.splitlines() if ".doit.db" in line]
    assert len(lines) == 1 and lines[0].startswith(f"ramsesbuild: {db} was damaged ("), text
    assert "kept it as .doit.db.damaged and started a fresh one" in lines[0]
    assert "costs a configure and an incremental make per kernel" in lines[0]
    assert (db.with_name(".doit.db.damaged")).read_bytes() == damaged
    if damage == "bad-json-row":  # only the unreadable record was lost
        assert "with the 15 of 16 task records still readable" in lines[0]
        assert ran(out) == ["compile-client"]  # its stamp comes out the same: nothing after it runs
    else:  # what it costs: every tree kept, no unpack; a configure and an incremental make
        assert "unpack:client" in ran(out)
        for name in trees:
            assert "already unpacked from these verified bytes" in (p.dir / f"build/logs/unpack-{name}.log").read_text()
            assert (p.dir / "build" / name / "src" / "Makefile").stat().st_mtime_ns == trees[name]
            # (a `make clean` first here: the copied project's tree has moved, and 2.4's CC names it)
            assert [c for c in calls(p, name) if c != "clean"] == ["oldconfig", "dep", "bzImage", "modules",
                                                                   "modules_install"]
    assert sha256_file(p.dir / IMAGE) == image  # same image: left alone, .old still the one before
    again = p.doit()
    assert ran(again) == [] and ".doit.db" not in again.stderr  # healed: a no-op, no message
    no_leftovers(p)


def test_read_only_commands_say_so_and_never_repair(k24_built):
    p = k24_built
    db = p.dir / "build" / ".doit.db"
    db.write_bytes(b"garbage")
    out = p.doit("list", check=False)
    text = screen(out)
    assert out.returncode == 0 and "verify" in out.stdout, text
    assert f"ramsesbuild: {db} is damaged (file is not a database); this command goes on without the task " \
           "records, and the next `doit` run sets it aside and starts a fresh one" in text
    assert db.read_bytes() == b"garbage" and not db.with_name(".doit.db.damaged").exists()


def test_a_link_at_the_database_is_refused(k24_built, tmp_path):
    p = k24_built
    db = p.dir / "build" / ".doit.db"
    victim = tmp_path / "victim"
    victim.write_text("not yours\n")
    db.unlink()
    db.symlink_to(victim)
    for args in (("list",), ()):
        out = p.doit(*args, check=False)
        text = screen(out)
        assert out.returncode == 1 and f"{db} is a symbolic link (to {victim})" in text, text
    assert victim.read_text() == "not yours\n"


def test_examine_reads_what_doit_reads(tmp_path):
    db = tmp_path / "x.db"
    conn = sqlite3.connect(db)
    conn.execute("create table doit (task_id text not null primary key, task_data json)")
    conn.executemany("insert into doit values (?, ?)", [("a", json.dumps({"x": 1})), ("b", "[1, 2]"), ("c", "{")])
    conn.commit()
    conn.close()
    health = examine(db)
    assert health.problem == "the record of task 'b' is not a JSON object" and set(health.records) == {"a"}
    assert health.total == 3
