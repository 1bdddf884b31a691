"""fetch against a real HTTP server on 127.0.0.1: mirror order, Range resume, pins."""

from __future__ import annotations

import hashlib
import re

import pytest

from ramsesbuild.errors import FetchError
from ramsesbuild.fetch import Wanted, fetch_one
from ramsesbuild.log import TaskLog

from ..lib.support import Mirror

DATA = bytes(range(256)) * 4096  # 1 MiB
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def log(tmp_path):
    with TaskLog(tmp_path / "logs" / "fetch.log") as lg:
        yield lg


def test_second_mirror_used_when_first_lacks_the_file(tmp_path, log):
    empty, full = Mirror(tmp_path / "m1"), Mirror(tmp_path / "m2")
    try:
        (full.root / "k.tar.xz").write_bytes(DATA)
        out = fetch_one(Wanted("k.tar.xz", SHA), (empty.url, full.url), tmp_path / "dl", log)
        assert out.read_bytes() == DATA
        assert empty.requests == [("/k.tar.xz", None)]
        assert "HTTP 404" in log.path.read_text()
        assert not list((tmp_path / "dl").glob(".*partial"))
    finally:
        empty.close(), full.close()


def test_resume_sends_range_and_completes(tmp_path, log):
    m = Mirror(tmp_path / "m")
    try:
        (m.root / "k.tar.xz").write_bytes(DATA)
        dl = tmp_path / "dl"
        dl.mkdir()
        (dl / ".k.tar.xz.partial").write_bytes(DATA[:300_000])
        out = fetch_one(Wanted("k.tar.xz", SHA), (m.url,), dl, log)
        assert out.read_bytes() == DATA
        assert m.requests == [("/k.tar.xz", "bytes=300000-")]
    finally:
        m.close()


def test_dropped_connection_resumes_on_next_run(tmp_path, log):
    m = Mirror(tmp_path / "m", truncate_first=True)
    try:
        (m.root / "k.tar.xz").write_bytes(DATA)
        dl = tmp_path / "dl"
        with pytest.raises(FetchError, match="connection (closed|dropped)") as info:
            fetch_one(Wanted("k.tar.xz", SHA), (m.url,), dl, log)
        assert "run again to resume" in str(info.value)
        assert not re.search(r"ChunkedEncodingError|IncompleteRead|urllib3", str(info.value)), str(info.value)
        assert not (dl / "k.tar.xz").exists(), "a half download must never appear under the final name"
        partial = dl / ".k.tar.xz.partial"
        assert 0 < partial.stat().st_size < len(DATA)
        out = fetch_one(Wanted("k.tar.xz", SHA), (m.url,), dl, log)
        assert out.read_bytes() == DATA
        assert m.requests[-1][1] == f"bytes={len(DATA) // 2}-"
    finally:
        m.close()


def test_server_without_range_support_restarts_cleanly(tmp_path, log):
    m = Mirror(tmp_path / "m", ranges=False)
    try:
        (m.root / "k.tar.xz").write_bytes(DATA)
        dl = tmp_path / "dl"
        dl.mkdir()
        (dl / ".k.tar.xz.partial").write_bytes(b"garbage" * 1000)
        assert fetch_one(Wanted("k.tar.xz", SHA), (m.url,), dl, log).read_bytes() == DATA
    finally:
        m.close()


def test_wrong_content_is_rejected_and_not_kept(tmp_path, log):
    bad, good = Mirror(tmp_path / "bad"), Mirror(tmp_path / "good")
    try:
        (bad.root / "k.tar.xz").write_bytes(DATA[:-1] + b"X")
        (good.root / "k.tar.xz").write_bytes(DATA)
        dl = tmp_path / "dl"
        with pytest.raises(FetchError) as exc:
            fetch_one(Wanted("k.tar.xz", SHA), (bad.url,), dl, log)
        assert "does not match the pinned" in str(exc.value) and bad.url in str(exc.value)
        assert not list(dl.iterdir())
        # with a good mirror behind it, the pipeline moves on
        assert fetch_one(Wanted("k.tar.xz", SHA), (bad.url, good.url), dl, log).read_bytes() == DATA
    finally:
        bad.close(), good.close()


def test_file_mirror(tmp_path, log):
    src = tmp_path / "usr-src"
    src.mkdir()
    (src / "k.tar.xz").write_bytes(DATA)
    out = fetch_one(Wanted("k.tar.xz", SHA), (f"file://{src}/",), tmp_path / "dl", log)
    assert out.read_bytes() == DATA


def test_all_mirrors_failing_names_each(tmp_path, log):
    with pytest.raises(FetchError) as exc:
        fetch_one(Wanted("k.tar.xz", SHA), ("file:///nonexistent/", "http://127.0.0.1:9/"), tmp_path / "dl", log)
    msg = str(exc.value)
    assert "file:///nonexistent/k.tar.xz" in msg and "http://127.0.0.1:9/k.tar.xz" in msg
    assert "ramses.toml" in msg


def test_refused_connection_is_one_plain_reason(tmp_path, log):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError) as info:
        fetch_one(Wanted("k.tar.xz", SHA), (f"http://127.0.0.1:{port}/",), tmp_path / "dl", log)
    assert f"http://127.0.0.1:{port}/k.tar.xz: cannot connect: connection refused" in str(info.value)
    assert "urllib3" not in str(info.value) and "HTTPConnection" not in str(info.value)
