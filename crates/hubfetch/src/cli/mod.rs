//! The `hubfetch` command line: `download`, `verify`, `status`.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use hubfetch::{Client, Options, Phase, Progress};
use indicatif::{ProgressBar, ProgressStyle};

mod housekeeping;

/// Verified, resumable Hugging Face Hub downloads (uses HF_ENDPOINT, HF_HOME, HF_HUB_CACHE,
/// HF_HUB_OFFLINE, HF_TOKEN like huggingface_hub; logs on stderr, filter with RUST_LOG).
#[derive(Parser, Debug)]
#[command(name = "hubfetch", version)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Download files (all files of the repo when none are given); prints each local path.
    Download {
        repo_id: String,
        files: Vec<String>,
        #[arg(long, default_value = "main")]
        revision: String,
        /// Chunk size, e.g. 8M, 64K, 1048576.
        #[arg(long, default_value = "8M", value_parser = parse_size)]
        chunk_size: u64,
        /// The most parallel connections; the count adapts to the link below it.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Connections at the start (>= --connections: a fixed count).
        #[arg(long, default_value_t = 2)]
        initial_connections: usize,
        /// Give up after N retries of one request (default: retry transient errors forever).
        #[arg(long)]
        max_retries: Option<u32>,
        /// Seconds without a byte before a request is retried (default
        /// HF_HUB_DOWNLOAD_TIMEOUT, else 30).
        #[arg(long)]
        stall_timeout: Option<f64>,
        /// First backoff delay in seconds (doubles up to --backoff-max, full jitter).
        #[arg(long, default_value_t = 1.0)]
        backoff_base: f64,
        #[arg(long, default_value_t = 60.0)]
        backoff_max: f64,
        /// JSON lines of `Progress` (docs/ipc.md) on stderr instead of a bar.
        #[arg(long)]
        json: bool,
    },
    /// Re-hash cached files against the Hub's hashes (all files of the revision when none given).
    Verify {
        repo_id: String,
        files: Vec<String>,
        #[arg(long, default_value = "main")]
        revision: String,
    },
    /// What the cache holds, like `hf cache scan`: repos, revisions, sizes, partial downloads.
    Status {
        /// One line per revision and per partial download.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Delete abandoned partial downloads and blobs no snapshot links to.
    Prune {
        /// Only list what would be deleted.
        #[arg(long)]
        dry_run: bool,
        /// A partial download untouched for this many days is abandoned.
        #[arg(long, default_value_t = 30.0)]
        older_than_days: f64,
    },
    /// Delete a model from the cache (refused while it is being downloaded).
    Delete {
        repo_id: String,
        /// Only say what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mul) = match s.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M') => (&s[..s.len() - 1], 1 << 20),
        Some('G') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|e| format!("bad size {s:?}: {e}"))?;
    if n == 0 {
        return Err("size must be > 0".into());
    }
    Ok(n * mul)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// Run the parsed command.
pub async fn run(cli: Cli) -> Result<()> {
    let client = Client::from_env().context("reading the HF_* configuration")?;
    match cli.cmd {
        Cmd::Download {
            repo_id,
            files,
            revision,
            chunk_size,
            connections,
            initial_connections,
            max_retries,
            stall_timeout,
            backoff_base,
            backoff_max,
            json,
        } => {
            let mut opts = Options::default();
            opts.chunk_size = chunk_size;
            opts.connections = connections.max(1);
            opts.initial_connections = initial_connections.max(1);
            opts.max_retries = max_retries;
            if let Some(s) = stall_timeout {
                opts.stall_timeout = secs(s);
            }
            opts.backoff_base = secs(backoff_base);
            opts.backoff_max = secs(backoff_max);
            let job = if files.is_empty() {
                client.download_repo(&repo_id, &revision, opts)
            } else {
                client.download_files(&repo_id, &revision, &files, opts)
            };
            let cancel = job.cancel_token();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!("cancelling (partial data is kept; run again to resume)");
                    cancel.cancel();
                }
            });
            let rx = job.progress();
            let reporter = tokio::spawn(report(rx, json));
            let res = job.wait().await;
            let _ = reporter.await;
            let files = res.with_context(|| format!("downloading {repo_id}"))?;
            let mut out = std::io::stdout().lock();
            let mut unverified = Vec::new();
            for f in &files {
                writeln!(out, "{}", f.local_path.display())?;
                if !f.verified {
                    unverified.push(f.path.clone());
                }
            }
            if !unverified.is_empty() {
                bail!(
                    "the Hub gave no content hash for {unverified:?}: only their size was checked"
                );
            }
            Ok(())
        }
        Cmd::Verify {
            repo_id,
            files,
            revision,
        } => {
            let reports = client
                .verify(&repo_id, &revision, &files, &Options::default())
                .await
                .with_context(|| format!("verifying {repo_id}"))?;
            let mut bad = 0;
            for r in &reports {
                let state = match (&r.local_path, r.ok) {
                    (None, _) => "missing",
                    (Some(_), true) => "ok",
                    (Some(_), false) => "MISMATCH",
                };
                if !r.ok {
                    bad += 1;
                }
                println!(
                    "{state}\t{}\t{}",
                    r.path,
                    r.local_path
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                );
            }
            if bad > 0 {
                bail!(
                    "{bad} of {} files are missing or do not match the Hub's hash",
                    reports.len()
                );
            }
            Ok(())
        }
        Cmd::Status { verbose } => {
            let info = client.scan_cache().context("reading the cache")?;
            print!("{}", crate::cli::housekeeping::status_table(&info, verbose));
            Ok(())
        }
        Cmd::Prune {
            dry_run,
            older_than_days,
        } => {
            let mut o = hubfetch::PruneOptions::default();
            o.dry_run = dry_run;
            o.older_than = Duration::from_secs_f64(older_than_days.max(0.0) * 86400.0);
            let r = client.prune(&o).context("pruning the cache")?;
            print!("{}", crate::cli::housekeeping::report_text(&r));
            Ok(())
        }
        Cmd::Delete { repo_id, dry_run } => {
            let r = client
                .delete_repo(&repo_id, dry_run)
                .with_context(|| format!("deleting {repo_id}"))?;
            print!("{}", crate::cli::housekeeping::report_text(&r));
            Ok(())
        }
    }
}

async fn report(mut rx: tokio::sync::watch::Receiver<Progress>, json: bool) {
    let bar = (!json).then(|| {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b
    });
    loop {
        let p = rx.borrow_and_update().clone();
        if json {
            if let Ok(s) = serde_json::to_string(&p) {
                eprintln!("{s}");
            }
        } else if let Some(b) = &bar {
            b.set_length(p.bytes_total);
            b.set_position(p.bytes_done);
            let phase = format!("{:?}", p.phase).to_lowercase();
            b.set_message(format!(
                "{phase} {}{}",
                p.file.clone().unwrap_or_default(),
                if p.stalled { " (stalled)" } else { "" }
            ));
        }
        if matches!(p.phase, Phase::Done | Phase::Failed | Phase::Cancelled) {
            break;
        }
        if rx.changed().await.is_err() {
            break;
        }
    }
    if let Some(b) = bar {
        b.finish();
    }
}
