#!/usr/bin/env python3
"""Mimi codes and decoded audio from **rustymimi** itself, for the engine's parity test.

    make_rustymimi_reference.py [--seed 0] [--frames 320] [--codebooks 8] --out DIR

Writes into DIR:
- `tokenizer-e351c8d8-checkpoint125.safetensors`: a real-size random Mimi (`mimi_202407`,
  32 codebooks) under the PyTorch names and layouts, the file rustymimi (and the engine) load;
  the same generator as the tiny fixtures (`make_fixture.write_mimi_checkpoint`, verified by a
  strict `load_pytorch_weights` round trip).
- `rustymimi_io.safetensors`: `input_pcm` (frames·1920 f32 samples of espeak-ng speech at
  24 kHz), `codes` (u32, frames × codebooks) from `rustymimi.Tokenizer.encode_step`, one 80 ms
  frame at a time, and `decoded_pcm` (f32, frames·1920) from `decode_step` of those codes.
- `rustymimi_reference.json`: versions, sizes, the speech text, timing.

320 frames = 25.6 s = 640 transformer steps at 25 Hz: well past the 250-step attention context,
so the streaming caches of both transformers wrap. The speech is several espeak-ng sentences
in different voices, concatenated, then cut to the frame count.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import mlx.core as mx
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_configs as fc  # noqa: E402
from make_fixture import write_mimi_checkpoint  # noqa: E402

FRAME = 1920
CHECKPOINT = "tokenizer-e351c8d8-checkpoint125.safetensors"

SENTENCES = [
    ("en-us", "Hello, this is a long test of the Mimi codec, which turns speech into tokens "
              "twelve and a half times per second, and back into speech again."),
    ("en-gb", "The quick brown fox jumps over the lazy dog, while the weather in the mountains "
              "stays cold and clear for most of the afternoon."),
    ("en-us+f3", "Numbers like three hundred and twenty, questions like where are you going, "
                 "and exclamations like wow, that is great, all sound different."),
    ("en-gb-scotland", "A menu bar application listens while you hold a key, and it answers "
                       "out loud after a short pause, without any network connection."),
    ("en-us+m3", "Streaming caches must wrap around after two hundred and fifty steps, so this "
                 "recording is longer than twenty seconds on purpose."),
]


def espeak_pcm(voice: str, text: str, workdir: Path) -> np.ndarray:
    """One sentence as 24 kHz mono float32 (espeak-ng, resampled by sox)."""
    raw, out = workdir / "raw.wav", workdir / "out.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "24000", "-c", "1", "-b", "16", str(out)], check=True)
    with wave.open(str(out)) as w:
        assert w.getframerate() == 24000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
    return x


def speech(frames: int) -> np.ndarray:
    """`frames`·1920 samples of speech: the sentences with 0.3 s gaps, repeated if short."""
    need = frames * FRAME
    parts, total = [], 0
    with tempfile.TemporaryDirectory() as d:
        clips = [espeak_pcm(v, t, Path(d)) for v, t in SENTENCES]
    gap = np.zeros(int(0.3 * 24000), np.float32)
    i = 0
    while total < need:
        clip = clips[i % len(clips)]
        parts += [clip, gap]
        total += clip.size + gap.size
        i += 1
    return np.concatenate(parts)[:need].astype(np.float32)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frames", type=int, default=320)
    p.add_argument("--codebooks", type=int, default=8)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    import rustymimi  # noqa: PLC0415 (after argparse: --help works without it)

    mx.set_default_device(mx.cpu)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    ckpt = args.out / CHECKPOINT
    write_mimi_checkpoint(ckpt, fc.full_mimi(32), args.seed)
    t_ckpt = time.time() - t0

    pcm = speech(args.frames)
    tok = rustymimi.Tokenizer(str(ckpt), num_codebooks=args.codebooks)
    codes = np.zeros((args.frames, args.codebooks), np.uint32)
    decoded = np.zeros(args.frames * FRAME, np.float32)
    t1 = time.time()
    for f in range(args.frames):
        x = pcm[None, None, f * FRAME:(f + 1) * FRAME]
        c = np.asarray(tok.encode_step(x))
        if c.shape != (1, args.codebooks, 1):
            raise RuntimeError(f"frame {f}: encode_step gave shape {c.shape}")
        codes[f] = c[0, :, 0]
        y = np.asarray(tok.decode_step(c))
        if y.shape != (1, 1, FRAME):
            raise RuntimeError(f"frame {f}: decode_step gave shape {y.shape}")
        decoded[f * FRAME:(f + 1) * FRAME] = y[0, 0]
    t_run = time.time() - t1
    if not np.isfinite(decoded).all():
        raise RuntimeError("rustymimi decoded non-finite samples")

    mx.save_safetensors(str(args.out / "rustymimi_io.safetensors"), {
        "input_pcm": mx.array(pcm),
        "codes": mx.array(codes),
        "decoded_pcm": mx.array(decoded),
    })
    distinct = len({tuple(r) for r in codes.tolist()})
    meta = {
        "what": "rustymimi Tokenizer.encode_step / decode_step, one 1920-sample frame at a time",
        "rustymimi": importlib.metadata.version("rustymimi"),
        "mlx": mx.__version__,
        "moshi_mlx": importlib.metadata.version("moshi_mlx"),
        "seed": args.seed,
        "frames": args.frames,
        "codebooks": args.codebooks,
        "checkpoint": CHECKPOINT,
        "checkpoint_codebooks": 32,
        "speech": [{"voice": v, "text": t} for v, t in SENTENCES],
        "distinct_code_frames": distinct,
        "decoded_max_abs": float(np.abs(decoded).max()),
        "decoded_rms": float(np.sqrt((decoded ** 2).mean())),
        "input_rms": float(np.sqrt((pcm ** 2).mean())),
        "checkpoint_seconds": round(t_ckpt, 1),
        "rustymimi_ms_per_frame": round(1e3 * t_run / args.frames, 1),
    }
    (args.out / "rustymimi_reference.json").write_text(json.dumps(meta, indent=1))
    print(json.dumps({k: meta[k] for k in ("frames", "distinct_code_frames", "decoded_max_abs",
                                           "checkpoint_seconds", "rustymimi_ms_per_frame")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
