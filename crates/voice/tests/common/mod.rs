//! Shared set-up for the integration tests: the PulseAudio null sinks (started by
//! scripts/start-pulse.sh, not mocked), a tone fed into the virtual microphone, speech WAVs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The workspace root (two levels above this crate).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Starts (or reuses) the PulseAudio daemon with the null sinks in `dir` (None: the shared
/// one, or `MOSHIBAR_PULSE_DIR`'s when that is set) and points this process at it. Call before
/// any audio is opened.
pub fn start_pulse(dir: Option<&str>) {
    let shared =
        std::env::var("MOSHIBAR_PULSE_DIR").unwrap_or_else(|_| "/tmp/moshibar-pulse".into());
    let runtime = dir.unwrap_or(&shared);
    let out = Command::new("bash")
        .arg(workspace().join("scripts/start-pulse.sh"))
        .env("MOSHIBAR_PULSE_DIR", runtime)
        .output()
        .expect("running scripts/start-pulse.sh");
    assert!(
        out.status.success(),
        "scripts/start-pulse.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Edition 2021: set_var is safe; tests call this before starting any audio thread.
    std::env::set_var("PULSE_SERVER", format!("unix:{runtime}/pulse/native"));
}

/// Runs `pactl` against the current server.
pub fn pactl(args: &[&str]) -> String {
    let out = Command::new("pactl")
        .args(args)
        .output()
        .expect("running pactl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes a sine tone WAV (stereo 48 kHz) of `secs` seconds.
pub fn tone_wav(path: &Path, hz: f32, secs: f32, amp: f32) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    let n = (48_000.0 * secs) as usize;
    for i in 0..n {
        let v = (i as f32 * hz * std::f32::consts::TAU / 48_000.0).sin() * amp;
        let s = (v * 32767.0) as i16;
        w.write_sample(s).expect("write");
        w.write_sample(s).expect("write");
    }
    w.finalize().expect("finalize");
}

/// Plays a WAV into the virtual microphone (the `moshibar_mic` null sink) until dropped.
pub struct MicFeed(Child);

impl MicFeed {
    /// Starts `paplay` on `wav`.
    pub fn start(wav: &Path) -> Self {
        let child = Command::new("paplay")
            .args(["-d", "moshibar_mic"])
            .arg(wav)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning paplay");
        MicFeed(child)
    }
}

impl Drop for MicFeed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Speech made by espeak-ng, as a WAV at its native 22.05 kHz mono.
pub fn speech_wav(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("speech.wav");
    let out = Command::new("espeak-ng")
        .args(["-w"])
        .arg(&p)
        .arg(text)
        .output()
        .expect("espeak-ng (Debian package espeak-ng) must be installed");
    assert!(out.status.success(), "espeak-ng failed");
    p
}

/// Speech by espeak-ng in `voice` (e.g. "en-us", "en+f3"), resampled to 24 kHz mono.
pub fn speech_24k(dir: &Path, name: &str, voice: &str, text: &str) -> Vec<f32> {
    let p = dir.join(format!("{name}.wav"));
    let out = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "165", "-w"])
        .arg(&p)
        .arg(text)
        .output()
        .expect("espeak-ng (Debian package espeak-ng) must be installed");
    assert!(out.status.success(), "espeak-ng failed");
    let (s, rate) = voice::wav::read_mono(&p).expect("reading espeak-ng output");
    voice::resample_clip(&s, rate, voice::SAMPLE_RATE).expect("resampling speech")
}

/// Adds `src` (scaled to peak `peak`) into `dst` starting at `at_s` seconds, up to `len_s`.
pub fn place(dst: &mut [f32], src: &[f32], at_s: f32, len_s: f32, peak: f32) {
    let rate = voice::SAMPLE_RATE as f32;
    let start = (at_s * rate) as usize;
    let n = ((len_s * rate) as usize).min(src.len());
    let max = src.iter().fold(0.0f32, |m, s| m.max(s.abs())).max(1e-6);
    for (d, s) in dst[start..].iter_mut().zip(&src[..n]) {
        *d += s * peak / max;
    }
}
