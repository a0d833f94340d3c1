//! `moshi-frame-bench`: times whole 80 ms frames (`Moshi::step_frame`: Mimi encode → LM →
//! Mimi decode) in several modes — serial, pipelined (Mimi on its own thread), and either with
//! the LM lookahead (`Moshi::set_lookahead`) — interleaved in one process (the order rotates
//! every round), and prints each mode's frame wall time next to the sum of its parts as one
//! JSON line.
//!
//! ```text
//! moshi-frame-bench --repo .cache/fixtures/pipeline-tiny --frames 40 --rounds 5
//! moshi-frame-bench --repo .cache/fixtures/pipeline-tiny --frames 40 --rounds 5 --mimi-backend candle
//! moshi-frame-bench --repo /tmp/midrepo --frames 5 --rounds 5 --mimi-backend candle \
//!     --modes serial,pipelined,pipelined-lookahead,serial-lookahead
//! ```

use anyhow::{bail, Context};
use clap::Parser;
use engine::{LoadOptions, Moshi, MoshiPaths, Quality, FRAME_SAMPLES};
use engine::{MimiBackend, SamplingConfig};
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Time Moshi frames serially and pipelined")]
struct Args {
    /// A repo directory laid out as Kyutai's (config.json, LM, Mimi).
    #[arg(long)]
    repo: PathBuf,
    /// bf16, q8 or q4.
    #[arg(long, default_value = "bf16")]
    quality: String,
    /// Timed frames per mode and round.
    #[arg(long, default_value_t = 10)]
    frames: usize,
    /// Rounds (each runs every mode once, the order rotating).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Untimed frames after each mode switch.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Mimi implementation: mlx (the port, default) or candle (Kyutai's `moshi` crate, CPU).
    #[arg(long, default_value = "mlx")]
    mimi_backend: MimiBackend,
    /// Modes to time, comma-separated: serial, pipelined, pipelined-lookahead,
    /// serial-lookahead.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "serial,pipelined,pipelined-lookahead"
    )]
    modes: Vec<String>,
}

/// `(pipelined, lookahead)` for a mode name.
fn mode_flags(name: &str) -> anyhow::Result<(bool, bool)> {
    Ok(match name {
        "serial" => (false, false),
        "pipelined" => (true, false),
        "pipelined-lookahead" => (true, true),
        "serial-lookahead" => (false, true),
        other => bail!("unknown mode {other}"),
    })
}

#[derive(Default)]
struct Times {
    wall: Vec<f64>,
    parts: Vec<f64>,
    encode: Vec<f64>,
    lm: Vec<f64>,
    decode: Vec<f64>,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2.0
}

fn r(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.frames == 0 || args.rounds == 0 {
        bail!("--frames and --rounds must be > 0");
    }
    let quality: Quality = args
        .quality
        .parse()
        .map_err(|e| anyhow::anyhow!("quality {}: {e:?}", args.quality))?;
    let paths = MoshiPaths::from_dir(&args.repo, quality).context("repo")?;
    let opts = LoadOptions {
        quality,
        quantize_from_bf16: quality != Quality::Bf16,
        sampling: SamplingConfig::default(),
    };
    let mut moshi = Moshi::load(&paths, &opts).context("load")?;
    moshi
        .set_mimi_backend(args.mimi_backend)
        .context("Mimi backend")?;
    moshi.warmup()?;
    // A deterministic, speech-like input: a few harmonics with a slow envelope.
    let input = |i: usize| -> Vec<f32> {
        (0..FRAME_SAMPLES)
            .map(|k| {
                let t = (i * FRAME_SAMPLES + k) as f32 / 24_000.0;
                let env = 0.5 + 0.5 * (t * 3.0).sin();
                0.2 * env
                    * ((t * 220.0 * std::f32::consts::TAU).sin()
                        + 0.5 * (t * 440.0 * std::f32::consts::TAU).sin())
            })
            .collect()
    };
    let flags = args
        .modes
        .iter()
        .map(|m| mode_flags(m))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let n = flags.len();
    if n == 0 {
        bail!("--modes is empty");
    }
    let mut times: Vec<Times> = (0..n).map(|_| Times::default()).collect();
    let mut frame = 0;
    for round in 0..args.rounds {
        for k in 0..n {
            let m = (round + k) % n;
            let (pipelined, lookahead) = flags[m];
            moshi.set_pipelined(pipelined)?;
            moshi.set_lookahead(lookahead);
            let t = &mut times[m];
            for i in 0..args.warmup + args.frames {
                let o = moshi.step_frame(&input(frame))?;
                frame += 1;
                if i >= args.warmup {
                    t.wall.push(o.wall_ms as f64);
                    t.parts.push((o.encode_ms + o.lm_ms + o.decode_ms) as f64);
                    t.encode.push(o.encode_ms as f64);
                    t.lm.push(o.lm_ms as f64);
                    t.decode.push(o.decode_ms as f64);
                }
            }
        }
    }
    let loadavg = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok());
    let mode = |t: &Times| {
        serde_json::json!({
            "wall_ms_p50": r(median(&t.wall)), "sum_of_parts_ms_p50": r(median(&t.parts)),
            "encode_ms_p50": r(median(&t.encode)), "lm_ms_p50": r(median(&t.lm)),
            "decode_ms_p50": r(median(&t.decode)), "frames": t.wall.len(),
        })
    };
    let mut out = serde_json::json!({
        "repo": args.repo.display().to_string(), "quality": args.quality,
        "mimi_backend": moshi.mimi_backend().name(),
        "cpu_streams": moshi.lm_gen().lm().cpu_split().ways(),
        "loadavg_1m": loadavg,
    });
    let first = median(&times[0].wall);
    for (name, t) in args.modes.iter().zip(&times) {
        out[name.as_str()] = mode(t);
        if name != &args.modes[0] {
            out[format!("{name}_over_{}_wall", args.modes[0])] =
                (r(100.0 * median(&t.wall) / first) / 100.0).into();
        }
    }
    println!("{out}");
    Ok(())
}
