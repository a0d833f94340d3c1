#!/usr/bin/env bash
# End-to-end test of the real app (see driver.py for what it checks).
#
#   bash tests/e2e/run.sh
#
# Builds the UI, the app, testhub and moshibar-hw (debug, in $CARGO_TARGET_DIR or target/), then
# runs driver.py inside a private D-Bus session bus. Needs: the fixture .cache/fixtures/pipeline-tiny
# (scripts/make-fixtures.sh), Debian's xvfb, dbus, imagemagick, xdotool, python3-dbus, python3-gi
# and the Tauri build packages. Artifacts (logs, window.png, WAVs) go to artifacts/e2e/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# shellcheck source=/dev/null
[ -f scripts/env.sh ] && source scripts/env.sh

missing=()
for tool in Xvfb dbus-run-session import xdotool; do command -v "$tool" >/dev/null || missing+=("$tool"); done
/usr/bin/python3 -c 'import dbus, gi' 2>/dev/null || missing+=("python3-dbus/python3-gi")
if [ ${#missing[@]} -gt 0 ]; then
  echo "e2e: installing ${missing[*]}" >&2
  apt-get install -y --no-install-recommends xvfb dbus imagemagick xdotool python3-dbus python3-gi >/dev/null
fi

fixture="${MOSHIBAR_FIXTURES:-$ROOT/.cache/fixtures}/pipeline-tiny"
if [ ! -d "$fixture" ]; then
  echo "e2e: missing $fixture — run scripts/make-fixtures.sh" >&2
  exit 2
fi

if [ -f ui/package.json ]; then
  (cd ui && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build)
fi
cargo build -p moshibar -p testhub -p hardware

exec dbus-run-session -- /usr/bin/python3 tests/e2e/driver.py
