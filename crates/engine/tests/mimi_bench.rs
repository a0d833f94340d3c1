//! Real-size Mimi benchmark and speech round trip (ignored by default: they need a generated
//! checkpoint and take minutes on a shared CPU).
//!
//! ```text
//! .venv/bin/python crates/engine/bench/mimi_make_random.py .cache/bench/mimi-random-full.safetensors
//! MIMI_BENCH_CHECKPOINT=.cache/bench/mimi-random-full.safetensors \
//! MIMI_BENCH_WAV=.cache/bench/speech24k.wav \
//!   cargo test --release -p engine --test mimi_bench -- --ignored --nocapture --test-threads 1
//! ```
//! `real_size_streaming_frame_time` times both backends (`MIMI_BENCH_BACKENDS=candle,mlx`);
//! `scripts/reference/bench_mimi_vs_rustymimi.sh` runs it interleaved with rustymimi on the same
//! checkpoint and prints the medians and ratios.

use engine::{load_codec, MimiBackend};
use engine::{Mimi, MimiConfig};
use std::path::PathBuf;
use std::time::Instant;

fn checkpoint() -> Option<PathBuf> {
    let p = PathBuf::from(std::env::var_os("MIMI_BENCH_CHECKPOINT")?);
    if p.is_absolute() {
        Some(p)
    } else {
        Some(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(p),
        )
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Reads a 16-bit PCM mono WAV (what `sox -b 16 -c 1` writes).
fn read_wav(path: &std::path::Path) -> (u32, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.len() > 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WAVE",
        "not a WAV"
    );
    let (mut pos, mut rate, mut pcm) = (12, 0u32, None);
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]) as usize;
        let body = &bytes[pos + 8..(pos + 8 + len).min(bytes.len())];
        if id == b"fmt " {
            let channels = u16::from_le_bytes([body[2], body[3]]);
            rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
            let bits = u16::from_le_bytes([body[14], body[15]]);
            assert!(
                channels == 1 && bits == 16,
                "need mono 16-bit, got {channels} ch {bits} bit"
            );
        } else if id == b"data" {
            pcm = Some(
                body.chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
                    .collect::<Vec<f32>>(),
            );
        }
        pos += 8 + len + (len & 1);
    }
    (rate, pcm.expect("WAV has a data chunk"))
}

/// Times one frame's `encode_step` + `decode_step` of a real-size Mimi with each backend in
/// `MIMI_BENCH_BACKENDS` (default `candle,mlx`, in that order), one JSON line per backend:
/// medians of `MIMI_BENCH_FRAMES` frames after `MIMI_BENCH_WARMUP` untimed ones.
#[test]
#[ignore = "needs MIMI_BENCH_CHECKPOINT (a real-size checkpoint); run with --ignored"]
fn real_size_streaming_frame_time() {
    let Some(path) = checkpoint() else {
        panic!("set MIMI_BENCH_CHECKPOINT to a real-size Mimi checkpoint");
    };
    let backends = std::env::var("MIMI_BENCH_BACKENDS").unwrap_or_else(|_| "candle,mlx".into());
    for name in backends.split(',').filter(|s| !s.is_empty()) {
        let backend: MimiBackend = name.parse().expect("MIMI_BENCH_BACKENDS: candle or mlx");
        time_backend(backend, &path);
    }
}

fn time_backend(backend: MimiBackend, path: &std::path::Path) {
    let cfg = MimiConfig::v0_1();
    let t0 = Instant::now();
    let mut mimi = load_codec(backend, path, &cfg, 8).expect("real-size Mimi loads");
    let load_s = t0.elapsed().as_secs_f64();
    let frames = env_usize("MIMI_BENCH_FRAMES", 50);
    let warmup = env_usize("MIMI_BENCH_WARMUP", 5);
    let fs = mimi.frame_size();
    let frame_secs = fs as f64 / cfg.sample_rate;
    let pcm: Vec<f32> = (0..(frames + warmup) * fs)
        .map(|i| {
            let t = i as f32 / 24000.0;
            0.3 * (2.0 * std::f32::consts::PI * 220.0 * t).sin()
        })
        .collect();
    let (mut enc, mut dec) = (Vec::new(), Vec::new());
    for (i, chunk) in pcm.chunks(fs).enumerate() {
        let a = Instant::now();
        let codes = mimi.encode_step(chunk).expect("encode_step");
        let b = Instant::now();
        assert_eq!(codes.len(), 1, "one frame per 1920 samples");
        let out = mimi.decode_step(&codes[0]).expect("decode_step");
        let c = Instant::now();
        assert_eq!(out.len(), fs);
        if i >= warmup {
            enc.push((b - a).as_secs_f64());
            dec.push((c - b).as_secs_f64());
        }
    }
    let total: Vec<f64> = enc.iter().zip(&dec).map(|(a, b)| a + b).collect();
    let rtf = total.iter().sum::<f64>() / (total.len() as f64 * frame_secs);
    let label = match backend {
        MimiBackend::Candle => "engine candle (moshi 0.6 crate, cpu)",
        MimiBackend::Mlx => "engine::mimi (mlx-rs, cpu)",
    };
    println!(
        "{{\"impl\": \"{label}\", \"backend\": \"{}\", \"frames\": {}, \"load_s\": {load_s:.2}, \"encode_ms\": {:.2}, \"decode_ms\": {:.2}, \"total_ms\": {:.2}, \"mean_total_ms\": {:.2}, \"rtf\": {:.3}, \"threads\": \"{}\"}}",
        backend.name(),
        total.len(),
        1e3 * median(&mut enc.clone()),
        1e3 * median(&mut dec.clone()),
        1e3 * median(&mut total.clone()),
        1e3 * total.iter().sum::<f64>() / total.len() as f64,
        rtf,
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into())
    );
}

#[test]
#[ignore = "needs MIMI_BENCH_CHECKPOINT and MIMI_BENCH_WAV (24 kHz mono 16-bit); run with --ignored"]
fn real_size_speech_round_trip() {
    let Some(path) = checkpoint() else {
        panic!("set MIMI_BENCH_CHECKPOINT to a real-size Mimi checkpoint");
    };
    let wav = PathBuf::from(std::env::var_os("MIMI_BENCH_WAV").expect("set MIMI_BENCH_WAV"));
    let wav = if wav.is_absolute() {
        wav
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(wav)
    };
    let (rate, speech) = read_wav(&wav);
    assert_eq!(
        rate, 24000,
        "resample to 24 kHz first (sox in.wav -r 24000 -c 1 -b 16 out.wav)"
    );
    let cfg = MimiConfig::v0_1();
    let mut mimi = Mimi::load(&path, &cfg, 8).expect("real-size Mimi loads");
    let fs = mimi.frame_size();
    let started = Instant::now();
    let mut out = Vec::with_capacity(speech.len() + fs);
    let mut frames = 0;
    // Feed 480-sample (20 ms) chunks, as an audio callback would.
    for chunk in speech.chunks(480) {
        for codes in mimi.encode_step(chunk).expect("encode_step") {
            assert_eq!(codes.len(), 8);
            assert!(codes.iter().all(|&c| (c as usize) < cfg.quantizer_bins));
            let pcm = mimi.decode_step(&codes).expect("decode_step");
            assert_eq!(pcm.len(), fs);
            assert!(pcm.iter().all(|s| s.is_finite()));
            out.extend(pcm);
            frames += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let audio_secs = speech.len() as f64 / 24000.0;
    assert_eq!(frames, speech.len() / fs, "every completed frame came out");
    let (enc_held, dec_held) = mimi.cached_steps();
    assert!(enc_held <= cfg.transformer.context && dec_held <= cfg.transformer.context);
    println!(
        "speech round trip: {:.2} s of audio, {frames} frames, {:.2} s, rtf {:.3}",
        audio_secs,
        elapsed,
        elapsed / audio_secs
    );
}
