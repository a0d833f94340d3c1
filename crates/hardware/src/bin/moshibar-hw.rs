//! `moshibar-hw`: the hardware doctor and the planner's decision table.
//!
//! ```text
//! moshibar-hw doctor [--json] [--profile m2-pro-16] [--quality q8] [--cached bf16]
//! moshibar-hw table
//! ```

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use hardware::{plan, profile, CacheState, Hardware, PlanOptions, Quality, Tier};

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
        } => {
            let hw = match prof {
                Some(p) => profile::parse(&p)?,
                None => hardware::detect().context("detecting hardware")?,
            };
            let opts = PlanOptions {
                override_quality: quality,
                cache: CacheState {
                    complete: cached.into_iter().collect(),
                },
            };
            let p = plan(&hw, &opts);
            if json {
                let out = serde_json::json!({ "hardware": hw, "plan": p });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print_doctor(&hw, &p);
            }
        }
        Command::Table => print_table()?,
    }
    Ok(())
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
