#!/usr/bin/env bash
# The project's test command (the one README.md names and .ci/run calls).
#
#   scripts/test.sh          the full run (what CI runs): set-up, services, every suite
#   scripts/test.sh --fast   the tier to run before every commit (a few minutes once built):
#                            fmt, import circles, clippy (also voice without MLX), rustdoc with warnings as
#                            errors, the libraries' unit tests, the UI's unit tests
#
# The full run sets up what it needs (idempotent), starts the services the tests use
# (PulseAudio null sinks, Xvfb, a D-Bus session bus), then runs every suite: the fast tier,
# all Rust tests (downloader fault matrix, planner, engine parity, voice pipeline), the macOS
# type-check, the UI's unit and browser tests, and the end-to-end test of the real app.
# Each step's wall time is printed at the end, so a slow tier is easy to see.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

FAST=0
case "${1:-}" in
  --fast) FAST=1 ;;
  "") ;;
  *) echo "usage: scripts/test.sh [--fast]" >&2; exit 2 ;;
esac

TIMES=()
STEP_NAME=""
STEP_START=0
finish_step() {
  if [ -n "$STEP_NAME" ]; then
    TIMES+=("$(printf '%5ds  %s' "$(( $(date +%s) - STEP_START ))" "$STEP_NAME")")
  fi
}
step() {
  finish_step
  STEP_NAME="$*"
  STEP_START=$(date +%s)
  printf '\n==> %s\n' "$*"
}
report_times() {
  finish_step
  STEP_NAME=""
  printf '\n==> step times\n'
  printf '%s\n' "${TIMES[@]}"
}
trap report_times EXIT

step "set-up"
bash scripts/setup.sh
# shellcheck source=/dev/null
[ -f scripts/env.sh ] && source scripts/env.sh

# ------------------------------------------------------------------ the fast tier
step "formatting"
cargo fmt --all -- --check

step "import circles between modules (checker self-test, then every crate)"
python3 scripts/test-check-module-cycles.py
python3 scripts/check-module-cycles.py

step "lints (clippy, all targets; voice also without MLX)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p voice --no-default-features --all-targets -- -D warnings

step "API docs (rustdoc, warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

if [ "$FAST" = 1 ]; then
  step "unit tests (libraries and binaries, no integration tests)"
  cargo test --workspace --lib --bins
  step "UI unit tests (Vitest)"
  (cd ui && npm test)
  exit 0
fi

# ------------------------------------------------------------------ the full run
if [ "$(uname -s)" = "Linux" ]; then
  step "services: PulseAudio null sinks"
  bash scripts/start-pulse.sh
  eval "$(bash scripts/start-pulse.sh --env)"
fi

step "Rust tests (unit, integration, doc)"
cargo test --workspace

step "UI unit tests (Vitest)"
(cd ui && npm test)

step "UI browser tests (Playwright, Debian's Chromium)"
(cd ui && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm run test:e2e)

step "macOS type-check (aarch64-apple-darwin)"
bash scripts/check-macos.sh

step "end to end: the real app under Xvfb against a local hub"
bash tests/e2e/run.sh
