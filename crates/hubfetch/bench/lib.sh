# Shared by download_bench.sh and weak_link.sh (sourced, not run): the venv and tool checks,
# the release build, a temp dir removed at exit, and one local Hub (`testhub serve`) at a time.
# The caller sets ROOT, REPO, FILE, SIZE, then calls
#   bench_setup PREFIX TOOL...   # venv, needed tools, build, $WORK (mktemp PREFIX.XXXXXX)
#   start_hub SEED FAULTS        # serves FILE=SIZE generated with SEED, exports HF_ENDPOINT
#   stop_hub; hub_bytes; hub_stats; cdn_url; now; file_meta (sets TRUE_SHA and BYTES)

bench_setup() { # prefix tool...
  local prefix=$1 t
  shift
  VENV="${MOSHIBAR_VENV:-$ROOT/.venv}"
  PY="$VENV/bin/python"
  [ -x "$PY" ] || { echo "no venv at $VENV: run bash scripts/setup.sh" >&2; exit 1; }
  for t in "$@"; do command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }; done
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
  cargo build --release -q -p hubfetch -p testhub
  BIN="$CARGO_TARGET_DIR/release"
  HUBFETCH_BIN="${HUBFETCH_BIN:-$BIN/hubfetch}"
  WORK="$(mktemp -d "${BENCH_DIR:-/tmp}/$prefix.XXXXXX")"
  HUB_PID=""
  trap bench_cleanup EXIT
}
bench_cleanup() { [ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null; rm -rf "$WORK"; }

start_hub() { # seed faults: a fresh server (fault counts start over)
  "$BIN/testhub" serve --repo "$REPO" --generated-file "$FILE=$SIZE,$1" --faults "$2" \
    --ignore-stdin >"$WORK/hub.out" 2>"$WORK/hub.err" </dev/null &
  HUB_PID=$!
  for _ in $(seq 1 600); do grep -q HF_ENDPOINT "$WORK/hub.out" 2>/dev/null && break; sleep 0.1; done
  export HF_ENDPOINT="$(sed -n 's/^HF_ENDPOINT=//p' "$WORK/hub.out")"
  [ -n "$HF_ENDPOINT" ] || { cat "$WORK/hub.err" >&2; exit 1; }
}
stop_hub() { kill "$HUB_PID" 2>/dev/null || true; wait "$HUB_PID" 2>/dev/null || true; HUB_PID=""; }
hub_stats() { curl -s "$HF_ENDPOINT/_testhub/stats"; }
hub_bytes() { hub_stats | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["body_bytes_sent"])'; }
cdn_url() { curl -sI "$HF_ENDPOINT/$REPO/resolve/main/$FILE" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p'; }
now() { date +%s.%N; }
file_meta() { # the running hub's sha256 and size of FILE
  local meta
  meta="$(curl -s "$HF_ENDPOINT/api/models/$REPO/revision/main?blobs=true")"
  read -r TRUE_SHA BYTES < <(echo "$meta" | "$PY" -c 'import json,sys; s=[s for s in json.load(sys.stdin)["siblings"] if s["rfilename"]=="'"$FILE"'"][0]; print(s["lfs"]["sha256"], s["size"])')
}
