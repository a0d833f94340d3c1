#!/usr/bin/env bash
# Download benchmark (issue 2 §7): one local Hub (`testhub`, release build) per tool, serving a
# generated file through a capped link (20 MB/s per connection, 160 MB/s total) with faults
# (connection drops, one corrupted byte), and a table: time to a verified file, throughput as a
# share of the link, bytes transferred, whether the corrupt byte was caught; then hashing speed
# vs sha256sum and hubfetch's peak RSS.
#
#   crates/hubfetch/bench/download_bench.sh            # 1 GB (1e9 bytes)
#   SIZE=1.2GB FAULTS=drops=8 crates/hubfetch/bench/download_bench.sh
#   CONN_MBPS=5 LINK_MBPS=40 TOOLS="hubfetch hf aria2c" crates/hubfetch/bench/download_bench.sh
#   TOOLS=hubfetch HUBFETCH_BIN=/path/to/other/hubfetch ...   # compare two builds
#
# Columns: time to a verified file and its ratio to the ideal (size / link cap); the link
# utilisation (bytes the server actually sent per second, as % of the cap: repair and
# re-sent bytes count); goodput (file size / time). The load average is printed per tool.
#
# Needs: a release build of hubfetch and testhub (built here), the venv of scripts/setup.sh
# (huggingface_hub), aria2c, curl, /usr/bin/time. Everything it writes goes under a temp dir
# that is deleted at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$ROOT"
SIZE="${SIZE:-1GB}"
LINK_MBPS="${LINK_MBPS:-160}"
CONN_MBPS="${CONN_MBPS:-20}"
TOOLS="${TOOLS:-hubfetch hf aria2c curl}"
want() { case " $TOOLS " in *" $1 "*) return 0;; *) return 1;; esac; }
FLIP_AT="${FLIP_AT:-400000000}"
FAULTS="${FAULTS:-drops=4}"
FAULTS="bw-conn=${CONN_MBPS}MB,bw-total=${LINK_MBPS}MB,flip-at=${FLIP_AT},flip-at-count=1,${FAULTS}"
VENV="${MOSHIBAR_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "no venv at $VENV: run bash scripts/setup.sh" >&2; exit 1; }
for t in aria2c curl /usr/bin/time sha256sum; do command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }; done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
cargo build --release -q -p hubfetch -p testhub
BIN="$CARGO_TARGET_DIR/release"
HUBFETCH_BIN="${HUBFETCH_BIN:-$BIN/hubfetch}"
WORK="$(mktemp -d "${BENCH_DIR:-/tmp}/hubfetch-bench.XXXXXX")"
HUB_PID=""
cleanup() { [ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
REPO=bench/big
FILE=model.bin

start_hub() { # fresh server per tool: fault counts (the one corrupt byte) start over
  "$BIN/testhub" serve --repo "$REPO" --generated-file "$FILE=$SIZE,7" --faults "$FAULTS" \
    --ignore-stdin >"$WORK/hub.out" 2>"$WORK/hub.err" </dev/null &
  HUB_PID=$!
  for _ in $(seq 1 600); do grep -q HF_ENDPOINT "$WORK/hub.out" 2>/dev/null && break; sleep 0.1; done
  export HF_ENDPOINT="$(sed -n 's/^HF_ENDPOINT=//p' "$WORK/hub.out")"
  [ -n "$HF_ENDPOINT" ] || { cat "$WORK/hub.err" >&2; exit 1; }
}
stop_hub() { kill "$HUB_PID" 2>/dev/null || true; wait "$HUB_PID" 2>/dev/null || true; HUB_PID=""; }
hub_bytes() { curl -s "$HF_ENDPOINT/_testhub/stats" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["body_bytes_sent"])'; }
hub_flips() { curl -s "$HF_ENDPOINT/_testhub/stats" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["faults_injected"].get("flip_byte_at",0))'; }
cdn_url() { curl -sI "$HF_ENDPOINT/$REPO/resolve/main/$FILE" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p'; }
now() { date +%s.%N; }

start_hub
TRUE_SHA="$(curl -s "$HF_ENDPOINT/api/models/$REPO/revision/main?blobs=true" | "$PY" -c 'import json,sys; print([s for s in json.load(sys.stdin)["siblings"] if s["rfilename"]=="'$FILE'"][0]["lfs"]["sha256"])')"
BYTES="$(curl -s "$HF_ENDPOINT/api/models/$REPO/revision/main?blobs=true" | "$PY" -c 'import json,sys; print([s for s in json.load(sys.stdin)["siblings"] if s["rfilename"]=="'$FILE'"][0]["size"])')"
stop_hub
echo "file: $BYTES bytes, sha256 $TRUE_SHA; link: $CONN_MBPS MB/s per connection, $LINK_MBPS MB/s total; faults: $FAULTS" >&2

ROWS=()
row() { # name secs bytes_sent final_sha note  (uses the running hub's flip count)
  local name=$1 secs=$2 sent=$3 sha=$4 note=$5
  local pct caught flips load
  flips=$(hub_flips)
  load=$(cut -d' ' -f1 /proc/loadavg)
  pct=$("$PY" -c "print(f'{$sent/$secs/1e6:.0f} MB/s = {$sent/$secs/1e6/$LINK_MBPS*100:.0f} %')")
  if [ "$flips" = 0 ]; then caught="not hit (corrupt byte never received)";
  elif [ "$sha" = "$TRUE_SHA" ]; then caught="yes (served corrupt, final file correct)";
  else caught="**no: corrupt file accepted**"; fi
  ROWS+=("| $name | $(printf %.1f "$secs") = $("$PY" -c "print(f'{$secs/($BYTES/1e6/$LINK_MBPS):.1f}')")× ideal | $pct | $("$PY" -c "print(f'{$BYTES/$secs/1e6:.0f}')") MB/s | $("$PY" -c "print(f'{$sent/1e6:.0f}')") MB | $caught | $load | $note |")
}

HF_VERIFY=- SHASUM=- RSS_KB=0
# 1. hubfetch (verifies while downloading: its time is the time to a verified file)
if want hubfetch; then
start_hub
C="$WORK/c-hubfetch"
t0=$(now)
if HF_HUB_CACHE="$C" /usr/bin/time -v -o "$WORK/hubfetch.time" "$HUBFETCH_BIN" download "$REPO" "$FILE" \
    --stall-timeout 10 --backoff-base 0.2 --backoff-max 5 >"$WORK/hubfetch.out" 2>"$WORK/hubfetch.err"; then rc=0; else rc=$?; fi
t1=$(now)
P="$(tail -1 "$WORK/hubfetch.out")"
SHA="$( [ $rc = 0 ] && sha256sum "$P" | cut -d' ' -f1 || echo "failed rc=$rc")"
RSS_KB=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/hubfetch.time")
[ -n "${HUBFETCH_LOG:-}" ] && cp "$WORK/hubfetch.err" "$HUBFETCH_LOG"
row hubfetch "$("$PY" -c "print($t1-$t0)")" "$(hub_bytes)" "$SHA" "8 conns, 32 MiB verified chunks; exit $rc"
# hashing: hubfetch verify (re-hash of the cached file) vs sha256sum
t0=$(now); HF_HUB_CACHE="$C" "$HUBFETCH_BIN" verify "$REPO" "$FILE" >/dev/null; t1=$(now)
HF_VERIFY=$("$PY" -c "print(f'{$BYTES/($t1-$t0)/1e6:.0f}')")
t0=$(now); sha256sum "$P" >/dev/null; t1=$(now)
SHASUM=$("$PY" -c "print(f'{$BYTES/($t1-$t0)/1e6:.0f}')")
stop_hub; rm -rf "$C"
fi

# 2. huggingface_hub hf_hub_download (HTTP, no Xet), time + a sha256sum pass to verify
if want hf; then
start_hub
C="$WORK/c-hf"
t0=$(now)
if HF_HUB_CACHE="$C" HF_HUB_DISABLE_XET=1 HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1 "$PY" -c \
  "from huggingface_hub import hf_hub_download as d; print(d('$REPO','$FILE'))" >"$WORK/hf.out" 2>"$WORK/hf.err"; then rc=0; else rc=$?; fi
P="$(tail -1 "$WORK/hf.out")"
SHA="$( [ $rc = 0 ] && sha256sum "$P" | cut -d' ' -f1 || echo "failed")"; t1=$(now)
row "hf_hub_download (2.4, HF_HUB_DISABLE_XET=1)" "$("$PY" -c "print($t1-$t0)")" "$(hub_bytes)" "$SHA" "1 stream; checks size only; exit $rc; time incl. sha256sum"
stop_hub; rm -rf "$C"
fi

# 3. aria2c -x8 -s8 (+ sha256sum)
if want aria2c; then
start_hub
URL="$(cdn_url)"
t0=$(now)
if aria2c -x8 -s8 --max-tries=0 --retry-wait=1 --console-log-level=warn --summary-interval=0 \
    --file-allocation=none -d "$WORK/aria" -o "$FILE" "$URL" >"$WORK/aria.log" 2>&1; then rc=0; else rc=$?; fi
SHA="$(sha256sum "$WORK/aria/$FILE" | cut -d' ' -f1)"; t1=$(now)
row "aria2c -x8 -s8" "$("$PY" -c "print($t1-$t0)")" "$(hub_bytes)" "$SHA" "exit $rc; time incl. sha256sum"
stop_hub; rm -rf "$WORK/aria"
fi

# 4. curl -C - in a retry loop (+ sha256sum)
if want curl; then
start_hub
URL="$(cdn_url)"
t0=$(now)
tries=0
until curl -sS -f -C - -o "$WORK/curl.bin" "$URL" 2>>"$WORK/curl.err"; do tries=$((tries+1)); [ $tries -gt 100 ] && break; sleep 1; done
SHA="$(sha256sum "$WORK/curl.bin" | cut -d' ' -f1)"; t1=$(now)
row "curl -C - (retry loop)" "$("$PY" -c "print($t1-$t0)")" "$(hub_bytes)" "$SHA" "1 stream; $tries resumes; time incl. sha256sum"
stop_hub; rm -f "$WORK/curl.bin"
fi

echo
IDEAL=$("$PY" -c "print(f'{$BYTES/1e6/$LINK_MBPS:.2f}')")
echo "| tool | time to verified file (s; ideal $IDEAL s) | link utilisation (bytes sent/s, % of $LINK_MBPS MB/s) | goodput (size/time) | bytes transferred | corrupt byte caught | load avg | notes |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "Hashing (re-hash of the 1 file): hubfetch verify $HF_VERIFY MB/s, sha256sum $SHASUM MB/s. hubfetch peak RSS: $((RSS_KB/1024)) MB."
