"""Run a Moshi LM through moshi_mlx `LmGen` and record everything a port needs.

The recorded JSON shape is the one of
`/work/shared/reference/moshi-tiny-seed0/lm_reference.json` (`runs.<name>`).
"""

from __future__ import annotations

import dataclasses

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from moshi_mlx import models
from moshi_mlx.utils import sampling

ARGMAX = sampling.Sampler(temp=0.0)
LOCAL_DEFAULTS = sampling.Sampler()  # temp 0.8, top_p 0.95, as moshi_mlx/local.py


class RecordingSampler:
    """Wraps a `Sampler`, keeping every logits array it saw and every token it chose."""

    def __init__(self, inner: sampling.Sampler):
        self.inner = inner
        self.logits: list[mx.array] = []
        self.tokens: list[int] = []

    def __call__(self, logits: mx.array):
        token, logprobs = self.inner(logits)
        self.logits.append(logits)
        self.tokens.append(int(token.reshape(-1)[0].item()))
        return token, logprobs


def build_lm(cfg, weights_file: str, dtype=mx.float32, bits: int | None = None,
             group_size: int | None = None) -> models.Lm:
    """Build an `Lm` and load a checkpoint as moshi_mlx/local.py does.

    bf16 / quantized: `set_dtype(bf16)`, optional `nn.quantize`, `load_weights`.
    fp32: load the bf16 file, then cast every parameter to fp32.
    """
    model = models.Lm(cfg)
    model.set_dtype(mx.bfloat16)
    if bits is not None:
        nn.quantize(model, bits=bits, group_size=group_size)
    model.load_weights(weights_file, strict=True)
    if dtype == mx.float32 and bits is None:
        model.set_dtype(mx.float32)
    mx.eval(model.parameters())
    return model


def _floats(a: mx.array) -> list[float]:
    return np.array(a.astype(mx.float32)).reshape(-1).astype(float).tolist()


def top2_gap(a: mx.array) -> float:
    """Margin between the two largest logits (in the logits' own dtype)."""
    v = np.sort(np.array(a.astype(mx.float32)).reshape(-1).astype(np.float64))
    return float(v[-1] - v[-2])


def sampler_json(s: sampling.Sampler) -> dict:
    """A `Sampler` as a JSON dict."""
    return dataclasses.asdict(s)


def run_lmgen(model: models.Lm, other_audio_tokens: list[list[int]],
              text_sampler: sampling.Sampler, audio_sampler: sampling.Sampler,
              record_transformer_out: bool, random_seed: int | None = None) -> dict:
    """Drive `LmGen` for len(other_audio_tokens) steps and record each step.

    If `random_seed` is given, `mx.random.seed(random_seed)` is called right
    before the first step (after the model was built and loaded).
    """
    steps = len(other_audio_tokens)
    ts, aus = RecordingSampler(text_sampler), RecordingSampler(audio_sampler)
    gen = models.LmGen(model=model, max_steps=steps, text_sampler=ts, audio_sampler=aus)
    inputs: list[tuple[int, list[int]]] = []
    original = model._sample

    def recording_sample(text_ids, audio_ids, *args, **kwargs):
        inputs.append((int(text_ids.reshape(-1)[0].item()),
                       [int(t.reshape(-1)[0].item()) for t in audio_ids]))
        return original(text_ids, audio_ids, *args, **kwargs)

    model._sample = recording_sample
    if random_seed is not None:
        mx.random.seed(random_seed)
    n_slices = model.cfg.depformer.num_slices
    records = []
    try:
        for i, row in enumerate(other_audio_tokens):
            text, tout = gen.step(mx.array([row], dtype=mx.int32))
            mx.eval(text, tout)
            last = gen.last_audio_tokens()
            a_logits = aus.logits[i * n_slices:(i + 1) * n_slices]
            rec = {
                "step": i,
                "model_input": {"text": inputs[i][0], "audio": inputs[i][1]},
                "text_token": int(text.reshape(-1)[0].item()),
                "depformer_tokens": aus.tokens[i * n_slices:(i + 1) * n_slices],
                "last_audio_tokens": None if last is None else np.array(last).reshape(-1).astype(int).tolist(),
                "text_logits": _floats(ts.logits[i]),
                "text_top2_gap": top2_gap(ts.logits[i]),
                "audio_logits": [_floats(l) for l in a_logits],
                "audio_top2_gaps": [top2_gap(l) for l in a_logits],
            }
            if record_transformer_out:
                rec["transformer_out"] = _floats(tout)
            records.append(rec)
    finally:
        del model._sample
    gaps = [r["text_top2_gap"] for r in records] + [g for r in records for g in r["audio_top2_gaps"]]
    return {
        "steps": records,
        "gen_sequence": np.array(gen.gen_sequence[0]).astype(int).tolist(),
        "text_tokens": [r["text_token"] for r in records],
        "min_top2_gap": float(min(gaps)),
    }


def run_lm_suite(cfg, weights_file: str, other: list[list[int]], seed: int) -> dict:
    """The three runs of lm_reference.json: fp32_argmax, bf16_argmax,
    fp32_sampled_local_defaults."""
    runs = {}
    model = build_lm(cfg, weights_file, mx.float32)
    r = run_lmgen(model, other, ARGMAX, ARGMAX, True)
    runs["fp32_argmax"] = {"dtype": "float32", "text_sampler": sampler_json(ARGMAX),
                           "audio_sampler": sampler_json(ARGMAX), **r}
    model = build_lm(cfg, weights_file, mx.bfloat16)
    r = run_lmgen(model, other, ARGMAX, ARGMAX, True)
    runs["bf16_argmax"] = {"dtype": "bfloat16", "text_sampler": sampler_json(ARGMAX),
                           "audio_sampler": sampler_json(ARGMAX), **r}
    model = build_lm(cfg, weights_file, mx.float32)
    r = run_lmgen(model, other, LOCAL_DEFAULTS, LOCAL_DEFAULTS, False, random_seed=seed)
    runs["fp32_sampled_local_defaults"] = {
        "dtype": "float32", "text_sampler": sampler_json(LOCAL_DEFAULTS),
        "audio_sampler": sampler_json(LOCAL_DEFAULTS), "mx_random_seed": seed, **r}
    return runs


def run_lm_q_suite(cfg, files: dict[int, str], other: list[list[int]]) -> dict:
    """The runs of lm_q_reference.json: q8_argmax, q4_argmax.
    `files` maps bits -> (file name relative to the fixture dir, absolute path)."""
    runs = {}
    for bits, (fname, path) in files.items():
        gs = 32 if bits == 4 else 64
        model = build_lm(cfg, path, mx.bfloat16, bits=bits, group_size=gs)
        r = run_lmgen(model, other, ARGMAX, ARGMAX, True)
        runs[f"q{bits}_argmax"] = {
            "dtype": "bfloat16 activations, affine-quantized weights", "bits": bits,
            "group_size": gs, "weights_file": fname, "text_sampler": sampler_json(ARGMAX),
            "audio_sampler": sampler_json(ARGMAX), **r}
    return runs


def quantize_lm_weights(cfg, bf16_weights, bits: int) -> dict[str, mx.array]:
    """Quantize a bf16 checkpoint (file path or list of (name, array)) as
    local.py would: every Linear and Embedding (`nn.quantize`, group 32 for
    4 bits, 64 for 8 bits); norms stay bf16."""
    from mlx.utils import tree_flatten

    model = models.Lm(cfg)
    model.set_dtype(mx.bfloat16)
    model.load_weights(bf16_weights, strict=True)
    nn.quantize(model, bits=bits, group_size=32 if bits == 4 else 64)
    params = dict(tree_flatten(model.parameters()))
    mx.eval(params)
    return params
