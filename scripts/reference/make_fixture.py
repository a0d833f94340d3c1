#!/usr/bin/env python3
"""Write a Moshi reference-fixture directory in the layout of
`/work/shared/reference/moshi-tiny-seed0/`.

Seeded random weights under the real tensor names, run through moshi_mlx 0.3.0
on the MLX CPU backend:

    make_fixture.py --seed 1 --out .cache/fixtures/moshi-tiny-seed1
    make_fixture.py --seed 2 --size small --out .cache/fixtures/moshi-small-seed2
    make_fixture.py --seed 0 --out /tmp/x --what mimi

Files: lm.safetensors + lm_reference.json + config.json (what=lm; config.json is the LM's
config in Kyutai's repo format, checked to give back the same LmConfig through moshi_mlx's
`from_config_dict`), lm_q8/lm_q4.safetensors +
lm_q_reference.json (what=lmq), mimi.safetensors + mimi_reference.json +
mimi_io.safetensors (what=mimi), manifest.json and README.md (always).
No network access.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_configs as fc  # noqa: E402
import fixture_lm as flm  # noqa: E402
import fixture_mimi as fmi  # noqa: E402
import fixture_weights as fw  # noqa: E402
from moshi_mlx import models  # noqa: E402
from moshi_mlx.models.mimi import Mimi  # noqa: E402

MANIFEST_FILES = [
    "lm.safetensors", "lm_q4.safetensors", "lm_q8.safetensors", "lm_q_reference.json",
    "lm_reference.json", "mimi.safetensors", "mimi_io.safetensors", "mimi_reference.json",
]
USED_CODEBOOKS = 8
MIMI_FRAMES = 3


def write_json(path: Path, obj) -> None:
    """Write JSON the way the seed-0 fixtures are written (indent 1)."""
    path.write_text(json.dumps(obj, indent=1))


def save_lm_safetensors(path: Path, weights: dict[str, mx.array]) -> None:
    """Save LM tensors as MLX does (`format: mlx` metadata)."""
    mx.save_safetensors(str(path), weights, metadata={"format": "mlx"})


def draw_other_audio_tokens(rng: np.random.Generator, steps: int, card: int, n: int = 8) -> list[list[int]]:
    """The user-stream codes fed to `LmGen.step`, one row of n codes per step."""
    return rng.integers(0, card, size=(steps, n)).astype(int).tolist()


def random_lm_checkpoint(cfg, seed: int, stream: int) -> dict[str, mx.array]:
    """bf16 random weights for `cfg` (the model is built lazily, only for names/shapes)."""
    return fw.random_lm_weights(models.Lm(cfg), seed, stream)


def write_lm(out: Path, cfg, seed: int, other: list[list[int]]) -> dict:
    """lm.safetensors + lm_reference.json; returns the run summary."""
    weights = random_lm_checkpoint(cfg, seed, fw.STREAM_LM)
    save_lm_safetensors(out / "lm.safetensors", weights)
    runs = flm.run_lm_suite(cfg, str(out / "lm.safetensors"), other, seed)
    ref = {
        "description": "tiny Moshi LM (config_v0_1 family) driven through moshi_mlx LmGen",
        "seed": seed,
        "config": fc.lm_config_json(cfg),
        "weights_file": "lm.safetensors",
        "weights_dtype": "bfloat16",
        "tensors": {k: list(v.shape) for k, v in sorted(weights.items())},
        "input": {
            "other_audio_tokens": other,
            "note": "row i is the argument of LmGen.step at step i: the 8 user-stream Mimi codes "
                    "for frame i (shape (1, 8) int32)",
        },
        "first_step_text_logits": runs["fp32_argmax"]["steps"][0]["text_logits"],
        "runs": runs,
    }
    write_json(out / "lm_reference.json", ref)
    write_json(out / "config.json", fc.kyutai_config(cfg, moshi_name="lm.safetensors",
                                                     mimi_name="mimi.safetensors"))
    return ref


def write_lm_q(out: Path, cfg, seed: int, other: list[list[int]]) -> dict:
    """lm_q8/lm_q4.safetensors + lm_q_reference.json."""
    weights = random_lm_checkpoint(cfg, seed, fw.STREAM_LM_Q)
    files, tensors = {}, {}
    for bits in (8, 4):
        params = flm.quantize_lm_weights(cfg, list(weights.items()), bits)
        fname = f"lm_q{bits}.safetensors"
        save_lm_safetensors(out / fname, params)
        files[bits] = (fname, str(out / fname))
        tensors[fname] = {k: [list(v.shape), str(v.dtype).split(".")[-1]] for k, v in sorted(params.items())}
    runs = flm.run_lm_q_suite(cfg, files, other)
    ref = {
        "description": "tiny quantizable Moshi LM; q8 = nn.quantize(bits=8, group_size=64), "
                       "q4 = nn.quantize(bits=4, group_size=32), as in moshi_mlx/local.py",
        "seed": seed,
        "config": fc.lm_config_json(cfg),
        "tensors": {"lm_q8.safetensors": tensors["lm_q8.safetensors"],
                    "lm_q4.safetensors": tensors["lm_q4.safetensors"]},
        "input": {"other_audio_tokens": other},
        "runs": runs,
    }
    write_json(out / "lm_q_reference.json", ref)
    return ref


def write_mimi_checkpoint(path: Path, cfg, seed: int) -> dict[str, mx.array]:
    """Random Mimi weights saved under PyTorch names/layouts; verified by a
    strict `load_pytorch_weights` that must give the same values bit for bit."""
    model = Mimi(cfg)
    weights = fw.random_mimi_weights(model, seed)
    pt = fw.mimi_to_pytorch(weights)
    mx.save_safetensors(str(path), pt)
    check = Mimi(cfg)
    check.load_pytorch_weights(str(path), strict=True)
    loaded = dict(tree_flatten(check.parameters()))
    bad = [k for k, v in weights.items() if not np.array_equal(np.array(loaded[k]), np.array(v))]
    if bad or set(loaded) != set(weights):
        raise RuntimeError(f"Mimi checkpoint does not round-trip: {bad[:5]}")
    return pt


def _variant_json(arrays: dict[str, mx.array], variant: str) -> dict:
    codes = np.array(arrays["batch_codes"])[0]
    latent = np.array(arrays["batch_latent"])
    scodes = np.array(arrays["stream_codes"])[0]
    diff = np.abs(np.array(arrays["batch_decoded_pcm"]) - np.array(arrays["stream_decoded_pcm_from_batch_codes"]))
    flat = lambda k: np.array(arrays[k]).reshape(-1).astype(float).tolist()  # noqa: E731
    return {
        "note": fmi.VARIANT_NOTES[variant],
        "batch": {"codes": codes.astype(int).tolist(), "latent_shape": list(latent.shape),
                  "latent": latent[0].astype(float).tolist(), "decoded_pcm": flat("batch_decoded_pcm")},
        "stream": {"codes": scodes.astype(int).tolist(), "decoded_pcm": flat("stream_decoded_pcm"),
                   "decoded_pcm_from_batch_codes": flat("stream_decoded_pcm_from_batch_codes")},
        "checks": {"stream_codes_equal_batch_codes": bool(np.array_equal(codes, scodes)),
                   "max_abs_diff_batch_vs_stream_pcm_same_codes": float(diff.max())},
    }


def write_mimi(out: Path, cfg_file, cfg_used, seed: int, frames: int = MIMI_FRAMES) -> dict:
    """mimi.safetensors + mimi_reference.json + mimi_io.safetensors."""
    path = out / "mimi.safetensors"
    pt = write_mimi_checkpoint(path, cfg_file, seed)
    sig = fmi.test_signal(fw.rng_for(seed, fw.STREAM_MIMI_INPUT), frames * fmi.FRAME)
    pcm = mx.array(sig["pcm"])[None, None]
    io = {"input_pcm": pcm}
    variants = {}
    for variant in ("candle", "mlx"):
        arrays = fmi.run_variant(cfg_used, str(path), pcm, variant)
        io.update({f"{variant}.{k}": v for k, v in arrays.items()})
        variants[variant] = _variant_json(arrays, variant)
    mx.save_safetensors(str(out / "mimi_io.safetensors"), io)
    ref = {
        "description": "tiny Mimi (mimi_202407 family) run through moshi_mlx models.mimi.Mimi",
        "seed": seed,
        "config": fc.mimi_config_json(cfg_file),
        "checkpoint_codebooks": cfg_file.quantizer_nq,
        "used_codebooks": cfg_used.quantizer_nq,
        "weights_file": "mimi.safetensors",
        "weights_naming": "PyTorch checkpoint names/layouts (as in tokenizer-e351c8d8-checkpoint125"
                          ".safetensors); loaded with moshi_mlx Mimi.load_pytorch_weights(strict=True), "
                          "verified bit-exact",
        "strict_load_with_8_codebooks": fmi.strict_load_error(cfg_used, str(path)),
        "tensors": {k: list(v.shape) for k, v in sorted(pt.items())},
        "input": {k: (v.astype(float).tolist() if k == "pcm" else v) for k, v in sig.items()},
        "variants": variants,
        "io_file": "mimi_io.safetensors",
    }
    write_json(out / "mimi_reference.json", ref)
    return ref


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def summary_from_dir(out: Path) -> dict:
    """The manifest summary, rebuilt from whichever reference JSON files exist."""
    summary = {}
    for key, fname in (("lm", "lm_reference.json"), ("lm_q", "lm_q_reference.json")):
        if (out / fname).exists():
            runs = json.loads((out / fname).read_text())["runs"]
            summary[key] = {n: {"text_tokens": r["text_tokens"], "min_top2_gap": r["min_top2_gap"]}
                            for n, r in runs.items()}
    if (out / "mimi_reference.json").exists():
        m = json.loads((out / "mimi_reference.json").read_text())
        summary["mimi"] = {"strict_load_with_8_codebooks": m["strict_load_with_8_codebooks"]}
        for v, d in m["variants"].items():
            summary["mimi"][v] = {"batch_codes": d["batch"]["codes"], **d["checks"]}
    return summary


def write_manifest(out: Path, seed: int, steps: int, size: str) -> None:
    """manifest.json: versions, seed, sha256/size of every file, summary."""
    files = {f: {"sha256": sha256(out / f), "bytes": (out / f).stat().st_size}
             for f in MANIFEST_FILES if (out / f).exists()}
    manifest = {
        "generator": f"random-weight Moshi models (size {size}, scripts/reference/make_fixture.py) run "
                     f"through moshi_mlx {importlib.metadata.version('moshi_mlx')} (MLX {mx.__version__}, CPU backend)",
        "seed": seed,
        "steps": steps,
        "versions": {"python": platform.python_version(), "mlx": mx.__version__,
                     "moshi_mlx": importlib.metadata.version("moshi_mlx"), "numpy": np.__version__},
        "mlx_default_device": str(mx.default_device()),
        "files": files,
        "summary": summary_from_dir(out),
    }
    write_json(out / "manifest.json", manifest)


README = """# Moshi reference fixtures (seed {seed}, size `{size}`)

Generated by `scripts/reference/make_fixture.py --seed {seed} --size {size} --steps {steps}`
(moshi_mlx 0.3.0, MLX {mlx}, CPU backend). Same layout, file formats, JSON fields and
semantics as `/work/shared/reference/moshi-tiny-seed0/` — read its README for how to use
them. Only the weights, inputs and sizes differ; see `config` in each JSON file.
Random values come from `numpy.random.default_rng([seed, stream])` (see
`scripts/reference/fixture_weights.py`).
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--size", choices=sorted(fc.SIZES), default="tiny")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--what", default="lm,lmq,mimi", help="comma-separated subset of lm,lmq,mimi")
    args = p.parse_args(argv)
    what = set(args.what.split(","))
    if what - {"lm", "lmq", "mimi"}:
        p.error(f"unknown --what {what}")
    mx.set_default_device(mx.cpu)
    lm_f, lmq_f, mimi_f = fc.SIZES[args.size]
    args.out.mkdir(parents=True, exist_ok=True)
    rng = fw.rng_for(args.seed, fw.STREAM_INPUTS)
    other_lm = draw_other_audio_tokens(rng, args.steps, lm_f().audio_vocab_size - 1)
    other_q = draw_other_audio_tokens(rng, args.steps, lmq_f().audio_vocab_size - 1)
    if "lm" in what:
        write_lm(args.out, lm_f(), args.seed, other_lm)
    if "lmq" in what:
        write_lm_q(args.out, lmq_f(), args.seed, other_q)
    if "mimi" in what:
        write_mimi(args.out, mimi_f(), mimi_f(USED_CODEBOOKS), args.seed)
    write_manifest(args.out, args.seed, args.steps, args.size)
    (args.out / "README.md").write_text(README.format(seed=args.seed, size=args.size, steps=args.steps,
                                                      mlx=mx.__version__))
    print(f"fixture written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
