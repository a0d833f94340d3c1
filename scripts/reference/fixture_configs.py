"""Model configurations for the reference fixtures.

Every configuration is derived from the real ones (`config_v0_1()` for the LM,
`mimi_202407()` for Mimi) with `dataclasses.replace`, so every field that is not
listed here is inherited unchanged. See
`/work/shared/reference/moshi-tiny-seed0/README.md` ("Tiny configs").
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace

from moshi_mlx import models
from moshi_mlx.models.lm import LmConfig
from moshi_mlx.models.mimi import MimiConfig


def _lm(
    d_model: int,
    num_heads: int,
    num_layers: int,
    dim_ff: int,
    context: int,
    max_seq_len: int,
    dep_d: int,
    dep_heads: int,
    dep_layers: int,
    dep_ff: int,
    text_card: int,
    audio_card: int,
) -> LmConfig:
    """Derive an LM config from `config_v0_1()` with the given sizes.

    `text_card` is the text output vocabulary (the input vocabulary has one more
    id, the initial token) and `audio_card` the number of Mimi bins (the audio
    vocabulary has one more id, the padding token).
    """
    base = models.config_v0_1()
    transformer = replace(
        base.transformer,
        d_model=d_model,
        num_heads=num_heads,
        num_layers=num_layers,
        dim_feedforward=dim_ff,
        context=context,
        max_seq_len=max_seq_len,
    )
    dep = replace(
        base.depformer.transformer,
        d_model=dep_d,
        num_heads=dep_heads,
        num_layers=dep_layers,
        dim_feedforward=dep_ff,
    )
    return replace(
        base,
        transformer=transformer,
        depformer=replace(base.depformer, transformer=dep),
        text_in_vocab_size=text_card + 1,
        text_out_vocab_size=text_card,
        audio_vocab_size=audio_card + 1,
    )


def _mimi(
    nfilters: int,
    dimension: int,
    tr_heads: int,
    tr_layers: int,
    tr_ff: int,
    q_dim: int,
    bins: int,
    nq: int,
) -> MimiConfig:
    """Derive a Mimi config from `mimi_202407()`; SEANet ratios stay [8,6,5,4]."""
    base = models.mimi_202407(nq)
    seanet = replace(base.seanet, nfilters=nfilters, dimension=dimension)
    transformer = replace(
        base.transformer,
        d_model=dimension,
        num_heads=tr_heads,
        num_layers=tr_layers,
        dim_feedforward=tr_ff,
    )
    return replace(
        base,
        seanet=seanet,
        transformer=transformer,
        quantizer_nq=nq,
        quantizer_bins=bins,
        quantizer_dim=q_dim,
    )


def tiny_lm() -> LmConfig:
    """The seed-0 tiny LM: d 64, 4 heads, 2 layers, context 6, vocab 48/33."""
    return _lm(64, 4, 2, 256, 6, 64, 32, 2, 2, 128, text_card=48, audio_card=32)


def tiny_lm_q() -> LmConfig:
    """The seed-0 quantizable tiny LM: every Linear/Embedding input dim is 64."""
    return _lm(64, 4, 2, 96, 6, 64, 64, 4, 2, 96, text_card=48, audio_card=32)


def small_lm() -> LmConfig:
    """A second tiny size: d 128, 8 heads, 3 layers, context 5, vocab 64/64."""
    return _lm(128, 8, 3, 512, 5, 64, 64, 4, 2, 256, text_card=64, audio_card=64)


def small_lm_q() -> LmConfig:
    """Quantizable variant of `small_lm` (hidden sizes multiples of 64)."""
    return _lm(128, 8, 3, 192, 5, 64, 64, 4, 2, 96, text_card=64, audio_card=64)


def repo_lm_q(text_card: int, audio_card: int) -> LmConfig:
    """A tiny LM that is both quantizable (every Linear input dim a multiple of 64) and
    expressible in Kyutai's config.json (main feed-forward 4 x dim, so the gated MLP has
    11 x dim / 4 = 704 hidden units): d 256, 4 heads, 2 layers, context 8."""
    return _lm(256, 4, 2, 4 * 256, 8, 64, 64, 4, 2, 96, text_card=text_card, audio_card=audio_card)


def mid_lm() -> LmConfig:
    """Benchmark size: d 1024, 8 heads (head_dim 128), 8 layers, full depformer,
    real vocabularies (32000 text, 2048 audio)."""
    base = models.config_v0_1()
    return replace(
        base,
        transformer=replace(
            base.transformer, d_model=1024, num_heads=8, num_layers=8,
            dim_feedforward=4 * 1024,
        ),
    )


def full_lm() -> LmConfig:
    """The real 7B `config_v0_1()`."""
    return models.config_v0_1()


def tiny_mimi(nq: int = 16) -> MimiConfig:
    """The seed-0 tiny Mimi: nfilters 4, dim 32, 2 layers, 64 bins."""
    return _mimi(4, 32, 4, 2, 64, q_dim=16, bins=64, nq=nq)


def small_mimi(nq: int = 16) -> MimiConfig:
    """A second tiny Mimi: nfilters 8, dim 64, 3 layers, 128 bins."""
    return _mimi(8, 64, 4, 3, 128, q_dim=32, bins=128, nq=nq)


def pipeline_mimi(nq: int = 16) -> MimiConfig:
    """The pipeline repo's Mimi: like `tiny_mimi` but 32 bins, so the LM card
    (32) equals the Mimi bins."""
    return _mimi(4, 32, 4, 2, 64, q_dim=16, bins=32, nq=nq)


def full_mimi(nq: int = 32) -> MimiConfig:
    """The real `mimi_202407` (32 codebooks in the checkpoint)."""
    return models.mimi_202407(nq)


# size name -> (LM config, quantizable LM config, Mimi config factory)
SIZES = {
    "tiny": (tiny_lm, tiny_lm_q, tiny_mimi),
    "tiny-q": (tiny_lm_q, tiny_lm_q, tiny_mimi),
    "small": (small_lm, small_lm_q, small_mimi),
    "mid": (mid_lm, mid_lm, full_mimi),
    "full": (full_lm, full_lm, full_mimi),
}


def lm_config_json(cfg: LmConfig) -> dict:
    """The LM config in the fixture JSON shape (dataclass fields + `derived`)."""
    out = dataclasses.asdict(cfg)
    t, d = cfg.transformer, cfg.depformer.transformer
    out["derived"] = {
        "generated_codebooks": cfg.generated_codebooks,
        "other_codebooks": cfg.other_codebooks,
        "audio_padding_token": cfg.audio_padding_token,
        "audio_eos_token": cfg.audio_eos_token,
        "initial_text_token": cfg.text_out_vocab_size,
        "main_head_dim": t.head_dim,
        "depformer_head_dim": d.head_dim,
        "main_gating_hidden": gating_hidden(t.d_model, t.dim_feedforward),
        "depformer_gating_hidden": gating_hidden(d.d_model, d.dim_feedforward),
    }
    return out


def mimi_config_json(cfg: MimiConfig) -> dict:
    """The Mimi config in the fixture JSON shape (dataclass fields)."""
    return dataclasses.asdict(cfg)


def gating_hidden(d_model: int, dim_ff: int) -> int:
    """Hidden size of `MlpGating`: 11·d/4 when dim_ff = 4·d, else 2·dim_ff/3."""
    if dim_ff == 4 * d_model:
        return 11 * d_model // 4
    return 2 * dim_ff // 3


# --- Kyutai's repo format -------------------------------------------------------------

STANDARD_MIMI_NAME = "tokenizer-e351c8d8-checkpoint125.safetensors"
STANDARD_TOKENIZER_NAME = "tokenizer_spm_32k_3.model"
# Fixture-only: Kyutai's format has no Mimi hyper-parameters (moshi_mlx always builds
# `mimi_202407`), so the tiny fixtures carry their tiny Mimi in this separate file. Never
# named config.json; absent from Kyutai's real repos.
FIXTURE_MIMI_CONFIG = "fixture_mimi_config.json"


def _comparable(cfg: LmConfig) -> LmConfig:
    """`cfg` with what from_config_dict fixes normalised: max_seq_len 4096 (it only sizes
    moshi_mlx's rotating cache, which none of the fixture runs fills) and the depformer's
    `bias_attn` (from_config_dict copies `depformer_layer_scale`, None, which means False)."""
    dep = cfg.depformer.transformer
    return replace(cfg,
                   transformer=replace(cfg.transformer, max_seq_len=4096),
                   depformer=replace(cfg.depformer,
                                     transformer=replace(dep, max_seq_len=4096,
                                                         bias_attn=bool(dep.bias_attn))))


def kyutai_config(cfg: LmConfig, **names: str) -> dict:
    """`cfg` as a Kyutai repo `config.json` (the keys of `configs/moshi_7b_202409.json`),
    plus `names` (moshi_name, mimi_name, tokenizer_name). Raises when moshi_mlx's own
    `LmConfig.from_config_dict` would not give back `cfg` (e.g. a main feed-forward other
    than 4 x dim, which the format cannot express)."""
    t, d = cfg.transformer, cfg.depformer.transformer
    out = {
        "dim": t.d_model,
        "text_card": cfg.text_out_vocab_size,
        "existing_text_padding_id": 3,
        "n_q": cfg.audio_codebooks,
        "dep_q": cfg.depformer.num_slices,
        "card": cfg.audio_vocab_size - 1,
        "num_heads": t.num_heads,
        "num_layers": t.num_layers,
        "hidden_scale": 4.125,
        "causal": t.causal,
        "layer_scale": t.layer_scale,
        "context": t.context,
        "max_period": t.max_period,
        "gating": "silu",
        "norm": "rms_norm_f32",
        "positional_embedding": t.positional_embedding,
        "depformer_dim": d.d_model,
        "depformer_dim_feedforward": d.dim_feedforward,
        "depformer_num_heads": d.num_heads,
        "depformer_num_layers": d.num_layers,
        "depformer_causal": d.causal,
        "depformer_layer_scale": None,
        "depformer_multi_linear": True,
        "depformer_context": d.context,
        "depformer_max_period": d.max_period,
        "depformer_gating": "silu",
        "depformer_pos_emb": d.positional_embedding,
        "depformer_weights_per_step": True,
        "delays": [0] + list(cfg.audio_delays),
    }
    back = LmConfig.from_config_dict(out)
    if _comparable(back) != _comparable(cfg):
        a, b = dataclasses.asdict(_comparable(back)), dataclasses.asdict(_comparable(cfg))
        diff = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
        raise ValueError(f"config not expressible in Kyutai's config.json: {diff}")
    out.update(names)
    return out


def via_kyutai(cfg: LmConfig) -> LmConfig:
    """The config moshi_mlx builds from `cfg`'s Kyutai config.json (what a repo loads)."""
    return LmConfig.from_config_dict(kyutai_config(cfg))
