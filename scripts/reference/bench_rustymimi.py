#!/usr/bin/env python3
"""Benchmark rustymimi (candle Mimi, what moshi_mlx/local.py uses) on this CPU.

    bench_rustymimi.py --weights .cache/bench/mimi-full/tokenizer-e351c8d8-checkpoint125.safetensors --frames 50

rustymimi loads the PyTorch-named checkpoint (`tokenizer-e351c8d8-checkpoint125
.safetensors`, e.g. the one from `make_bench_weights.py --what mimi-full`) with
the built-in mimi_202407 config. Modes:
- `step` (default): `Tokenizer.encode_step` + `decode_step`, one 1920-sample
  (80 ms) frame at a time, synchronous: the per-frame latency.
- `stream`: `StreamTokenizer` (background threads, as local.py): enqueue all
  frames, poll the results; throughput per frame.
Prints one JSON line: ms per frame (encode, decode, encode+decode: mean/p50/p90)
and the real-time factor (encode+decode time / 80 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
import wave

import numpy as np
import rustymimi

FRAME = 1920
FRAME_MS = 80.0


def stats(ms: list[float]) -> dict:
    """mean / p50 / p90 / min / max of a list of milliseconds."""
    a = np.array(ms)
    return {"mean": round(float(a.mean()), 3), "p50": round(float(np.percentile(a, 50)), 3),
            "p90": round(float(np.percentile(a, 90)), 3), "min": round(float(a.min()), 3),
            "max": round(float(a.max()), 3)}


def load_pcm(wav: str | None, frames: int) -> np.ndarray:
    """`frames`·1920 samples: a 24 kHz mono WAV (looped) or a deterministic tone + noise."""
    n = frames * FRAME
    if wav:
        with wave.open(wav) as w:
            assert w.getframerate() == 24000 and w.getnchannels() == 1 and w.getsampwidth() == 2, \
                "need 24 kHz mono 16-bit (sox in.wav -r 24000 -c 1 -b 16 out.wav)"
            x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
        return np.resize(x, n).astype(np.float32)
    t = np.arange(n) / 24000
    rng = np.random.default_rng(0)
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)


def bench_step(weights: str, pcm: np.ndarray, frames: int, warmup: int, codebooks: int) -> dict:
    """Synchronous per-frame encode_step + decode_step."""
    tok = rustymimi.Tokenizer(weights, num_codebooks=codebooks)
    enc, dec = [], []
    for i in range(warmup + frames):
        x = pcm[None, None, (i % frames) * FRAME:((i % frames) + 1) * FRAME]
        t0 = time.perf_counter()
        codes = tok.encode_step(x)
        t1 = time.perf_counter()
        tok.decode_step(codes)
        t2 = time.perf_counter()
        if i >= warmup:
            enc.append((t1 - t0) * 1e3)
            dec.append((t2 - t1) * 1e3)
    return {"encode_ms": stats(enc), "decode_ms": stats(dec),
            "encode_decode_ms": stats([a + b for a, b in zip(enc, dec)])}


def _drain(poll, n: int, timeout: float = 600.0) -> list:
    out, t_end = [], time.time() + timeout
    while len(out) < n and time.time() < t_end:
        r = poll()
        if r is None:
            time.sleep(0.0005)
        else:
            out.append(r)
    return out


def bench_stream(weights: str, pcm: np.ndarray, frames: int, codebooks: int) -> dict:
    """StreamTokenizer throughput: all frames enqueued at once, then polled."""
    tok = rustymimi.StreamTokenizer(weights, num_codebooks=codebooks)
    t0 = time.perf_counter()
    for i in range(frames):
        tok.encode(pcm[i * FRAME:(i + 1) * FRAME])
    codes = _drain(tok.get_encoded, frames)
    t1 = time.perf_counter()
    for c in codes:
        # get_encoded() gives (codebooks, 1); decode() takes (1, codebooks) as local.py sends it
        tok.decode(np.ascontiguousarray(np.asarray(c).reshape(codebooks, -1).T[:, :codebooks]))
    _drain(tok.get_decoded, len(codes))
    t2 = time.perf_counter()
    e, d = (t1 - t0) * 1e3 / frames, (t2 - t1) * 1e3 / max(1, len(codes))
    return {"encode_ms": {"mean": round(e, 3)}, "decode_ms": {"mean": round(d, 3)},
            "encode_decode_ms": {"mean": round(e + d, 3)}, "frames_encoded": len(codes)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True)
    p.add_argument("--frames", type=int, default=50)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--mode", choices=["step", "stream"], default="step")
    p.add_argument("--codebooks", type=int, default=8)
    p.add_argument("--wav", help="24 kHz mono 16-bit WAV to use instead of the synthetic tone")
    args = p.parse_args(argv)
    pcm = load_pcm(args.wav, args.frames)
    t0 = time.perf_counter()
    if args.mode == "step":
        r = bench_step(args.weights, pcm, args.frames, args.warmup, args.codebooks)
    else:
        r = bench_stream(args.weights, pcm, args.frames, args.codebooks)
    total = time.perf_counter() - t0
    result = {"impl": "rustymimi", "version": getattr(rustymimi, "__version__", None) or _version(),
              "mode": args.mode, "frames": args.frames, "codebooks": args.codebooks,
              "input": args.wav or "synthetic tone+noise", **r,
              "rtf": round(r["encode_decode_ms"]["mean"] / FRAME_MS, 4),
              "wall_s": round(total, 2),
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
              "loadavg_1m": round(os.getloadavg()[0], 2)}
    print(json.dumps(result))
    return 0


def _version() -> str | None:
    try:
        import importlib.metadata
        return importlib.metadata.version("rustymimi")
    except Exception:  # noqa: BLE001
        return None


if __name__ == "__main__":
    raise SystemExit(main())
