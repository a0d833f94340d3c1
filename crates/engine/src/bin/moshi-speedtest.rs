//! `moshi-speedtest`: times the 7B architecture with random weights for each quality on this
//! machine, predicts the frame time, and stores it where the planner (`moshibar-hw doctor`,
//! the app) finds it.
//!
//! ```text
//! moshi-speedtest                          # bf16, q8, q4 with 1, 2, 4 layers; store the report
//! moshi-speedtest --qualities q4 --validate 1,2,4,8,16,32 --rounds 5
//! ```
//!
//! `--validate K1,K2,…` checks the extrapolation instead of running the test: it builds one
//! random checkpoint of the largest K layers per quality, one model per K sharing its arrays,
//! and times one step of each model per round, in an order rotated every round (load from
//! other processes then hits every K alike). It prints the medians, and for every K the
//! prediction of the line through the medians of the speed test's own points (`--layers`)
//! next to the measurement. K = 32 is the full 7B.

use anyhow::{Context, Result};
use clap::Parser;
use engine::speedtest::{self, SpeedTestOptions};
use hardware::{machine_id, SpeedCache};
use moshi_repo::Quality;

#[derive(Parser)]
#[command(about = "Time Moshi's 7B architecture (random weights) per quality on this machine")]
struct Args {
    /// Qualities to time.
    #[arg(long, value_delimiter = ',', default_value = "bf16,q8,q4")]
    qualities: Vec<Quality>,
    /// Temporal layer counts to time (the fit's points).
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    layers: Vec<usize>,
    /// Timed steps per point.
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Untimed steps before them.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Timed Mimi frames.
    #[arg(long, default_value_t = 5)]
    mimi_frames: usize,
    /// Check the extrapolation: time these layer counts interleaved (no speed test, no store).
    #[arg(long, value_delimiter = ',')]
    validate: Vec<usize>,
    /// Rounds of `--validate` (one timed step per layer count per round).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Time every layer count even when the first one already shows the quality is too slow.
    #[arg(long)]
    no_early_stop: bool,
    /// Do not write the report to the speed cache.
    #[arg(long)]
    no_store: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let opts = SpeedTestOptions {
        qualities: args.qualities.clone(),
        layers: args.layers.clone(),
        steps: args.steps,
        warmup: args.warmup,
        mimi_frames: args.mimi_frames,
        stop_when_certain: !args.no_early_stop,
        ..SpeedTestOptions::default()
    };
    if !args.validate.is_empty() {
        return validate(&args, &opts);
    }
    let hw = hardware::detect().context("detecting hardware")?;
    eprintln!("speed test on {}", hw.label());
    let result = speedtest::run(&opts, |_, line| eprintln!("  {line}"))?;
    let report = result.report(machine_id(&hw), env!("CARGO_PKG_VERSION"));
    for q in &report.qualities {
        eprintln!("{}", q.describe());
    }
    eprintln!("speed test took {:.1} s", result.seconds);
    if !args.no_store {
        let cache = SpeedCache::default_location().context("no home directory for the cache")?;
        cache.store(&report)?;
        eprintln!("stored in {}", cache.path().display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `--validate`: every layer count of `args.validate` timed interleaved, per quality; the
/// fit through the medians of `args.layers` against each measured median.
fn validate(args: &Args, opts: &SpeedTestOptions) -> Result<()> {
    let mut ks = args.validate.clone();
    for &k in &args.layers {
        if !ks.contains(&k) {
            ks.push(k);
        }
    }
    ks.sort_unstable();
    ks.dedup();
    let max = *ks.last().context("no layer counts")?;
    let full = opts.config.transformer.num_layers;
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next().map(str::to_owned))
            .unwrap_or_else(|| "?".into())
    };
    let mut table = Vec::new();
    for &quality in &args.qualities {
        let t0 = std::time::Instant::now();
        let (tensors, fmt) = speedtest::random_checkpoint(&opts.config, max, quality, 7)?;
        eprintln!(
            "{quality}: {max}-layer random checkpoint in {:.0} s",
            t0.elapsed().as_secs_f64()
        );
        let mut timers = Vec::with_capacity(ks.len());
        for &k in &ks {
            timers.push(speedtest::StepTimer::new(
                &opts.config,
                k,
                &tensors,
                fmt,
                args.warmup,
            )?);
            eprintln!("{quality}: {k} layers warmed up");
        }
        let mut times = vec![Vec::with_capacity(args.rounds); ks.len()];
        for r in 0..args.rounds.max(1) {
            for j in 0..ks.len() {
                let i = (j + r) % ks.len();
                let ms = timers[i].step_ms()?;
                times[i].push(ms);
                eprintln!(
                    "round {} {quality} {:>2} layers {ms:10.1} ms  load {}",
                    r + 1,
                    ks[i],
                    load()
                );
            }
        }
        drop(timers);
        let medians: Vec<f64> = times.iter().map(|t| median(t)).collect();
        let points: Vec<(usize, f64)> = ks
            .iter()
            .zip(&medians)
            .filter(|(k, _)| args.layers.contains(k))
            .map(|(&k, &m)| (k, m))
            .collect();
        let fit = speedtest::Fit::least_squares(&points)?;
        for (i, &k) in ks.iter().enumerate() {
            table.push((quality, k, medians[i], times[i].clone(), fit.predict(k)));
        }
        eprintln!(
            "{quality}: fit through {:?}: {:.1} ms fixed + {:.1} ms per layer",
            args.layers, fit.fixed_ms, fit.per_layer_ms
        );
    }
    println!(
        "speed test extrapolation, {} rounds interleaved (fit through the medians at {:?} layers; the speed test predicts {} layers)",
        args.rounds, args.layers, full
    );
    println!(
        "{:<7} {:>6} {:>12} {:>12} {:>12} {:>12} {:>9}",
        "quality", "layers", "measured ms", "min ms", "max ms", "predicted", "error"
    );
    for (q, k, m, t, p) in &table {
        let lo = t.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = t.iter().copied().fold(0.0, f64::max);
        let fitted = if args.layers.contains(k) {
            " (fit point)"
        } else {
            ""
        };
        println!(
            "{:<7} {:>6} {:>12.1} {:>12.1} {:>12.1} {:>12.1} {:>+8.1}%{fitted}",
            q.to_string(),
            k,
            m,
            lo,
            hi,
            p,
            100.0 * (p - m) / m
        );
    }
    Ok(())
}
