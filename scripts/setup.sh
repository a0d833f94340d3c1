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
  if [ -f ui/package-lock.json ]; then
    (cd ui && [ -d node_modules ] || npm ci --no-audit --no-fund)
  else
    (cd ui && npm install --no-audit --no-fund)
  fi
fi
