#!/usr/bin/env bash
# Peak RSS of hubfetch reading one large Xet file (issue 11 item 3: < 100 MB for 15 GB), measured,
# not extrapolated. testhub serves a generated SIZE file over `serve --xet` with its xorbs on disk
# (`--xet-options xorb-dir=...`: written once at start, streamed per request), no bandwidth cap
# (the worst case for buffering: 8 transfers as fast as the disk goes). Then:
#   1. a clean download: time to the verified file (X-Xet-Hash + SHA-256), bytes served, peak RSS;
#   2. with RESUME=1 (default): a second download killed (SIGKILL) once RESUME_AT percent of the
#      file was served, then relaunched: the relaunch's time, bytes served and peak RSS (it
#      re-reads and re-hashes the journal of the large partial).
# Peak RSS is /usr/bin/time -v's "Maximum resident set size" of the hubfetch process.
#
#   crates/hubfetch/bench/xet_rss_15g.sh                    # 15 GB (needs ~31 GB free in BENCH_DIR)
#   SIZE=2GB RESUME_AT=90 crates/hubfetch/bench/xet_rss_15g.sh
#   XET_BENCH_BIN=/dir/with/release/binaries ...             # skip the build
#
# Writes under a temp dir in BENCH_DIR (default /tmp), deleted at the end (also on Ctrl-C).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$ROOT"
SIZE="${SIZE:-15GB}"
RESUME="${RESUME:-1}"
RESUME_AT="${RESUME_AT:-90}"
command -v /usr/bin/time >/dev/null || { echo "missing /usr/bin/time" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$(mktemp -d "${BENCH_DIR:-/tmp}/xet-rss.XXXXXX")"
HUB_PID=""
DL_PID=""
cleanup() {
  [ -n "$DL_PID" ] && kill -KILL "$DL_PID" 2>/dev/null
  [ -n "$HUB_PID" ] && kill -TERM "$HUB_PID" 2>/dev/null && wait "$HUB_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
if [ -n "${XET_BENCH_BIN:-}" ]; then
  BIN="$XET_BENCH_BIN"
else
  cargo build --release -q -p hubfetch -p testhub
  # Private copies: a shared target dir may be rebuilt while this runs.
  mkdir -p "$WORK/bin"
  cp "$CARGO_TARGET_DIR/release/hubfetch" "$CARGO_TARGET_DIR/release/testhub" "$WORK/bin/"
  BIN="$WORK/bin"
fi
REPO=bench/xet-rss
FILE=model.bin
now() { date +%s.%N; }
# Every response body byte so far (testhub's `bytes_served`; 0 if the stats cannot be read).
served() {
  local n
  n="$(curl -s "$HF_ENDPOINT/_testhub/stats" | sed -n 's/.*"bytes_served":\([0-9]*\).*/\1/p')"
  echo "${n:-0}"
}

echo "Xet peak-RSS run: $SIZE generated file, xorbs on disk, no link cap; load $(cut -d' ' -f1-3 /proc/loadavg)"
t0=$(now)
"$BIN/testhub" serve --repo "$REPO" --generated-file "$FILE=$SIZE,7" --xet \
  --xet-options "xorb-dir=$WORK/xorbs" --stats "$WORK/stats.json" \
  --ignore-stdin >"$WORK/hub.out" 2>"$WORK/hub.err" </dev/null &
HUB_PID=$!
# Start-up hashes the file and chunks it into xorbs on disk: minutes for 15 GB.
for _ in $(seq 1 36000); do
  grep -q HF_ENDPOINT "$WORK/hub.out" 2>/dev/null && break
  kill -0 "$HUB_PID" 2>/dev/null || { cat "$WORK/hub.err" >&2; exit 1; }
  sleep 0.1
done
export HF_ENDPOINT="$(sed -n 's/^HF_ENDPOINT=//p' "$WORK/hub.out")"
[ -n "$HF_ENDPOINT" ] || { cat "$WORK/hub.err" >&2; exit 1; }
echo "  testhub ready after $(echo "$(now) - $t0" | bc) s: $(ls "$WORK/xorbs" | wc -l) xorbs, $(du -sh "$WORK/xorbs" | cut -f1) on disk"

# One hubfetch download into cache $1 under /usr/bin/time -v (report in $WORK/time.$2).
download() {
  env -u HF_TOKEN -u HF_HUB_DISABLE_XET HF_HOME="$1/home" HF_HUB_CACHE="$1/hub" \
    /usr/bin/time -v -o "$WORK/time.$2" "$BIN/hubfetch" download "$REPO" "$FILE" \
    >"$WORK/out.$2" 2>"$WORK/err.$2"
}
rss_mb() { echo $(( $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time.$1") / 1024 )); }

printf '\n| run | time | bytes served | peak RSS of hubfetch |\n|---|---|---|---|\n'
b0=$(served); t0=$(now)
download "$WORK/cache" clean || { cat "$WORK/err.clean" >&2; exit 1; }
secs=$(echo "$(now) - $t0" | bc); b1=$(served)
path="$(tail -1 "$WORK/out.clean")"
size_b="$(stat -L -c %s "$path")"
[ "$size_b" -gt 0 ] || { echo "no file" >&2; exit 1; }
echo "| clean download of $SIZE | ${secs} s | $(( b1 - b0 )) | $(rss_mb clean) MB |"
rm -rf "$WORK/cache"

if [ "$RESUME" = 1 ]; then
  b0=$(served)
  download "$WORK/cache" killed &
  DL_PID=$!
  want=$(( b0 + size_b * RESUME_AT / 100 ))
  while kill -0 "$DL_PID" 2>/dev/null && [ "$(served)" -lt "$want" ]; do sleep 0.2; done
  # SIGKILL the hubfetch process itself (child of `time`, child of the subshell).
  for t in $(pgrep -P "$DL_PID"); do pkill -KILL -P "$t" 2>/dev/null || true; done
  wait "$DL_PID" 2>/dev/null || true
  DL_PID=""
  b1=$(served)
  echo "| killed (SIGKILL) at ${RESUME_AT} % | – | $(( b1 - b0 )) | $(rss_mb killed 2>/dev/null || echo '?') MB (until killed) |"
  t0=$(now)
  download "$WORK/cache" resumed || { cat "$WORK/err.resumed" >&2; exit 1; }
  secs=$(echo "$(now) - $t0" | bc); b2=$(served)
  echo "| relaunch: resume from the journal of the $RESUME_AT % partial | ${secs} s | $(( b2 - b1 )) | $(rss_mb resumed) MB |"
  rm -rf "$WORK/cache"
fi
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
