#!/usr/bin/env python3
"""Import circles between the modules of each Rust crate in the workspace (#15).

    scripts/check-module-cycles.py [--report] [--include-tests] [CRATE_DIR ...]

For every crate (default: crates/* and src-tauri) it reads the module tree from the crate
root (src/lib.rs, src/main.rs), finds every path a module names (`use crate::a::B`,
`use super::x`, `crate::a::b::f()` in code, `use a::B` of a child module, brace groups),
resolves it to the module that holds the item (following `pub use` re-exports), and draws
an arrow between the two *sibling* modules under their closest common parent: an arrow
from `a::x` to `b::y` is `a -> b` at the crate root; `a::x -> a::y` is `x -> y` inside `a`.
A child using its parent (`super::Item`), or a parent using its child, is no arrow: that is
containment, not a circle. A strongly connected component of two or more siblings is a
circle: one of them should move the shared item down (into a module both depend on).

Test code (`#[cfg(test)]` modules, inline or in their own file) is left out unless
--include-tests. Comments and string literals are ignored. Exit status: 1 when any crate
has a circle (0 with --report, which only prints), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
# the target of a `use` of another crate's item
EXTERN = ("<extern>",)


@dataclass
class Module:
    """One module of a crate: its path from the crate root and the code that is its own."""

    path: tuple[str, ...]
    file: Path
    code: str = ""
    children: set[str] = field(default_factory=set)
    # name -> absolute item path, from `use` (private or pub) in this module
    imports: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # every absolute path this module names
    refs: list[tuple[str, ...]] = field(default_factory=list)


def strip_comments_and_strings(src: str) -> str:
    """Blank out comments, string and char literals (keeping newlines and length)."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', src[i:]) and (i == 0 or not re.match(r"\w", src[i - 1])):
            m = re.match(r'r(#*)"', src[i:])
            assert m
            end = '"' + m.group(1)
            j = src.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == "'":
            # a char literal ('a', '\n', '\u{..}') but not a lifetime ('a)
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", src[i:])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def matching_brace(code: str, open_at: int) -> int:
    """Index just after the brace that closes the one at `open_at`."""
    depth = 0
    for j in range(open_at, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(code)


CFG_TEST = re.compile(r"#\[cfg\((?:test|all\(test[^\]]*\))\)\]")
MOD_DECL = re.compile(
    r"((?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*([;{])"
)


def split_modules(code: str, include_tests: bool):
    """(own code, [(name, attrs, inline body or None)]) with inline module bodies cut out."""
    own, mods, pos = [], [], 0
    for m in MOD_DECL.finditer(code):
        if m.start() < pos:
            continue
        attrs, name, kind = m.group(1), m.group(2), m.group(3)
        is_test = bool(CFG_TEST.search(attrs))
        own.append(code[pos : m.start()])
        if kind == "{":
            end = matching_brace(code, m.end() - 1)
            body = code[m.end() : end - 1]
            pos = end
        else:
            body, pos = None, m.end()
        if is_test and not include_tests:
            continue
        mods.append((name, attrs, body))
    own.append(code[pos:])
    return "".join(own), mods


def expand_use(tree: str) -> list[tuple[list[str], str | None]]:
    """`a::{b, c::{d@e, self}}` -> [(['a','b'], 'b'), (['a','c','d@e'], 'd@e'), (['a','c'], 'c')].

    `x as y` is written `x@y` by the caller, so that the alias survives the expansion.
    """
    tree = re.sub(r"\s+", "", tree)
    out: list[tuple[list[str], str | None]] = []

    def walk(prefix: list[str], s: str) -> None:
        # split s at top-level commas
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            parts.append(cur)
        for p in parts:
            if "{" in p:
                head, rest = p.split("{", 1)
                head_segs = [x for x in head.split("::") if x]
                walk(prefix + head_segs, rest[: rest.rfind("}")])
                continue
            segs_s = p
            segs = [x for x in segs_s.split("::") if x]
            if not segs:
                continue
            if segs[-1] == "self":
                segs = segs[:-1]
                if not (prefix + segs):
                    continue
                full = prefix + segs
                out.append((full, full[-1]))
                continue
            full = prefix + segs
            out.append((full, None if full[-1] == "*" else full[-1]))

    walk([], tree)
    return out


USE_STMT = re.compile(r"(?:^|[;{}\s])(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", re.S)
ALIAS = re.compile(r"\s+as\s+(" + IDENT + r")")
CRATE_PATH = re.compile(r"(?<![\w:])(crate|super|self)((?:::" + IDENT + r")+)")


class Crate:
    """The module tree of one crate root and the arrows between its sibling modules."""

    def __init__(self, root_file: Path, include_tests: bool):
        self.root_file = root_file
        self.include_tests = include_tests
        self.modules: dict[tuple[str, ...], Module] = {}
        self.load((), root_file, None)

    def load(self, path: tuple[str, ...], file: Path, inline: str | None) -> None:
        if inline is None:
            try:
                src = file.read_text(encoding="utf-8")
            except OSError:
                return
            code = strip_comments_and_strings(src)
        else:
            code = inline
        own, mods = split_modules(code, self.include_tests)
        mod = Module(path, file, own)
        self.modules[path] = mod
        owns_dir = inline is None and file.name in ("lib.rs", "main.rs", "mod.rs")
        base = file.parent if owns_dir else file.parent / file.stem
        for name, attrs, body in mods:
            mod.children.add(name)
            child = path + (name,)
            if body is not None:
                self.load(child, base / name, body)
                continue
            pm = re.search(r'#\[path\s*=\s*"([^"]*)"\]', attrs)
            if pm:
                # the literal was blanked with the strings: read it from the original text
                candidates = []
            else:
                candidates = [base / f"{name}.rs", base / name / "mod.rs"]
            for c in candidates:
                if c.is_file():
                    self.load(child, c, None)
                    break
            else:
                self.path_attr_child(file, name, child)

    def path_attr_child(self, file: Path, name: str, child: tuple[str, ...]) -> None:
        """A `#[path = ".."] mod name;` (the literal is read from the unstripped source)."""
        try:
            src = file.read_text(encoding="utf-8")
        except OSError:
            return
        m = re.search(r'#\[path\s*=\s*"([^"]*)"\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+' + name + r"\s*;", src)
        if m:
            target = (file.parent / m.group(1)).resolve()
            if target.is_file():
                self.load(child, target, None)

    # ------------------------------------------------------------------ resolution
    def absolute(self, mod: Module, segs: list[str]) -> tuple[str, ...] | None:
        """An in-crate absolute path for `segs` as written in `mod`, or None (extern/std)."""
        if not segs:
            return None
        head = segs[0]
        if head == "crate":
            return tuple(segs[1:])
        if head in ("self", "super"):
            base = list(mod.path)
            i = 0
            while i < len(segs) and segs[i] in ("self", "super"):
                if segs[i] == "super":
                    if not base:
                        return None
                    base.pop()
                i += 1
            return tuple(base + segs[i:])
        if head in mod.children:
            return mod.path + tuple(segs)
        if head in mod.imports:
            return mod.imports[head] + tuple(segs[1:])
        return None

    def resolve_item(self, p: tuple[str, ...], seen: int = 0) -> tuple[str, ...] | None:
        """The module that defines the item `p` names (its longest module prefix, through
        re-exports), or None for another crate's item re-exported here."""
        if p[:1] == EXTERN:
            return None
        i = len(p)
        while i > 0 and p[:i] not in self.modules:
            i -= 1
        holder = p[:i]
        if i < len(p) and seen < 8:
            name = p[i]
            target = self.modules[holder].imports.get(name)
            if target is not None and target[:1] != ("*",):
                return self.resolve_item(target + p[i + 1 :], seen + 1)
        return holder

    def analyse(self) -> None:
        # pass 1: every module's `use` items, so that re-exports resolve
        for mod in self.modules.values():
            for m in USE_STMT.finditer(mod.code):
                text = m.group(2)
                # rewrite `x as y` to `x@y` so brace expansion keeps the alias
                text = ALIAS.sub(lambda a: "@" + a.group(1), text)
                for segs, name in expand_use(text):
                    alias = None
                    if segs and "@" in segs[-1]:
                        last, alias = segs[-1].split("@", 1)
                        segs = segs[:-1] + [last]
                        name = alias if alias != "_" else None
                    if segs and segs[0].startswith("::"):
                        continue
                    ab = self.absolute(mod, segs)
                    if ab is None:
                        if name:
                            # another crate's item (`pub use app_core::UiError`): a path to
                            # it through this module is no arrow to this module
                            mod.imports[name] = EXTERN
                        continue
                    if segs[-1] == "*":
                        mod.refs.append(ab[:-1])
                        continue
                    mod.refs.append(ab)
                    if name:
                        mod.imports[name] = ab
        # pass 2: paths written in code
        for mod in self.modules.values():
            for m in CRATE_PATH.finditer(mod.code):
                segs = [m.group(1)] + [s for s in m.group(2).split("::") if s]
                ab = self.absolute(mod, segs)
                if ab is not None:
                    mod.refs.append(ab)

    def arrows(self) -> dict[tuple[str, ...], dict[str, dict[str, list[str]]]]:
        """parent module -> {sibling -> {sibling it uses -> [why]}}."""
        out: dict[tuple[str, ...], dict[str, dict[str, list[str]]]] = {}
        for mod in self.modules.values():
            for ref in mod.refs:
                target = self.resolve_item(ref)
                if target is None:
                    continue
                a, b = mod.path, target
                k = 0
                while k < len(a) and k < len(b) and a[k] == b[k]:
                    k += 1
                if k == len(a) or k == len(b):
                    continue  # the same module, or one contains the other
                parent = a[:k]
                why = f"{'::'.join(a) or 'crate'} -> {'::'.join(ref)}"
                out.setdefault(parent, {}).setdefault(a[k], {}).setdefault(b[k], []).append(why)
        return out

    def circles(self) -> list[tuple[tuple[str, ...], list[str], list[str]]]:
        """[(parent, members of one circle, example arrows)]."""
        found = []
        for parent, graph in sorted(self.arrows().items()):
            for scc in strongly_connected(graph):
                if len(scc) < 2:
                    continue
                members = sorted(scc)
                why = []
                for a in members:
                    for b in members:
                        if b in graph.get(a, {}):
                            why.append(graph[a][b][0])
                found.append((parent, members, why))
        return found


def strongly_connected(graph: dict[str, dict[str, list[str]]]) -> list[set[str]]:
    """Tarjan's strongly connected components (iterative enough for module counts)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []
    counter = [0]
    nodes = set(graph) | {b for v in graph.values() for b in v}

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def crate_roots(crate_dir: Path) -> list[Path]:
    return [p for p in (crate_dir / "src" / "lib.rs", crate_dir / "src" / "main.rs") if p.is_file()]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("crates", nargs="*", type=Path, help="crate folders (default: crates/* and src-tauri)")
    ap.add_argument("--report", action="store_true", help="print the circles, exit 0 anyway")
    ap.add_argument("--include-tests", action="store_true", help="also count #[cfg(test)] modules")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every arrow of a circle")
    args = ap.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    dirs = args.crates or sorted((root / "crates").iterdir()) + [root / "src-tauri"]
    total = 0
    for d in dirs:
        for rf in crate_roots(d):
            crate = Crate(rf, args.include_tests)
            crate.analyse()
            circles = crate.circles()
            label = f"{d.name} ({rf.name})"
            if not circles:
                print(f"{label}: no circle ({len(crate.modules)} modules)")
                continue
            total += len(circles)
            print(f"{label}: {len(circles)} circle(s)")
            for parent, members, why in circles:
                where = "crate" if not parent else "::".join(parent)
                print(f"  in {where}: {' <-> '.join(members)}")
                for w in why if args.verbose else why[:len(members)]:
                    print(f"      {w}")
    print(f"total: {total} circle(s)")
    if total and not args.report:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
