#!/usr/bin/env bash
# Makes mlx-rs build and run on Linux (MLX CPU backend), as described in
# ../shared/docs/mlx-on-linux.md §1. Out of the box mlx-sys fetches MLX from
# GitHub at build time and links Apple frameworks; instead we:
#   1. take MLX 0.32.2 (libmlx.so + headers + CMake config) from the project's
#      venv (the mlx-cpu wheel, installed by scripts/setup-python.sh),
#   2. build mlx-c from the mlx-sys 0.7.0 crate's own sources against it, with a
#      force-included shim (std::format -> {fmt}; x86 float16/bfloat16 types),
#   3. generate the Rust bindings with a pinned bindgen-cli,
#   4. provide `mach_approximate_time` (mlx-rs seeds its default PRNG with this
#      macOS call; on Linux it would be an undefined symbol) in a tiny static lib,
#   5. write .cargo/config.toml (git-ignored, absolute paths) whose
#      `[target.<triple>.mlx]` table replaces mlx-sys's build script.
# Products live under .cache/mlx and .cache/tools (git-ignored). Idempotent:
# a stamp records what was built; re-running when it matches takes ~1 s.
# macOS: nothing to do (mlx-rs builds MLX with Metal itself) -> exit 0.
set -euo pipefail

if [ "$(uname -s)" != "Linux" ]; then
  echo "mlx: $(uname -s): mlx-rs builds MLX itself (Metal); nothing to set up"
  exit 0
fi

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MLX_VERSION=0.32.2      # must match mlx-c 0.7.0 (0.32.4 breaks ops.cpp)
MLX_SYS_VERSION=0.7.0   # the mlx-sys that mlx-rs 0.33.0 pins
BINDGEN_VERSION=0.72.1  # the bindgen mlx-sys 0.7.0 itself uses
VENV="${MOSHIBAR_VENV:-$ROOT/.venv}"
CACHE="$ROOT/.cache/mlx"
TOOLS="$ROOT/.cache/tools"
TRIPLE="$(uname -m)-unknown-linux-gnu"
CARGO_CONFIG="$ROOT/.cargo/config.toml"
JOBS="${MOSHIBAR_JOBS:-2}"

log() { printf 'mlx: %s\n' "$*"; }

find_mlx_pkg() {
  local d
  for d in "$VENV"/lib/python3*/site-packages/mlx; do
    if [ -f "$d/lib/libmlx.so" ] && [ -f "$d/share/cmake/MLX/MLXConfig.cmake" ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}
wheel_ok() {
  compgen -G "$VENV/lib/python3*/site-packages/mlx_cpu-$MLX_VERSION.dist-info" >/dev/null \
    && find_mlx_pkg >/dev/null
}

# ---------------------------------------------------------------- fast path
STAMP_WANT="$( { echo "$MLX_VERSION $MLX_SYS_VERSION $BINDGEN_VERSION $TRIPLE $ROOT $VENV"; cat "$0"; } \
  | sha256sum | cut -c1-16)"
STAMP="$CACHE/stamp"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_WANT" ] \
  && [ -f "$CACHE/build/libmlxc.a" ] && [ -f "$CACHE/build/libmoshibar_mach_shim.a" ] \
  && [ -f "$CACHE/bindings/bindings.rs" ] \
  && [ -f "$CARGO_CONFIG" ] && grep -q "stamp $STAMP_WANT" "$CARGO_CONFIG" && wheel_ok; then
  log "up to date ($CACHE)"
  exit 0
fi

mkdir -p "$CACHE" "$TOOLS"

# ---------------------------------------------------------- 1. MLX wheel (venv)
if ! wheel_ok; then
  log "MLX $MLX_VERSION CPU wheel missing in $VENV: running scripts/setup-python.sh"
  bash "$ROOT/scripts/setup-python.sh"
fi
wheel_ok || { echo "mlx: mlx-cpu==$MLX_VERSION not found in $VENV after setup-python.sh" >&2; exit 1; }
MLX_PKG="$(find_mlx_pkg)"
MLX_LIB="$MLX_PKG/lib"
log "MLX $MLX_VERSION at $MLX_PKG"

# ------------------------------------------- 2a. mlx-c sources from the mlx-sys crate
# A throw-away package depending on exactly mlx-sys =0.7.0: `cargo metadata`
# downloads it into the cargo registry (works on an empty registry) and tells
# us where its sources are.
SRC="$CACHE/mlx-c-src"
if [ ! -f "$SRC/.complete-$MLX_SYS_VERSION" ]; then
  FETCH="$CACHE/fetch"
  mkdir -p "$FETCH"
  cat >"$FETCH/Cargo.toml" <<EOF
[package]
name = "moshibar-fetch-mlx-sys"
version = "0.0.0"
edition = "2021"
publish = false
[lib]
path = "lib.rs"
[dependencies]
mlx-sys = { version = "=$MLX_SYS_VERSION", default-features = false }
[workspace]
EOF
  : >"$FETCH/lib.rs"
  log "fetching mlx-sys $MLX_SYS_VERSION sources with cargo"
  MANIFEST="$(cargo metadata --format-version 1 --manifest-path "$FETCH/Cargo.toml" \
    | "$VENV/bin/python" -c '
import json, sys
m = json.load(sys.stdin)
print(next(p["manifest_path"] for p in m["packages"] if p["name"] == "mlx-sys"))')"
  CRATE_DIR="$(dirname "$MANIFEST")"
  [ -f "$CRATE_DIR/src/mlx-c/CMakeLists.txt" ] || { echo "mlx: no mlx-c in $CRATE_DIR" >&2; exit 1; }
  rm -rf "$SRC"
  cp -r "$CRATE_DIR/src/mlx-c" "$SRC"
  touch "$SRC/.complete-$MLX_SYS_VERSION"
fi

# ------------------------------------------------------------- 2b. the shim
SHIM="$CACHE/shim/moshibar_mlx_shim.h"
mkdir -p "$(dirname "$SHIM")"
cat >"$SHIM.new" <<'EOF'
/* Force-included into mlx-c (and into bindgen's parse) by scripts/setup-mlx.sh. */
#ifndef MOSHIBAR_MLX_SHIM_H
#define MOSHIBAR_MLX_SHIM_H

/* mlx/c/half.h defines float16_t / bfloat16_t only on aarch64. MLX's
 * item<T>/data<T> just reinterpret bits, so 16-bit storage types suffice. */
#if !defined(__aarch64__) && !defined(__ARM_FEATURE_FP16_SCALAR_ARITHMETIC)
#include <stdint.h>
typedef uint16_t float16_t;
typedef uint16_t bfloat16_t;
#define HAS_FLOAT16
#define HAS_BFLOAT16
#endif

/* libstdc++ 12 has no std::format: alias {fmt}'s (header-only). */
#if defined(__cplusplus) && !__has_include(<format>)
#define FMT_HEADER_ONLY
#include <fmt/format.h>
namespace std {
using fmt::format;
}
#endif

#endif
EOF
if cmp -s "$SHIM.new" "$SHIM"; then rm "$SHIM.new"; else mv "$SHIM.new" "$SHIM"; fi

# ------------------------------------------------------------- 2c. build mlx-c
BUILD="$CACHE/build"
if [ ! -f "$BUILD/libmlxc.a" ] || [ "$SHIM" -nt "$BUILD/libmlxc.a" ]; then
  command -v cmake >/dev/null || { echo "mlx: cmake missing (scripts/setup-apt.sh)" >&2; exit 1; }
  [ -f /usr/include/fmt/format.h ] || { echo "mlx: libfmt-dev missing (scripts/setup-apt.sh)" >&2; exit 1; }
  log "building mlx-c (static) against MLX $MLX_VERSION (~1 min on 2 cores)"
  cmake -S "$SRC" -B "$BUILD" -Wno-dev \
    -DCMAKE_BUILD_TYPE=Release \
    -DMLX_C_USE_SYSTEM_MLX=ON \
    -DMLX_DIR="$MLX_PKG/share/cmake/MLX" \
    -DMLX_C_BUILD_EXAMPLES=OFF \
    -DBUILD_SHARED_LIBS=OFF \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DCMAKE_CXX_FLAGS="-include $SHIM" >"$CACHE/cmake-configure.log" 2>&1 \
    || { cat "$CACHE/cmake-configure.log" >&2; exit 1; }
  cmake --build "$BUILD" --target mlxc -j "$JOBS" >"$CACHE/cmake-build.log" 2>&1 \
    || { tail -50 "$CACHE/cmake-build.log" >&2; exit 1; }
fi
[ -f "$BUILD/libmlxc.a" ] || { echo "mlx: $BUILD/libmlxc.a was not produced" >&2; exit 1; }

# ---------------------------------------------------------------- 3. bindings
BINDGEN="$TOOLS/bin/bindgen"
if [ ! -x "$BINDGEN" ] || ! "$BINDGEN" --version 2>/dev/null | grep -q " $BINDGEN_VERSION"; then
  log "installing bindgen-cli $BINDGEN_VERSION into $TOOLS (a few minutes, once)"
  cargo install --locked --quiet bindgen-cli --version "$BINDGEN_VERSION" --root "$TOOLS"
fi
OUT="$CACHE/bindings"
mkdir -p "$OUT"
if [ ! -f "$OUT/bindings.rs" ] || [ "$SHIM" -nt "$OUT/bindings.rs" ] \
  || [ "$SRC/.complete-$MLX_SYS_VERSION" -nt "$OUT/bindings.rs" ]; then
  log "generating bindings"
  WRAPPER="$OUT/wrapper.h"
  : >"$WRAPPER"
  for h in $(cd "$SRC" && ls mlx/c/*.h | sort); do echo "#include \"$h\"" >>"$WRAPPER"; done
  "$BINDGEN" "$WRAPPER" -o "$OUT/bindings.rs.new" \
    --rust-target 1.73.0 \
    --blocklist-function malloc --blocklist-function realloc \
    -- -I"$SRC" -include "$SHIM"
  # mlx-rs reads `float16_t.0` (a u16 newtype with Default, like bindgen's
  # __BindgenFloat16 on aarch64) and treats `bfloat16_t` as u16. repr(transparent)
  # keeps the ABI of the C uint16_t.
  grep -q '^pub type float16_t = u16;' "$OUT/bindings.rs.new" \
    || { echo "mlx: unexpected float16_t in bindings" >&2; exit 1; }
  grep -q '^pub type bfloat16_t = u16;' "$OUT/bindings.rs.new" \
    || { echo "mlx: unexpected bfloat16_t in bindings" >&2; exit 1; }
  sed -i 's/^pub type float16_t = u16;/#[repr(transparent)]\n#[derive(Debug, Default, Copy, Clone, PartialEq, Eq, Hash)]\npub struct float16_t(pub u16);/' \
    "$OUT/bindings.rs.new"
  mv "$OUT/bindings.rs.new" "$OUT/bindings.rs"
fi

# ------------------------------------------- 4. the mach_approximate_time shim
SHIM_C="$CACHE/shim/mach_time_shim.c"
cat >"$SHIM_C.new" <<'EOF'
/* mlx-rs's RandomState::new() seeds from mach_approximate_time() (macOS only).
 * Linux stand-in: a monotonic clock in nanoseconds. */
#include <stdint.h>
#include <time.h>
uint64_t mach_approximate_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
EOF
if cmp -s "$SHIM_C.new" "$SHIM_C"; then rm "$SHIM_C.new"; else mv "$SHIM_C.new" "$SHIM_C"; fi
if [ ! -f "$BUILD/libmoshibar_mach_shim.a" ] || [ "$SHIM_C" -nt "$BUILD/libmoshibar_mach_shim.a" ]; then
  cc -O2 -fPIC -c "$SHIM_C" -o "$CACHE/shim/mach_time_shim.o"
  rm -f "$BUILD/libmoshibar_mach_shim.a"
  ar rcs "$BUILD/libmoshibar_mach_shim.a" "$CACHE/shim/mach_time_shim.o"
fi

# ------------------------------------------------------ 5. the Cargo override
mkdir -p "$(dirname "$CARGO_CONFIG")"
cat >"$CARGO_CONFIG.new" <<EOF
# Generated by scripts/setup-mlx.sh (stamp $STAMP_WANT) -- do not edit, do not commit.
# Replaces mlx-sys's build script on Linux: link the mlx-c built from the
# mlx-sys sources and MLX $MLX_VERSION from the venv's mlx-cpu wheel.

[target.$TRIPLE.mlx]
rustc-link-search = ["native=$BUILD", "native=$MLX_LIB"]
rustc-link-lib = ["static=mlxc", "static=moshibar_mach_shim", "dylib=mlx", "dylib=stdc++"]
rustc-env = { OUT_DIR = "$OUT" }

[env]
# Read by crates/engine/build.rs, which adds an rpath to this directory so the
# engine's tests and binaries find libmlx.so without LD_LIBRARY_PATH.
MOSHIBAR_MLX_LIB_DIR = "$MLX_LIB"
EOF
mv "$CARGO_CONFIG.new" "$CARGO_CONFIG"

echo "$STAMP_WANT" >"$STAMP"
log "ready: $CARGO_CONFIG -> $BUILD, $MLX_LIB"
