#!/usr/bin/env bash
# Xet benchmark (issue 11): the same file behind the same capped link, side by side in one run,
# interleaved round by round: hubfetch over Xet, hubfetch over HTTP (HF_HUB_DISABLE_XET=1), and
# huggingface_hub's hf_hub_download with hf_xet. Per tool: time to the file (hubfetch's file is
# verified: X-Xet-Hash + SHA-256, or SHA-256; hf_hub_download + hf_xet verifies nothing), bytes
# the hub served (every response body byte: `testhub serve --stats`), peak RSS (/usr/bin/time);
# medians over ROUNDS. Then one run per tool with one flipped byte in the data it is served,
# and the cost of that byte (bytes served minus the clean median) and whether the file is right.
#
#   crates/hubfetch/bench/xet_bench.sh                       # 256 MB, 3 rounds, 80 MB/s link
#   SIZE=1GB LINK_MBPS=200 ROUNDS=1 crates/hubfetch/bench/xet_bench.sh
#   MEM_SIZE=2GB crates/hubfetch/bench/xet_bench.sh          # + a peak-RSS run on a big file
#   XET_BENCH_BIN=/dir/with/release/binaries ...             # skip the build
#
# Needs: a release build of hubfetch and testhub (built here), the venv of scripts/setup.sh
# (huggingface_hub + hf_xet), /usr/bin/time. Writes under a temp dir deleted at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$ROOT"
SIZE="${SIZE:-256MB}"
LINK_MBPS="${LINK_MBPS:-80}"
ROUNDS="${ROUNDS:-3}"
TOOLS="${TOOLS:-xet http hf}"
FLIP_AT="${FLIP_AT:-40000000}"
MEM_SIZE="${MEM_SIZE:-}"
VENV="${MOSHIBAR_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "no venv at $VENV: run bash scripts/setup.sh" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "missing /usr/bin/time" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ -n "${XET_BENCH_BIN:-}" ]; then
  BIN="$XET_BENCH_BIN" # prebuilt hubfetch + testhub (a shared target dir may be rebuilt meanwhile)
else
  cargo build --release -q -p hubfetch -p testhub
  BIN="$CARGO_TARGET_DIR/release"
fi
WORK="$(mktemp -d "${BENCH_DIR:-/tmp}/xet-bench.XXXXXX")"
HUB_PID=""
cleanup() { [ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
REPO=bench/xet
FILE=model.bin

# A fresh hub per run (fault counts start over; the stats file is its own).
start_hub() { # size faults
  rm -f "$WORK/stats.json"
  "$BIN/testhub" serve --repo "$REPO" --generated-file "$FILE=$1,7" --xet \
    --faults "bw-total=${LINK_MBPS}MB${2:+,$2}" --stats "$WORK/stats.json" \
    --ignore-stdin >"$WORK/hub.out" 2>"$WORK/hub.err" </dev/null &
  HUB_PID=$!
  for _ in $(seq 1 1200); do grep -q HF_ENDPOINT "$WORK/hub.out" 2>/dev/null && break; sleep 0.1; done
  export HF_ENDPOINT="$(sed -n 's/^HF_ENDPOINT=//p' "$WORK/hub.out")"
  [ -n "$HF_ENDPOINT" ] || { cat "$WORK/hub.err" >&2; exit 1; }
}
stop_hub() { # sets SERVED (bytes_served); not in a subshell: it must `wait` for the hub
  kill -TERM "$HUB_PID" 2>/dev/null || true; wait "$HUB_PID" 2>/dev/null || true; HUB_PID=""
  SERVED="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["bytes_served"])' "$WORK/stats.json")"
}
now() { date +%s.%N; }

# One download with tool $1 into a fresh cache; prints "secs rss_kb path".
fetch() {
  local tool="$1" cache="$WORK/cache-$RANDOM"
  mkdir -p "$cache"
  local t0 t1 path
  t0=$(now)
  case "$tool" in
    xet|http)
      local disable=0
      [ "$tool" = http ] && disable=1
      env -u HF_TOKEN HF_HOME="$cache/home" HF_HUB_CACHE="$cache/hub" \
        HF_HUB_DISABLE_XET=$disable \
        /usr/bin/time -f %M -o "$WORK/rss" "$BIN/hubfetch" download "$REPO" "$FILE" \
        >"$WORK/out" 2>"$WORK/err" || { cat "$WORK/err" >&2; return 1; }
      ;;
    hf)
      env -u HF_HUB_DISABLE_XET HF_HOME="$cache/home" HF_HUB_CACHE="$cache/hub" \
        HF_XET_CACHE="$cache/xet" HF_HUB_DISABLE_TELEMETRY=1 \
        /usr/bin/time -f %M -o "$WORK/rss" "$PY" -c \
        'import sys; from huggingface_hub import hf_hub_download; print(hf_hub_download(sys.argv[1], sys.argv[2]))' \
        "$REPO" "$FILE" >"$WORK/out" 2>"$WORK/err" || { cat "$WORK/err" >&2; return 1; }
      ;;
  esac
  t1=$(now)
  path="$(tail -1 "$WORK/out")"
  echo "$(echo "$t1 - $t0" | bc) $(tail -1 "$WORK/rss") $path"
}

want_sha() { sha256sum "$1" | cut -d' ' -f1; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

declare -A T B R
REF=""
SIZE_B=1
echo "Xet benchmark: $SIZE, link ${LINK_MBPS} MB/s, $ROUNDS rounds, tools: $TOOLS; load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  for tool in $TOOLS; do
    start_hub "$SIZE" ""
    read -r secs rss path < <(fetch "$tool")
    sha="$(want_sha "$path")"
    [ -z "$REF" ] && REF="$sha" && SIZE_B="$(stat -L -c %s "$path")"
    [ "$sha" = "$REF" ] || echo "!! $tool round $r: sha256 $sha differs from $REF" >&2
    stop_hub; bytes=$SERVED
    T[$tool]+="$secs "; B[$tool]+="$bytes "; R[$tool]+="$rss "
    rm -rf "$WORK"/cache-*
    echo "  round $r $tool: ${secs}s, $bytes bytes served, ${rss} KB peak RSS (load $(cut -d' ' -f1 /proc/loadavg))"
  done
done

echo
echo "| tool | time to file (median s) | bytes served (median, × file) | peak RSS (median MB) | one flipped byte: extra bytes served | flipped byte caught |"
echo "|---|---|---|---|---|---|"
for tool in $TOOLS; do
  t=$(echo ${T[$tool]} | tr ' ' '\n' | median)
  b=$(echo ${B[$tool]} | tr ' ' '\n' | median)
  m=$(echo ${R[$tool]} | tr ' ' '\n' | median)
  # One run with one byte of the served data flipped (at offset FLIP_AT of the blob on HTTP,
  # of the first xorb long enough on Xet).
  start_hub "$SIZE" "flip-at=${FLIP_AT},flip-at-count=1"
  if read -r fsecs frss fpath < <(fetch "$tool"); then
    fsha="$(want_sha "$fpath")"; stop_hub; fbytes=$SERVED
    extra=$(( fbytes - ${b%.*} ))
    caught=$([ "$fsha" = "$REF" ] && echo "yes (file right)" || echo "NO: wrong file written")
  else
    stop_hub; extra="(failed)"; caught="(failed)"
  fi
  rm -rf "$WORK"/cache-*
  name=$(case $tool in xet) echo hubfetch-xet;; http) echo hubfetch-http;; hf) echo "hf_hub_download + hf_xet";; esac)
  x=$(echo "scale=3; $b / $SIZE_B" | bc)
  echo "| $name | $t | $b (${x}×) | $(( ${m%.*} / 1024 )) | $extra | $caught |"
done

if [ -n "$MEM_SIZE" ]; then
  echo
  echo "Peak RSS on a $MEM_SIZE file (link ${LINK_MBPS} MB/s):"
  for tool in $TOOLS; do
    start_hub "$MEM_SIZE" ""
    read -r secs rss path < <(fetch "$tool")
    stop_hub; bytes=$SERVED
    rm -rf "$WORK"/cache-*
    echo "  $tool: ${secs}s, $bytes bytes served, $(( rss / 1024 )) MB peak RSS"
  done
fi
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
