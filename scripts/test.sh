#!/usr/bin/env bash
# The project's test command (the one README.md names and .ci/run calls).
# It sets up what it needs (idempotent), starts the services the tests use
# (PulseAudio null sinks, Xvfb, a D-Bus session bus), then runs every suite:
# formatting and lints, all Rust tests (downloader fault matrix, planner,
# engine parity, voice pipeline), the macOS type-check, the UI's unit and
# browser tests, and the end-to-end test of the real app.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

step "set-up"
bash scripts/setup.sh
# shellcheck source=/dev/null
[ -f scripts/env.sh ] && source scripts/env.sh

if [ "$(uname -s)" = "Linux" ]; then
  step "services: PulseAudio null sinks"
  bash scripts/start-pulse.sh
  eval "$(bash scripts/start-pulse.sh --env)"
fi

step "formatting and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

step "Rust tests"
cargo test --workspace

step "UI unit tests (Vitest)"
(cd ui && npm test)

step "UI browser tests (Playwright, Debian's Chromium)"
(cd ui && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm run test:e2e)

step "macOS type-check (aarch64-apple-darwin)"
bash scripts/check-macos.sh

step "end to end: the real app under Xvfb against a local hub"
bash tests/e2e/run.sh
