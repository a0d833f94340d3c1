#!/usr/bin/env bash
# Download benchmark (issue 2 §7, issue 10): one local Hub (`testhub`, release build) per tool
# and scenario, serving a generated file through a capped link (default 20 MB/s per
# connection, 160 MB/s total), and a table per scenario:
#   clean  - no faults;
#   drops  - 4 connection drops (FAULTS);
#   flip   - the same drops and one byte corrupted at FLIP_AT (400 MB, chunk 11 of 30) the
#            first time it is served (what the README's tables of 2026-11-26 measured).
#
#   crates/hubfetch/bench/download_bench.sh                                   # 160 MB/s
#   CONN_MBPS=5 LINK_MBPS=40 TOOLS="hubfetch aria2c" crates/hubfetch/bench/download_bench.sh
#   SCENARIOS=flip ROUNDS=3 TOOLS=hubfetch ...                                # medians of 3
#   TOOLS=hubfetch HUBFETCH_BIN=/path/to/other/hubfetch ...                   # compare two builds
#
# Columns: time to a verified file and its ratio to the ideal (size / link cap); the link
# utilisation (bytes the server actually sent per second, as % of the cap: repair and re-sent
# bytes count); goodput (file size / time) as % of the cap — the "share of the link" that
# brought the file; bytes sent beyond the file (re-sent); whether the corrupt byte was caught.
# Tools run interleaved per round (scenario by scenario); with ROUNDS > 1 the table gives
# medians. The load average is printed per row (the machine is shared).
#
# Needs: a release build of hubfetch and testhub (built here), the venv of scripts/setup.sh
# (huggingface_hub, for `hf`), aria2c, curl, /usr/bin/time. Everything it writes goes under a
# temp dir that is deleted at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$ROOT"
SIZE="${SIZE:-1GB}"
LINK_MBPS="${LINK_MBPS:-160}"
CONN_MBPS="${CONN_MBPS:-20}"
TOOLS="${TOOLS:-hubfetch hf aria2c curl}"
want() { case " $TOOLS " in *" $1 "*) return 0;; *) return 1;; esac; }
FLIP_AT="${FLIP_AT:-400000000}"
DROPS="${FAULTS:-drops=4}"
SCENARIOS="${SCENARIOS:-clean drops flip}"
ROUNDS="${ROUNDS:-1}"
LINK="bw-conn=${CONN_MBPS}MB,bw-total=${LINK_MBPS}MB"
faults_of() { case $1 in
  clean) echo "$LINK" ;;
  drops) echo "$LINK,$DROPS" ;;
  flip) echo "$LINK,flip-at=${FLIP_AT},flip-at-count=1,$DROPS" ;;
  *) echo "unknown scenario $1" >&2; exit 1 ;;
esac; }
FAULTS="$(faults_of clean)"
REPO=bench/big
FILE=model.bin
. "$ROOT/crates/hubfetch/bench/lib.sh"
bench_setup hubfetch-bench aria2c curl /usr/bin/time sha256sum

hub_flips() { hub_stats | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["faults_injected"].get("flip_byte_at",0))'; }

start_hub 7 "$FAULTS"
file_meta
stop_hub
echo "file: $BYTES bytes, sha256 $TRUE_SHA; link: $CONN_MBPS MB/s per connection, $LINK_MBPS MB/s total; faults: $FAULTS" >&2

RES="$WORK/results.tsv"; : >"$RES"
# row SCENARIO TOOL SECS BYTES_SENT FINAL_SHA [FIRST_PASS_SECS]  (uses the running hub's flip count)
row() {
  local sc=$1 name=$2 secs=$3 sent=$4 sha=$5 first=${6:--} flips caught
  flips=$(hub_flips)
  if [ "$sc" != flip ]; then caught="-";
  elif [ "$flips" = 0 ]; then caught="not hit";
  elif [ "$sha" = "$TRUE_SHA" ]; then caught="yes (final file correct)";
  else caught="**no: corrupt file kept**"; fi
  [ "$sc" = flip ] || [ "$sha" = "$TRUE_SHA" ] || caught="**wrong file**"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$name" "$secs" "$sent" "$caught" "$(cut -d' ' -f1 /proc/loadavg)" "$first" >>"$RES"
  echo "$sc: $name: $(printf %.1f "$secs") s, $((sent/1000000)) MB sent, caught: $caught" >&2
}

HF_VERIFY=- SHASUM=- RSS_KB=0
run_hubfetch() { # scenario
  local C="$WORK/c-hubfetch" t0 t1 rc P SHA
  t0=$(now)
  if HF_HUB_CACHE="$C" /usr/bin/time -v -o "$WORK/hubfetch.time" "$HUBFETCH_BIN" download "$REPO" "$FILE" \
      --stall-timeout 10 --backoff-base 0.2 --backoff-max 5 >"$WORK/hubfetch.out" 2>"$WORK/hubfetch.err"; then rc=0; else rc=$?; fi
  t1=$(now)
  P="$(tail -1 "$WORK/hubfetch.out")"
  SHA="$( [ $rc = 0 ] && sha256sum "$P" | cut -d' ' -f1 || echo "failed rc=$rc")"
  RSS_KB=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/hubfetch.time")
  [ -n "${HUBFETCH_LOG:-}" ] && cp "$WORK/hubfetch.err" "$HUBFETCH_LOG.$1"
  # The first pass: from the start to the whole-file mismatch that starts a repair (its
  # warning's timestamp), i.e. the download phase without the repair; "-" when none ran.
  local first
  first="$("$PY" - "$WORK/hubfetch.err" "$t0" <<'PYEOF'
import re, sys, datetime as dt
for line in open(sys.argv[1], errors="replace"):
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    if "whole-file hash mismatch" in line:
        ts = dt.datetime.fromisoformat(line.split()[0].replace("Z", "+00:00"))
        print(f"{ts.timestamp() - float(sys.argv[2]):.2f}")
        break
else:
    print("-")
PYEOF
)"
  row "$1" hubfetch "$("$PY" -c "print($t1-$t0)")" "$(hub_bytes)" "$SHA" "$first"
  if [ "$HF_VERIFY" = - ] && [ $rc = 0 ]; then # hashing: hubfetch verify vs sha256sum, once
    t0=$(now); HF_HUB_CACHE="$C" "$HUBFETCH_BIN" verify "$REPO" "$FILE" >/dev/null; t1=$(now)
    HF_VERIFY=$("$PY" -c "print(f'{$BYTES/($t1-$t0)/1e6:.0f}')")
    t0=$(now); sha256sum "$P" >/dev/null; t1=$(now)
    SHASUM=$("$PY" -c "print(f'{$BYTES/($t1-$t0)/1e6:.0f}')")
  fi
  rm -rf "$C"
}
run_hf() {
  local C="$WORK/c-hf" t0 t1 rc P SHA
  t0=$(now)
  if HF_HUB_CACHE="$C" HF_HUB_DISABLE_XET=1 HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1 "$PY" -c \
    "from huggingface_hub import hf_hub_download as d; print(d('$REPO','$FILE'))" >"$WORK/hf.out" 2>"$WORK/hf.err"; then rc=0; else rc=$?; fi
  P="$(tail -1 "$WORK/hf.out")"
  SHA="$( [ $rc = 0 ] && sha256sum "$P" | cut -d' ' -f1 || echo "failed")"; t1=$(now)
  row "$1" hf "$("$PY" -c "print($t1-$t0)")" "$(hub_bytes)" "$SHA"
  rm -rf "$C"
}
run_aria2c() {
  local URL t0 t1 rc SHA
  URL="$(cdn_url)"
  t0=$(now)
  if aria2c -x8 -s8 --max-tries=0 --retry-wait=1 --console-log-level=warn --summary-interval=0 \
      --file-allocation=none -d "$WORK/aria" -o "$FILE" "$URL" >"$WORK/aria.log" 2>&1; then rc=0; else rc=$?; fi
  SHA="$(sha256sum "$WORK/aria/$FILE" | cut -d' ' -f1)"; t1=$(now)
  row "$1" aria2c "$("$PY" -c "print($t1-$t0)")" "$(hub_bytes)" "$SHA"
  rm -rf "$WORK/aria"
}
run_curl() {
  local URL t0 t1 tries=0 SHA
  URL="$(cdn_url)"
  t0=$(now)
  until curl -sS -f -C - -o "$WORK/curl.bin" "$URL" 2>>"$WORK/curl.err"; do tries=$((tries+1)); [ $tries -gt 100 ] && break; sleep 1; done
  SHA="$(sha256sum "$WORK/curl.bin" | cut -d' ' -f1)"; t1=$(now)
  row "$1" curl "$("$PY" -c "print($t1-$t0)")" "$(hub_bytes)" "$SHA"
  rm -f "$WORK/curl.bin"
}

for r in $(seq 1 "$ROUNDS"); do
  for sc in $SCENARIOS; do
    FAULTS="$(faults_of "$sc")"
    for t in $TOOLS; do
      start_hub 7 "$FAULTS"
      "run_$t" "$sc"
      stop_hub
    done
  done
done

echo
echo "$BYTES bytes; link $CONN_MBPS MB/s per connection, $LINK_MBPS MB/s total; drops: $DROPS; flip at $FLIP_AT; medians of $ROUNDS round(s)"
echo
"$PY" - "$RES" "$BYTES" "$LINK_MBPS" <<'PYEOF'
import sys, statistics as st
path, size, link = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rows = {}
for line in open(path):
    sc, tool, secs, sent, caught, load, first = line.rstrip("\n").split("\t")
    rows.setdefault((sc, tool), []).append((float(secs), int(sent), caught, load, first))
label = {"hubfetch": "hubfetch (defaults)", "aria2c": "aria2c -x8 -s8 (+ sha256sum)",
         "curl": "curl -C - loop (+ sha256sum)", "hf": "hf_hub_download (HF_HUB_DISABLE_XET=1)"}
ideal = size / 1e6 / link
print(f"| scenario | tool | time to a verified file (ideal {ideal:.1f} s) | link utilisation (sent/s) | goodput = share of the link | first pass (to the mismatch) and repair | bytes sent | re-sent | corrupt byte | load |")
print("|---|---|---|---|---|---|---|---|---|---|")
for (sc, tool), v in rows.items():
    secs = st.median(x[0] for x in v); sent = st.median(x[1] for x in v)
    util = sent / secs / 1e6; good = size / secs / 1e6
    mark = " ✔" if good >= 0.9 * link else ""
    # Only the rounds that repaired (a drop can cut the flipped response before it lands,
    # and then there is nothing to repair): their own first pass and repair, median of those.
    rep = [(float(x[4]), x[0], x[1]) for x in v if x[4] != "-"]
    fp = "-"
    if rep:
        f = st.median(r[0] for r in rep)
        rt = st.median(r[1] - r[0] for r in rep)
        rs = st.median(r[2] for r in rep)
        fp = (f"{len(rep)}/{len(v)} rounds repaired: first pass {f:.1f} s = "
              f"{size / f / 1e6 / link * 100:.0f} %, then repair {rt:.1f} s, "
              f"{(rs - size) / 1e6:.0f} MB re-sent")
    print(f"| {sc} | {label.get(tool, tool)} | {secs:.1f} s = {secs/ideal:.2f}× | {util:.0f} MB/s = {util/link*100:.0f} % | {good:.0f} MB/s = **{good/link*100:.0f} %**{mark} | {fp} | {sent/1e6:.0f} MB | {(sent-size)/1e6:.0f} MB | {v[-1][2]} | {', '.join(x[3] for x in v)} |")
PYEOF
echo
echo "Hashing (re-hash of the file): hubfetch verify $HF_VERIFY MB/s, sha256sum $SHASUM MB/s. hubfetch peak RSS: $((RSS_KB/1024)) MB."
