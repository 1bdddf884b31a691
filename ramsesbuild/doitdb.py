"""doit's database (build/.doit.db, sqlite) is checked at every start, before doit opens it.

A truncated or garbage file used to give doit's traceback on every run until someone deleted it
by hand. Now a damaged database is one line and heals: under the project lock it is kept as
``.doit.db.damaged`` and replaced by a fresh one holding every task record that could still be
read; tasks whose record was lost run once more. That is cheap where the stamps are compared
by content: unpack and patch see from theirs that the tree already holds the verified tarball
with the series applied, so what runs again is a configure and an incremental make per kernel.
Commands that only read (``doit list``, ``info``) never repair: they say so and go on without
the records. A symlink at the database (or its journal) is refused: sqlite would write through it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .fsutil import TEMP_MARK, link_error

DAMAGED_SUFFIX = ".damaged"
IN_MEMORY = ":memory:"  # what a read-only command uses when the file cannot be read
_SIDE_FILES = ("-journal", "-wal", "-shm")


@dataclass(frozen=True)
class Health:
    """What the check found: *problem* is None for a sound database (or none yet)."""

    problem: str | None
    records: dict[str, str]  # task -> its JSON record, every one that could be read
    total: int | None  # rows the table claims, when it could be counted


def examine(db: Path, writable: bool = False) -> Health:
    """Read every record the way doit will (sqlite, then JSON objects). Read-only, unless
    *writable* (the project lock is held): then sqlite may first roll back the journal a killed
    run left (a hot journal is sqlite's own recovery, not damage)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode={'rw' if writable else 'ro'}", uri=True)
    except sqlite3.Error as exc:
        return Health(str(exc), {}, None)
    records: dict[str, str] = {}
    total = None
    problem = None
    try:
        checked = conn.execute("PRAGMA quick_check").fetchall()
        if checked != [("ok",)]:
            problem = "sqlite's quick_check: " + "; ".join(str(r[0]) for r in checked[:2])
        total = conn.execute("SELECT count(*) FROM doit").fetchone()[0]
        cursor = conn.execute("SELECT task_id, task_data FROM doit")
        for task, data in iter(cursor.fetchone, None):
            if not isinstance(task, str) or not _is_record(data):
                problem = problem or f"the record of task {task!r} is not a JSON object"
                continue
            records[task] = data
    except sqlite3.OperationalError as exc:
        if any(word in str(exc) for word in ("locked", "busy", "readonly")):
            return Health(None, {}, None)  # in use by another run, or a journal to roll back first
        problem = problem or str(exc)
    except sqlite3.DatabaseError as exc:
        problem = problem or str(exc)
    finally:
        conn.close()
    if problem is None and total is not None and len(records) != total:
        problem = f"{total - len(records)} of {total} task records cannot be read"
    return Health(problem, records, total)


def _is_record(data: object) -> bool:
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    if not isinstance(data, str):
        return False
    try:
        return isinstance(json.loads(data), dict)
    except ValueError:
        return False


def heal(db: Path, repair: bool, say: Callable[[str], None]) -> str | None:
    """Check *db* before doit opens it. Returns None (use it as it is) or the dep_file doit should
    use instead (an in-memory database, for a read-only command facing a damaged file).
    *repair*: this process holds the project lock and may replace the file."""
    for side in ("", *_SIDE_FILES):
        path = Path(f"{db}{side}")
        if path.is_symlink():
            raise link_error(path)
    if not db.exists():
        return None
    health = examine(db, writable=repair)
    if health.problem is None:
        return None
    if not repair:
        say(f"ramsesbuild: {db} is damaged ({health.problem}); this command goes on without the task records, "
            "and the next `doit` run sets it aside and starts a fresh one")
        return IN_MEMORY
    kept = db.with_name(db.name + DAMAGED_SUFFIX)
    _rebuild(db, kept, health.records)
    saved = (f"the {len(health.records)} of {health.total} task records still readable" if health.total
             else "no task records (none could be read)")
    say(f"ramsesbuild: {db} was damaged ({health.problem}); kept it as {kept.name} and started a fresh one with "
        f"{saved}. Tasks without a record run once more; unpack and patch find their trees current from their "
        "stamps, so this costs a configure and an incremental make per kernel")
    return None


def _rebuild(db: Path, kept: Path, records: dict[str, str]) -> None:
    """A fresh database with *records* (doit's own table), written aside and renamed into place;
    the damaged file is kept beside it (replacing an older one)."""
    tmp = db.with_name(f".{db.name}.{os.getpid()}{TEMP_MARK}")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    try:
        conn.execute("create table if not exists doit (task_id text not null primary key, task_data json)")
        conn.executemany("insert or replace into doit values (?, ?)", records.items())
        conn.commit()
    finally:
        conn.close()
    os.replace(db, kept)
    for side in _SIDE_FILES:  # a journal belongs to the damaged file, never to the fresh one
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{db}{side}", f"{kept}{side}")
    os.replace(tmp, db)
