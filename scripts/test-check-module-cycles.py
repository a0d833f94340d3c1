#!/usr/bin/env python3
"""Tests of scripts/check-module-cycles.py on tiny fixture crates written to a temp dir.

    python3 scripts/test-check-module-cycles.py     (exit 0 = all pass)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

CHECKER = Path(__file__).resolve().parent / "check-module-cycles.py"


def crate(root: Path, name: str, files: dict[str, str]) -> Path:
    d = root / name
    for rel, text in files.items():
        p = d / "src" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return d


def run(*args: Path | str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECKER), *map(str, args)], capture_output=True, text=True, check=False
    )


class ModuleCycles(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)

    def tearDown(self) -> None:
        self.tmp.cleanup()

    def test_a_circle_of_two_siblings_fails(self) -> None:
        d = crate(
            self.root,
            "two",
            {
                "lib.rs": "mod a;\nmod b;\n",
                "a.rs": "use crate::b::B;\npub struct A;\n",
                "b.rs": "pub struct B;\nfn f() -> crate::a::A { crate::a::A }\n",
            },
        )
        r = run(d)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("in crate: a <-> b", r.stdout)
        self.assertEqual(run("--report", d).returncode, 0)

    def test_a_circle_through_braces_reexports_and_nested_modules(self) -> None:
        # x::p uses y's item through the root's `pub use`; y uses x::q through a brace group.
        d = crate(
            self.root,
            "deep",
            {
                "lib.rs": "pub mod x;\npub mod y;\npub use y::Thing as Renamed;\n",
                "x/mod.rs": "pub mod p;\npub mod q;\n",
                "x/p.rs": "use crate::Renamed;\n",
                "x/q.rs": "pub fn q() {}\n",
                "y.rs": "use crate::{x::{q::q, self}};\npub struct Thing;\n",
            },
        )
        r = run(d)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("in crate: x <-> y", r.stdout)

    def test_a_circle_between_siblings_inside_a_module(self) -> None:
        d = crate(
            self.root,
            "inner",
            {
                "lib.rs": "mod m;\n",
                "m/mod.rs": "mod s;\nmod t;\n",
                "m/s.rs": "use super::t::T;\npub struct S;\n",
                "m/t.rs": "pub struct T(super::s::S);\n",
            },
        )
        r = run(d)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("in m: s <-> t", r.stdout)

    def test_containment_comments_strings_extern_reexports_and_tests_are_no_circle(self) -> None:
        d = crate(
            self.root,
            "clean",
            {
                # parent uses child and child uses parent: containment, not a circle
                "lib.rs": "mod a;\nmod b;\npub use a::A;\npub struct Root;\n",
                "a.rs": textwrap.dedent(
                    """\
                    use crate::Root;
                    use crate::b::B;
                    pub use std::fmt::Write as Ext;
                    pub struct A(Root, B);
                    """
                ),
                # b names a only in a comment, a string and a test module
                "b.rs": textwrap.dedent(
                    """\
                    // crate::a::A would be a circle
                    pub struct B;
                    // another crate's item through a's re-export: no arrow to a
                    fn f(_: &dyn crate::a::Ext) {}
                    const S: &str = "crate::a::A";
                    #[cfg(test)]
                    mod tests {
                        use crate::a::A;
                    }
                    """
                ),
            },
        )
        r = run(d)
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("no circle", r.stdout)
        # the test module's arrow is a circle when tests are counted
        self.assertEqual(run("--include-tests", d).returncode, 1)


if __name__ == "__main__":
    unittest.main()
