#!/usr/bin/env bash
# Type-checks the macOS app (src-tauri, package `moshibar`) for aarch64-apple-darwin on Linux.
#
# Features left out (they need Apple's SDK, which Linux does not have):
#   notification  tauri-plugin-notification → mac-notification-sys (needs Cocoa/Cocoa.h)
#   engine        crates/engine (MLX built for Metal) and voice's `engine` feature
# Everything else — tauri (tray-icon), positioner, global-shortcut, autostart, keyring
# (apple-native), hardware (Metal via objc2), voice (cpal/CoreAudio), hubfetch — is checked.
# clang compiles the few Objective-C/C files of those crates without the SDK.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
TARGET=aarch64-apple-darwin
if ! rustup target list --installed | grep -qx "$TARGET"; then
  rustup target add "$TARGET"
fi
command -v clang >/dev/null || { echo "check-macos.sh needs clang (apt-get install clang)" >&2; exit 1; }
export CC_aarch64_apple_darwin="${CC_aarch64_apple_darwin:-clang}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
cargo check -p moshibar --target "$TARGET" --no-default-features --all-targets
echo "macOS type-check passed (moshibar, $TARGET, --no-default-features)"
