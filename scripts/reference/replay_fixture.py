#!/usr/bin/env python3
"""Re-run every reference run of a fixture directory from its own weights and
inputs, and compare with what the directory records.

    replay_fixture.py /work/shared/reference/moshi-tiny-seed0
    replay_fixture.py .cache/fixtures/moshi-tiny-seed1 --what lm

This checks the generator's run code (LmGen runs, Mimi variants) against a
fixture made by someone else (seed 0), and the determinism of our own fixtures.
Prints one line per run/array and exits non-zero on any difference.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_lm as flm  # noqa: E402
import fixture_mimi as fmi  # noqa: E402
from moshi_mlx.models.lm import LmConfig, DepFormerConfig  # noqa: E402
from moshi_mlx.models.mimi import MimiConfig  # noqa: E402
from moshi_mlx.modules.seanet import SeanetConfig  # noqa: E402
from moshi_mlx.modules.transformer import TransformerConfig  # noqa: E402


def lm_config_from_json(d: dict) -> LmConfig:
    """Rebuild an `LmConfig` from the fixture JSON shape."""
    d = {k: v for k, v in d.items() if k != "derived"}
    dep = d["depformer"]
    d["transformer"] = TransformerConfig(**d["transformer"])
    d["depformer"] = DepFormerConfig(**{**dep, "transformer": TransformerConfig(**dep["transformer"])})
    return LmConfig(**d)


def mimi_config_from_json(d: dict, nq: int | None = None) -> MimiConfig:
    """Rebuild a `MimiConfig` from the fixture JSON shape (optionally with nq codebooks)."""
    d = dict(d)
    d["seanet"] = SeanetConfig(**d["seanet"])
    d["transformer"] = TransformerConfig(**d["transformer"])
    if nq is not None:
        d["quantizer_nq"] = nq
    return MimiConfig(**d)


def count_diffs(a, b) -> int:
    """Number of differing leaves between two JSON values."""
    if isinstance(a, dict):
        return sum(count_diffs(a[k], b.get(k)) for k in a) + (set(a) != set(b or {}))
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return 1
        return sum(count_diffs(x, y) for x, y in zip(a, b))
    return int(a != b)


def replay_lm(d: Path) -> bool:
    """Re-run lm_reference.json's runs."""
    ref = json.loads((d / "lm_reference.json").read_text())
    runs = flm.run_lm_suite(lm_config_from_json(ref["config"]), str(d / ref["weights_file"]),
                            ref["input"]["other_audio_tokens"], ref["runs"]["fp32_sampled_local_defaults"]["mx_random_seed"])
    return report(runs, ref["runs"])


def replay_lm_q(d: Path) -> bool:
    """Re-run lm_q_reference.json's runs."""
    ref = json.loads((d / "lm_q_reference.json").read_text())
    files = {r["bits"]: (r["weights_file"], str(d / r["weights_file"])) for r in ref["runs"].values()}
    runs = flm.run_lm_q_suite(lm_config_from_json(ref["config"]), files, ref["input"]["other_audio_tokens"])
    return report(runs, ref["runs"])


def report(runs: dict, ref_runs: dict) -> bool:
    """Print one line per run; True when all runs are identical."""
    ok = True
    for name, r in runs.items():
        n = count_diffs(r, ref_runs[name])
        print(f"lm run {name:30s} {'identical' if n == 0 else f'{n} values differ'}")
        ok &= n == 0
    return ok


def replay_mimi(d: Path) -> bool:
    """Re-run both Mimi variants and compare with mimi_io.safetensors."""
    ref = json.loads((d / "mimi_reference.json").read_text())
    io = mx.load(str(d / ref["io_file"]))
    cfg = mimi_config_from_json(ref["config"], ref["used_codebooks"])
    ok = True
    for variant in ref["variants"]:
        arrays = fmi.run_variant(cfg, str(d / ref["weights_file"]), io["input_pcm"], variant)
        for k, v in arrays.items():
            a, b = np.array(v), np.array(io[f"{variant}.{k}"])
            same = a.shape == b.shape and np.array_equal(a, b)
            print(f"mimi {variant}.{k:38s} {'bit-identical' if same else 'max diff %.3g' % np.abs(a - b).max()}")
            ok &= same
    return ok


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", type=Path)
    p.add_argument("--what", default="lm,lmq,mimi")
    args = p.parse_args(argv)
    mx.set_default_device(mx.cpu)
    ok = True
    what = args.what.split(",")
    if "lm" in what and (args.dir / "lm_reference.json").exists():
        ok &= replay_lm(args.dir)
    if "lmq" in what and (args.dir / "lm_q_reference.json").exists():
        ok &= replay_lm_q(args.dir)
    if "mimi" in what and (args.dir / "mimi_reference.json").exists():
        ok &= replay_mimi(args.dir)
    print("replay: all identical" if ok else "replay: DIFFERENCES")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
