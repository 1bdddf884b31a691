"""A small, lossless C tokenizer for the 2.4.18 rewriters in tools/k24/.

Lossless: concatenating the ``text`` of every token gives back the input exactly, so a
rewriter can edit a few tokens and leave every other byte (comments, spacing, line splices)
untouched. It follows translation phases 1-3 closely enough for the kernel sources:

* comments (``/* */`` and ``//``) are single tokens;
* a string literal runs to its closing quote; a raw newline inside it (the pre-gcc-3.3
  multi-line string extension) is kept inside the token and recorded in ``raw_newlines``;
* a character literal ends at its closing quote or, unterminated, at the end of the line
  (as in cpp's lenient handling of apostrophes in text);
* backslash-newline line splices are whitespace outside tokens;
* ``#error``/``#warning`` lines and everything inside ``#if 0`` ... ``#endif`` (a skipped
  group: cpp does not tokenize it) become ``text`` tokens, so apostrophes in prose there
  cannot derail the scanner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Tok", "significant", "tokenize", "untokenize"]


@dataclass
class Tok:
    kind: str  # ws, nl, comment, string, char, ident, number, punct, pp, text
    text: str
    pos: int
    raw_newlines: list[int] = field(default_factory=list)  # offsets within text (strings only)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Tok({self.kind}, {self.text!r}@{self.pos})"


_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_NUMBER = re.compile(r"\.?[0-9](?:[eEpP][+-]|[A-Za-z0-9_.])*")
_WS = re.compile(r"(?:[ \t\f\v\r]|\\\r?\n)+")
_PUNCTS = sorted(
    ["...", "<<=", ">>=", "->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "*=", "/=", "%=", "+=", "-=", "&=", "^=", "|=", "##", "{", "}", "[", "]", "(", ")", ";", ":", ",", "?", "~", "!", "+", "-", "*", "/", "%", "^", "&", "|", "=", "<", ">", ".", "#", "@", "\\", "`", "'"],
    key=len,
    reverse=True,
)
_PUNCT = re.compile("|".join(re.escape(p) for p in _PUNCTS))
_DIRECTIVE = re.compile(r"[ \t]*#[ \t]*(\w+)")


def _string_end(src: str, i: int, quote: str, allow_newline: bool) -> tuple[int, list[int]]:
    """Index just past the literal starting at src[i] (the quote), and raw newline offsets."""
    j = i + 1
    raws: list[int] = []
    n = len(src)
    while j < n:
        c = src[j]
        if c == "\\":
            j += 2  # escape, including backslash-newline (a splice inside the literal)
            continue
        if c == quote:
            return j + 1, raws
        if c == "\n":
            if not allow_newline:
                return j, raws  # unterminated character literal: stop at end of line
            raws.append(j - i)
        j += 1
    return n, raws


def tokenize(src: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(src)
    at_line_start = True
    skip_depth = 0  # >0 while inside a "#if 0" group
    while i < n:
        c = src[i]
        if at_line_start and c != "\n":
            m = _DIRECTIVE.match(src, i)
            if m:
                name = m.group(1)
                if skip_depth:
                    if name in ("if", "ifdef", "ifndef"):
                        skip_depth += 1
                    elif name == "endif" or (name in ("else", "elif") and skip_depth == 1):
                        skip_depth -= 1
                    if skip_depth:
                        end = _line_end(src, i)
                        toks.append(Tok("text", src[i:end], i))
                        i = end
                        continue
                elif name == "if" and re.match(r"[ \t]*#[ \t]*if[ \t]+0\b", src[i:_line_end(src, i)]):
                    end = _line_end(src, i)
                    toks.append(Tok("text", src[i:end], i))
                    i = end
                    skip_depth = 1
                    continue
                elif name in ("error", "warning"):
                    end = _line_end(src, i)
                    toks.append(Tok("text", src[i:end], i))
                    i = end
                    continue
            elif skip_depth:
                end = _line_end(src, i)
                toks.append(Tok("text", src[i:end], i))
                i = end
                continue
        if c == "\n":
            toks.append(Tok("nl", c, i))
            i += 1
            at_line_start = True
            continue
        m = _WS.match(src, i)
        if m:
            toks.append(Tok("ws", m.group(), i))
            i = m.end()
            continue
        at_line_start = False
        if src.startswith("/*", i):
            end = src.find("*/", i + 2)
            end = n if end < 0 else end + 2
            toks.append(Tok("comment", src[i:end], i))
            i = end
            continue
        if src.startswith("//", i):
            end = i
            while True:  # a // comment continues over backslash-newline
                end = src.find("\n", end)
                if end < 0:
                    end = n
                    break
                if src[end - 1] == "\\":
                    end += 1
                    continue
                break
            toks.append(Tok("comment", src[i:end], i))
            i = end
            continue
        if c == '"' or (c == "L" and src.startswith('L"', i)):
            q = i + (c == "L")
            end, raws = _string_end(src, q, '"', allow_newline=True)
            toks.append(Tok("string", src[i:end], i, [r + (q - i) for r in raws]))
            i = end
            continue
        if c == "'" or (c == "L" and src.startswith("L'", i)):
            q = i + (c == "L")
            end, _ = _string_end(src, q, "'", allow_newline=False)
            toks.append(Tok("char", src[i:end], i))
            i = end
            continue
        m = _IDENT.match(src, i)
        if m:
            toks.append(Tok("ident", m.group(), i))
            i = m.end()
            continue
        m = _NUMBER.match(src, i)
        if m:
            toks.append(Tok("number", m.group(), i))
            i = m.end()
            continue
        m = _PUNCT.match(src, i)
        if m:
            p = m.group()
            toks.append(Tok("pp" if p == "#" else "punct", p, i))
            i += len(p)
        else:
            toks.append(Tok("punct", c, i))  # stray byte (non-ASCII in code): keep it
            i += 1
    return toks


def _line_end(src: str, i: int) -> int:
    """End of the logical line starting at i (backslash-newline continues it), newline excluded."""
    n = len(src)
    while True:
        j = src.find("\n", i)
        if j < 0:
            return n
        if j > 0 and src[j - 1] == "\\":
            i = j + 1
            continue
        return j


def untokenize(toks: list[Tok]) -> str:
    return "".join(t.text for t in toks)


def significant(toks: list[Tok]) -> list[int]:
    """Indices of tokens that are not whitespace, newlines or comments."""
    return [k for k, t in enumerate(toks) if t.kind not in ("ws", "nl", "comment")]
