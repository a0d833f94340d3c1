#!/usr/bin/env python3
"""Random-weight checkpoints for benchmarks (not fixtures: no reference outputs).

    make_bench_weights.py --what mid-lm    --out .cache/bench/mid-lm
        model.safetensors (bf16, MLX names) + config.json (Kyutai's format):
        d_model 1024, 8 heads (head_dim 128), 8 layers, full depformer
        (1024 wide, 6 layers, 16 heads, 8 slices), real vocabularies.
    make_bench_weights.py --what full-q4   --out .cache/bench/full-q4
        model.q4.safetensors for the real config_v0_1 (4 bits, group 32, as
        local.py -q 4), generated and quantized one tensor at a time (peak RAM
        about the size of the output, ~5 GB) + config.json.
    make_bench_weights.py --what mimi-full --out .cache/bench/mimi-full
        tokenizer-e351c8d8-checkpoint125.safetensors: real-size Mimi
        (mimi_202407, 32 codebooks) under PyTorch names, verified by a strict
        load_pytorch_weights + fixture_mimi_config.json (fixture-only Mimi config), and speech-24k.wav
        (espeak-ng + sox, 24 kHz mono 16-bit) when those tools are installed.

LM values follow the fixture rules (fixture_weights.py), but for speed every
tensor is a window, at a seeded random offset, of one pool of 2^27 N(0,1)
values drawn once with MLX (drawing 7.7 B independent normals takes ~20 min on
this CPU). Fine for timing and memory; not meant for numerical references.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_configs as fc  # noqa: E402
from make_fixture import write_mimi_checkpoint  # noqa: E402
from moshi_mlx import models  # noqa: E402


def quantizable_paths(model: nn.Module) -> set[str]:
    """Module paths that `nn.quantize` would convert (Linear and Embedding)."""
    return {path for path, m in model.named_modules() if hasattr(m, "to_quantized")}


POOL_SIZE = 1 << 27  # >= the largest tensor (text_emb of the 7B: 32001 x 4096)


class NormalPool:
    """Windows of one big pool of N(0,1) values, at seeded random offsets."""

    def __init__(self, seed: int, size: int = POOL_SIZE):
        self.pool = mx.random.normal((size,), key=mx.random.key(seed))
        mx.eval(self.pool)
        self.rng = np.random.default_rng(seed)

    def take(self, shape) -> mx.array:
        """A (shape)-shaped window of the pool."""
        n = int(np.prod(shape))
        if n > self.pool.size:
            raise ValueError(f"tensor of {n} values is larger than the pool")
        off = int(self.rng.integers(0, self.pool.size - n + 1))
        return self.pool[off:off + n].reshape(shape)


def lm_tensor(name: str, shape, pool: NormalPool) -> mx.array:
    """One bf16 LM tensor following the fixture rules."""
    z = pool.take(shape)
    last = name.split(".")[-2]
    if "norm" in last:
        v = 1.0 + 0.2 * z
    elif last == "emb" or name.startswith(("text_emb.", "audio_embs.")):
        v = z
    else:
        v = z * (1.0 / shape[1] ** 0.5)
        if name == "text_linear.weight" or (name.startswith("depformer.slices.") and name.endswith(".linear_out.weight")
                                            and ".transformer." not in name):
            v = v * 3.0
    return v.astype(mx.bfloat16)


def lm_weights(cfg, seed: int, bits: int | None = None, group_size: int | None = None):
    """Yield (name, array) for every tensor of the checkpoint, one at a time.
    With `bits`, Linear/Embedding weights are quantized as `nn.quantize` does."""
    model = models.Lm(cfg)  # lazy: only used for names and shapes
    qpaths = quantizable_paths(model) if bits else set()
    params = tree_flatten(model.parameters())
    pool = NormalPool(seed)
    for name, p in params:
        w = lm_tensor(name, tuple(p.shape), pool)
        owner = name.rsplit(".", 1)[0]
        if owner in qpaths and name.endswith(".weight"):
            wq, scales, biases = mx.quantize(w, group_size=group_size, bits=bits)
            mx.eval(wq, scales, biases)
            yield name, wq
            yield f"{owner}.scales", scales
            yield f"{owner}.biases", biases
        else:
            mx.eval(w)
            yield name, w


def expected_tensors(cfg, bits: int | None, group_size: int | None) -> dict[str, tuple]:
    """name -> (shape, dtype) that moshi_mlx's loader expects (lazy model, nothing evaluated)."""
    model = models.Lm(cfg)
    model.set_dtype(mx.bfloat16)
    if bits:
        nn.quantize(model, bits=bits, group_size=group_size)
    return {k: (tuple(v.shape), v.dtype) for k, v in tree_flatten(model.parameters())}


def write_lm(out: Path, cfg, fname: str, seed: int, bits=None, group_size=None) -> None:
    """Generate, check against the loader's expectations, and save one LM checkpoint."""
    t0 = time.time()
    tensors = dict(lm_weights(cfg, seed, bits, group_size))
    want = expected_tensors(cfg, bits, group_size)
    got = {k: (tuple(v.shape), v.dtype) for k, v in tensors.items()}
    if got != want:
        bad = sorted(set(got) ^ set(want))[:5] or [k for k in got if got[k] != want[k]][:5]
        raise RuntimeError(f"tensor set differs from what moshi_mlx loads: {bad}")
    mx.save_safetensors(str(out / fname), tensors, metadata={"format": "mlx"})
    n = sum(v.nbytes for v in tensors.values())
    print(f"{fname}: {len(tensors)} tensors, {n / 1e9:.2f} GB, {time.time() - t0:.0f} s")
    del tensors
    (out / "config.json").write_text(json.dumps(fc.kyutai_config(cfg, moshi_name=fname), indent=1))


SPEECH = ("Hello, this is a test of the Mimi codec. It turns speech into tokens, "
          "twelve and a half times per second, and back into speech.")


def write_speech_wav(path: Path) -> bool:
    """A short English speech WAV at 24 kHz mono 16-bit (espeak-ng, then sox)."""
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        return False
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-w", str(raw), SPEECH], check=True)
    subprocess.run(["sox", str(raw), "-r", "24000", "-c", "1", "-b", "16", str(path)], check=True)
    raw.unlink()
    return True


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--what", choices=["mid-lm", "full-q4", "mimi-full"], required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    mx.set_default_device(mx.cpu)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.what == "mid-lm":
        write_lm(args.out, fc.mid_lm(), "model.safetensors", args.seed)
    elif args.what == "full-q4":
        write_lm(args.out, fc.full_lm(), "model.q4.safetensors", args.seed, bits=4, group_size=32)
    else:
        cfg = fc.full_mimi(32)
        write_mimi_checkpoint(args.out / "tokenizer-e351c8d8-checkpoint125.safetensors", cfg, args.seed)
        (args.out / fc.FIXTURE_MIMI_CONFIG).write_text(json.dumps(fc.mimi_config_json(cfg), indent=1))
        print("tokenizer-e351c8d8-checkpoint125.safetensors written (strict load verified)")
        if write_speech_wav(args.out / "speech-24k.wav"):
            print("speech-24k.wav written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
