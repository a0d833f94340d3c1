#!/usr/bin/env python3
"""Write a matched tiny LM + tiny Mimi + tiny SentencePiece model that run
together, laid out as a Hugging Face repo (docs/ipc.md, "Fixtures and tiny repos"):

    model.safetensors                              LM, bf16, MLX names
    model.q8.safetensors / model.q4.safetensors    nn.quantize 8/64 and 4/32
    tokenizer-e351c8d8-checkpoint125.safetensors   Mimi, PyTorch names (16 codebooks, 8 used)
    tokenizer_spm_32k_3.model                      SentencePiece, vocab = LM text_out vocab
    config.json                                    the LM in Kyutai's format (+ mimi_name, tokenizer_name)
    fixture_mimi_config.json                       the tiny Mimi (fixture-only; Kyutai's format has no Mimi config)
    reference.json                                 moshi_mlx end-to-end reference (see below)

LM audio card = Mimi bins (32), so Mimi codes are valid LM inputs and LM outputs
valid Mimi codes; every LM Linear/Embedding input dim is 64 so q8/q4 work.

reference.json: a deterministic 10-frame PCM input goes through Mimi (candle
variant, streaming `encode_step`), then `LmGen` (fp32, argmax) one frame per
step, then each `last_audio_tokens()` frame through Mimi `decode_step`. Per
frame it records the user codes, model input, text token and piece, depformer
tokens, the frame sent to the decoder and the decoded PCM.

    make_pipeline_repo.py --out .cache/fixtures/pipeline-tiny
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np
import sentencepiece as spm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_configs as fc  # noqa: E402
import fixture_lm as flm  # noqa: E402
import fixture_mimi as fmi  # noqa: E402
import fixture_weights as fw  # noqa: E402
from make_fixture import random_lm_checkpoint, save_lm_safetensors, sha256, write_mimi_checkpoint  # noqa: E402
from moshi_mlx import models  # noqa: E402

TEXT_VOCAB = 64
AUDIO_CARD = 32
USED_CODEBOOKS = 8
SKIPPED_TEXT_IDS = (0, 3)  # EPAD and PAD in Moshi: not printed

LM_FILE = "model.safetensors"
MIMI_FILE = "tokenizer-e351c8d8-checkpoint125.safetensors"
SPM_FILE = "tokenizer_spm_32k_3.model"

CORPUS = """Moshi is a speech text foundation model and a full duplex spoken dialogue framework.
It listens and speaks at the same time, in frames of eighty milliseconds.
The quick brown fox jumps over the lazy dog while the small cat sleeps in the warm sun.
Hello, how are you today? I am fine, thank you very much. What would you like to talk about?
We run the model locally on the laptop, with no network and no cloud service at all.
The codec turns audio into tokens and tokens back into audio, twelve and a half times per second.
"""


def pipeline_lm_config():
    """Tiny quantizable LM whose vocabularies match the SentencePiece model and Mimi, as
    moshi_mlx builds it from the repo's Kyutai-format config.json."""
    return fc.via_kyutai(fc.repo_lm_q(text_card=TEXT_VOCAB, audio_card=AUDIO_CARD))


def train_sentencepiece(vocab_size: int = TEXT_VOCAB) -> bytes:
    """A real unigram SentencePiece model with Moshi's special ids:
    0 <unk> (Moshi's EPAD slot), 1 <s>, 2 </s>, 3 <pad> (PAD)."""
    lines = [l for l in CORPUS.splitlines() if l.strip()] * 20
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=buf, vocab_size=vocab_size,
        model_type="unigram", unk_id=0, bos_id=1, eos_id=2, pad_id=3,
        character_coverage=1.0, normalization_rule_name="identity", num_threads=1,
        minloglevel=2)
    sp = spm.SentencePieceProcessor(model_proto=buf.getvalue())
    assert sp.get_piece_size() == vocab_size
    return buf.getvalue()


def text_piece(sp: spm.SentencePieceProcessor, token: int) -> str | None:
    """What Moshi prints for a text token: None for ids 0/3 and for control, unknown and
    unused pieces, else the piece with '▁' -> ' '. (This model has no byte pieces; the
    engine's byte-fallback assembly is tested with tests/data/byte_fallback.model.)"""
    if token in SKIPPED_TEXT_IDS or sp.is_control(token) or sp.is_unknown(token) or sp.is_unused(token):
        return None
    assert not sp.is_byte(token)
    return sp.id_to_piece(token).replace("▁", " ")


def run_pipeline(out: Path, lm_cfg, mimi_cfg_used, pcm: np.ndarray, sp) -> dict:
    """Mimi encode (candle, streaming) -> LmGen (fp32 argmax) -> Mimi decode."""
    frames = pcm.shape[-1] // fmi.FRAME
    with fmi.candle_semantics():
        mimi = fmi.load_mimi(mimi_cfg_used, str(out / MIMI_FILE))
        user_codes = fmi.stream_encode(mimi, mx.array(pcm)[None, None])  # (1, 8, frames)
    user = np.array(user_codes)[0].T.astype(int).tolist()  # frames x 8
    model = flm.build_lm(lm_cfg, str(out / LM_FILE), mx.float32)
    run = flm.run_lmgen(model, user, flm.ARGMAX, flm.ARGMAX, True)
    records, out_pcm = [], []
    with fmi.candle_semantics():
        mimi.reset_all()
        for i, step in enumerate(run["steps"]):
            last = step["last_audio_tokens"]
            pcm_i = None
            if last is not None:
                y = mimi.decode_step(mx.array(last, dtype=mx.int32).reshape(1, USED_CODEBOOKS, 1))
                mx.eval(y)
                pcm_i = np.array(y).reshape(-1).astype(float).tolist()
                out_pcm.extend(pcm_i)
            records.append({
                "frame": i,
                "user_codes": user[i],
                "model_input": step["model_input"],
                "text_token": step["text_token"],
                "text_piece": text_piece(sp, step["text_token"]),
                "text_logits": step["text_logits"],
                "depformer_tokens": step["depformer_tokens"],
                "last_audio_tokens": last,
                "decoded_pcm": pcm_i,
            })
    return {
        "frames": records,
        "text_tokens": run["text_tokens"],
        "text": "".join(r["text_piece"] or "" for r in records),
        "gen_sequence": run["gen_sequence"],
        "min_top2_gap": run["min_top2_gap"],
        "output_pcm": out_pcm,
        "output_frames": sum(r["decoded_pcm"] is not None for r in records),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frames", type=int, default=10)
    args = p.parse_args(argv)
    mx.set_default_device(mx.cpu)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    lm_cfg = pipeline_lm_config()
    mimi_file_cfg, mimi_used_cfg = fc.pipeline_mimi(16), fc.pipeline_mimi(USED_CODEBOOKS)

    weights = random_lm_checkpoint(lm_cfg, args.seed, fw.STREAM_LM)
    save_lm_safetensors(out / LM_FILE, weights)
    for bits in (8, 4):
        save_lm_safetensors(out / f"model.q{bits}.safetensors",
                            flm.quantize_lm_weights(lm_cfg, list(weights.items()), bits))
    write_mimi_checkpoint(out / MIMI_FILE, mimi_file_cfg, args.seed)
    (out / SPM_FILE).write_bytes(train_sentencepiece())
    sp = spm.SentencePieceProcessor(model_file=str(out / SPM_FILE))
    config = fc.kyutai_config(lm_cfg, mimi_name=MIMI_FILE, tokenizer_name=SPM_FILE)
    (out / "config.json").write_text(json.dumps(config, indent=1))
    (out / fc.FIXTURE_MIMI_CONFIG).write_text(json.dumps(fc.mimi_config_json(mimi_file_cfg), indent=1))

    sig = fmi.test_signal(fw.rng_for(args.seed, fw.STREAM_MIMI_INPUT), args.frames * fmi.FRAME)
    result = run_pipeline(out, lm_cfg, mimi_used_cfg, sig["pcm"], sp)
    reference = {
        "description": "moshi_mlx end-to-end reference: PCM -> Mimi encode_step (candle variant) -> "
                       "LmGen (fp32 weights from model.safetensors, argmax text and audio) -> "
                       "last_audio_tokens -> Mimi decode_step (candle variant)",
        "seed": args.seed,
        "mimi_variant": "candle",
        "used_codebooks": USED_CODEBOOKS,
        "lm_dtype": "float32",
        "text_sampler": flm.sampler_json(flm.ARGMAX),
        "audio_sampler": flm.sampler_json(flm.ARGMAX),
        "skipped_text_ids": list(SKIPPED_TEXT_IDS),
        "files": {f.name: sha256(f) for f in sorted(out.iterdir()) if f.is_file() and not f.name.startswith(".")},
        "input": {k: (v.astype(float).tolist() if k == "pcm" else v) for k, v in sig.items()},
        **result,
    }
    (out / "reference.json").write_text(json.dumps(reference, indent=1))
    (out / "README.md").write_text(
        "# pipeline-tiny\n\nA matched tiny Moshi LM + Mimi + SentencePiece model laid out like "
        "`kyutai/moshiko-mlx-*` (with Kyutai's `config.json`), plus `reference.json` and the "
        "fixture-only `fixture_mimi_config.json` (the tiny Mimi's hyper-parameters).\n"
        "Generated by `scripts/reference/make_pipeline_repo.py`; see its docstring.\n")
    print(f"pipeline repo written to {out}: text {result['text']!r}, "
          f"{result['output_frames']} decoded frames, min_top2_gap {result['min_top2_gap']:.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
