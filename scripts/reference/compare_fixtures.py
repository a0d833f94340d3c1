#!/usr/bin/env python3
"""Compare two fixture directories (e.g. a generated one against
`/work/shared/reference/moshi-tiny-seed0`).

Reports, per file: whether the tensor names, shapes and dtypes match, whether
the values are bit-identical, and whether the JSON files have the same
structure (same keys in the same order, same list lengths, same value types),
and how many leaf values differ.

    compare_fixtures.py /work/shared/reference/moshi-tiny-seed0 .cache/fixtures/seed0-check
    compare_fixtures.py A B --replay    # also re-run B's runs on A's weights (see below)

Exit status 0 when the structure matches everywhere (values may differ).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np

# Fields whose values legitimately differ between two fixtures of the same layout.
VOLATILE_JSON = {"sha256", "bytes"}


def tensor_table(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """name -> (shape, dtype) of a safetensors file."""
    return {k: (tuple(v.shape), str(v.dtype)) for k, v in mx.load(str(path)).items()}


def compare_tensors(a: Path, b: Path) -> tuple[bool, str]:
    """(structure equal, description) for two safetensors files."""
    ta, tb = mx.load(str(a)), mx.load(str(b))
    if set(ta) != set(tb):
        return False, f"names differ: only in A {sorted(set(ta) - set(tb))[:3]}, only in B {sorted(set(tb) - set(ta))[:3]}"
    bad = [k for k in ta if ta[k].shape != tb[k].shape or ta[k].dtype != tb[k].dtype]
    if bad:
        return False, f"shape/dtype differ for {bad[:3]}"
    same = sum(np.array_equal(np.array(ta[k].astype(mx.float32) if ta[k].dtype == mx.bfloat16 else ta[k]),
                              np.array(tb[k].astype(mx.float32) if tb[k].dtype == mx.bfloat16 else tb[k]))
               for k in ta)
    return True, f"{len(ta)} tensors, names/shapes/dtypes equal, {same}/{len(ta)} bit-identical"


class JsonDiff:
    """Recursive structural comparison of two JSON values."""

    def __init__(self):
        self.structure: list[str] = []
        self.values = 0
        self.leaves = 0

    def walk(self, a, b, path: str = "$") -> None:
        """Record structural differences and count differing leaves."""
        if isinstance(a, dict) and isinstance(b, dict):
            if list(a) != list(b):
                self.structure.append(f"{path}: keys {list(a)[:8]} vs {list(b)[:8]}")
            for k in a:
                if k in b:
                    self.walk(a[k], b[k], f"{path}.{k}")
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                self.structure.append(f"{path}: list length {len(a)} vs {len(b)}")
            for i, (x, y) in enumerate(zip(a, b)):
                self.walk(x, y, f"{path}[{i}]")
        else:
            kind = lambda v: "num" if isinstance(v, (int, float)) and not isinstance(v, bool) else type(v).__name__  # noqa: E731
            if kind(a) != kind(b) and not (a is None or b is None):
                self.structure.append(f"{path}: type {kind(a)} vs {kind(b)}")
            self.leaves += 1
            if a != b and path.split(".")[-1] not in VOLATILE_JSON:
                self.values += 1


def compare_json(a: Path, b: Path) -> tuple[bool, str]:
    """(structure equal, description) for two JSON files.

    List lengths that depend on the model size (logits, tensors) count as
    structure; compare fixtures of the same size for a clean result."""
    d = JsonDiff()
    d.walk(json.loads(a.read_text()), json.loads(b.read_text()))
    ok = not d.structure
    msg = f"{d.leaves} leaves, {d.values} values differ"
    if not ok:
        msg += "; structure: " + " | ".join(d.structure[:4])
    return ok, msg


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    args = p.parse_args(argv)
    files = sorted({f.name for d in (args.a, args.b) for f in d.iterdir() if not f.name.startswith(".")})
    all_ok = True
    for name in files:
        fa, fb = args.a / name, args.b / name
        if not (fa.exists() and fb.exists()):
            print(f"{name:26s} MISSING in {'B' if fa.exists() else 'A'}")
            all_ok &= name == "README.md"
            continue
        if name.endswith(".safetensors"):
            ok, msg = compare_tensors(fa, fb)
        elif name.endswith(".json"):
            ok, msg = compare_json(fa, fb)
        else:
            continue
        all_ok &= ok
        print(f"{name:26s} {'OK ' if ok else 'BAD'} {msg}")
    print("structure matches" if all_ok else "structure differs")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
