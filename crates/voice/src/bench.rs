//! `moshibar-voice bench`: the figures issue 13 asks for, in one run.
//!
//! 1. **Canceller, offline** (no devices): espeak-ng speech as Moshi through a slightly
//!    non-linear speaker into a synthetic room (45 ms direct path, 150 ms tail;
//!    [`voice::echo_room`]), another voice as the person, through the session's
//!    [`voice::cancel_clip`]: ERLE on echo-only speech after 3 s, the delay estimate, the
//!    person's level alone and in double talk; then the canceller alone timed frame by frame
//!    (CPU per 80 ms frame, median and p95, as a share of one core).
//! 2. **Live session** on the audio devices (skipped with `--offline-only`): latency p50/p95,
//!    the drift compensator's estimate and correction (ppm), the canceller's CPU in the live
//!    loop, device accounting.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use voice::echo_room::{erle_db, level_change_db, presence, Room};
use voice::{SessionConfig, SessionEvent, FRAME_SAMPLES, SAMPLE_RATE};

use crate::ModelArgs;

const RATE: f32 = SAMPLE_RATE as f32;

fn at(t: f32) -> usize {
    (t * RATE) as usize
}

fn speech(dir: &Path, name: &str, voice: &str, text: &str) -> Result<Vec<f32>> {
    let p = dir.join(format!("{name}.wav"));
    let out = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "165", "-w"])
        .arg(&p)
        .arg(text)
        .output()
        .context("running espeak-ng (Debian package espeak-ng) for the bench's speech")?;
    if !out.status.success() {
        bail!("espeak-ng failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let (s, rate) = voice::wav::read_mono(&p)?;
    Ok(voice::resample_clip(&s, rate, SAMPLE_RATE)?)
}

fn place(dst: &mut [f32], src: &[f32], at_s: f32, len_s: f32, peak: f32) {
    let start = at(at_s);
    let n = at(len_s).min(src.len());
    let max = src.iter().fold(0.0f32, |m, s| m.max(s.abs())).max(1e-6);
    for (d, s) in dst[start..].iter_mut().zip(&src[..n]) {
        *d += s * peak / max;
    }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// The offline half: prints ERLE, delay, the person's level, and the canceller's CPU cost.
fn offline() -> Result<()> {
    let dir = tempfile_dir()?;
    let moshi = speech(
        &dir,
        "moshi",
        "en-us",
        "Hello, I am Moshi. I can listen and talk at the same time, which is why I must not \
         hear my own voice coming back from the speakers of your laptop. Tell me about your day.",
    )?;
    let person = speech(
        &dir,
        "person",
        "en+f4",
        "Well, this morning I went to the market and bought some apples, then I walked home \
         along the river. It was a lovely day.",
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    // Moshi alone 0-9 s, the person alone 9.5-13 s, both 14-18 s.
    let total = at(19.0);
    let mut far = vec![0.0f32; total];
    place(&mut far, &moshi, 0.0, 9.0, 0.7);
    place(&mut far, &moshi[at(2.0).min(moshi.len())..], 14.0, 4.0, 0.7);
    let mut talker = vec![0.0f32; total];
    place(&mut talker, &person, 9.5, 3.5, 0.3);
    place(
        &mut talker,
        &person[at(3.5).min(person.len())..],
        14.0,
        4.0,
        0.3,
    );
    let room = Room::new(SAMPLE_RATE, 45.0, 150.0, 0.3, 11);
    let echo = room.echo(&far);
    let near: Vec<f32> = echo.iter().zip(&talker).map(|(e, p)| e + p).collect();

    let (out, figures) = voice::cancel_clip(&far, &near)?;
    let erle = erle_db(&echo, &out, at(3.0)..at(9.0));
    let alone = level_change_db(&talker, &out, at(9.7)..at(12.8));
    let (dt_gain, dt_corr, _) = presence(&talker, &out, at(14.5)..at(17.5), 480);

    // The canceller alone, frame by frame (what the live loop calls once per 80 ms frame).
    let mut aec = voice::EchoCanceller::new()?;
    let mut per_frame = Vec::with_capacity(total / FRAME_SAMPLES);
    let mut frame = [0.0f32; FRAME_SAMPLES];
    for (f, n) in far
        .chunks_exact(FRAME_SAMPLES)
        .zip(near.chunks_exact(FRAME_SAMPLES))
    {
        frame.copy_from_slice(n);
        let t = Instant::now();
        aec.process(f, &mut frame)?;
        per_frame.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let mean = per_frame.iter().sum::<f64>() / per_frame.len().max(1) as f64;
    let p50 = percentile(&mut per_frame, 0.5);
    let p95 = percentile(&mut per_frame, 0.95);
    let frame_ms = FRAME_SAMPLES as f64 * 1000.0 / f64::from(SAMPLE_RATE);

    println!("== echo canceller, offline ({:?}; espeak-ng speech, 45 ms room + 150 ms tail, non-linear speaker)", voice::EchoCanceller::KIND);
    match erle {
        Some(e) => println!("ERLE (echo only, after 3 s)     {e:.1} dB"),
        None => println!("ERLE (echo only, after 3 s)     n/a"),
    }
    println!(
        "delay estimate                  {} (room: {:.1} ms)",
        figures
            .delay_ms
            .map_or("none".to_string(), |d| format!("{d:.1} ms")),
        room.delay() as f32 * 1000.0 / RATE
    );
    println!("person alone, level change      {alone:+.2} dB");
    println!("double talk, person in output   {dt_gain:+.1} dB (correlation {dt_corr:.2})");
    println!(
        "canceller CPU per 80 ms frame   mean {mean:.2} ms, p50 {p50:.2} ms, p95 {p95:.2} ms \
         ({:.1} % / {:.1} % / {:.1} % of one core)",
        mean / frame_ms * 100.0,
        p50 / frame_ms * 100.0,
        p95 / frame_ms * 100.0
    );
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("moshibar-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// The live half: a session on the devices for `seconds`.
fn live(
    model: &ModelArgs,
    input: Option<String>,
    output: Option<String>,
    seconds: f64,
) -> Result<()> {
    let config = SessionConfig {
        input_device: input,
        output_device: output,
        hands_free: true,
        ..Default::default()
    };
    let (session, events) = crate::start_session(model, config)?;
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut metrics = Vec::new();
    let mut lat = Vec::new();
    while Instant::now() < end {
        match events.recv_timeout(Duration::from_millis(100)) {
            Ok(SessionEvent::Metrics(m)) => {
                if let Some(l) = m.latency_ms {
                    lat.push(f64::from(l));
                }
                metrics.push(m);
            }
            Ok(SessionEvent::Stopped) => break,
            Ok(SessionEvent::Error { message }) => bail!("session error: {message}"),
            _ => {}
        }
    }
    let stats = session.stats().clone();
    session.stop()?;
    let Some(last) = metrics.last() else {
        bail!("no metrics arrived");
    };
    let n = metrics.len() as f32;
    let mean = |f: &dyn Fn(&voice::Metrics) -> f32| metrics.iter().map(f).sum::<f32>() / n;
    let max_rtf = metrics.iter().map(|m| m.rtf).fold(0.0, f32::max);
    let frames = stats.frames.load(Ordering::Relaxed);
    let aec_ms = stats.aec_ns.load(Ordering::Relaxed) as f64 / 1e6 / frames.max(1) as f64;
    let a = last.audio;
    println!(
        "== live session ({seconds:.0} s, {:?})",
        last.echo_canceller
    );
    println!("frames            {frames}");
    println!(
        "encode/lm/decode  {:.2} / {:.2} / {:.2} ms (mean)",
        mean(&|m| m.encode_ms),
        mean(&|m| m.lm_ms),
        mean(&|m| m.decode_ms)
    );
    println!("RTF mean / max    {:.3} / {:.3}", mean(&|m| m.rtf), max_rtf);
    println!(
        "latency p50/p95   {:.1} / {:.1} ms",
        percentile(&mut lat.clone(), 0.5),
        percentile(&mut lat, 0.95)
    );
    println!(
        "drift             {:+.1} ppm learned, {:+.1} ppm correction now",
        a.drift_ppm, a.drift_correction_ppm
    );
    println!(
        "echo delay        {}",
        last.echo_delay_ms
            .map_or("none (nothing echoed)".to_string(), |d| format!(
                "{d:.1} ms"
            ))
    );
    println!(
        "canceller CPU     {aec_ms:.2} ms per 80 ms frame in the live loop ({:.1} % of one core)",
        aec_ms / 80.0 * 100.0
    );
    println!(
        "played/captured   {:.2} / {:.2} s in {:.2} s; xruns {}, stream errors {}",
        a.played_s, a.captured_s, a.wall_s, a.xruns, a.stream_errors
    );
    println!(
        "dropped           {} input frames, {:.0} ms output, {:.0} ms capture; {} underruns",
        stats.frames_dropped.load(Ordering::Relaxed),
        a.output_dropped_ms,
        a.capture_dropped_ms,
        stats.underruns.load(Ordering::Relaxed)
    );
    Ok(())
}

/// Runs the offline canceller figures, then (unless `offline_only`) a live session.
pub fn run(
    model: &ModelArgs,
    input: Option<String>,
    output: Option<String>,
    seconds: f64,
    offline_only: bool,
) -> Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("note: a debug build; measure with `cargo run --release -p voice -- bench`");
    }
    offline()?;
    if !offline_only {
        live(model, input, output, seconds)?;
    }
    Ok(())
}
