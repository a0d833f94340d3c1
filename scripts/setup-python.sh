#!/usr/bin/env bash
# Creates the project's Python venv (.venv) with the reference implementation
# (moshi_mlx on MLX CPU), huggingface_hub for cache-interop tests, and the tools
# the benchmarks compare against. Idempotent: a stamp file records what was
# installed, and nothing is reinstalled while it matches.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${MOSHIBAR_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

MLX_VERSION=0.32.2
REQS=(
  "mlx==$MLX_VERSION"
  "huggingface_hub==2.4.0"
  # The reference Xet client: conformance and hash tests of crates/hubfetch + crates/testhub.
  "hf-xet==1.8.0"
  "safetensors" "numpy" "sentencepiece" "rustymimi"
)
case "$(uname -s)" in
  Linux) REQS+=("mlx-cpu==$MLX_VERSION") ;;
esac
STAMP_WANT="$(printf '%s\n' "${REQS[@]}" moshi_mlx==0.3.0 | sha256sum | cut -c1-16)"
STAMP="$VENV/.moshibar-stamp"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_WANT" ]; then
  echo "python: venv up to date at $VENV"
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "${REQS[@]}"
# moshi_mlx pins old versions of its dependencies; the ones above are the ones we test with.
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps moshi_mlx==0.3.0
echo "$STAMP_WANT" > "$STAMP"
echo "python: venv ready at $VENV"
