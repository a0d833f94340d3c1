#!/usr/bin/env bash
# Regenerates every icon from the SVGs in icons/src (ImageMagick `convert`, with its librsvg/MSVG
# delegate). The app icon set is what the Tauri bundler wants (tauri.conf.json → bundle.icon);
# the tray icons are macOS template images: black on transparent, 22 px high (@1x) and 44 px (@2x).
set -euo pipefail
cd "$(dirname "$0")"
command -v convert >/dev/null || { echo "make-icons.sh needs ImageMagick (apt-get install imagemagick)" >&2; exit 1; }

render() { # svg size out
  convert -background none -density 384 "$1" -resize "$2x$2" -strip "PNG32:$3"
}

render src/app.svg 1024 icon.png
render src/app.svg 512 icon-512.png
render src/app.svg 32 32x32.png
render src/app.svg 128 128x128.png
render src/app.svg 256 128x128@2x.png
# Windows .ico: several sizes in one file.
convert icon.png -define icon:auto-resize=256,128,64,48,32,16 icon.ico
# macOS .icns: PNG-payload entries (ic11..ic14, ic07..ic10), written by a few lines of Python.
for s in 32 64 128 256 512 1024; do render src/app.svg "$s" "/tmp/moshibar-icns-$s.png"; done
python3 - <<'PY'
import struct
entries = [("ic11", 32), ("ic12", 64), ("ic07", 128), ("ic13", 256), ("ic08", 256),
           ("ic14", 512), ("ic09", 512), ("ic10", 1024)]
body = b""
for kind, size in entries:
    data = open(f"/tmp/moshibar-icns-{size}.png", "rb").read()
    body += kind.encode() + struct.pack(">I", 8 + len(data)) + data
open("icon.icns", "wb").write(b"icns" + struct.pack(">I", 8 + len(body)) + body)
PY
rm -f /tmp/moshibar-icns-*.png

for state in idle downloading ready listening speaking error; do
  render "src/tray-$state.svg" 22 "tray/$state.png"
  render "src/tray-$state.svg" 44 "tray/$state@2x.png"
done
echo "icons written to $(pwd)"
