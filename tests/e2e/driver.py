#!/usr/bin/python3
"""End-to-end driver: the real Moshibar app, first launch to a voice session.

Run by tests/e2e/run.sh inside `dbus-run-session` (a private session bus). It starts Xvfb, a
notification server (notify_server.py), the local test hub (testhub) serving the tiny Moshi
repo under the name the planner chooses, and the app with a fresh config dir and HF cache. Then
it follows the app's state file (MOSHIBAR_STATE_FILE) and log, and checks:

  1. first launch: detecting → planning → downloading → ready, with the plan's repo
  2. the downloaded files are byte-identical to the fixture (verification)
  3. a "Moshi is ready" notification reached the session bus
  4. a screenshot of the real window (artifacts/e2e/window.png)
  5. the hold-to-talk shortcut (xdotool holds Alt+Space): talking on, then off
  6. a session fed from a WAV file writes Moshi's answer to a WAV file of the input's length,
     with the real engine (the tiny Moshi, loaded once in the loading stage and again on the
     session's thread); E2E_ECHO_MODEL=1 runs voice's echo test model instead
  7. relaunch: the same cache gives ready without downloading again

Prints one line per check and closes with "N passed, N failed".
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import wave
import math
import hashlib

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ART = os.path.join(ROOT, "artifacts", "e2e")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BIN = os.path.join(TARGET, "debug")
PROFILE = os.environ.get("E2E_HARDWARE_PROFILE", "m2-pro-16")
FIXTURES = os.environ.get("MOSHIBAR_FIXTURES", os.path.join(ROOT, ".cache", "fixtures"))
REPO_DIR = os.path.join(FIXTURES, "pipeline-tiny")
TIMEOUT = float(os.environ.get("E2E_TIMEOUT", "600"))

results = []
procs = []


def check(name, ok, detail=""):
    results.append((name, bool(ok)))
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
    return ok


def spawn(args, log, env=None, **kw):
    f = open(log, "wb")
    p = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, env=env, **kw)
    procs.append(p)
    return p


def stop(p, timeout=10):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_for(pred, timeout, step=0.25):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_wav(path, seconds=2.0, rate=24000):
    """A 220 Hz tone with a 3 Hz tremolo: enough signal for the gate and the level meters."""
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        n = int(seconds * rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * (0.6 + 0.4 * math.sin(2 * math.pi * 3 * i / rate))
                                  * math.sin(2 * math.pi * 220 * i / rate)))
            for i in range(n))
        w.writeframes(frames)


def plan_for(profile):
    out = subprocess.run([os.path.join(BIN, "moshibar-hw"), "doctor", "--json", "--profile", profile],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["plan"]


def start_app(env, log):
    return spawn([os.path.join(BIN, "moshibar")], log, env=env)


def main():
    os.makedirs(ART, exist_ok=True)
    for name in os.listdir(ART):
        p = os.path.join(ART, name)
        if os.path.isfile(p):
            os.remove(p)
    if not os.path.isdir(REPO_DIR):
        print(f"missing fixture {REPO_DIR}: run scripts/make-fixtures.sh", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="moshibar-e2e-")
    env = dict(os.environ)

    # 1. Display and notification server (the session bus comes from dbus-run-session).
    display = f":{int(os.environ.get('E2E_DISPLAY', '97'))}"
    spawn(["Xvfb", display, "-screen", "0", "1440x900x24", "-nolisten", "tcp"], os.path.join(ART, "xvfb.log"))
    env["DISPLAY"] = display
    if not wait_for(lambda: subprocess.run(["xdpyinfo" if shutil.which("xdpyinfo") else "true"],
                                           env=env, capture_output=True).returncode == 0 and
                    os.path.exists(f"/tmp/.X11-unix/X{display[1:]}"), 15):
        print("Xvfb did not start", file=sys.stderr)
        return 2
    notes = os.path.join(ART, "notifications.jsonl")
    open(notes, "w").close()
    spawn(["/usr/bin/python3", os.path.join(ROOT, "tests", "e2e", "notify_server.py"), notes],
          os.path.join(ART, "notify-server.log"), env=env)
    wait_for(lambda: "ready" in open(os.path.join(ART, "notify-server.log")).read(), 10)

    # 2. The test hub, serving the tiny repo under the planner's repo name.
    plan = plan_for(PROFILE)
    repo = plan["repo"]
    print(f"profile {PROFILE}: plan {plan['quality']} from {repo}", flush=True)
    hub_log = os.path.join(ART, "testhub.log")
    # stdin stays an open pipe: testhub stops by itself when this driver goes away.
    spawn([os.path.join(BIN, "testhub"), "serve", "--dir", REPO_DIR, "--repo", repo], hub_log, env=env,
          stdin=subprocess.PIPE)
    endpoint = wait_for(lambda: (re.search(r"HF_ENDPOINT=(\S+)", open(hub_log).read()) or [None, None])[1], 30)
    if not endpoint:
        print("testhub did not print HF_ENDPOINT; see " + hub_log, file=sys.stderr)
        return 2

    # 3. The app, first launch.
    state_file = os.path.join(tmp, "state.json")
    wav_in = os.path.join(ART, "input.wav")
    wav_out = os.path.join(ART, "moshi-answer.wav")
    write_wav(wav_in)
    env.update({
        "HF_ENDPOINT": endpoint,
        "HF_HUB_CACHE": os.path.join(tmp, "hub"),
        "HF_TOKEN": "",
        "XDG_CONFIG_HOME": os.path.join(tmp, "config"),
        "XDG_DATA_HOME": os.path.join(tmp, "data"),
        "MOSHIBAR_HARDWARE_PROFILE": PROFILE,
        "MOSHIBAR_STATE_FILE": state_file,
        "MOSHIBAR_SHOW_WINDOW": "1",
        "MOSHIBAR_KEEP_OPEN": "1",
        "MOSHIBAR_INPUT_WAV": wav_in,
        "MOSHIBAR_OUTPUT_WAV": wav_out,
        "MOSHIBAR_AUTOSTART_SESSION": "1",
        "RUST_LOG": os.environ.get("RUST_LOG", "warn,moshibar_lib=debug,moshibar=info,hubfetch=info"),
        "NO_AT_BRIDGE": "1",
        # Software rendering: Xvfb has no GPU.
        "WEBKIT_DISABLE_COMPOSITING_MODE": "1",
        "WEBKIT_DISABLE_DMABUF_RENDERER": "1",
    })
    env.pop("MOSHIBAR_MODEL_DIR", None)
    env.pop("MOSHIBAR_ECHO_MODEL", None)
    echo = os.environ.get("E2E_ECHO_MODEL") == "1"
    if echo:
        # Debugging the shell alone: voice's echo model instead of the real engine.
        env["MOSHIBAR_ECHO_MODEL"] = "1"
        print("note: E2E_ECHO_MODEL=1: the session runs the echo test model, not Moshi", flush=True)
    app_log = os.path.join(ART, "app.log")
    app = start_app(env, app_log)
    stages = []

    def follow():
        s = read_json(state_file)
        if s and (not stages or stages[-1] != s["stage"]):
            stages.append(s["stage"])
        if app.poll() is not None:
            return "exited"
        return s and s["stage"] in ("ready", "error") and s["stage"]

    final = wait_for(follow, TIMEOUT)
    log = open(app_log, errors="replace").read()
    logged = re.findall(r"stage changed stage=\"?(\w+)", log)
    state = read_json(state_file) or {}
    check("first launch reaches ready", final == "ready",
          f"stages {stages} (log {logged}); error {state.get('error')}; final {final}")
    # The stages in order of first appearance (hubfetch verifies file by file, so downloading and
    # verifying alternate; on a tiny repo a phase can also be shorter than one progress tick).
    firsts = []
    for st in logged:
        if st not in firsts:
            firsts.append(st)
    phases = re.findall(r"download phase phase=(\w+)", log)
    check("stages in order: planning, downloading, verifying, loading, ready",
          firsts == ["planning", "downloading", "verifying", "loading", "ready"] and phases[-1:] == ["Done"],
          f"{logged}; download phases {phases}")
    check("plan repo served", (state.get("plan") or {}).get("repo") == repo, str((state.get("plan") or {}).get("repo")))

    # 4. Verification: the files the app will load are the fixture's, byte for byte.
    model_dir = state.get("modelDir") or ""
    ok, detail = bool(model_dir), f"modelDir {model_dir!r}"
    if ok:
        for f in plan["files"]:
            a, b = os.path.join(model_dir, f["path"]), os.path.join(REPO_DIR, f["path"])
            if not (os.path.exists(a) and sha256(a) == sha256(b)):
                ok, detail = False, f"{f['path']} differs or is missing in {model_dir}"
                break
    check("downloaded files verified against the fixture", ok and model_dir.startswith(env["HF_HUB_CACHE"]), detail)

    # 5. Notification on the session bus.
    got = wait_for(lambda: [json.loads(line) for line in open(notes) if line.strip()], 10) or []
    check("ready notification on D-Bus", any("ready" in n["summary"].lower() for n in got), json.dumps(got))

    # 6. Screenshot of the real window.
    time.sleep(3)
    shot = os.path.join(ART, "window.png")
    subprocess.run(["import", "-window", "root", shot], env=env, check=False)
    check("screenshot", os.path.exists(shot) and os.path.getsize(shot) > 10_000, shot)

    # 7. Hold-to-talk through the global shortcut.
    if shutil.which("xdotool"):
        mark = len(open(app_log, errors="replace").read())
        subprocess.run(["xdotool", "keydown", "alt+space"], env=env, check=False)
        time.sleep(1.0)
        subprocess.run(["xdotool", "keyup", "space", "keyup", "alt"], env=env, check=False)
        time.sleep(1.0)
        tail = open(app_log, errors="replace").read()[mark:]
        on, off = "talking=true" in tail, "talking=false" in tail
        check("hotkey press and release", on and off and tail.index("talking=true") < tail.index("talking=false"),
              f"press seen {on}, release seen {off}")
    else:
        check("hotkey press and release", False, "xdotool missing (apt-get install xdotool)")

    # 8. The session fed from the WAV.
    done = wait_for(lambda: "session finished" in open(app_log, errors="replace").read(), 120)
    out_ok = os.path.exists(wav_out) and os.path.getsize(wav_out) > 44
    detail = ""
    if out_ok:
        with wave.open(wav_out) as w:
            detail = f"{w.getnframes()} frames at {w.getframerate()} Hz"
            out_ok = w.getnframes() > 0
    log = open(app_log, errors="replace").read()
    check("session from WAV wrote an answer", bool(done) and out_ok, detail or "no output WAV")
    with wave.open(wav_in) as w:
        in_seconds = w.getnframes() / w.getframerate()
    out_seconds = 0.0
    if out_ok:
        with wave.open(wav_out) as w:
            out_seconds = w.getnframes() / w.getframerate()
            out_rate = w.getframerate()
        check("answer WAV has the input's length (24 kHz mono)",
              out_rate == 24000 and abs(out_seconds - in_seconds) < 1 / 24000 + 1e-9,
              f"in {in_seconds:.4f} s, out {out_seconds:.4f} s at {out_rate} Hz")
    else:
        check("answer WAV has the input's length (24 kHz mono)", False, "no output WAV")
    engine_loads = re.findall(r"engine loaded.*", log)
    if echo:
        check("model: echo test model (E2E_ECHO_MODEL=1)", "echo test model" in log)
    else:
        check("the real engine was loaded (loading stage and session), not the echo model",
              len(engine_loads) >= 2 and "echo test model" not in log,
              (engine_loads[-1][:160] if engine_loads else "no 'engine loaded' in the log"))
    frames = re.findall(r"session finished frames=(\d+)", log)
    check("session stepped the model over the whole input", bool(frames) and int(frames[-1]) >= 25,
          f"frames {frames} (2 s = 25 frames of 80 ms)")

    # 9. Relaunch with the same cache: no second download.
    stop(app)
    os.remove(state_file)
    stages.clear()
    app = start_app(env, os.path.join(ART, "app-relaunch.log"))
    final = wait_for(follow, 120)
    relog = open(os.path.join(ART, "app-relaunch.log"), errors="replace").read()
    restate = read_json(state_file) or {}
    source = (restate.get("plan") or {}).get("source")
    check("relaunch reaches ready from the cache, no new download", final == "ready" and source == "cache",
          f"stages {stages}, plan source {source}")
    stop(app)

    passed = sum(1 for _, ok in results if ok)
    failed = len(results) - passed
    print(f"\nartifacts in {ART}")
    print(f"{passed} passed, {failed} failed")
    _ = relog
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    try:
        code = main()
    finally:
        for p in reversed(procs):
            stop(p)
    sys.exit(code)
