#!/usr/bin/env python3
"""Benchmark moshi_mlx `LmGen.step` on this CPU with the weights the Rust port loads.

    bench_moshi_mlx.py --weights .cache/bench/mid-lm/model.safetensors \\
                       --config .cache/bench/mid-lm/config.json --steps 50
    bench_moshi_mlx.py --weights .cache/bench/full-q4/model.q4.safetensors \\
                       --config .cache/bench/full-q4/config.json --steps 5

The model is built as moshi_mlx/local.py does (`Lm(cfg)`, `set_dtype(bf16)`,
`nn.quantize` when the file is quantized or `--quantize` is given, then
`load_weights(strict=True)`). `--config` is a repo's config.json in Kyutai's
format, read with `LmConfig.from_config_dict` as moshi_mlx's run_inference.py does; without it the 7B `config_v0_1` is used. Each step feeds 8 random user
codes and waits for the text token and the audio frame (`mx.eval`), as the
server loop of local.py does. Prints one JSON line: load time, ms/step
(mean/p50/p90/min/max), peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import struct
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from moshi_mlx import models  # noqa: E402
from moshi_mlx.utils import sampling  # noqa: E402


def stats(ms: list[float]) -> dict:
    """mean / p50 / p90 / min / max of a list of milliseconds."""
    a = np.array(ms)
    return {"mean": round(float(a.mean()), 3), "p50": round(float(np.percentile(a, 50)), 3),
            "p90": round(float(np.percentile(a, 90)), 3), "min": round(float(a.min()), 3),
            "max": round(float(a.max()), 3)}


def load_config(path: str | None):
    """LM config from a Kyutai-format config.json (as moshi_mlx's run_inference.py reads
    it), or `config_v0_1()`."""
    if not path:
        return models.config_v0_1()
    return models.LmConfig.from_config_dict(json.loads(open(path).read()))


def safetensors_header(path: str) -> dict:
    """The JSON header of a safetensors file (name -> dtype/shape), without loading data."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def file_bits(weights: str) -> tuple[int | None, int | None]:
    """(bits, group_size) of a quantized MLX checkpoint, or (None, None)."""
    h = safetensors_header(weights)
    if "text_linear.scales" not in h:
        return None, None
    packed = h["text_linear.weight"]["shape"][-1]   # in·bits/32
    groups = h["text_linear.scales"]["shape"][-1]   # in/group
    for bits in (4, 8, 2, 3, 6):
        in_dim = packed * 32 // bits
        if in_dim % groups == 0 and in_dim // groups in (32, 64, 128):
            return bits, in_dim // groups
    raise ValueError("cannot infer the quantization of " + weights)


def build(cfg, weights: str, quantize: int | None, fp32: bool = False) -> tuple[models.Lm, dict]:
    """Build and load the model like local.py (optionally cast to fp32 afterwards,
    as the fp32 fixture runs do); returns (model, info)."""
    bits, gs = file_bits(weights)
    model = models.Lm(cfg)
    model.set_dtype(mx.bfloat16)
    if bits:
        nn.quantize(model, bits=bits, group_size=gs)
    model.load_weights(weights, strict=True)
    if quantize and not bits:
        bits, gs = quantize, 32 if quantize == 4 else 64
        nn.quantize(model, bits=bits, group_size=gs)
    if fp32 and not bits:
        model.set_dtype(mx.float32)
    mx.eval(model.parameters())
    return model, {"dtype": "float32" if fp32 and not bits else "bfloat16", "bits": bits, "group_size": gs, "runtime_quantized": bool(quantize and bits == quantize)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True)
    p.add_argument("--config")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--quantize", type=int, choices=[4, 8], help="quantize a bf16 file at load time")
    p.add_argument("--fp32", action="store_true", help="cast an unquantized model to fp32 after loading")
    p.add_argument("--sampler", choices=["local", "argmax"], default="local",
                   help="local = Sampler() defaults of local.py (temp 0.8, top_p 0.95)")
    p.add_argument("--seed", type=int, default=299792458)
    args = p.parse_args(argv)
    mx.set_default_device(mx.cpu)
    cfg = load_config(args.config)
    t0 = time.perf_counter()
    model, info = build(cfg, args.weights, args.quantize, args.fp32)
    load_s = time.perf_counter() - t0
    sampler = sampling.Sampler() if args.sampler == "local" else sampling.Sampler(temp=0.0)
    mx.random.seed(args.seed)
    total = args.warmup + args.steps
    gen = models.LmGen(model=model, max_steps=total + 8, text_sampler=sampler, audio_sampler=sampler)
    rng = np.random.default_rng(0)
    card = cfg.audio_vocab_size - 1
    times = []
    for i in range(total):
        codes = mx.array(rng.integers(0, card, (1, cfg.other_codebooks)), dtype=mx.int32)
        t = time.perf_counter()
        text, _ = gen.step(codes)
        audio = gen.last_audio_tokens()
        mx.eval(text) if audio is None else mx.eval(text, audio)
        text.item()
        if i >= args.warmup:
            times.append((time.perf_counter() - t) * 1e3)
    t, d = cfg.transformer, cfg.depformer.transformer
    print(json.dumps({
        "impl": "moshi_mlx", "weights": args.weights, "device": str(mx.default_device()),
        "config": {"d_model": t.d_model, "num_layers": t.num_layers, "num_heads": t.num_heads,
                   "depformer": [d.d_model, d.num_layers, d.num_heads, cfg.depformer.num_slices],
                   "text_vocab": cfg.text_out_vocab_size, "audio_card": card},
        **info, "sampler": args.sampler, "steps": args.steps, "warmup": args.warmup,
        "load_s": round(load_s, 2), "ms_per_step": stats(times),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "loadavg_1m": round(os.getloadavg()[0], 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
