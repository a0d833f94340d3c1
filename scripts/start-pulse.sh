#!/usr/bin/env bash
# Starts a PulseAudio daemon with two null sinks so tests and benchmarks get
# real audio devices on a machine without a sound card (CI, the dev box):
#
#   moshibar_mic          a null sink; play a WAV into it (paplay -d moshibar_mic)
#   moshibar_mic.monitor  ...and its monitor is the "microphone" the app records
#   moshibar_out          the "speaker" the app plays into
#   moshibar_out.monitor  ...record it (parecord -d moshibar_out.monitor) to hear the app
#
# moshibar_out is the default sink and moshibar_mic.monitor the default source,
# so cpal's default devices (the PulseAudio host, or ALSA's "default" through
# the pulse plugin of libasound2-plugins) land on them.
#
# Idempotent: a running daemon and loaded sinks are reused. The server socket
# lives at a fixed place so every process finds it:
#     export PULSE_SERVER=unix:/tmp/moshibar-pulse/pulse/native
# (`bash scripts/start-pulse.sh --env` prints that line, for `eval`.)
# MOSHIBAR_PULSE_DIR=/tmp/other starts a separate, private daemon there (a test
# that unloads devices uses one so it disturbs nobody else).
#
# Real-time priority: the daemon (all its threads) is moved to SCHED_RR (priority
# MOSHIBAR_PULSE_RT_PRIO, default 6; 0 leaves it alone) before the sinks are
# loaded, so their I/O threads and later module-loopbacks inherit it. On a
# loaded 2-core machine a normal-priority daemon falls behind real time and the
# echo test's speaker plays slow (crates/voice/README.md). Without the right
# (no CAP_SYS_NICE / RLIMIT_RTPRIO) this warns and goes on at normal priority.
# Needs the Debian packages pulseaudio, pulseaudio-utils and libasound2-plugins.
set -euo pipefail

RUNTIME="${MOSHIBAR_PULSE_DIR:-/tmp/moshibar-pulse}"
SOCKET="$RUNTIME/pulse/native"
export XDG_RUNTIME_DIR="$RUNTIME"
export PULSE_SERVER="unix:$SOCKET"

if [ "${1:-}" = "--env" ]; then
  echo "export PULSE_SERVER=unix:$SOCKET"
  exit 0
fi

if [ "$(uname -s)" != "Linux" ]; then
  echo "start-pulse: not Linux, nothing to do"
  exit 0
fi

need=()
command -v pulseaudio >/dev/null || need+=(pulseaudio)
command -v pactl >/dev/null || need+=(pulseaudio-utils)
[ -e /usr/lib/x86_64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so ] ||
  [ -n "$(find /usr/lib -name 'libasound_module_pcm_pulse.so' -print -quit 2>/dev/null)" ] ||
  need+=(libasound2-plugins)
if [ ${#need[@]} -gt 0 ]; then
  echo "start-pulse: missing Debian packages: ${need[*]} (scripts/setup-apt.sh should install them)" >&2
  exit 1
fi

mkdir -p "$RUNTIME"
chmod 700 "$RUNTIME"

if ! pactl info >/dev/null 2>&1; then
  # -n: no default.pa (no hardware detection, no module-always-sink that would
  # hide a lost device); load only the protocol module, then our sinks below.
  # As root PulseAudio warns that it is meant for a user session; it works.
  pulseaudio --daemonize=yes --system=false --exit-idle-time=-1 --disallow-exit=yes \
    -n --load="module-native-protocol-unix auth-anonymous=1 socket=$SOCKET" \
    --log-target=file:"$RUNTIME/pulseaudio.log" 2>/dev/null || true
  for _ in $(seq 1 50); do
    pactl info >/dev/null 2>&1 && break
    sleep 0.1
  done
  if ! pactl info >/dev/null 2>&1; then
    echo "start-pulse: PulseAudio did not start; see $RUNTIME/pulseaudio.log" >&2
    tail -n 20 "$RUNTIME/pulseaudio.log" >&2 || true
    exit 1
  fi
fi

realtime() { # the daemon's main thread to SCHED_RR; a warning when refused
  local prio="${MOSHIBAR_PULSE_RT_PRIO:-6}" pid=""
  [ "$prio" = 0 ] && return 0
  [ -r "$RUNTIME/pulse/pid" ] && pid="$(tr -dc 0-9 <"$RUNTIME/pulse/pid")"
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "start-pulse: warning: no daemon pid in $RUNTIME/pulse/pid; PulseAudio priority left as it is" >&2
    return 0
  fi
  if ! command -v chrt >/dev/null; then
    echo "start-pulse: warning: no chrt (util-linux); PulseAudio priority left as it is" >&2
  elif chrt -a -r -p "$prio" "$pid" >/dev/null 2>&1; then
    echo "start-pulse: PulseAudio (pid $pid, all its threads) at SCHED_RR $prio"
  else
    echo "start-pulse: warning: chrt -a -r -p $prio $pid refused; PulseAudio priority left as it is" >&2
  fi
}
realtime

ensure_sink() { # name description
  if ! pactl list short sinks | awk '{print $2}' | grep -qx "$1"; then
    pactl load-module module-null-sink sink_name="$1" \
      rate=48000 channels=2 sink_properties=device.description="$2" >/dev/null
  fi
}
ensure_sink moshibar_mic "Moshibar-Mic-Feed"
ensure_sink moshibar_out "Moshibar-Speaker"
pactl set-default-sink moshibar_out
pactl set-default-source moshibar_mic.monitor

echo "start-pulse: PulseAudio up at $SOCKET"
pactl list short sinks
pactl list short sources
