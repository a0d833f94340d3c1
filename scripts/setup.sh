#!/usr/bin/env bash
# One-time (and idempotent) set-up of everything cargo and npm cannot do by
# themselves: Debian packages, the Python venv with the reference model and
# huggingface_hub, MLX for the Linux CPU backend, and the UI's npm packages.
# Every step skips itself when it is already done, so running it again is cheap.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }

if [ "$(uname -s)" = "Linux" ]; then
  step "Debian packages"
  bash scripts/setup-apt.sh
fi

step "Python venv (.venv)"
bash scripts/setup-python.sh

step "reference fixtures (.cache/fixtures)"
bash scripts/make-fixtures.sh

if [ "$(uname -s)" = "Linux" ]; then
  step "MLX for Linux (CPU backend)"
  bash scripts/setup-mlx.sh
fi

if [ -f ui/package.json ]; then
  step "UI npm packages"
  # Browser tests use Debian's /usr/bin/chromium; never let a tool fetch its own.
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1
  if [ -f ui/package-lock.json ]; then
    # Re-install when the lock file is newer than the last install.
    if [ ! -f ui/node_modules/.package-lock.json ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
      (cd ui && npm ci --no-audit --no-fund)
    fi
  else
    (cd ui && npm install --no-audit --no-fund)
  fi
fi
