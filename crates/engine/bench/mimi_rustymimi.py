#!/usr/bin/env python3
"""Time rustymimi (candle Mimi, CPU, fp32) streaming encode + decode per 80 ms frame.

The baseline for the engine's Mimi benchmark (`mimi_bench` example): same checkpoint, same
input, one `encode_step` and one `decode_step` of 1920 samples per frame, as `moshi_mlx.local`
drives it (there through `StreamTokenizer` worker threads; here synchronously, to time the work).

usage: mimi_rustymimi.py CHECKPOINT [--frames 50] [--warmup 5] [--wav IN.wav]
Prints one JSON line: encode_ms, decode_ms, total_ms (medians per frame), rtf.
"""

import argparse
import json
import time
import wave

import numpy as np
import rustymimi

FRAME = 1920
SR = 24000


def read_wav(path: str) -> np.ndarray:
    with wave.open(path, "rb") as w:
        if w.getframerate() != SR or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise SystemExit(f"{path}: need 24 kHz mono 16-bit")
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    return data.astype(np.float32) / 32768.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--wav")
    args = ap.parse_args()
    tok = rustymimi.Tokenizer(args.checkpoint)
    if args.wav:
        pcm = read_wav(args.wav)
    else:
        rng = np.random.default_rng(0)
        n = (args.frames + args.warmup) * FRAME
        t = np.arange(n) / SR
        pcm = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)
    nframes = len(pcm) // FRAME
    enc, dec = [], []
    for i in range(nframes):
        chunk = pcm[i * FRAME : (i + 1) * FRAME].reshape(1, 1, FRAME)
        t0 = time.perf_counter()
        codes = tok.encode_step(chunk)
        t1 = time.perf_counter()
        if codes is not None and codes.shape[-1] > 0:
            out = tok.decode_step(codes)
            assert out is None or out.shape[-1] in (0, FRAME), out.shape
        t2 = time.perf_counter()
        if i >= args.warmup:
            enc.append(t1 - t0)
            dec.append(t2 - t1)
    total = [a + b for a, b in zip(enc, dec)]
    frame_s = FRAME / SR
    res = {
        "impl": "rustymimi " + getattr(rustymimi, "__version__", "0.4.1"),
        "frames": len(total),
        "encode_ms": 1e3 * float(np.median(enc)),
        "decode_ms": 1e3 * float(np.median(dec)),
        "total_ms": 1e3 * float(np.median(total)),
        "mean_total_ms": 1e3 * float(np.mean(total)),
        "rtf": float(np.sum(total)) / (len(total) * frame_s),
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()
