#!/usr/bin/env python3
"""Split multi-line string literals into one literal per line (gcc >= 3.3 rejects them).

Before gcc 3.3 a raw newline inside a string literal was accepted and meant "\\n"; 2.4.18
uses that in inline asm ("missing terminating \\" character"). The rewrite replaces every raw
newline inside a literal with ``\\n"`` + newline + ``"``: the pieces are adjacent literals,
which C concatenates into exactly the original bytes, and every line keeps its number, so
compiler messages and __LINE__ are unchanged.

Self-check: after rewriting, the file is tokenized again and the sequence of significant
tokens, with adjacent string literals joined and raw newlines read as \\n, must equal the
original's. A mismatch aborts.

Usage: mlstr.py [--check] FILE...   (--check: report files that would change, write nothing)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ctok import significant, tokenize, untokenize


def rewrite(src: str) -> tuple[str, int]:
    toks = tokenize(src)
    count = 0
    for t in toks:
        if t.kind == "string" and t.raw_newlines:
            parts = []
            prev = 0
            for off in t.raw_newlines:
                parts.append(t.text[prev:off] + '\\n"\n"')
                prev = off + 1
                count += 1
            parts.append(t.text[prev:])
            t.text = "".join(parts)
            t.raw_newlines = []
    return untokenize(toks), count


def _canon(src: str) -> list[str]:
    """Significant tokens with adjacent plain string literals merged into one value."""
    toks = tokenize(src)
    out: list[str] = []
    pending: list[str] | None = None
    for k in significant(toks):
        t = toks[k]
        if t.kind == "string" and not t.text.startswith("L"):
            body = t.text[1:-1] if t.text.endswith('"') and len(t.text) > 1 else t.text[1:]
            body = body.replace("\n", "\\n")
            pending = (pending or []) + [body]
            continue
        if pending is not None:
            out.append('"' + "".join(pending) + '"')
            pending = None
        out.append(t.text)
    if pending is not None:
        out.append('"' + "".join(pending) + '"')
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("files", nargs="+", type=Path)
    args = ap.parse_args(argv)
    changed = 0
    for path in args.files:
        src = path.read_text(encoding="latin-1")
        new, count = rewrite(src)
        if not count:
            continue
        if _canon(new) != _canon(src) or new.count("\n") != src.count("\n"):
            print(f"{path}: self-check failed, not rewritten", file=sys.stderr)
            return 2
        changed += 1
        print(f"{path}: {count} raw newline(s) in string literals")
        if not args.check:
            path.write_text(new, encoding="latin-1")
    print(f"{changed} file(s) {'would change' if args.check else 'rewritten'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
