#!/usr/bin/env bash
# Weak-link benchmark (issue 10): a time-scaled version of the people Moshibar is for (87 KB/s,
# drops, laptops that sleep and apps that get quit): one local Hub (`testhub`, release build)
# per tool and round, serving a generated file through a capped link with random drops, and the
# client SIGKILLed every KILL_EVERY seconds and started again until it has a verified file.
#
#   crates/hubfetch/bench/weak_link.sh                     # 64 MiB, 1 MB/s, kill every 8 s
#   ROUNDS=3 crates/hubfetch/bench/weak_link.sh            # medians over 3 interleaved rounds
#   SIZE=32MiB KILL_EVERY=5 FAULTS=drop-prob=0.1 TOOLS="hubfetch curl" crates/hubfetch/bench/weak_link.sh
#
# Columns per tool: sessions (processes started until the file was verified), bytes the server
# sent / file size, time to a verified file (wall time over all sessions, including start-up
# and, for tools that do not verify, a sha256sum pass), and whether the final file matches the
# Hub's sha256. Tools: hubfetch (defaults: 8 MiB chunks, adaptive connections, 4 MiB / 500 ms durable
# pieces), `aria2c -c -x8 -s8 --auto-save-interval=1` (its .aria2 control file saved every
# second: its best case), a `curl -C -` loop, and `hf_hub_download` (huggingface_hub in .venv,
# HF_HUB_DISABLE_XET=1). Tools run interleaved per round; the table gives each round and the
# medians. The load average is printed with each row (the machine is shared).
#
# Needs: the venv of scripts/setup.sh, aria2c, curl, timeout, sha256sum.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$ROOT"
SIZE="${SIZE:-64MiB}"
RATE="${RATE:-1MB}"
KILL_EVERY="${KILL_EVERY:-8}"
FAULTS="${FAULTS:-drop-prob=0.05}"
ROUNDS="${ROUNDS:-1}"
MAX_SECS="${MAX_SECS:-900}"
TOOLS="${TOOLS:-hubfetch aria2c curl hf}"
REPO=bench/weak
FILE=model.bin
. "$ROOT/crates/hubfetch/bench/lib.sh"
bench_setup hubfetch-weak aria2c curl timeout sha256sum
ALL_FAULTS="bw-total=${RATE},seed=7,${FAULTS}"

py() { "$PY" -c "$1"; }

start_hub 11 "$ALL_FAULTS"
file_meta
stop_hub
RATE_BPS="$(py "
import re
m = re.fullmatch(r'([0-9.]+)\s*([kKmMgG]?)(i?)B?', '$RATE')
n, u, i = float(m[1]), m[2].lower(), m[3]
print(int(n * ({'': 1, 'k': 1e3, 'm': 1e6, 'g': 1e9}[u] if not i else {'k': 1024, 'm': 1 << 20, 'g': 1 << 30}[u])))")"
IDEAL="$(py "print(f'{$BYTES/$RATE_BPS:.0f}')")"
echo "file: $BYTES bytes, sha256 $TRUE_SHA; link $RATE/s total, faults: $FAULTS; client SIGKILLed every $KILL_EVERY s; ideal $IDEAL s" >&2

# run_tool NAME: sessions until a verified file; prints "sessions ratio secs ok".
run_tool() {
  local name=$1 sessions=0 rc=1 t0 t1 sha=none url=""
  local C="$WORK/c-$name"
  rm -rf "$C" "$WORK/aria" "$WORK/curl.bin"
  mkdir -p "$C"
  [ "$name" = aria2c ] || [ "$name" = curl ] && url="$(cdn_url)"
  t0=$(now)
  while :; do
    sessions=$((sessions+1))
    case $name in
      hubfetch)
        HF_HUB_CACHE="$C" timeout -s KILL "$KILL_EVERY" "$HUBFETCH_BIN" download "$REPO" "$FILE" \
          >"$WORK/out" 2>>"$WORK/$name.err" && rc=0 || rc=$? ;;
      aria2c)
        timeout -s KILL "$KILL_EVERY" aria2c -c -x8 -s8 --auto-save-interval=1 --max-tries=0 --retry-wait=1 \
          --console-log-level=error --summary-interval=0 --file-allocation=none \
          -d "$WORK/aria" -o "$FILE" "$url" >>"$WORK/$name.err" 2>&1 && rc=0 || rc=$? ;;
      curl)
        timeout -s KILL "$KILL_EVERY" curl -sS -f -C - -o "$WORK/curl.bin" "$url" 2>>"$WORK/$name.err" && rc=0 || rc=$? ;;
      hf)
        HF_HUB_CACHE="$C" HF_HUB_DISABLE_XET=1 HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1 \
          timeout -s KILL "$KILL_EVERY" "$PY" -c \
          "from huggingface_hub import hf_hub_download as d; print(d('$REPO','$FILE'))" \
          >"$WORK/out" 2>>"$WORK/$name.err" && rc=0 || rc=$? ;;
    esac
    if [ $rc = 0 ]; then
      case $name in
        hubfetch|hf) sha="$(sha256sum "$(tail -1 "$WORK/out")" | cut -d' ' -f1)" ;;
        aria2c) sha="$(sha256sum "$WORK/aria/$FILE" | cut -d' ' -f1)" ;;
        curl) sha="$(sha256sum "$WORK/curl.bin" | cut -d' ' -f1)" ;;
      esac
      # A tool that does not verify would report success with a wrong file: that counts as
      # done (it stops there), marked "no" in the verified column.
      break
    fi
    t1=$(now)
    if py "import sys; sys.exit(0 if $t1-$t0 > $MAX_SECS else 1)"; then sha="gave up after $MAX_SECS s"; break; fi
  done
  t1=$(now)
  local ok=no
  [ "$sha" = "$TRUE_SHA" ] && ok=yes
  echo "$sessions $(py "print(f'{$(hub_bytes)/$BYTES:.4f}')") $(py "print(f'{$t1-$t0:.0f}')") $ok"
}

declare -A RES
ROWS=()
for r in $(seq 1 "$ROUNDS"); do
  for name in $TOOLS; do
    start_hub 11 "$ALL_FAULTS"
    out="$(run_tool "$name")"
    stop_hub
    load=$(cut -d' ' -f1 /proc/loadavg)
    read -r s ratio secs ok <<<"$out"
    RES[$name]="${RES[$name]:-} $s,$ratio,$secs,$ok"
    ROWS+=("| $r | $name | $s | $ratio | $secs | $ok | $load |")
    echo "round $r: $name: $s sessions, served ${ratio}x, ${secs} s, verified $ok (load $load)" >&2
  done
done

label() {
  case $1 in
    hubfetch) echo "hubfetch (defaults)" ;;
    aria2c) echo "aria2c -c -x8 -s8 --auto-save-interval=1" ;;
    curl) echo "curl -C - (loop)" ;;
    hf) echo "hf_hub_download (HF_HUB_DISABLE_XET=1)" ;;
  esac
}
echo
echo "Per round (load = 1-min load average after the tool ran):"
echo
echo "| round | tool | sessions | bytes served / file | time to verified file (s) | verified | load |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "Medians over $ROUNDS round(s) — $SIZE at $RATE/s, $FAULTS, SIGKILL every $KILL_EVERY s (ideal $IDEAL s):"
echo
echo "| tool | sessions | bytes served / file | time to a verified file (s) | file verified |"
echo "|---|---|---|---|---|"
for name in $TOOLS; do
  py "
import statistics as st
rs = [x.split(',') for x in '''${RES[$name]}'''.split()]
med = lambda i: st.median(float(r[i]) for r in rs)
ok = sum(r[3] == 'yes' for r in rs)
print(f'| $(label "$name") | {med(0):.0f} | {med(1):.3f} (+{(med(1) - 1) * $BYTES / 1e6:.2f} MB) | {med(2):.0f} | {ok}/{len(rs)} |')"
done
