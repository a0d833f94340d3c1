#!/usr/bin/env bash
# Generates the reference fixtures the Rust tests use (docs/ipc.md, "Fixtures and
# tiny repos") from seeded random weights with moshi_mlx (no network):
#   .cache/fixtures/moshi-tiny-seed0/    ../shared/reference/moshi-tiny-seed0 (read-only) + its Kyutai config.json
#   .cache/fixtures/moshi-tiny-seed1/    tiny size, seed 1  (layout of ../shared/reference/moshi-tiny-seed0)
#   .cache/fixtures/moshi-tiny-seed2/    tiny size, seed 2
#   .cache/fixtures/moshi-small-seed3/   a second, larger tiny size ("small"), seed 3
#   .cache/fixtures/pipeline-tiny/       matched tiny LM + Mimi + SentencePiece, laid out as a Hub repo
#   .cache/fixtures/mimi-rustymimi-seed0/ real-size random Mimi + rustymimi's codes/audio for 320
#                                        frames of espeak-ng speech (~40 s, 400 MB)
# Idempotent: each output directory carries a stamp (hash of the generator sources,
# the arguments and the MLX / moshi_mlx versions) and is skipped while it matches.
# Outputs are written to DIR.incomplete and renamed when complete. Every LM fixture carries
# a config.json in Kyutai's repo format (what moshi_mlx's LmConfig.from_config_dict reads).
#
# Benchmark weights are only generated on demand, into .cache/bench/:
#   --mid        mid-size LM (d 1024, 8 layers, full depformer, real vocab), bf16 + config
#   --full-q4    full-size config_v0_1 q4 checkpoint with random weights (4.8 GB)
#   --mimi-full  real-size Mimi (mimi_202407, 32 codebooks) under PyTorch names
#   --force      regenerate even when the stamp matches
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
VENV="${MOSHIBAR_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
REF="$ROOT/scripts/reference"
FIX="$ROOT/.cache/fixtures"
BENCH="$ROOT/.cache/bench"

DEFAULT=1 MID=0 FULLQ4=0 MIMIFULL=0 FORCE=0
for arg in "$@"; do
  case "$arg" in
    --mid) MID=1; DEFAULT=0 ;;
    --full-q4) FULLQ4=1; DEFAULT=0 ;;
    --mimi-full) MIMIFULL=1; DEFAULT=0 ;;
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "make-fixtures: unknown argument $arg" >&2; exit 2 ;;
  esac
done

if [ ! -x "$PY" ]; then
  echo "make-fixtures: $PY not found; run scripts/setup-python.sh first" >&2
  exit 1
fi

# Hash of everything that determines the outputs (sources + library versions).
VERSIONS="$("$PY" -c 'import mlx.core as mx, importlib.metadata as m; print(mx.__version__, m.version("moshi_mlx"), m.version("numpy"), m.version("sentencepiece"))')"
src_hash() { { (cd "$REF" && cat "$@"); echo "$VERSIONS"; } | sha256sum | cut -c1-16; }
COMMON=(fixture_configs.py fixture_weights.py fixture_lm.py fixture_mimi.py make_fixture.py)
HASH_FIX="$(src_hash "${COMMON[@]}" make_pipeline_repo.py)"
HASH_CONVERT="$(src_hash fixture_configs.py replay_fixture.py convert_fixture.py)"
HASH_BENCH="$(src_hash "${COMMON[@]}" make_bench_weights.py)"
HASH_RUSTYMIMI="$(src_hash "${COMMON[@]}" make_rustymimi_reference.py; "$PY" -c 'import importlib.metadata as m; print(m.version("rustymimi"))'; espeak-ng --version 2>/dev/null || true)"

# build NAME DIR HASH COMMAND...: run COMMAND (which gets the temp dir as its
# last argument) unless DIR has a stamp matching HASH and the command line.
build() {
  local name="$1" dir="$2" hash="$3"; shift 3
  local want="$hash ${*#$ROOT/}"
  if [ "$FORCE" = 0 ] && [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$want" ]; then
    echo "fixtures: $name up to date"
    return 0
  fi
  local tmp="$dir.incomplete"
  rm -rf "$tmp"
  mkdir -p "$(dirname "$dir")"
  local t0=$SECONDS
  "$@" "$tmp" > "$tmp.log" 2>&1 || { cat "$tmp.log" >&2; echo "fixtures: $name FAILED" >&2; return 1; }
  echo "$want" > "$tmp/.stamp"
  rm -rf "$dir" "$tmp.log"
  mv "$tmp" "$dir"
  echo "fixtures: $name written to ${dir#$ROOT/} ($((SECONDS - t0)) s)"
}

if [ "$DEFAULT" = 1 ]; then
  SEED0="${MOSHIBAR_SEED0:-$ROOT/../shared/reference/moshi-tiny-seed0}"
  if [ -d "$SEED0" ]; then
    build moshi-tiny-seed0 "$FIX/moshi-tiny-seed0" "$HASH_CONVERT" "$PY" "$REF/convert_fixture.py" "$SEED0"
  else
    echo "fixtures: $SEED0 not found; moshi-tiny-seed0 not converted" >&2
  fi
  build moshi-tiny-seed1 "$FIX/moshi-tiny-seed1" "$HASH_FIX" "$PY" "$REF/make_fixture.py" --seed 1 --size tiny --out
  build moshi-tiny-seed2 "$FIX/moshi-tiny-seed2" "$HASH_FIX" "$PY" "$REF/make_fixture.py" --seed 2 --size tiny --out
  build moshi-small-seed3 "$FIX/moshi-small-seed3" "$HASH_FIX" "$PY" "$REF/make_fixture.py" --seed 3 --size small --out
  if [ -f "$REF/make_pipeline_repo.py" ]; then
    build pipeline-tiny "$FIX/pipeline-tiny" "$HASH_FIX" "$PY" "$REF/make_pipeline_repo.py" --seed 0 --out
  fi
  build mimi-rustymimi-seed0 "$FIX/mimi-rustymimi-seed0" "$HASH_RUSTYMIMI" "$PY" "$REF/make_rustymimi_reference.py" --seed 0 --frames 320 --out
fi
if [ "$MID" = 1 ]; then
  build bench-mid-lm "$BENCH/mid-lm" "$HASH_BENCH" "$PY" "$REF/make_bench_weights.py" --what mid-lm --out
fi
if [ "$MIMIFULL" = 1 ]; then
  build bench-mimi-full "$BENCH/mimi-full" "$HASH_BENCH" "$PY" "$REF/make_bench_weights.py" --what mimi-full --out
fi
if [ "$FULLQ4" = 1 ]; then
  build bench-full-q4 "$BENCH/full-q4" "$HASH_BENCH" "$PY" "$REF/make_bench_weights.py" --what full-q4 --out
fi
