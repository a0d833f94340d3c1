#!/usr/bin/env bash
# Mimi per-frame encode + decode: engine::mimi vs rustymimi 0.4, same checkpoint, same CPU,
# interleaved rounds (the machine is shared: compare medians of the same run).
#   scripts/reference/bench_mimi_vs_rustymimi.sh [ROUNDS=3] [FRAMES=30]
# Uses the rustymimi parity fixture's real-size random Mimi (scripts/make-fixtures.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
source scripts/env.sh
ROUNDS="${1:-3}" FRAMES="${2:-30}"
CKPT="$ROOT/.cache/fixtures/mimi-rustymimi-seed0/tokenizer-e351c8d8-checkpoint125.safetensors"
[ -f "$CKPT" ] || { echo "missing $CKPT: run scripts/make-fixtures.sh" >&2; exit 1; }
cargo test -p engine --test mimi_bench --no-run 2>/dev/null
for r in $(seq "$ROUNDS"); do
  echo "round $r, load $(cut -d' ' -f1 /proc/loadavg)"
  .venv/bin/python scripts/reference/bench_rustymimi.py --weights "$CKPT" --frames "$FRAMES" --warmup 3
  MIMI_BENCH_CHECKPOINT="$CKPT" MIMI_BENCH_FRAMES="$FRAMES" MIMI_BENCH_WARMUP=3 \
    cargo test -q -p engine --test mimi_bench real_size_streaming_frame_time -- --ignored --nocapture 2>/dev/null \
    | grep '"impl"'
done
