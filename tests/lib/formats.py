"""Readers for the generated formats, written from each format's own grammar (not from our
renderers): the property tests render an inventory, read the text back with these, and compare
with what nodes.toml said. Where the real checker is installed the tests run it too (dhcpd -t,
kea-dhcp4 -t, nginx -t, sh); exportfs is not, and iPXE's script reader runs only in iPXE, so
those two grammars are followed here from their sources:

* exports(5) and nfs-utils' exportfs: lines, ``#`` comments, a final ``\\`` joins lines, the path
  first (double quotes or ``\\ooo`` octal escapes for odd characters), then ``client(options)``;
* iPXE's src/image/script.c and src/core/exec.c: lines, a final ``\\r`` dropped, a final ``\\``
  joins the next line, ``:label``, words split at white space, a word starting with ``#`` ends
  the command, ``||``/``&&`` chain commands, ``${...}`` is expanded;
* Linux's lib/cmdline.c next_arg: parameters split at white space, double quotes group;
* ISC dhcpd's conflex.c: words, ``"strings"`` with ``\\`` escapes, ``{ } ;``, ``#`` comments;
* nginx's ngx_conf_read_token: words, quoted tokens with ``\\"``, ``\\\\``, ``\\t``, ``\\r``,
  ``\\n``, ``{ } ;``, ``#`` comments;
* Kea: JSON with ``//`` comments, and string option data as a ``\\``-escaped comma list.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ramsesbuild.valuerules import Format

# ------------------------------------------------------------------ dhcpd.conf


@dataclass
class Stmt:
    words: list[tuple[str, str]]  # ("word", text) or ("string", text)
    block: list[Stmt] | None = None


def dhcpd_tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "#":
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
        elif c in "{};,=":
            out.append(("punct", c))
            i += 1
        elif c == '"':
            buf, i = [], i + 1
            while text[i] != '"':
                if text[i] == "\\":
                    i += 1
                    buf.append({"t": "\t", "r": "\r", "n": "\n", "b": "\b"}.get(text[i], text[i]))
                else:
                    buf.append(text[i])
                i += 1
            out.append(("string", "".join(buf)))
            i += 1
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in '{};,="#':
                j += 1
            out.append(("word", text[i:j]))
            i = j
    return out


def _dhcpd_block(tokens: list[tuple[str, str]], i: int) -> tuple[list[Stmt], int]:
    stmts: list[Stmt] = []
    words: list[tuple[str, str]] = []
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "punct" and text == ";":
            stmts.append(Stmt(words))
            words, i = [], i + 1
        elif kind == "punct" and text == "{":
            block, i = _dhcpd_block(tokens, i + 1)
            stmts.append(Stmt(words, block))
            words = []
        elif kind == "punct" and text == "}":
            assert not words, words
            return stmts, i + 1
        else:
            words.append((kind, text))
            i += 1
    assert not words, words
    return stmts, i


@dataclass
class DhcpdHost:
    name: str
    settings: dict[str, list[str]] = field(default_factory=dict)  # "hardware ethernet" -> [value]


def _walk(stmts: list[Stmt], host: DhcpdHost | None, hosts: list[DhcpdHost], globals_: dict[str, list[str]]) -> None:
    for s in stmts:
        if s.block is not None:
            if s.words and s.words[0] == ("word", "host"):
                assert len(s.words) == 2, s.words
                new = DhcpdHost(s.words[1][1])
                hosts.append(new)
                _walk(s.block, new, hosts, globals_)
            else:
                _walk(s.block, host, hosts, globals_)
            continue
        values = [t for k, t in s.words]
        if not values:
            continue
        n = 2 if values[0] in ("option", "hardware") else 1
        key, rest = " ".join(values[:n]), values[n:]
        (host.settings if host else globals_).setdefault(key, []).append(" ".join(rest))


def parse_dhcpd(text: str) -> tuple[dict[str, list[str]], list[DhcpdHost]]:
    """The global statements and the host declarations of a dhcpd.conf, values as dhcpd reads them."""
    stmts, _ = _dhcpd_block(dhcpd_tokens(text), 0)
    hosts: list[DhcpdHost] = []
    globals_: dict[str, list[str]] = {}
    _walk(stmts, None, hosts, globals_)
    return globals_, hosts


# ------------------------------------------------------------------ kea-dhcp4.conf


def parse_kea(text: str) -> dict:
    """kea-dhcp4.conf as Kea reads it (the // comments we write are whole lines)."""
    return json.loads("\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//")))


def kea_option_data(data: str) -> str:
    """A csv-format string option's data as Kea reads it: one item, \\, and \\\\ unescaped."""
    out, i = [], 0
    while i < len(data):
        c = data[i]
        if c == "\\" and i + 1 < len(data) and data[i + 1] in ",\\":
            out.append(data[i + 1])
            i += 2
            continue
        assert c != ",", f"an unescaped comma splits {data!r}"
        out.append(c)
        i += 1
    value = "".join(out)
    assert value == value.strip(), f"Kea trims {value!r}"
    return value


# ------------------------------------------------------------------ exports(5)


def _exports_word(word: str) -> str:
    if word.startswith('"') and word.endswith('"'):
        word = word[1:-1]
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), word)


def parse_exports(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(path, [(client, options)])] as exportfs reads /etc/exports."""
    out = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = re.findall(r'"[^"]*"|\S+', line)
        path, entries = _exports_word(words[0]), []
        for w in words[1:]:
            m = re.fullmatch(r"([^()]*)\(([^()]*)\)", w)
            assert m, f"not client(options): {w!r} in {line!r}"
            entries.append((m.group(1), m.group(2)))
        out.append((path, entries))
    return out


# ------------------------------------------------------------------ iPXE scripts


def parse_ipxe(text: str) -> list[list[str]]:
    """The commands of an iPXE script, each a list of words, as iPXE's script reader and
    command-line splitter see them. A script that iPXE would expand, chain or read a comment
    from in the middle of a command is an AssertionError (our scripts never do)."""
    assert text.startswith("#!ipxe"), text[:20]
    commands: list[list[str]] = []
    pending = ""
    for raw in text.split("\n")[1:]:
        line = pending + raw.removesuffix("\r")
        if line.endswith("\\"):
            raise AssertionError(f"a line continues with \\: {line!r}")
        pending = ""
        words = line.split()
        if words and words[0].startswith(":"):
            words = words[1:]
        for i, w in enumerate(words):
            if w.startswith("#"):
                assert i == 0, f"a comment starts inside a command: {line!r}"
                words = []
                break
            assert w not in ("||", "&&"), f"an operator in {line!r}"
            assert "${" not in w, f"iPXE would expand {w!r}"
        if words:
            commands.append(words)
    return commands


def ipxe_comments(text: str) -> list[str]:
    return [line[1:].strip() for line in text.split("\n")[1:] if line.startswith("#")]


# ------------------------------------------------------------------ kernel command line


def split_cmdline(text: str) -> list[str]:
    """Linux's next_arg: parameters at white space; double quotes group (and are dropped)."""
    params, cur, quoted, started = [], [], False, False
    for c in text:
        if c == '"':
            quoted, started = not quoted, True
            continue
        if c.isspace() and not quoted:
            if started:
                params.append("".join(cur))
            cur, started = [], False
            continue
        cur.append(c)
        started = True
    if started:
        params.append("".join(cur))
    return params


# ------------------------------------------------------------------ nginx


def nginx_tokens(text: str) -> list[str]:
    """The tokens of an nginx configuration ("{", "}" and ";" as tokens), quotes decoded."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "#":
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
        elif c in "{};":
            out.append(c)
            i += 1
        elif c in "\"'":
            buf, i = [], i + 1
            while text[i] != c:
                if text[i] == "\\" and text[i + 1] in "\"'\\tnr":
                    buf.append({"t": "\t", "n": "\n", "r": "\r"}.get(text[i + 1], text[i + 1]))
                    i += 2
                    continue
                buf.append(text[i])
                i += 1
            out.append("".join(buf))
            i += 1
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in "{};":
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"\\(.)", r"\1", text[i:j]))
            i = j
    return out


def nginx_locations(text: str) -> list[str]:
    toks = nginx_tokens(text)
    return [toks[i + 2] for i, t in enumerate(toks) if t == "location" and toks[i + 1] == "="]


def nginx_root(text: str) -> str:
    toks = nginx_tokens(text)
    return toks[toks.index("root") + 1]


# ------------------------------------------------------------------ tftpd-hpa: the real sh


def sh_values(files: list[Path], names: tuple[str, ...]) -> list[list[str]]:
    """For each file, the values of *names* after the real sh sources it (one sh for all)."""
    printf = 'printf "%s\\0" ' + " ".join(f'"${n}"' for n in names)
    script = f'for f; do ( . "$f"; {printf} ) || exit 1; done'
    out = subprocess.run(["sh", "-c", script, "sh", *map(str, files)], capture_output=True, check=True,
                         env={"PATH": "/usr/bin:/bin"}, timeout=30).stdout.decode()
    values = out.split("\0")[:-1]
    assert len(values) == len(files) * len(names), out
    return [values[i:i + len(names)] for i in range(0, len(values), len(names))]


# ------------------------------------------------------------------ every format has a reader

READERS = {
    Format.DHCPD: parse_dhcpd,
    Format.KEA: parse_kea,
    Format.EXPORTS: parse_exports,
    Format.IPXE: parse_ipxe,
    Format.CMDLINE: split_cmdline,
    Format.NGINX: nginx_tokens,
    Format.TFTPD: sh_values,
}
