"""Seeded random weights for tiny Moshi models, under the real tensor names.

Rules (README of the seed-0 fixtures):
- LM: norms 1+0.2·N(0,1), embeddings N(0,1), linears N(0,1)/sqrt(fan_in), the
  output heads (`text_linear`, `depformer.slices.N.linear_out`) ×3; values are
  rounded to bf16.
- Mimi (fp32): conv / linear weights N(0,1)/sqrt(fan_in) with fan_in the
  product of the MLX weight shape without its first axis, biases 0.1·N(0,1),
  norm weights 1+0.2·N(0,1), LayerScale U(0.05,0.5), codebook `embedding_sum`
  N(0,1), `cluster_usage` U(0.5,2), `initialized` 1.

Values are drawn with `numpy.random.default_rng([seed, stream])`, one stream per
model, in the order of `tree_flatten(model.parameters())`.
"""

from __future__ import annotations

import re

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

# Independent random streams per seed.
STREAM_LM = 1
STREAM_LM_Q = 2
STREAM_MIMI = 3
STREAM_INPUTS = 4
STREAM_MIMI_INPUT = 5


def rng_for(seed: int, stream: int) -> np.random.Generator:
    """The numpy generator for one (seed, stream) pair."""
    return np.random.default_rng([seed, stream])


def _normal(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32)


def lm_param_value(rng: np.random.Generator, name: str, shape) -> np.ndarray:
    """Draw one LM tensor (fp32, not yet rounded) following the fixture rules."""
    last = name.split(".")[-2] if "." in name else name
    if "norm" in last:
        return 1.0 + 0.2 * _normal(rng, shape)
    if last == "emb" or name.startswith("text_emb.") or name.startswith("audio_embs."):
        return _normal(rng, shape)
    w = _normal(rng, shape) / np.float32(np.sqrt(shape[1]))
    if name == "text_linear.weight" or re.fullmatch(r"depformer\.slices\.\d+\.linear_out\.weight", name):
        w = w * np.float32(3.0)
    return w


def random_lm_weights(model, seed: int, stream: int = STREAM_LM) -> dict[str, mx.array]:
    """Seeded bf16 weights for every parameter of an (unquantized) `Lm`."""
    rng = rng_for(seed, stream)
    out = {}
    for name, p in tree_flatten(model.parameters()):
        v = lm_param_value(rng, name, tuple(p.shape))
        out[name] = mx.array(v).astype(mx.bfloat16)
    return out


def mimi_param_value(rng: np.random.Generator, name: str, shape) -> np.ndarray:
    """Draw one Mimi tensor (fp32, MLX name and layout) following the fixture rules."""
    parts = name.split(".")
    leaf, owner = parts[-1], parts[-2]
    if leaf == "initialized":
        return np.ones(shape, np.float32)
    if leaf == "cluster_usage":
        return rng.uniform(0.5, 2.0, shape).astype(np.float32)
    if leaf == "embedding_sum":
        return _normal(rng, shape)
    if owner.startswith("layer_scale"):
        return rng.uniform(0.05, 0.5, shape).astype(np.float32)
    if owner.startswith("norm"):
        if leaf == "weight":
            return 1.0 + 0.2 * _normal(rng, shape)
        return 0.1 * _normal(rng, shape)
    if leaf == "bias":
        return 0.1 * _normal(rng, shape)
    fan_in = int(np.prod(shape[1:]))
    return _normal(rng, shape) / np.float32(np.sqrt(fan_in))


def random_mimi_weights(model, seed: int, stream: int = STREAM_MIMI) -> dict[str, mx.array]:
    """Seeded fp32 weights for every parameter of a `Mimi`, MLX names/layouts."""
    rng = rng_for(seed, stream)
    out = {}
    for name, p in tree_flatten(model.parameters()):
        out[name] = mx.array(mimi_param_value(rng, name, tuple(p.shape)).astype(np.float32))
    return out


# ---------------------------------------------------------------------------
# Mimi: MLX names/layouts <-> PyTorch checkpoint names/layouts
# ---------------------------------------------------------------------------

_ENC_RES = {1: 0, 4: 1, 7: 2, 10: 3}      # encoder.model.N (resblock) -> layer
_ENC_DOWN = {3: 0, 6: 1, 9: 2, 12: 3}     # encoder.model.N (strided conv) -> layer
_DEC_UP = {2: 0, 5: 1, 8: 2, 11: 3}       # decoder.model.N (convtr) -> layer
_DEC_RES = {3: 0, 6: 1, 9: 2, 12: 3}      # decoder.model.N (resblock) -> layer


def _seanet_mlx_to_pt(name: str) -> str:
    """Map a SEANet MLX path (`encoder.layers.0.downsample...`) to PyTorch."""
    side, rest = name.split(".", 1)
    inv = {}
    if side == "encoder":
        inv.update({f"layers.{l}.residuals.0.": n for n, l in _ENC_RES.items()})
        inv.update({f"layers.{l}.downsample.": n for n, l in _ENC_DOWN.items()})
        inv["init_conv1d."] = 0
        inv["final_conv1d."] = 14
    else:
        inv.update({f"layers.{l}.upsample.": n for n, l in _DEC_UP.items()})
        inv.update({f"layers.{l}.residuals.0.": n for n, l in _DEC_RES.items()})
        inv["init_conv1d."] = 0
        inv["final_conv1d."] = 14
    for prefix, idx in inv.items():
        if rest.startswith(prefix):
            rest = f"{idx}." + rest[len(prefix):]
            break
    else:
        raise KeyError(f"unmapped SEANet parameter {name}")
    rest = rest.replace(".block.1.", ".block.3.").replace(".block.0.", ".block.1.")
    return f"{side}.model.{rest}"


def mimi_mlx_to_pt_name(name: str) -> str:
    """The PyTorch checkpoint name of an MLX Mimi parameter (inverse of
    `Mimi.load_pytorch_weights`' renaming)."""
    if name.startswith("encoder.") or name.startswith("decoder."):
        name = _seanet_mlx_to_pt(name)
    name = name.replace(".gating.linear1.", ".linear1.").replace(".gating.linear2.", ".linear2.")
    name = name.replace(".self_attn.in_proj.weight", ".self_attn.in_proj_weight")
    name = name.replace(".codebook.initialized", "._codebook._initialized")
    name = name.replace(".codebook.", "._codebook.")
    return name


def mimi_mlx_to_pt_layout(name: str, v: mx.array) -> mx.array:
    """Convert an MLX Mimi tensor to the PyTorch layout of `name` (MLX name):
    conv (out,k,in) -> (out,in,k); convtr (out,k,in) -> (in,out,k)."""
    if name.endswith(".convtr.weight"):
        return v.transpose(2, 0, 1)
    if name.endswith(".conv.weight") or name.endswith(".output_proj.weight") or name.endswith(".input_proj.weight"):
        return v.swapaxes(-1, -2)
    return v


def mimi_to_pytorch(weights: dict[str, mx.array]) -> dict[str, mx.array]:
    """Rename and re-layout MLX Mimi weights into the PyTorch checkpoint form."""
    return {mimi_mlx_to_pt_name(k): mimi_mlx_to_pt_layout(k, v) for k, v in weights.items()}
