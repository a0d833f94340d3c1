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
  # voice: WebRTC AEC3 (webrtc-audio-processing, bundled) builds with meson + ninja
  ninja-build python3-venv dpkg-dev
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -eq 0 ]; then
  echo "apt: all ${#PKGS[@]} packages present"
else
  echo "apt: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- voice: what the bundled WebRTC audio processing (AEC3) needs beyond bookworm's packages ---
# 1. meson >= 1.1 (webrtc-audio-processing-sys runs `meson setup --reconfigure` on a fresh build
#    directory, which bookworm's meson 1.0 refuses), from PyPI into its own venv.
MESON_VENV=/opt/moshibar-meson
if ! "$MESON_VENV/bin/meson" --version >/dev/null 2>&1; then
  echo "voice: meson from PyPI into $MESON_VENV"
  $SUDO python3 -m venv "$MESON_VENV"
  $SUDO "$MESON_VENV/bin/pip" install -q "meson>=1.3,<2"
fi
$SUDO ln -sf "$MESON_VENV/bin/meson" /usr/local/bin/meson
# 2. abseil >= 20240722 (bookworm has 20220623; meson would download it otherwise, and there is
#    no network for that): Debian trixie's source package, built with CMake into /usr/local
#    (static, PIC), where pkg-config finds it. The -sys crate links only `-labsl_strings`, so
#    that archive is replaced by one holding every abseil object (identical copies: no
#    duplicate symbols). About 6 minutes on 2 cores, once per machine.
if ! pkg-config --atleast-version=20240722 absl_base 2>/dev/null; then
  echo "voice: building abseil 20240722 from Debian's source package"
  work="$(mktemp -d)"
  printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main\n' \
    >"$work/sources.list"
  mkdir -p "$work/lists/partial"
  apt_opts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-"
    -o "Dir::State::Lists=$work/lists")
  (
    cd "$work"
    apt-get "${apt_opts[@]}" update -qq
    apt-get "${apt_opts[@]}" source --download-only abseil=20240722.0-4 >/dev/null
    tar xzf abseil_20240722.0.orig.tar.gz
    cmake -S abseil-20240722.0 -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CXX_STANDARD=17 -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DABSL_PROPAGATE_CXX_STD=ON \
      -DABSL_BUILD_TESTING=OFF -DBUILD_TESTING=OFF -DCMAKE_INSTALL_PREFIX=/usr/local \
      -DCMAKE_INSTALL_LIBDIR=lib >/dev/null
    ninja -C build -j"$(nproc)" >/dev/null
    $SUDO cmake --install build >/dev/null
  )
  (
    cd /usr/local/lib
    { echo "CREATE libabsl_strings.merged.a"; for f in libabsl_*.a; do echo "ADDLIB $f"; done
      echo SAVE; echo END; } | $SUDO ar -M
    $SUDO mv libabsl_strings.merged.a libabsl_strings.a
    $SUDO ranlib libabsl_strings.a
  )
  rm -rf "$work"
  pkg-config --modversion absl_base
fi
