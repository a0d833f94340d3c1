//! `moshi-speedtest`: times the 7B architecture with random weights for each quality on this
//! machine, predicts the frame time, and stores it where the planner (`moshibar-hw doctor`,
//! the app) finds it.
//!
//! ```text
//! moshi-speedtest                          # bf16, q8, q4 with 1, 2, 4 layers; store the report
//! moshi-speedtest --qualities q4 --layers 1,2 --validate 8 --no-store --json
//! ```
//!
//! `--validate K` also times the K-layer model and prints the fit's prediction for K next to
//! it (how the extrapolation is checked; K = 32 is the full model).

use anyhow::{Context, Result};
use clap::Parser;
use engine::speedtest::{self, SpeedTestOptions};
use hardware::{machine_id, SpeedCache, SpeedReport};
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
    /// Also time this many layers directly and compare with the prediction.
    #[arg(long, value_delimiter = ',')]
    validate: Vec<usize>,
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
        ..SpeedTestOptions::default()
    };
    let hw = hardware::detect().context("detecting hardware")?;
    eprintln!("speed test on {}", hw.label());
    let result = speedtest::run(&opts, |line| eprintln!("  {line}"))?;
    let report = SpeedReport {
        machine: machine_id(&hw),
        app_version: env!("CARGO_PKG_VERSION").to_string(),
        measured_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        seconds: result.seconds,
        qualities: result.qualities.iter().map(|q| q.to_speed()).collect(),
    };
    for q in &report.qualities {
        eprintln!("{}", q.describe());
    }
    eprintln!("speed test took {:.1} s", result.seconds);
    for &k in &args.validate {
        for t in &result.qualities {
            let measured = speedtest::time_quality_layers(&opts, t.quality, k)?;
            let predicted = t.fit.predict(k);
            eprintln!(
                "validate {}: {k} layers measured {measured:.1} ms, predicted {predicted:.1} ms ({:+.1} %)",
                t.quality,
                100.0 * (predicted - measured) / measured
            );
        }
    }
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
