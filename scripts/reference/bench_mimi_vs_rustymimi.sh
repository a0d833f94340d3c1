#!/usr/bin/env bash
# Mimi per-frame encode + decode on this CPU, same checkpoint, interleaved rounds (the machine is
# shared: compare medians of one run): rustymimi 0.4 (PyPI) vs the engine's two backends,
# Kyutai's candle Mimi (`engine::codec::CandleMimi`, the `moshi` 0.6 crate rustymimi wraps) and
# the MLX port (`engine::mimi`). Release build, like rustymimi's wheel.
#   scripts/reference/bench_mimi_vs_rustymimi.sh [ROUNDS=5] [FRAMES=30] [BACKENDS=candle,mlx]
# Every round runs rustymimi and each backend once (one frame at a time, WARMUP=3 untimed frames),
# the order rotated per round; the summary is the median of the rounds' per-frame medians and
# each backend's ratio to rustymimi, with the load average of each round.
# Uses the rustymimi parity fixture's real-size random Mimi (scripts/make-fixtures.sh).
# Threads: both sides use candle's default (RAYON_NUM_THREADS, else all cores); set
# RAYON_NUM_THREADS to pin both.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
source scripts/env.sh
ROUNDS="${1:-5}" FRAMES="${2:-30}" BACKENDS="${3:-candle,mlx}" WARMUP="${WARMUP:-3}"
CKPT="$ROOT/.cache/fixtures/mimi-rustymimi-seed0/tokenizer-e351c8d8-checkpoint125.safetensors"
[ -f "$CKPT" ] || { echo "missing $CKPT: run scripts/make-fixtures.sh" >&2; exit 1; }
BIN="$(cargo test --release -p engine --test mimi_bench --no-run --message-format=json 2>/dev/null \
  | .venv/bin/python -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "mimi_bench":
        print(m["executable"])')"
[ -x "$BIN" ] || { echo "could not build the mimi_bench test binary" >&2; exit 1; }
OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT
IFS=',' read -r -a impls <<<"rustymimi,$BACKENDS"
n=${#impls[@]}
for r in $(seq "$ROUNDS"); do
  load="$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "round $r, load $load" >&2
  for k in $(seq 0 $((n - 1))); do
    impl="${impls[$(((k + r - 1) % n))]}"
    if [ "$impl" = rustymimi ]; then
      line="$(.venv/bin/python scripts/reference/bench_rustymimi.py --weights "$CKPT" --frames "$FRAMES" --warmup "$WARMUP")"
    else
      line="$(MIMI_BENCH_CHECKPOINT="$CKPT" MIMI_BENCH_FRAMES="$FRAMES" MIMI_BENCH_WARMUP="$WARMUP" \
        MIMI_BENCH_BACKENDS="$impl" "$BIN" real_size_streaming_frame_time --ignored --nocapture --exact \
        2>/dev/null | grep '"impl"')"
    fi
    echo "  $line" >&2
    printf '%s\t%s\t%s\n' "$r" "$load" "$line" >>"$OUT"
  done
done
.venv/bin/python - "$OUT" <<'PY'
import json, statistics, sys
rows = {}
loads = {}
for l in open(sys.argv[1]):
    r, load, j = l.rstrip("\n").split("\t", 2)
    j = json.loads(j)
    name = "rustymimi" if j["impl"] == "rustymimi" else j["backend"]
    # rustymimi: encode+decode p50; ours: median of encode+decode per frame.
    ms = j["encode_decode_ms"]["p50"] if name == "rustymimi" else j["total_ms"]
    rows.setdefault(name, {})[int(r)] = ms
    loads[int(r)] = load
names = ["rustymimi"] + [n for n in rows if n != "rustymimi"]
print("| round | load (1/5/15 min) | " + " | ".join(f"{n} ms/frame" for n in names) + " | "
      + " | ".join(f"{n} / rustymimi" for n in names[1:]) + " |")
print("|" + "---|" * (2 + 2 * len(names) - 1))
for r in sorted(loads):
    base = rows["rustymimi"][r]
    print(f"| {r} | {loads[r]} | " + " | ".join(f"{rows[n][r]:.1f}" for n in names) + " | "
          + " | ".join(f"{rows[n][r] / base:.2f}" for n in names[1:]) + " |")
med = {n: statistics.median(rows[n].values()) for n in names}
print("| median | | " + " | ".join(f"{med[n]:.1f}" for n in names) + " | "
      + " | ".join(f"{med[n] / med['rustymimi']:.2f}" for n in names[1:]) + " |")
for n in names[1:]:
    per_round = sorted(rows[n][r] / rows["rustymimi"][r] for r in loads)
    print(f"{n}: median of per-round ratios {statistics.median(per_round):.2f} "
          f"(range {per_round[0]:.2f}-{per_round[-1]:.2f})")
PY
