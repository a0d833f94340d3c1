//! `moshi-bench`: times `LmGen::step` on a checkpoint, the same way
//! `scripts/reference/bench_moshi_mlx.py` times moshi_mlx, and prints one JSON line
//! (load time, ms/step statistics, peak RSS) so the two can be compared on the same weights.
//!
//! ```text
//! moshi-bench --weights .cache/bench/mid-lm/model.safetensors \
//!             --config .cache/bench/mid-lm/config.json --steps 50
//! moshi-bench --weights .cache/bench/full-q4/model.q4.safetensors --steps 5
//! ```

use anyhow::{bail, Context};
use clap::Parser;
use engine::config::LmConfig;
use engine::QuantSpec;
use engine::WeightFormat;
use engine::{Lm, LmGen};
use engine::{Sampler, SamplingConfig};
use mlx_rs::Dtype;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Time the Moshi LM step of the mlx-rs port")]
struct Args {
    /// LM checkpoint (bf16, or q8/q4 detected from its tensors).
    #[arg(long)]
    weights: PathBuf,
    /// The repo's config.json in Kyutai's format; default: the built-in 7B.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Timed steps.
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Quantize a bf16 file at load time to this many bits (4 or 8).
    #[arg(long)]
    quantize: Option<i32>,
    /// Run an unquantized model in fp32.
    #[arg(long)]
    fp32: bool,
    /// local = temp 0.8 / top-p 0.95 (moshi_mlx local.py), argmax = greedy.
    #[arg(long, default_value = "local")]
    sampler: String,
    /// PRNG seed.
    #[arg(long, default_value_t = 299_792_458)]
    seed: u64,
    /// Split large matmuls across this many MLX CPU streams (1 = one stream, as moshi_mlx);
    /// default: `MOSHIBAR_CPU_STREAMS`, else 1.
    #[arg(long)]
    cpu_streams: Option<usize>,
    /// Main-transformer KV ring slots minus one (default: the config's context). Step time
    /// should not depend on it while fewer steps than slots have run.
    #[arg(long)]
    context: Option<usize>,
    /// Launch step t+1 (`LmGen::submit`, `async_eval`) before reading back step t
    /// (`LmGen::collect`); the step time is then the interval between read-backs.
    #[arg(long)]
    lookahead: bool,
}

fn header(path: &Path) -> anyhow::Result<serde_json::Value> {
    let mut f = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    let mut n = [0u8; 8];
    f.read_exact(&mut n)?;
    let mut h = vec![0u8; u64::from_le_bytes(n) as usize];
    f.read_exact(&mut h)?;
    Ok(serde_json::from_slice(&h)?)
}

/// (bits, group) of a quantized checkpoint, from `text_linear`'s packed and scale shapes.
fn file_quant(path: &Path) -> anyhow::Result<Option<QuantSpec>> {
    let h = header(path)?;
    let dim = |k: &str| -> Option<i64> { h.get(k)?.get("shape")?.as_array()?.last()?.as_i64() };
    let (Some(packed), Some(groups)) = (dim("text_linear.weight"), dim("text_linear.scales"))
    else {
        return Ok(None);
    };
    for bits in [4i64, 8] {
        let inp = packed * 32 / bits;
        if inp % groups == 0 && [32, 64, 128].contains(&(inp / groups)) {
            return Ok(Some(QuantSpec {
                bits: bits as i32,
                group_size: (inp / groups) as i32,
            }));
        }
    }
    bail!("cannot infer the quantization of {}", path.display())
}

fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

fn stats(ms: &mut [f64]) -> serde_json::Value {
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    let r = |x: f64| (x * 1000.0).round() / 1000.0;
    serde_json::json!({
        "mean": r(ms.iter().sum::<f64>() / ms.len() as f64),
        "p50": r(pct(0.5)), "p90": r(pct(0.9)), "min": r(ms[0]), "max": r(ms[ms.len() - 1]),
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.steps == 0 {
        bail!("--steps must be > 0");
    }
    let mut cfg: LmConfig = match &args.config {
        None => engine::config::moshi_7b(),
        Some(p) => engine::read_repo_config(p)?.lm,
    };
    if let Some(c) = args.context {
        cfg.transformer.context = c;
    }
    let file_spec = file_quant(&args.weights)?;
    let t0 = Instant::now();
    let (lm, dtype, spec) = match (file_spec, args.quantize) {
        (Some(spec), _) => (
            Lm::load_file(&args.weights, &cfg, WeightFormat::Quantized(spec))?,
            "bfloat16",
            Some(spec),
        ),
        (None, Some(bits)) => {
            let spec = if bits == 4 {
                QuantSpec::Q4
            } else {
                QuantSpec::Q8
            };
            (
                Lm::load_quantizing(&args.weights, &cfg, spec)?,
                "bfloat16",
                Some(spec),
            )
        }
        (None, None) => {
            let d = if args.fp32 {
                Dtype::Float32
            } else {
                Dtype::Bfloat16
            };
            let name = if args.fp32 { "float32" } else { "bfloat16" };
            (
                Lm::load_file(&args.weights, &cfg, WeightFormat::Dense(d))?,
                name,
                None,
            )
        }
    };
    let mut lm = lm;
    if let Some(n) = args.cpu_streams {
        lm.set_cpu_split(engine::CpuSplit::new(n))?;
    }
    let cpu_streams = lm.cpu_split().ways();
    let load_s = t0.elapsed().as_secs_f64();
    let sampler = match args.sampler.as_str() {
        "local" => Sampler::default(),
        "argmax" => Sampler::ARGMAX,
        s => bail!("unknown sampler {s}"),
    };
    let mut gen = LmGen::new(
        lm,
        SamplingConfig {
            text: sampler,
            audio: sampler,
            seed: args.seed,
        },
    )?;
    let card = cfg.audio_card() as u64;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let total = args.warmup + args.steps;
    let codes: Vec<Vec<u32>> = (0..total)
        .map(|_| {
            (0..cfg.other_codebooks())
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state % card) as u32
                })
                .collect()
        })
        .collect();
    let mut times = Vec::with_capacity(args.steps);
    // Both modes time the interval between two read-backs of a step's tokens (serially that
    // is one `step`; with the lookahead, step t+1 is already running when t is read back).
    if args.lookahead {
        gen.submit(&codes[0])?;
    }
    let mut last = Instant::now();
    for i in 0..total {
        if args.lookahead {
            if i + 1 < total {
                gen.submit(&codes[i + 1])?;
            }
            gen.collect()?;
        } else {
            gen.step(&codes[i])?;
        }
        let now = Instant::now();
        if i >= args.warmup {
            times.push((now - last).as_secs_f64() * 1e3);
        }
        last = now;
    }
    let (t, d) = (&cfg.transformer, &cfg.depformer.transformer);
    let loadavg = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok());
    println!(
        "{}",
        serde_json::json!({
            "impl": "engine (mlx-rs)", "weights": args.weights.display().to_string(),
            "config": {"d_model": t.d_model, "num_layers": t.num_layers, "num_heads": t.num_heads,
                       "depformer": [d.d_model, d.num_layers, d.num_heads, cfg.depformer.num_slices],
                       "text_vocab": cfg.text_out_vocab_size, "audio_card": card},
            "dtype": dtype, "bits": spec.map(|s| s.bits), "group_size": spec.map(|s| s.group_size),
            "runtime_quantized": file_spec.is_none() && spec.is_some(),
            "sampler": args.sampler, "cpu_streams": cpu_streams,
            "context": cfg.transformer.context, "lookahead": args.lookahead, "steps": args.steps, "warmup": args.warmup,
            "load_s": (load_s * 100.0).round() / 100.0, "ms_per_step": stats(&mut times),
            "peak_rss_mb": peak_rss_mb(), "loadavg_1m": loadavg,
        })
    );
    Ok(())
}
