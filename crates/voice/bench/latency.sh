#!/usr/bin/env bash
# Measures the real end-to-end latency, mic sample -> speaker sample, through the
# real devices (PulseAudio null sinks via ALSA) with the echo model at zero frame
# delay and gain 0.5, in a feedback loop: the app's speaker is the mic-feed sink
# itself, so every click played into the mic comes back L ms later at half
# amplitude, where L is the whole path (capture period, frame assembly, model
# thread, resampling, output queue, playback period). A sample at position i of
# an input frame comes out at position i of the output frame, so every sample
# sees the same latency: one frame (80 ms) of assembly plus the pipeline.
#
#   bash crates/voice/bench/latency.sh [path/to/moshibar-voice]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
BIN="${1:-${CARGO_TARGET_DIR:-$ROOT/target}/release/moshibar-voice}"
bash "$ROOT/scripts/start-pulse.sh" >/dev/null
eval "$(bash "$ROOT/scripts/start-pulse.sh" --env)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# 12 clicks (5 ms of 1 kHz at 0.9), one every 1.013 s, after 1 s of silence.
sox -n -r 48000 -c 2 "$tmp/click.wav" synth 0.005 sine 1000 vol 0.9 pad 0 1.008
sox -n -r 48000 -c 2 "$tmp/lead.wav" trim 0 1
sox "$tmp/lead.wav" "$tmp/click.wav" "$tmp/clicks.wav" repeat 11

PULSE_SINK=moshibar_mic "$BIN" live --echo 0 --echo-gain 0.5 --seconds 16 >/dev/null 2>"$tmp/app.log" &
app=$!
sleep 1.5
parecord -d moshibar_mic.monitor --raw --format=s16le --rate=48000 --channels=1 "$tmp/rec.raw" &
rec=$!
sleep 0.3
paplay -d moshibar_mic "$tmp/clicks.wav"
sleep 1
kill -INT "$rec" 2>/dev/null || true
wait "$rec" 2>/dev/null || true
wait "$app" || true

python3 - "$tmp/rec.raw" <<'PY'
import array, sys
a = array.array('h'); a.frombytes(open(sys.argv[1], 'rb').read())
x = [abs(v) / 32768 for v in a]
rate = 48000
# Onsets: first sample above 0.1 after at least 30 ms below it; peak over the next 5 ms.
onsets, quiet, i = [], 0, 0
while i < len(x):
    if x[i] > 0.1 and quiet >= rate * 0.03:
        peak = max(x[i:i + rate // 200])
        onsets.append((i, peak)); quiet = 0; i += rate // 200; continue
    quiet = quiet + 1 if x[i] <= 0.1 else 0
    i += 1
lat = []
for k, (t, p) in enumerate(onsets):
    if p > 0.7:  # an original click; its first echo is the next onset at about half amplitude
        for t2, p2 in onsets[k + 1:]:
            if 0.3 < p2 < 0.6:
                lat.append((t2 - t) * 1000 / rate); break
            if p2 > 0.7:
                break
if not lat:
    sys.exit("no click/echo pairs found")
lat.sort()
print(f"clicks {len(lat)}  latency ms min {lat[0]:.1f}  median {lat[len(lat)//2]:.1f}  max {lat[-1]:.1f}")
PY
