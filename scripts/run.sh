#!/usr/bin/env bash
# Builds the popover UI (ui/ → ui/dist) and runs Moshibar with it (debug build).
# Extra arguments go to cargo (e.g. `scripts/run.sh --release`).
#
# Useful environment variables:
#   RUST_LOG=moshibar_lib=debug        more logging
#   MOSHIBAR_SHOW_WINDOW=1             open the popover at launch (Linux trays rarely report clicks)
#   MOSHIBAR_HARDWARE_PROFILE=m2-pro-16  simulate a Mac (planner), e.g. on Linux
#   MOSHIBAR_MODEL_DIR=/path           use these model files, skip the download
#   HF_ENDPOINT, HF_HUB_CACHE, HF_TOKEN  the Hub, the cache and a token (hubfetch reads them)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

if [ -f ui/package.json ]; then
  (
    cd ui
    if [ ! -d node_modules ]; then
      if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
    fi
    npm run build
  )
else
  echo "run.sh: ui/ is missing; the app shows a placeholder page" >&2
fi

# shellcheck source=/dev/null
[ -f scripts/env.sh ] && source scripts/env.sh
exec cargo run -p moshibar "$@"
