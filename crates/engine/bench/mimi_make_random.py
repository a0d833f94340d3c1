#!/usr/bin/env python3
"""Write a real-size Mimi checkpoint with random weights, PyTorch names and layouts.

The tensor names, shapes and layouts are those of `tokenizer-e351c8d8-checkpoint125.safetensors`
(mimi_202407: SEANet ratios 8,6,5,4, nfilters 64, dimension 512, 8-layer transformers of width
512, split RVQ of dim 256 with 2048 bins). Both `rustymimi` and the engine's `Mimi::load` read it,
so the two can be benchmarked on the same weights. Random values follow the fixture recipe
(linears N(0,1)/sqrt(fan_in), biases 0.1*N(0,1), norms 1+0.2*N(0,1), LayerScale U(0.05,0.5),
cluster usage U(0.5,2)), which keeps activations in a sane range without training.

usage: mimi_make_random.py OUT.safetensors [--codebooks 32] [--seed 0]
"""

import argparse

import numpy as np
from safetensors.numpy import save_file

RATIOS = [8, 6, 5, 4]
NFILTERS = 64
DIM = 512
LAYERS = 8
FF = 2048
QDIM = 256
BINS = 2048


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--codebooks", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t: dict[str, np.ndarray] = {}

    def lin(*shape: int, fan_in: int) -> np.ndarray:
        return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)

    def conv(name: str, out_ch: int, in_ch: int, k: int) -> None:
        t[f"{name}.conv.conv.weight"] = lin(out_ch, in_ch, k, fan_in=in_ch * k)
        t[f"{name}.conv.conv.bias"] = (0.1 * rng.standard_normal(out_ch)).astype(np.float32)

    def convtr(name: str, in_ch: int, out_ch: int, k: int, stride: int) -> None:
        t[f"{name}.convtr.convtr.weight"] = lin(in_ch, out_ch, k, fan_in=in_ch * k // stride)
        t[f"{name}.convtr.convtr.bias"] = (0.1 * rng.standard_normal(out_ch)).astype(np.float32)

    def resblock(name: str, dim: int) -> None:
        conv(f"{name}.block.1", dim // 2, dim, 3)
        conv(f"{name}.block.3", dim, dim // 2, 1)

    # Encoder: conv, then per ratio (reversed) resblock, ELU, strided conv; ELU, conv.
    conv("encoder.model.0", NFILTERS, 1, 7)
    idx, mult = 1, 1
    for r in reversed(RATIOS):
        d = mult * NFILTERS
        resblock(f"encoder.model.{idx}", d)
        conv(f"encoder.model.{idx + 2}", 2 * d, d, 2 * r)
        idx += 3
        mult *= 2
    conv(f"encoder.model.{idx + 1}", DIM, mult * NFILTERS, 3)

    # Decoder: conv, then per ratio ELU, transposed conv, resblock; ELU, conv.
    mult = 1 << len(RATIOS)
    conv("decoder.model.0", mult * NFILTERS, DIM, 7)
    idx = 1
    for r in RATIOS:
        d = mult * NFILTERS
        convtr(f"decoder.model.{idx + 1}", d, d // 2, 2 * r, r)
        resblock(f"decoder.model.{idx + 2}", d // 2)
        idx += 3
        mult //= 2
    conv(f"decoder.model.{idx + 1}", 1, NFILTERS, 3)

    for side in ("encoder", "decoder"):
        for i in range(LAYERS):
            p = f"{side}_transformer.transformer.layers.{i}"
            t[f"{p}.self_attn.in_proj_weight"] = lin(3 * DIM, DIM, fan_in=DIM)
            t[f"{p}.self_attn.out_proj.weight"] = lin(DIM, DIM, fan_in=DIM)
            t[f"{p}.linear1.weight"] = lin(FF, DIM, fan_in=DIM)
            t[f"{p}.linear2.weight"] = lin(DIM, FF, fan_in=FF)
            for n in ("norm1", "norm2"):
                t[f"{p}.{n}.weight"] = (1 + 0.2 * rng.standard_normal(DIM)).astype(np.float32)
                t[f"{p}.{n}.bias"] = (0.1 * rng.standard_normal(DIM)).astype(np.float32)
            for n in ("layer_scale_1", "layer_scale_2"):
                t[f"{p}.{n}.scale"] = rng.uniform(0.05, 0.5, DIM).astype(np.float32)

    t["downsample.conv.conv.conv.weight"] = lin(DIM, DIM, 4, fan_in=DIM * 4)
    t["upsample.convtr.convtr.convtr.weight"] = lin(DIM, 1, 4, fan_in=2)

    for part, n in (("rvq_first", 1), ("rvq_rest", args.codebooks - 1)):
        p = f"quantizer.{part}"
        t[f"{p}.input_proj.weight"] = lin(QDIM, DIM, 1, fan_in=DIM)
        t[f"{p}.output_proj.weight"] = lin(DIM, QDIM, 1, fan_in=QDIM)
        for i in range(n):
            c = f"{p}.vq.layers.{i}._codebook"
            t[f"{c}._initialized"] = np.ones(1, dtype=np.float32)
            usage = rng.uniform(0.5, 2.0, BINS).astype(np.float32)
            t[f"{c}.cluster_usage"] = usage
            emb = rng.standard_normal((BINS, QDIM)).astype(np.float32)
            t[f"{c}.embedding_sum"] = emb * usage[:, None]

    save_file(t, args.out)
    params = sum(v.size for v in t.values())
    print(f"wrote {args.out}: {len(t)} tensors, {params / 1e6:.1f}M values")


if __name__ == "__main__":
    main()
