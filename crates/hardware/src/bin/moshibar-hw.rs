//! `moshibar-hw`: the hardware doctor and the planner's decision table.
//!
//! ```text
//! moshibar-hw doctor [--json] [--profile m2-pro-16] [--quality q8] [--cached bf16]
//!                    [--speedtest] [--no-speed]
//! moshibar-hw table
//! ```
//!
//! The doctor plans with the frame times the engine's speed test measured on this machine
//! (read from the speed cache, [`hardware::SpeedCache`]); `--speedtest` runs the test first.
//! The test lives in the engine (`moshi-speedtest`, which links MLX); this crate must not depend
//! on the engine, so it is run as a separate program: `$MOSHIBAR_SPEEDTEST_BIN`, else
//! `moshi-speedtest` beside this binary, else on `PATH`.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use hardware::{
    machine_id, plan, plan_with_speed, profile, CacheState, Hardware, PlanOptions, Quality,
    SpeedCache, SpeedReport, Tier,
};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    version,
    about = "Which Moshi quality runs in real time on this Mac, and why"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the detected hardware, the plan and the reasons.
    Doctor {
        /// Print one JSON object `{hardware, plan}` instead of text.
        #[arg(long)]
        json: bool,
        /// Simulate a Mac instead of detecting this one (e.g. m2-pro-16,
        /// m4-max-48-12p, intel-16). Also read from MOSHIBAR_HARDWARE_PROFILE.
        #[arg(long)]
        profile: Option<String>,
        /// Use this quality whatever the hardware says (bf16, q8, q4).
        #[arg(long)]
        quality: Option<Quality>,
        /// Qualities already in the cache (comma-separated), e.g. `bf16`.
        #[arg(long, value_delimiter = ',')]
        cached: Vec<Quality>,
        /// Run the engine's speed test (`moshi-speedtest`) first and store its result.
        #[arg(long, conflicts_with = "no_speed")]
        speedtest: bool,
        /// Ignore stored speed measurements (plan from the bandwidth table only).
        #[arg(long)]
        no_speed: bool,
    },
    /// Print the planner's choice for every chip and common RAM size as a
    /// Markdown table.
    Table,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Doctor {
            json,
            profile: prof,
            quality,
            cached,
            speedtest,
            no_speed,
        } => {
            // A measurement is of this machine: a simulated profile never uses one.
            let simulated = prof.is_some() || std::env::var_os(hardware::PROFILE_ENV).is_some();
            let hw = match prof {
                Some(p) => profile::parse(&p)?,
                None => hardware::detect().context("detecting hardware")?,
            };
            if speedtest {
                if simulated {
                    anyhow::bail!(
                        "--speedtest measures this machine; drop --profile / {}",
                        hardware::PROFILE_ENV
                    );
                }
                run_speedtest()?;
            }
            let speed = if simulated || no_speed {
                None
            } else {
                stored_speed(&hw)?
            };
            let opts = PlanOptions {
                override_quality: quality,
                cache: CacheState {
                    complete: cached.into_iter().collect(),
                },
            };
            let p = plan_with_speed(&hw, &opts, speed.as_ref());
            if json {
                let out = serde_json::json!({ "hardware": hw, "plan": p, "speed": speed });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print_doctor(&hw, &p);
                print_speed(speed.as_ref(), simulated || no_speed);
            }
        }
        Command::Table => print_table()?,
    }
    Ok(())
}

/// The speed cache's report for this machine and this version, if any.
fn stored_speed(hw: &Hardware) -> Result<Option<SpeedReport>> {
    let Some(cache) = SpeedCache::default_location() else {
        return Ok(None);
    };
    Ok(cache.load(&machine_id(hw), env!("CARGO_PKG_VERSION"))?)
}

/// Runs `moshi-speedtest` (which stores its report in the speed cache).
fn run_speedtest() -> Result<()> {
    let bin = match std::env::var_os("MOSHIBAR_SPEEDTEST_BIN") {
        Some(p) => PathBuf::from(p),
        None => {
            let beside = std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(|d| d.join("moshi-speedtest")))
                .filter(|p| p.exists());
            beside.unwrap_or_else(|| PathBuf::from("moshi-speedtest"))
        }
    };
    let status = std::process::Command::new(&bin).status().with_context(|| {
        format!(
            "running {} (build it: cargo build -p engine --bin moshi-speedtest)",
            bin.display()
        )
    })?;
    if !status.success() {
        anyhow::bail!("{} failed ({status})", bin.display());
    }
    Ok(())
}

fn print_speed(speed: Option<&SpeedReport>, ignored: bool) {
    println!();
    println!("Speed test");
    match speed {
        Some(r) => {
            for q in &r.qualities {
                println!(
                    "  {:<5}          {} ({:.1} ms/layer × {} + {:.0} ms fixed + {:.0} ms Mimi; layers timed {:?})",
                    q.quality.to_string(),
                    q.describe(),
                    q.per_layer_ms,
                    q.full_layers,
                    q.fixed_ms,
                    q.mimi_ms,
                    q.layers_timed
                );
            }
            println!(
                "  Took           {:.0} s (app {})",
                r.seconds, r.app_version
            );
        }
        None if ignored => println!("  not used (simulated profile or --no-speed)"),
        None => println!("  not run on this machine yet: moshibar-hw doctor --speedtest"),
    }
}

fn print_doctor(hw: &Hardware, p: &hardware::Plan) {
    let gb = |b: u64| b as f64 / 1e9;
    println!("Hardware");
    println!("  CPU            {}", hw.cpu_brand);
    match &hw.chip {
        Some(c) => println!("  Chip           {c}"),
        None => println!("  Chip           not Apple Silicon"),
    }
    println!("  OS / arch      {} / {}", hw.os, hw.arch);
    println!("  Memory         {:.1} GB", gb(hw.memory_bytes));
    println!(
        "  GPU budget     {:.1} GB ({})",
        gb(hw.gpu_budget_bytes),
        match hw.gpu_budget_source {
            hardware::BudgetSource::Metal => "Metal recommendedMaxWorkingSetSize",
            hardware::BudgetSource::Estimate => "estimated: 70 % of RAM",
        }
    );
    match hw.bandwidth_gbps {
        Some(bw) if hw.bandwidth_estimated => println!("  Bandwidth      {bw:.0} GB/s (estimated)"),
        Some(bw) => println!("  Bandwidth      {bw:.0} GB/s"),
        None => println!("  Bandwidth      unknown"),
    }
    println!();
    println!("Plan");
    println!(
        "  Quality        {}{}",
        p.quality,
        if p.overridden { " (your choice)" } else { "" }
    );
    println!(
        "  Real time      {}",
        if p.real_time { "yes" } else { "no" }
    );
    println!("  Repo           {}@{}", p.repo, p.revision);
    println!("  Download       {:.2} GB", gb(p.download_bytes));
    println!("  Memory         {:.1} GB", gb(p.memory_bytes));
    println!("  Bandwidth      {:.0} GB/s", p.bandwidth_needed_gbps);
    println!("  Reason         {}", p.reason);
    if let Some(w) = &p.warning {
        println!("  Warning        {w}");
    }
    for a in &p.alternatives {
        println!("  Not {:<5}      {}", a.quality.to_string(), a.reason);
    }
}

/// The RAM sizes Apple sells, in GB.
const RAM_SIZES: [u64; 10] = [8, 16, 18, 24, 32, 36, 48, 64, 96, 128];

fn print_table() -> Result<()> {
    print!("| chip |");
    for ram in RAM_SIZES {
        print!(" {ram} GB |");
    }
    println!(" bandwidth |");
    print!("|---|");
    for _ in RAM_SIZES {
        print!("---|");
    }
    println!("---|");
    for generation in 1..=5u8 {
        for tier in Tier::ALL {
            let name = format!("m{generation}-{}", format!("{tier:?}").to_lowercase());
            let mut bw = None;
            print!("| M{generation}{} |", tier.suffix());
            for ram in RAM_SIZES {
                let hw = profile::parse(&format!("{name}-{ram}"))?;
                bw = hw.bandwidth_gbps.map(|b| (b, hw.bandwidth_estimated));
                let p = plan(&hw, &PlanOptions::default());
                if p.real_time {
                    print!(" {} |", p.quality);
                } else {
                    print!(" – |");
                }
            }
            if let Some((b, est)) = bw {
                print!(" {b:.0} GB/s{} |", if est { " (est.)" } else { "" });
            }
            println!();
        }
    }
    println!();
    println!("`–`: no quality runs in real time (the app still offers q4, with a warning).");
    Ok(())
}
