#!/usr/bin/env bash
# Type-checks the macOS app (src-tauri, package `moshibar`) for aarch64-apple-darwin on Linux.
#
# Features left out (they need Apple's SDK, which Linux does not have):
#   notification  tauri-plugin-notification → mac-notification-sys (needs Cocoa/Cocoa.h)
#   engine        crates/engine (MLX built for Metal) and voice's `engine` feature
# Everything else — tauri (tray-icon), positioner, global-shortcut, autostart, opener, keyring
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

# ring (hubfetch → reqwest → rustls) compiles C that includes <stdint.h>, <string.h>, <assert.h>
# and Apple's <TargetConditionals.h>. Without the SDK, compile it freestanding against clang's own
# headers plus three tiny stand-ins. Only for this type-check: nothing here is linked or shipped.
SHIM="$CARGO_TARGET_DIR/macos-sdk-shim"
mkdir -p "$SHIM"
cat > "$SHIM/TargetConditionals.h" <<'H'
#pragma once
#define TARGET_OS_MAC 1
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
#define TARGET_OS_IOS 0
#define TARGET_OS_WATCH 0
#define TARGET_OS_TV 0
#define TARGET_OS_SIMULATOR 0
#define TARGET_CPU_ARM64 1
H
cat > "$SHIM/assert.h" <<'H'
#pragma once
#define assert(x) ((void)0)
H
cat > "$SHIM/string.h" <<'H'
#pragma once
#include <stddef.h>
void *memcpy(void *, const void *, size_t);
void *memmove(void *, const void *, size_t);
void *memset(void *, int, size_t);
int memcmp(const void *, const void *, size_t);
size_t strlen(const char *);
H
# The .app must carry MLX's Metal shader library (src-tauri/src/metallib.rs): mlx-sys writes it to
# $MLX_RS_METAL_PATH (src-tauri/.cargo/config.toml), the bundler copies it to
# Contents/Resources/mlx.metallib (tauri.macos.conf.json), the app points MLX at it.
command -v jq >/dev/null || { echo "check-macos.sh needs jq (apt-get install jq)" >&2; exit 1; }
METAL_SRC="$(jq -er '.bundle.macOS.files["Resources/mlx.metallib"]' src-tauri/tauri.macos.conf.json)" \
  || { echo "tauri.macos.conf.json: bundle.macOS.files lacks Resources/mlx.metallib" >&2; exit 1; }
METAL_DIR="$(sed -n 's/^MLX_RS_METAL_PATH *= *{ *value *= *"\([^"]*\)".*relative *= *true.*/\1/p' src-tauri/.cargo/config.toml)"
[ -n "$METAL_DIR" ] || { echo "src-tauri/.cargo/config.toml: no relative MLX_RS_METAL_PATH" >&2; exit 1; }
[ "$METAL_SRC" = "$METAL_DIR/mlx.metallib" ] \
  || { echo "bundle copies $METAL_SRC but mlx-sys writes $METAL_DIR/mlx.metallib" >&2; exit 1; }
grep -q 'metallib::use_bundled(app)' src-tauri/src/lib.rs \
  || { echo "lib.rs no longer points MLX at the bundled metallib" >&2; exit 1; }
echo "bundle carries mlx.metallib: $METAL_SRC -> Moshibar.app/Contents/Resources/mlx.metallib"

export CFLAGS_aarch64_apple_darwin="${CFLAGS_aarch64_apple_darwin:--ffreestanding -nostdinc -isystem $(clang -print-resource-dir)/include -I$SHIM}"
cargo check -p moshibar --target "$TARGET" --no-default-features --all-targets
# voice's own macOS code (the voice-processing unit, CoreAudio device traits) with its tests
# and binary, and clippy's view of it: the app above only checks voice's library.
cargo clippy -p voice --target "$TARGET" --no-default-features --all-targets -- -D warnings
echo "macOS type-check passed (moshibar and voice, $TARGET, --no-default-features)"
