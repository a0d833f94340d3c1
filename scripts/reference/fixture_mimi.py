"""Run moshi_mlx's Mimi in batch and streaming mode, in two variants.

- `candle`: moshi_mlx Mimi with the semantics of candle/rustymimi and PyTorch
  moshi: a causal + context attention mask (keys with q-context <= p <= q) is
  injected whenever a transformer call covers more than one step, and the MLP
  uses the exact erf GELU (see `candle_semantics()`).
- `mlx`: moshi_mlx exactly as shipped.
"""

from __future__ import annotations

import contextlib

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from moshi_mlx.models.mimi import Mimi
from moshi_mlx.modules import transformer as tr

FRAME = 1920

VARIANT_NOTES = {
    "candle": "moshi_mlx Mimi run with candle/rustymimi (and PyTorch) semantics: causal + context "
              "attention mask and erf GELU (see candle_semantics()); batch == streaming. "
              "Recommended target for the port.",
    "mlx": "moshi_mlx Mimi exactly as shipped (no attention mask: bidirectional inside each call), "
           "bit-for-bit what models/mimi.py produces.",
}


def context_mask(t: int, k_len: int, context: int) -> mx.array:
    """Boolean mask (t, k_len): the t queries are the last t of the k_len keys;
    query q may see key p iff q - context <= p <= q."""
    q = mx.arange(k_len - t, k_len)[:, None]
    p = mx.arange(k_len)[None, :]
    return (p <= q) & (p >= q - context)


def _masked_attention_call(self, xs, cache, mask=None):
    """`Attention.__call__` of moshi_mlx 0.3.0 plus the candle causal+context mask."""
    b, t, hd = xs.shape
    qkv = self.in_proj(xs).reshape(b, t, 3, self.cfg.num_heads, self.cfg.head_dim)
    q = qkv[:, :, 0].transpose(0, 2, 1, 3)
    k = qkv[:, :, 1].transpose(0, 2, 1, 3)
    v = qkv[:, :, 2].transpose(0, 2, 1, 3)
    if self.rope is not None:
        q = self.rope(q, offset=cache.offset)
        k = self.rope(k, offset=cache.offset)
    k, v = cache.update_and_fetch(k, v)
    k_len = k.shape[2]
    k_target_len = t + min(self.cfg.context, k_len - t)
    if k_target_len < k_len:
        k = k[:, :, k_len - k_target_len:]
        v = v[:, :, k_len - k_target_len:]
    if mask is None and t > 1:
        mask = context_mask(t, k.shape[2], self.cfg.context)
    xs = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask=mask)
    xs = xs.transpose(0, 2, 1, 3).reshape(b, t, hd)
    return self.out_proj(xs)


def _erf_mlp_call(self, xs):
    """`MlpNoGating.__call__` with the exact erf GELU (candle's gelu_erf)."""
    return self.linear2(nn.gelu(self.linear1(xs)))


@contextlib.contextmanager
def candle_semantics():
    """Temporarily patch moshi_mlx's transformer to candle/PyTorch semantics."""
    old_attn, old_mlp = tr.Attention.__call__, tr.MlpNoGating.__call__
    tr.Attention.__call__ = _masked_attention_call
    tr.MlpNoGating.__call__ = _erf_mlp_call
    try:
        yield
    finally:
        tr.Attention.__call__, tr.MlpNoGating.__call__ = old_attn, old_mlp


def variant_context(variant: str):
    """The context manager for a variant name (`candle` or `mlx`)."""
    return candle_semantics() if variant == "candle" else contextlib.nullcontext()


def load_mimi(cfg, pt_file: str, strict: bool = False) -> Mimi:
    """Build a Mimi and load a PyTorch-named checkpoint (strict=False lets an
    8-codebook model read a 16/32-codebook file)."""
    model = Mimi(cfg)
    model.load_pytorch_weights(pt_file, strict=strict)
    mx.eval(model.parameters())
    return model


def strict_load_error(cfg, pt_file: str) -> str:
    """What a strict load of the file into `cfg` says (first line of the error)."""
    try:
        Mimi(cfg).load_pytorch_weights(pt_file, strict=True)
    except ValueError as e:
        return f"ValueError: {str(e).splitlines()[0].strip()}"
    return "ok"


def batch_run(model: Mimi, pcm: mx.array) -> dict[str, mx.array]:
    """Batch encode (with intermediates) and decode of a (1,1,n) waveform."""
    model.reset_all()
    model.encoder.reset_state()
    for c in model.encoder_cache:
        c.reset()
    enc = model.encoder(pcm)
    enc_tr = model.encoder_transformer(enc, cache=model.encoder_cache)[0]
    latent = model.downsample(enc_tr)
    codes = model.quantizer.encode(latent)
    mx.eval(enc, enc_tr, latent, codes)
    codes2 = model.encode(pcm)
    assert np.array_equal(np.array(codes), np.array(codes2)), "manual encode != Mimi.encode"
    decoded = model.decode(codes)
    mx.eval(decoded)
    return {"batch_codes": codes.astype(mx.int32), "batch_encoder_out": enc,
            "batch_encoder_transformer_out": enc_tr, "batch_latent": latent,
            "batch_decoded_pcm": decoded}


def stream_encode(model: Mimi, pcm: mx.array) -> mx.array:
    """Frame-by-frame `encode_step`, returns (1, nq, frames) int32."""
    model.reset_all()
    out = []
    for i in range(pcm.shape[-1] // FRAME):
        c = model.encode_step(pcm[..., i * FRAME:(i + 1) * FRAME])
        mx.eval(c)
        out.append(c)
    return mx.concatenate(out, axis=-1).astype(mx.int32)


def stream_decode(model: Mimi, codes: mx.array) -> mx.array:
    """Frame-by-frame `decode_step`, returns (1, 1, frames*1920) fp32."""
    model.reset_all()
    out = []
    for i in range(codes.shape[-1]):
        y = model.decode_step(codes[..., i:i + 1])
        mx.eval(y)
        out.append(y)
    return mx.concatenate(out, axis=-1)


def run_variant(cfg, pt_file: str, pcm: mx.array, variant: str) -> dict[str, mx.array]:
    """All arrays of one variant: batch (+ intermediates) and streaming."""
    with variant_context(variant):
        model = load_mimi(cfg, pt_file)
        out = batch_run(model, pcm)
        out["stream_codes"] = stream_encode(model, pcm)
        out["stream_decoded_pcm"] = stream_decode(model, out["stream_codes"])
        out["stream_decoded_pcm_from_batch_codes"] = stream_decode(model, out["batch_codes"])
    return out


def test_signal(rng: np.random.Generator, num_samples: int, sample_rate: int = 24000) -> dict:
    """A deterministic input: 0.3·sin(2π f t) + 0.05·N(0,1), f drawn in [150, 450) Hz."""
    hz = float(rng.uniform(150.0, 450.0))
    t = np.arange(num_samples) / sample_rate
    pcm = (0.3 * np.sin(2 * np.pi * hz * t) + 0.05 * rng.standard_normal(num_samples)).astype(np.float32)
    return {"sine_hz": hz, "amplitude": 0.3, "noise_std": 0.05, "num_samples": num_samples,
            "pcm": pcm}
