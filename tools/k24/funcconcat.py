#!/usr/bin/env python3
"""Rewrite ``__FUNCTION__ "literal"`` concatenation into a "%s" argument (gcc >= 3.4).

Before gcc 3.4, ``__FUNCTION__`` was a string literal and could be pasted to neighbouring
literals: ``printk(KERN_DEBUG __FUNCTION__ "(): x=%d\\n", x)``. It is now a variable, so
that is a syntax error. The rewrite, for a format argument at position k of a call:

    f(a0, ..., PRE __FUNCTION__ POST, v1, v2)  ->  f(a0, ..., PRE "%s" POST, __FUNCTION__, v1, v2)

This prints the same text if and only if (1) argument k is the printf format of f and the
arguments after it are its variadic arguments, in order, and (2) PRE contains no conversion
(so __FUNCTION__ is the first value the format consumes). The tool only rewrites when it can
prove both:

* (2): PRE pieces are literals without "%" conversions ("%%" is fine), KERN_* level macros,
  or identifiers whose every ``#define NAME "..."`` in the scanned files is such a literal.
* (1): f is a known printf-like function at that position (printk/panic 0, sprintf 1,
  snprintf 2), or a macro every definition of which (in the scanned files) forwards
  parameter k as a printf format of a call proven the same way (recursively), and its
  variadic parameter as the trailing arguments of that call, with exactly as many arguments
  in between as the literal before the parameter has conversions and no conversion after it.
  A definition that does not use the parameter at all (a disabled debug macro) is fine.

Everything else is left untouched and reported as "skipped". Several __FUNCTION__ in one
format are handled in order. Sites inside #define bodies (macros pasting __FUNCTION__ into
their own printk) are rewritten the same way.

Usage: funcconcat.py [--check] ROOT FILE...
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ctok import Tok, tokenize, untokenize

PRINTF_LIKE = {"printk": 0, "panic": 0, "sprintf": 1, "snprintf": 2, "printf": 0}
_CONV = re.compile(r"%(?!%)")
_KEYWORDS = {"return", "sizeof", "if", "while", "for", "switch", "case", "do", "else"}


def n_conv(literal: str) -> int:
    body = literal.replace("%%", "")
    return len(_CONV.findall(body))


@dataclass
class Macro:
    params: list[str]
    variadic: str | None  # name of the variadic parameter (GNU "args..." or __VA_ARGS__)
    body: list[Tok]       # significant tokens of the replacement list


def _sig(toks: list[Tok]) -> list[Tok]:
    return [t for t in toks if t.kind not in ("ws", "nl", "comment")]


_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)(\(?)", re.M)


_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"]+)[>"]', re.M)


def visible_files(texts: dict[str, str]) -> dict[str, set[str]]:
    """For each file, itself plus every scanned header it includes, transitively.

    <x> is include/x (asm/ is asm-i386/); "x" is looked up next to the including file first.
    Conditional compilation is ignored, so this over-approximates what a compile sees: every
    macro definition in the set must pass the proof."""
    direct: dict[str, set[str]] = {}
    for f, src in texts.items():
        deps = set()
        for q, name in _INCLUDE.findall(src):
            if name.startswith("asm/"):
                name = "asm-i386/" + name[4:]
            cands = ([str(Path(f).parent / name)] if q == '"' else []) + ["include/" + name]
            for c in cands:
                c = str(Path(c)).replace("\\", "/")
                parts = []
                for part in c.split("/"):
                    if part == "..":
                        parts = parts[:-1]
                    elif part != ".":
                        parts.append(part)
                c = "/".join(parts)
                if c in texts:
                    deps.add(c)
                    break
        direct[f] = deps
    closure: dict[str, set[str]] = {}
    for f in texts:
        seen = {f}
        todo = [f]
        while todo:
            for d in direct.get(todo.pop(), ()):
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        closure[f] = seen
    return closure


def collect_defs(texts: dict[str, str]) -> dict[str, tuple[dict[str, list[Macro]], dict[str, list[str | None]]]]:
    """Per file: function-like macros by name, and object-like macros' string values (None = not a literal)."""
    out = {}
    for f, src in texts.items():
        fdefs: dict[str, list[Macro]] = {}
        sdefs: dict[str, list[str | None]] = {}
        out[f] = (fdefs, sdefs)
        if "define" not in src:
            continue
        for m in _DEFINE.finditer(src):
            end = m.end()
            while True:  # logical line
                nl = src.find("\n", end)
                if nl < 0:
                    nl = len(src)
                    break
                if src[nl - 1] == "\\":
                    end = nl + 1
                    continue
                break
            line = src[m.end():nl]
            name = m.group(1)
            if m.group(2):
                close = line.find(")")
                if close < 0:
                    continue
                raw = [p.strip() for p in line[:close].split(",") if p.strip()]
                variadic = None
                params = []
                for p in raw:
                    if p == "...":
                        variadic = "__VA_ARGS__"
                        params.append(variadic)
                    elif p.endswith("..."):
                        variadic = p[:-3].strip()
                        params.append(variadic)
                    else:
                        params.append(p)
                body = _sig(tokenize(line[close + 1:]))
                fdefs.setdefault(name, []).append(Macro(params, variadic, body))
            else:
                body = _sig(tokenize(line))
                if len(body) >= 1 and all(t.kind == "string" for t in body):
                    sdefs.setdefault(name, []).append("".join(t.text for t in body))
                else:
                    sdefs.setdefault(name, []).append(None)
    return out


class Prover:
    def __init__(self, fdefs, sdefs):
        self.fdefs = fdefs
        self.sdefs = sdefs
        self.memo: dict[tuple[str, int], bool] = {}

    def piece_conv(self, t: Tok) -> int | None:
        """Conversions in one piece of a concatenation; None if unknown."""
        if t.kind == "string":
            return n_conv(t.text)
        if t.kind == "ident" and re.fullmatch(r"KERN_[A-Z]+", t.text):
            return 0
        if t.text == "__FILE__":  # a path: no "%"
            return 0
        if t.text == "__FUNCTION__":  # rewritten with its own argument, in order (see rewrite)
            return 0
        if t.kind == "ident" and t.text in self.sdefs:
            vals = self.sdefs[t.text]
            if all(v is not None for v in vals):
                return max(n_conv(v) for v in vals)  # type: ignore[arg-type]
        return None

    def printf_at(self, name: str, k: int, depth: int = 0) -> bool:
        if name in PRINTF_LIKE:
            return PRINTF_LIKE[name] == k
        key = (name, k)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = False  # recursion guard
        defs = self.fdefs.get(name)
        ok = bool(defs) and depth < 6 and all(self._macro_ok(m, k, depth) for m in defs)
        self.memo[key] = ok
        return ok

    def _macro_ok(self, m: Macro, k: int, depth: int) -> bool:
        if m.variadic is None or k >= len(m.params):
            return False
        fmt = m.params[k]
        headed = fmt == m.variadic  # format is the first of the variadic arguments
        if not headed and (k + 1 != len(m.params) - 1 or m.params[-1] != m.variadic):
            return False  # variadic parameter must follow the format directly
        body = m.body
        uses = [i for i, t in enumerate(body) if t.text in (fmt, m.variadic)]
        if any(i > 0 and body[i - 1].text in ("#",) for i in uses):
            return False  # stringified
        seen_var = set()
        for i, t in enumerate(body):
            if t.text != fmt:
                continue
            site = _arg_at(body, i)
            if site is None:
                return False
            callee, argk, a0, a1, args_end = site
            if not self.printf_at(callee, argk, depth + 1):
                return False
            pre = body[a0:i]
            post = body[i + 1:a1]
            if any(p.kind != "string" and self.piece_conv(p) is None for p in pre + post):
                return False
            npre = sum(self.piece_conv(p) or 0 for p in pre)
            npost = sum(self.piece_conv(p) or 0 for p in post)
            rest = body[a1:args_end]  # from the comma after the format to before ")"
            if headed:
                # "... fmt )": the variadic list must close the call, nothing after it
                if post or npre or rest:
                    return False
            else:
                if npost:
                    return False
                # rest must be: , e1 , e2 ... , [##] VAR   with npre expressions e
                commas = _top_commas(rest)
                tail = [x.text for x in rest[commas[-1] + 1:]] if commas else []
                if tail not in ([m.variadic], ["##", m.variadic]):
                    return False
                if len(commas) - 1 != npre:
                    return False
                seen_var.add(args_end)
        for i, t in enumerate(body):  # every use of the variadic list must be one of those
            if t.text == m.variadic and not headed:
                site = _arg_at(body, i)
                if site is None:
                    return False
                if site[4] not in seen_var:
                    return False
        return True


def _arg_at(toks: list[Tok], i: int):
    """For token i inside a call's argument: (callee, arg index, arg start, arg end, call end)."""
    depth = 0
    j = i - 1
    k = 0
    start = None
    while j >= 0:
        s = toks[j].text
        if s in (")", "]", "}"):
            depth += 1
        elif s in ("(", "[", "{"):
            if depth == 0:
                break
            depth -= 1
        elif s == "," and depth == 0:
            if start is None:
                start = j + 1
            k += 1
        elif s == ";" and depth == 0:
            return None
        j -= 1
    if j < 1 or toks[j].text != "(" or toks[j - 1].kind != "ident" or toks[j - 1].text in _KEYWORDS:
        return None
    if start is None:
        start = j + 1
    callee = toks[j - 1].text
    depth = 0
    e = i + 1
    end_arg = None
    while e < len(toks):
        s = toks[e].text
        if s in ("(", "[", "{"):
            depth += 1
        elif s in (")", "]", "}"):
            if depth == 0:
                break
            depth -= 1
        elif s == "," and depth == 0 and end_arg is None:
            end_arg = e
        elif s == ";" and depth == 0:
            return None
        e += 1
    if end_arg is None:
        end_arg = e
    return callee, k, start, end_arg, e


def _top_commas(toks: list[Tok]) -> list[int]:
    depth = 0
    out = []
    for i, t in enumerate(toks):
        if t.text in ("(", "[", "{"):
            depth += 1
        elif t.text in (")", "]", "}"):
            depth -= 1
        elif t.text == "," and depth == 0:
            out.append(i)
    return out


def _enclosing_macro_params(st: list[Tok], i: int) -> set[str] | None:
    """Parameters of the #define whose body holds st[i], or None if st[i] is not in one."""
    j = i
    while j >= 0:
        if st[j].kind == "pp" and j + 1 < len(st) and st[j + 1].text == "define":
            params: set[str] = set()
            if j + 3 < len(st) and st[j + 3].text == "(" and st[j + 3].pos == st[j + 2].pos + len(st[j + 2].text):
                k = j + 4
                while k < len(st) and st[k].text != ")":
                    if st[k].kind == "ident":
                        params.add(st[k].text)
                    k += 1
                params.add("__VA_ARGS__")
            return params
        if st[j].kind == "pp":
            return None
        j -= 1
    return None


def rewrite(src: str, prover_for) -> tuple[str, int, list[str]]:
    toks = tokenize(src)
    sig = [k for k, t in enumerate(toks) if t.kind not in ("ws", "nl", "comment", "text")]
    st = [toks[k] for k in sig]
    done = 0
    skipped: list[str] = []
    handled: set[int] = set()
    edits: list[tuple[int, int, str]] = []  # (token index in toks, order, text); order -1 = replace
    prover = None
    for i, t in enumerate(st):
        if t.text != "__FUNCTION__" or i in handled:
            continue
        prev_s = st[i - 1] if i else None
        next_s = st[i + 1] if i + 1 < len(st) else None
        if not ((prev_s and prev_s.kind == "string") or (next_s and next_s.kind == "string")):
            continue  # a plain use of the variable
        line = src.count("\n", 0, t.pos) + 1
        site = _arg_at(st, i)
        if site is None:
            skipped.append(f"line {line}: not a call argument")
            continue
        callee, k, a0, a1, call_end = site
        group = st[a0:a1]
        if not all(g.kind == "string" or g.kind == "ident" for g in group):
            skipped.append(f"line {line}: {callee}() argument {k} is not a plain concatenation")
            continue
        if prover is None:
            prover = prover_for()
        funcs = [a0 + j for j, g in enumerate(group) if g.text == "__FUNCTION__"]
        # extra arguments after the format: (first, last) token positions in st
        extras = []
        pos = a1
        while pos < call_end and st[pos].text == ",":
            nxt = pos + 1 + next((c for c in _top_commas(st[pos + 1:call_end])), call_end - pos - 1)
            extras.append((pos + 1, nxt - 1))
            pos = nxt
        params = _enclosing_macro_params(st, i)
        places = []
        for f in funcs:
            conv = [prover.piece_conv(p) for p in st[a0:f] if p.text != "__FUNCTION__"]
            if any(c is None for c in conv):
                places = None
                why = "text before __FUNCTION__ is not a known literal"
                break
            n = sum(conv)  # type: ignore[arg-type]
            if n > len(extras):
                places = None
                why = "fewer arguments than conversions before __FUNCTION__"
                break
            for e0, e1 in extras[:n]:
                span = {x.text for x in st[e0:e1 + 1]}
                if "##" in span or (params is not None and e0 == e1 and st[e0].text in params):
                    places = None
                    why = "a macro's variable argument list precedes __FUNCTION__'s slot"
                    break
            if places is None:
                break
            places.append(a1 - 1 if n == 0 else extras[n - 1][1])
        if places is None:
            skipped.append(f"line {line}: {callee}(): {why}")
            continue
        if not prover.printf_at(callee, k):
            skipped.append(f"line {line}: {callee}() not proven printf-like at argument {k}")
            continue
        for order, (f, place) in enumerate(zip(funcs, places, strict=False)):
            handled.add(f)
            edits.append((sig[f], -1, '"%s"'))
            edits.append((sig[place], order, ", __FUNCTION__"))
        done += len(funcs)
    for k, order, text in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        if order < 0:
            toks[k] = Tok("string", text, toks[k].pos)
        else:
            toks.insert(k + 1, Tok("punct", text, toks[k].pos))
    return untokenize(toks), done, skipped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("root", type=Path)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args(argv)
    texts = {f: (args.root / f).read_text(encoding="latin-1") for f in args.files}
    defs = collect_defs(texts)
    vis = visible_files(texts)

    def prover_for(f):
        fd: dict[str, list[Macro]] = {}
        sd: dict[str, list[str | None]] = {}
        for g in vis[f]:
            for name, ms in defs[g][0].items():
                fd.setdefault(name, []).extend(ms)
            for name, vs in defs[g][1].items():
                sd.setdefault(name, []).extend(vs)
        return Prover(fd, sd)

    total = nskip = 0
    for f, src in texts.items():
        if "__FUNCTION__" not in src:
            continue
        new, done, skipped = rewrite(src, lambda f=f: prover_for(f))
        for s in skipped:
            print(f"{f}: skipped {s}")
        nskip += len(skipped)
        if done:
            total += done
            print(f"{f}: {done} site(s)")
            if not args.check:
                (args.root / f).write_text(new, encoding="latin-1")
    print(f"{total} __FUNCTION__ concatenation(s) {'would be ' if args.check else ''}rewritten, "
          f"{nskip} skipped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
