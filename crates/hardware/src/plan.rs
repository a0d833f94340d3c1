//! The quality planner: the best Moshi quality that fits this Mac's GPU
//! memory and that its memory bandwidth can run 12.5 times a second.

use crate::host::Hardware;
use crate::needs::{Quality, QualityNeeds, GB};
use crate::speed::{QualitySpeed, SpeedReport};
use moshi_repo::RepoConfig;
use serde::Serialize;
use std::collections::BTreeSet;

/// The share of the GPU budget Moshi may take; the rest is headroom for
/// macOS, the window server and the other apps a person has open.
pub const MEMORY_FRACTION: f64 = 0.70;

/// The share of the chip's peak bandwidth a real-time plan may count on:
/// MLX reaches roughly 80 % of peak on large matrix-vector products.
pub const BANDWIDTH_FRACTION: f64 = 0.80;

pub use moshi_repo::{MIMI_FILE, TOKENIZER_FILE};
/// Approximate sizes of the two shared files (the Hub's exact sizes are used
/// by the downloader; these only feed the plan's download estimate).
const MIMI_BYTES: u64 = 385_000_000;
const TOKENIZER_BYTES: u64 = 553_000;

/// What is already in the local Hugging Face cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheState {
    /// Qualities whose whole file set is verified in the cache.
    pub complete: BTreeSet<Quality>,
}

/// Choices the person made that the planner must respect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Use this quality whatever the hardware says (the warning stays).
    pub override_quality: Option<Quality>,
    /// What is already downloaded.
    pub cache: CacheState,
}

/// Where the chosen weights will come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "PlanSource"))]
pub enum Source {
    /// Download the chosen quality's repo.
    Download,
    /// Everything is already in the cache.
    Cache,
    /// The bf16 weights are cached: quantize them at load time.
    QuantizeFromBf16,
}

/// One file to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PlanFile {
    /// Path inside the repo.
    pub path: String,
    /// Expected size in bytes.
    pub size: u64,
}

/// A quality that was considered, and why it was or was not chosen.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Alternative {
    /// The quality.
    pub quality: Quality,
    /// It fits the memory budget with headroom.
    pub fits_memory: bool,
    /// The chip's bandwidth can run it in real time.
    pub fits_bandwidth: bool,
    /// One sentence a person can read.
    pub reason: String,
}

/// The planner's decision, shown to the person and handed to the downloader
/// and the engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Plan {
    /// The chosen quality.
    pub quality: Quality,
    /// True when this Mac should keep up with real time at this quality.
    pub real_time: bool,
    /// True when the person's override decided the quality.
    pub overridden: bool,
    /// Hub repository to read the files from.
    pub repo: String,
    /// Revision (branch) of that repository.
    pub revision: String,
    /// The files the engine needs from it.
    pub files: Vec<PlanFile>,
    /// Bytes still to download (0 when cached or quantized from bf16).
    pub download_bytes: u64,
    /// Expected memory use while running.
    pub memory_bytes: u64,
    /// Bandwidth needed for real time.
    pub bandwidth_needed_gbps: f64,
    /// Where the weights come from.
    pub source: Source,
    /// Why this quality, in one or two sentences.
    pub reason: String,
    /// Set when the plan will not run in real time (or may not fit).
    pub warning: Option<String>,
    /// The other qualities and why they were not chosen.
    pub alternatives: Vec<Alternative>,
    /// The chosen quality's frame time measured on this machine by the speed test, when the
    /// plan was made with one ([`plan_with_speed`]); it then decided `real_time`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub measured_frame_ms: Option<f64>,
}

/// The three files the engine loads from a repo of `repo_quality`, named as `config` says
/// (Kyutai's `config.json`; [`RepoConfig::default`] gives the standard names).
fn plan_files(repo_quality: Quality, config: &RepoConfig) -> Vec<PlanFile> {
    let [lm, mimi, tokenizer] = config.files(repo_quality);
    vec![
        PlanFile {
            path: lm.to_string(),
            size: repo_quality.needs().weights_bytes,
        },
        PlanFile {
            path: mimi.to_string(),
            size: MIMI_BYTES,
        },
        PlanFile {
            path: tokenizer.to_string(),
            size: TOKENIZER_BYTES,
        },
    ]
}

impl Plan {
    /// The quality of the repo the files come from (bf16 when quantizing from bf16).
    pub fn repo_quality(&self) -> Quality {
        match self.source {
            Source::QuantizeFromBf16 => Quality::Bf16,
            Source::Download | Source::Cache => self.quality,
        }
    }

    /// This plan with its file list taken from the repo's `config.json` (Kyutai's format:
    /// `moshi_name`, `mimi_name`, `tokenizer_name`), for when the caller has it. Sizes stay
    /// the planner's estimates; the downloader uses the Hub's exact sizes.
    pub fn with_repo_config(mut self, config: &RepoConfig) -> Plan {
        self.files = plan_files(self.repo_quality(), config);
        if self.source == Source::Download {
            self.download_bytes = self.files.iter().map(|f| f.size).sum();
        }
        self
    }
}

struct Verdict {
    quality: Quality,
    fits_memory: bool,
    fits_bandwidth: bool,
    memory: String,
    bandwidth: String,
    /// `bandwidth` is a measurement on this machine (a whole phrase naming the quality).
    measured: bool,
}

impl Verdict {
    /// The speed phrase with its quality: "q8 needs 80 GB/s …" or "measured 61 ms … at q8 …".
    fn speed_phrase(&self) -> String {
        if self.measured {
            self.bandwidth.clone()
        } else {
            format!("{} {}", self.quality, self.bandwidth)
        }
    }
}

fn gb(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / GB)
}

fn judge(hw: &Hardware, quality: Quality, measured: Option<&QualitySpeed>) -> Verdict {
    let needs = quality.needs();
    let allowed = hw.gpu_budget_bytes as f64 * MEMORY_FRACTION;
    let fits_memory = needs.memory_bytes as f64 <= allowed;
    let memory = if fits_memory {
        format!(
            "{quality} fits ({} of the {} the GPU may use)",
            gb(needs.memory_bytes),
            gb(hw.gpu_budget_bytes)
        )
    } else {
        format!(
            "{quality} needs {} of the {} the GPU may use — too tight (limit {:.0} %)",
            gb(needs.memory_bytes),
            gb(hw.gpu_budget_bytes),
            MEMORY_FRACTION * 100.0
        )
    };
    let (fits_bandwidth, bandwidth) = match (measured, hw.apple_silicon, hw.bandwidth_gbps) {
        // A measurement on this machine beats the bandwidth table.
        (Some(m), _, _) => (m.real_time(), m.describe()),
        (None, true, Some(have)) => {
            let ok = needs.bandwidth_gbps <= have * BANDWIDTH_FRACTION;
            let text = if ok {
                format!(
                    "needs {:.0} GB/s of your {have:.0} GB/s",
                    needs.bandwidth_gbps
                )
            } else {
                format!(
                    "needs {:.0} GB/s, more than {:.0} % of your {have:.0} GB/s",
                    needs.bandwidth_gbps,
                    BANDWIDTH_FRACTION * 100.0
                )
            };
            (ok, text)
        }
        _ => (
            false,
            format!(
                "needs {:.0} GB/s of Apple Silicon unified memory",
                needs.bandwidth_gbps
            ),
        ),
    };
    Verdict {
        quality,
        fits_memory,
        fits_bandwidth,
        memory,
        bandwidth,
        measured: measured.is_some(),
    }
}

/// Chooses the quality for this hardware. Never fails: a machine that cannot
/// run Moshi in real time still gets a plan (the smallest model) with a
/// warning, so the download can go ahead.
pub fn plan(hw: &Hardware, opts: &PlanOptions) -> Plan {
    plan_with_speed(hw, opts, None)
}

/// [`plan`], preferring the frame times the speed test measured on this machine (see
/// [`crate::speed`]) over the bandwidth estimate: a measured quality is real time when its
/// frame fits in [`crate::SPEED_MARGIN`] of 80 ms, and the reason names the measurement
/// ("measured 61 ms per frame at q4 — real time"). Qualities the report lacks keep the
/// bandwidth estimate.
pub fn plan_with_speed(hw: &Hardware, opts: &PlanOptions, speed: Option<&SpeedReport>) -> Plan {
    let measured = |q: Quality| speed.and_then(|s| s.get(q));
    let verdicts: Vec<Verdict> = Quality::BEST_FIRST
        .iter()
        .map(|q| judge(hw, *q, measured(*q)))
        .collect();
    // A measurement replaces the Apple Silicon assumption: whatever ran fast enough here runs.
    let runs = |v: &Verdict| {
        let fast = if measured(v.quality).is_some() {
            v.fits_bandwidth
        } else {
            hw.apple_silicon && v.fits_bandwidth
        };
        v.fits_memory && fast
    };

    let automatic = verdicts
        .iter()
        .find(|v| runs(v))
        .map(|v| v.quality)
        // Nothing keeps up: the smallest model is the fastest and the most
        // likely to fit.
        .unwrap_or(Quality::Q4);
    let quality = opts.override_quality.unwrap_or(automatic);
    let overridden = opts.override_quality.is_some_and(|q| q != automatic);
    let chosen = verdicts
        .iter()
        .find(|v| v.quality == quality)
        .unwrap_or(&verdicts[verdicts.len() - 1]);
    let real_time = runs(chosen);

    let label = hw.label();
    let mut reason = format!("{label}: ");
    if !hw.apple_silicon && speed.is_none() {
        reason.push_str(&format!(
            "not an Apple Silicon Mac ({} on {}), so Moshi cannot run in real time here; \
             {quality} is planned so the download still works.",
            hw.cpu_brand, hw.os
        ));
    } else {
        let skipped: Vec<String> = verdicts
            .iter()
            .take_while(|v| v.quality != automatic)
            .map(|v| {
                if !v.fits_memory {
                    v.memory.clone()
                } else {
                    v.speed_phrase()
                }
            })
            .collect();
        for s in &skipped {
            reason.push_str(s);
            reason.push_str("; ");
        }
        let auto_v = verdicts.iter().find(|v| v.quality == automatic);
        if let Some(v) = auto_v {
            if runs(v) {
                reason.push_str(&format!("{} and {}.", v.memory, v.bandwidth));
            } else if v.measured {
                reason.push_str(&format!(
                    "{}; no quality runs in real time here, {automatic} is the fastest to try.",
                    v.bandwidth
                ));
            } else {
                reason.push_str(&format!(
                    "no quality runs in real time here; {} is the fastest to try.",
                    automatic
                ));
            }
        }
        if overridden {
            reason.push_str(&format!(" You chose {quality} instead."));
        }
    }

    let warning = if real_time {
        None
    } else if !chosen.fits_memory {
        Some(format!(
            "{quality} will not run in real time here: {}.",
            chosen.memory
        ))
    } else if chosen.measured {
        Some(format!(
            "{quality} will not run in real time here: {}.",
            chosen.bandwidth
        ))
    } else {
        Some(format!(
            "{quality} will not run in real time here: it {}.",
            chosen.bandwidth
        ))
    };

    let (source, repo_quality) = if opts.cache.complete.contains(&quality) {
        (Source::Cache, quality)
    } else if quality != Quality::Bf16 && opts.cache.complete.contains(&Quality::Bf16) {
        (Source::QuantizeFromBf16, Quality::Bf16)
    } else {
        (Source::Download, quality)
    };
    if source == Source::QuantizeFromBf16 {
        reason.push_str(&format!(
            " The bf16 weights are already downloaded, so they will be quantized to {quality} \
             at load time instead of downloading {}.",
            gb(quality.needs().weights_bytes)
        ));
    } else if source == Source::Cache {
        reason.push_str(" Already downloaded.");
    }

    let files = plan_files(repo_quality, &RepoConfig::default());
    let download_bytes = match source {
        Source::Download => files.iter().map(|f| f.size).sum(),
        Source::Cache | Source::QuantizeFromBf16 => 0,
    };
    let needs = quality.needs();
    let alternatives = verdicts
        .iter()
        .filter(|v| v.quality != quality)
        .map(|v| Alternative {
            quality: v.quality,
            fits_memory: v.fits_memory,
            fits_bandwidth: v.fits_bandwidth,
            reason: if !v.fits_memory {
                v.memory.clone()
            } else {
                format!("{} and {}", v.memory, v.bandwidth)
            },
        })
        .collect();

    Plan {
        quality,
        real_time,
        overridden,
        repo: repo_quality.repo(),
        revision: "main".to_string(),
        files,
        download_bytes,
        memory_bytes: needs.memory_bytes,
        bandwidth_needed_gbps: needs.bandwidth_gbps,
        source,
        reason,
        warning,
        alternatives,
        measured_frame_ms: measured(quality).map(|m| m.frame_ms),
    }
}
