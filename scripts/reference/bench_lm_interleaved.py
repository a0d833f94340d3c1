#!/usr/bin/env python3
"""Side-by-side LM step benchmark: the port (`moshi-bench`) against moshi_mlx
(`bench_moshi_mlx.py`) on the same weights, interleaved in one run so that load on the
shared machine hits both alike; prints every run, the median of the runs' medians per
variant and the ratios to moshi_mlx, with the load average.

    .venv/bin/python scripts/reference/bench_lm_interleaved.py \
        --weights .cache/bench/mid-lm/model.safetensors --config .cache/bench/mid-lm/config.json \
        --rounds 5 --steps 8 --warmup 2 --variant port:--cpu-streams=1 --variant port2:--cpu-streams=2

Each round runs every variant once, in an order rotated per round. A variant is
NAME:ARGS (ARGS split on spaces, passed to moshi-bench); `moshi_mlx` is included unless
--no-reference, and --control runs it twice per round (`moshi_mlx_ctl`, an A/A pair whose
ratio shows the run's noise). KV ring size (64 vs 3001 slots, step time flat = in place):

    .venv/bin/python scripts/reference/bench_lm_interleaved.py --weights ... --config ... \
        --no-reference --rounds 5 --variant ring64:--context=63 --variant ring3001:--context=3000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(cmd: list[str]) -> dict:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    line = [l for l in out.stdout.splitlines() if l.startswith("{")][-1]
    return json.loads(line)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True)
    p.add_argument("--config")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--bench", default=os.environ.get("MOSHI_BENCH", str(ROOT / "target/release/moshi-bench")))
    p.add_argument("--variant", action="append", default=[],
                   help="NAME:ARGS for moshi-bench (default: port with default streams)")
    p.add_argument("--control", action="store_true",
                   help="also run moshi_mlx a second time per round (`moshi_mlx_ctl`): its ratio to "
                        "moshi_mlx is the run's noise floor (an A/A comparison)")
    p.add_argument("--no-reference", action="store_true",
                   help="skip moshi_mlx (compare port variants only; ratios are then to the first variant)")
    args = p.parse_args(argv)
    common = ["--weights", args.weights, "--steps", str(args.steps), "--warmup", str(args.warmup)]
    if args.config:
        common += ["--config", args.config]
    variants: dict[str, list[str]] = {}
    for v in args.variant or ["port:"]:
        name, _, extra = v.partition(":")
        variants[name] = [args.bench, *common, *[a for a in extra.replace("=", " ").split() if a]]
    reference = [sys.executable, str(ROOT / "scripts/reference/bench_moshi_mlx.py"), *common]
    if not args.no_reference:
        variants["moshi_mlx"] = reference
        if args.control:
            variants["moshi_mlx_ctl"] = list(reference)
    names = list(variants)
    base = names[0] if args.no_reference else "moshi_mlx"
    p50: dict[str, list[float]] = {n: [] for n in names}
    loads: list[float] = []
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for n in order:
            res = run(variants[n])
            ms = res["ms_per_step"]
            p50[n].append(ms["p50"])
            loads.append(os.getloadavg()[0])
            print(f"round {r + 1} {n:10s} p50 {ms['p50']:9.1f} ms  min {ms['min']:9.1f}  "
                  f"load {loads[-1]:.2f}  {json.dumps({k: res.get(k) for k in ('cpu_streams', 'context', 'lookahead')})}",
                  flush=True)
    ref = statistics.median(p50[base])
    print(f"\nmedian of {args.rounds} runs' p50 ({args.steps} steps after {args.warmup} warm-up each); "
          f"load average {min(loads):.2f}-{max(loads):.2f} (median {statistics.median(loads):.2f})")
    summary = {}
    for n in names:
        m = statistics.median(p50[n])
        # Paired per round: this variant's p50 over the base's p50 of the same round (the
        # load of one round hits both), then the median and range of those ratios.
        paired = sorted(a / b for a, b in zip(p50[n], p50[base]))
        summary[n] = {"median_ms": round(m, 1), "min_ms": min(p50[n]), "max_ms": max(p50[n]),
                      "ratio_to_" + base: round(m / ref, 3),
                      "paired_ratio_median": round(statistics.median(paired), 3),
                      "paired_ratio_range": [round(paired[0], 3), round(paired[-1], 3)],
                      "runs": p50[n]}
        print(f"  {n:12s} {m:9.1f} ms (runs {min(p50[n]):.1f}-{max(p50[n]):.1f})   ratio of medians "
              f"{m / ref:.3f}   paired per-round ratio median {statistics.median(paired):.3f} "
              f"(range {paired[0]:.3f}-{paired[-1]:.3f})")
    print(json.dumps({"summary": summary, "base": base, "loadavg": [min(loads), max(loads)]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
