#!/usr/bin/env python3
"""Repeat FASTCALL's regparm(3) on the definitions of FASTCALL()-declared functions.

2.4.18 declares functions as ``extern void FASTCALL(f(struct page *));``, which on i386 adds
``__attribute__((regparm(3)))``, but defines them plainly: ``void f(struct page *p) {...}``.
gcc < 3.4 took the attribute from the earlier declaration; gcc >= 3.4 reports "conflicting
types" because a regparm attribute on only one of the two changes the function type.
2.4.31 solved it with a ``fastcall`` macro on the definitions; this tool does the same:

1. collect every function declared with FASTCALL(...) (the identifier before the first "("
   inside the macro argument), remembering whether the declaration is file-local (in a .c
   file, then only that file's definition is touched) or in a header (global name);
2. find top-level function definitions of those names (tokens ``NAME ( ... ) {`` at brace
   depth 0, outside preprocessor lines) and insert ``fastcall `` before NAME.

A header-declared name whose definition is ``static`` is a different function that merely
shares the name: it is left alone and reported. Definitions that already carry fastcall,
FASTCALL or regparm are left alone. Nothing else in the file changes.

Usage: fastcall.py [--check] ROOT FILE...   (FILE paths relative to ROOT; headers and .c)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ctok import Tok, tokenize, untokenize

_SKIP_SPEC = {"fastcall", "FASTCALL", "regparm", "asmlinkage"}


def _code(toks: list[Tok]) -> list[int]:
    """Indices of significant tokens outside preprocessor directive lines."""
    out: list[int] = []
    in_pp = False
    line_start = True
    for k, t in enumerate(toks):
        if t.kind == "nl":
            in_pp = False
            line_start = True
            continue
        if t.kind in ("ws", "comment"):
            continue
        if t.kind == "text":  # #error lines, #if 0 groups
            continue
        if line_start and t.kind == "pp":
            in_pp = True
        line_start = False
        if not in_pp:
            out.append(k)
    return out


def _match(toks: list[Tok], idx: list[int], i: int) -> int:
    """Position in idx of the bracket closing the one at idx[i]."""
    open_ = toks[idx[i]].text
    close = {"(": ")", "[": "]", "{": "}"}[open_]
    depth = 0
    for j in range(i, len(idx)):
        s = toks[idx[j]].text
        if s == open_:
            depth += 1
        elif s == close:
            depth -= 1
            if depth == 0:
                return j
    return len(idx) - 1


def declared(src: str) -> list[tuple[str, bool]]:
    """(name, is_static) for every FASTCALL(...) declaration in src."""
    toks = tokenize(src)
    idx = _code(toks)
    out = []
    for i, k in enumerate(idx):
        if toks[k].text != "FASTCALL" or i + 1 >= len(idx) or toks[idx[i + 1]].text != "(":
            continue
        end = _match(toks, idx, i + 1)
        name = None
        for j in range(i + 2, end):
            if toks[idx[j]].text == "(":
                if toks[idx[j - 1]].kind == "ident":
                    name = toks[idx[j - 1]].text
                break
        if not name:
            continue
        # storage class: look back to the previous ; } or { for "static"
        j = i - 1
        static = False
        while j >= 0 and toks[idx[j]].text not in (";", "}", "{"):
            if toks[idx[j]].text == "static":
                static = True
            j -= 1
        out.append((name, static))
    return out


def rewrite(src: str, names: set[str]) -> tuple[str, list[str], list[str]]:
    """Insert ``fastcall`` in definitions of ``names``; returns (new, changed, skipped)."""
    toks = tokenize(src)
    idx = _code(toks)
    changed: list[str] = []
    skipped: list[str] = []
    depth = 0
    inserts: list[int] = []
    i = 0
    while i < len(idx):
        t = toks[idx[i]]
        if t.text == "{":
            depth += 1
        elif t.text == "}":
            depth -= 1
        elif depth == 0 and t.kind == "ident" and t.text in names and i + 1 < len(idx) \
                and toks[idx[i + 1]].text == "(":
            close = _match(toks, idx, i + 1)
            nxt = close + 1
            # skip trailing attributes between ")" and "{"
            while nxt < len(idx) and toks[idx[nxt]].text == "__attribute__":
                nxt = _match(toks, idx, nxt + 1) + 1
            if nxt < len(idx) and toks[idx[nxt]].text == "{":
                spec = []
                j = i - 1
                while j >= 0 and toks[idx[j]].text not in (";", "}", "{", ")"):
                    spec.append(toks[idx[j]].text)
                    j -= 1
                if j >= 0 and toks[idx[j]].text == ")":  # e.g. after __attribute__((...)) - look further
                    spec.append(")")
                if _SKIP_SPEC & set(spec):
                    skipped.append(f"{t.text} (already annotated)")
                elif not spec:
                    skipped.append(f"{t.text} (no declaration specifiers: not a definition?)")
                else:
                    inserts.append(idx[i])
                    changed.append(t.text)
                i = nxt
                continue
        i += 1
    for k in reversed(inserts):
        toks.insert(k, Tok("ident", "fastcall ", toks[k].pos))
    return untokenize(toks), changed, skipped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("root", type=Path)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args(argv)
    texts = {f: (args.root / f).read_text(encoding="latin-1") for f in args.files}
    global_names: set[str] = set()
    local: dict[str, set[str]] = {}
    for f, src in texts.items():
        if "FASTCALL" not in src:
            continue
        for name, _static in declared(src):
            if f.endswith(".h"):
                global_names.add(name)
            else:
                local.setdefault(f, set()).add(name)
    print(f"FASTCALL names: {len(global_names)} in headers, "
          f"{sum(map(len, local.values()))} file-local", file=sys.stderr)
    total = 0
    for f, src in texts.items():
        names = global_names | local.get(f, set())
        if not any(n in src for n in names):
            continue
        new, changed, skipped = rewrite(src, names)
        # a static definition of a header-declared name is another function: undo those
        if changed:
            new, changed, skipped = _drop_static(src, names, local.get(f, set()), skipped)
        for s in skipped:
            print(f"{f}: skipped {s}")
        if changed:
            total += len(changed)
            print(f"{f}: fastcall on {', '.join(changed)}")
            if not args.check:
                (args.root / f).write_text(new, encoding="latin-1")
    print(f"{total} definition(s) {'would be ' if args.check else ''}annotated", file=sys.stderr)
    return 0


def _drop_static(src: str, names: set[str], local: set[str], skipped: list[str]):
    """Redo the rewrite without header names that this file defines as static."""
    toks = tokenize(src)
    idx = _code(toks)
    static_defs = set()
    for i, k in enumerate(idx):
        t = toks[k]
        if t.kind == "ident" and t.text in names and t.text not in local:
            j = i - 1
            while j >= 0 and toks[idx[j]].text not in (";", "}", "{"):
                if toks[idx[j]].text == "static":
                    static_defs.add(t.text)
                j -= 1
    keep = names - static_defs
    new, changed, skipped2 = rewrite(src, keep)
    return new, changed, skipped + skipped2 + [f"{n} (static here: a different function)" for n in sorted(static_defs)]


if __name__ == "__main__":
    sys.exit(main())
