#!/usr/bin/env python3
"""Lists the C++ functions longer than a limit (default 120 lines).

  scripts/long_functions.py [--max 120] [--allow FILE] [PATH ...]

PATH: files or folders (default: common servers loadgen harness micro tests).
A function is a brace block opened after a ')' (optionally followed by
const, noexcept, override, an initialiser list or a trailing return type) at
namespace or class level; its length counts from the line of its name to its
closing brace. Comments, strings and character literals are skipped, so
braces in them do not count. Good enough for this tree's style, not a parser.

--allow FILE: a list of "path:function" lines that may be long (the ones not
yet split); the exit status is 1 when a function not in it is too long, or
when one in it no longer is (so the list only shrinks).
Exit status: 0 fine, 1 a function over the limit and not allowed (or an
allowed one no longer over it), 2 usage.
"""

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIRS = ("common", "servers", "loadgen", "harness", "micro", "tests")
_NAME = re.compile(r"([A-Za-z_~][A-Za-z0-9_:~<>]*(?:operator\S*)?)\s*\($")


def _strip(text):
    """The text with comments, strings and char literals blanked (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c == 'R' and text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            if m:
                end = text.find(")" + m.group(1) + '"', i)
                end = n if end < 0 else end + len(m.group(1)) + 2
                out.append("".join(ch if ch == "\n" else " " for ch in text[i:end]))
                i = end
            else:
                out.append(c)
                i += 1
        elif c == "'" and i > 0 and text[i - 1].isalnum() and i + 1 < n and text[i + 1].isalnum():
            out.append(" ")  # a digit separator: 1'000'000
            i += 1
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (min(j + 1, n) - i))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _function_name(head):
    """The name of the function whose body starts after `head`, or None."""
    head = head.rstrip()
    # Drop what may stand between ')' and '{'.
    head = re.sub(r"(\s*(const|noexcept|override|final|mutable|->\s*[\w:<>,\s*&]+))*$", "", head)
    if head.endswith(")"):
        # An initialiser list: "...) : a_(x), b_(y)" - back to the signature's ')'.
        depth, k = 0, len(head) - 1
        while k >= 0:
            if head[k] == ")":
                depth += 1
            elif head[k] == "(":
                depth -= 1
                if depth == 0:
                    break
            k -= 1
        before = head[:k].rstrip()
        if re.search(r"\b(if|for|while|switch|catch|return|sizeof|decltype)$", before):
            return None
        if before.endswith("]") or before.endswith("="):  # a lambda, an initialiser
            return None
        m = re.search(r"([A-Za-z_~][A-Za-z0-9_:~]*)$", before)
        if m and m.group(1) not in ("if", "for", "while", "switch", "catch"):
            colon = re.search(r"\)\s*:\s*[^:]", head)
            if colon and colon.start() < k:  # "Ctor(...) : x_(...)": the name is earlier
                return _function_name(head[:colon.start() + 1])
            return m.group(1)
    return None


def functions(path):
    """(name, first line, length) of every top- or class-level function."""
    text = _strip(path.read_text(encoding="utf-8", errors="replace"))
    out = []
    stack = []  # (kind, name, line) per open brace; kind "fn" or "block"
    line = 1
    start = 0
    for i, c in enumerate(text):
        if c == "\n":
            line += 1
        elif c == "{":
            head = text[start:i]
            in_fn = any(k == "fn" for k, _, _ in stack)
            name = None if in_fn else _function_name(head.split(";")[-1].split("}")[-1])
            if name:
                stack.append(("fn", name, _name_line(text, i, name, line)))
            else:
                stack.append(("block", None, line))
            start = i + 1
        elif c == "}":
            if stack:
                kind, name, first = stack.pop()
                if kind == "fn":
                    out.append((name, first, line - first + 1))
            start = i + 1
        elif c == ";":
            start = i + 1
    return out


def _name_line(text, brace, name, brace_line):
    """The line the function's name is on (searching back from its brace)."""
    k = text.rfind(name, 0, brace)
    return brace_line - text.count("\n", k, brace) if k >= 0 else brace_line


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max", type=int, default=120)
    ap.add_argument("--allow", help="file of path:function lines that may be long")
    ap.add_argument("paths", nargs="*")
    args = ap.parse_args(argv)
    paths = [Path(p) for p in args.paths] or [ROOT / d for d in DEFAULT_DIRS]
    files = []
    for p in paths:
        files += sorted(p.rglob("*.cc")) + sorted(p.rglob("*.h")) if p.is_dir() else [p]
    allowed = set()
    if args.allow:
        for raw in Path(args.allow).read_text().splitlines():
            raw = raw.split("#")[0].strip()
            if raw:
                allowed.add(raw)
    long_ones = []
    for f in files:
        rel = f.resolve().relative_to(ROOT) if f.resolve().is_relative_to(ROOT) else f
        for name, first, length in functions(f):
            if length > args.max:
                long_ones.append((f"{rel}:{name}", first, length))
    status = 0
    for key, first, length in sorted(long_ones, key=lambda x: -x[2]):
        mark = "" if key in allowed else "  (not in --allow)" if args.allow else ""
        print(f"{key} (line {first}): {length} lines{mark}")
        if key not in allowed:
            status = 1
    found = {k for k, _, _ in long_ones}
    for key in sorted(allowed - found):
        print(f"{key}: in --allow but no longer over {args.max} lines; take it off the list")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
