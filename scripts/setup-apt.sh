#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need. Idempotent: skips
# the install when every package is already present. Linux only.
set -euo pipefail
[ "$(uname -s)" = "Linux" ] || exit 0

PKGS=(
  # build tools for mlx-c, bindgen and -sys crates
  build-essential cmake clang libclang-dev libfmt-dev pkg-config
  # Tauri 2 on Linux
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libsoup-3.0-dev libssl-dev libxdo-dev
  # audio
  libasound2-dev libasound2-plugins pulseaudio pulseaudio-utils
  # a real window, a real browser, a D-Bus session bus
  xvfb xauth dbus dbus-x11 xdotool python3-dbus python3-gi chromium chromium-driver imagemagick
  # test and benchmark tools
  espeak-ng sox aria2 curl time jq
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "apt: all ${#PKGS[@]} packages present"
  exit 0
fi
echo "apt: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
