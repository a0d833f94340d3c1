//! The facts about this machine that decide what Moshi can do on it.

use crate::bandwidth;
use crate::chip::Chip;
use serde::Serialize;

/// Where the GPU memory budget came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum BudgetSource {
    /// Metal's `recommendedMaxWorkingSetSize`, read on this Mac.
    Metal,
    /// [`DEFAULT_GPU_FRACTION`] of RAM, when Metal could not be asked.
    Estimate,
}

/// The share of RAM macOS lets the GPU wire by default, used when Metal
/// cannot be asked (reported values range from 67 % on 16 GB Macs to 84 %
/// on 128 GB ones; 70 % is a deliberately modest middle).
pub const DEFAULT_GPU_FRACTION: f64 = 0.70;

/// Detected (or simulated) hardware, as the planner and the UI see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Hardware {
    /// The CPU brand string, e.g. `Apple M2 Pro`.
    pub cpu_brand: String,
    /// The parsed Apple Silicon chip, if it is one.
    pub chip: Option<Chip>,
    /// Total physical memory.
    pub memory_bytes: u64,
    /// Memory the GPU may use for Moshi's weights and caches.
    pub gpu_budget_bytes: u64,
    /// Whether the budget was measured or estimated.
    pub gpu_budget_source: BudgetSource,
    /// Memory bandwidth in GB/s (Apple Silicon only).
    pub bandwidth_gbps: Option<f64>,
    /// True when the bandwidth is inferred for a chip missing from the table.
    pub bandwidth_estimated: bool,
    /// OS name and version, e.g. `macOS 14.5`.
    pub os: String,
    /// CPU architecture, e.g. `aarch64`.
    pub arch: String,
    /// True on an Apple Silicon Mac, the only place Moshi runs in real time.
    pub apple_silicon: bool,
    /// Performance cores (macOS only), which tell binned chips apart.
    pub performance_cores: Option<u32>,
}

impl Hardware {
    /// Builds the hardware description from raw facts, filling in the chip,
    /// the bandwidth and (when `gpu_budget` is `None`) the estimated budget.
    pub fn from_facts(
        cpu_brand: &str,
        memory_bytes: u64,
        gpu_budget: Option<u64>,
        os: &str,
        arch: &str,
        performance_cores: Option<u32>,
    ) -> Hardware {
        let chip = crate::chip::parse_brand(cpu_brand);
        let apple_silicon = chip.is_some() && arch == "aarch64" && os.starts_with("macOS");
        let bw = chip
            .as_ref()
            .map(|c| bandwidth::lookup(c, performance_cores));
        let (gpu_budget_bytes, gpu_budget_source) = match gpu_budget {
            Some(b) if b > 0 => (b, BudgetSource::Metal),
            _ => (
                (memory_bytes as f64 * DEFAULT_GPU_FRACTION) as u64,
                BudgetSource::Estimate,
            ),
        };
        Hardware {
            cpu_brand: cpu_brand.to_string(),
            chip,
            memory_bytes,
            gpu_budget_bytes,
            gpu_budget_source,
            bandwidth_gbps: bw.map(|b| b.gbps),
            bandwidth_estimated: bw.is_some_and(|b| b.estimated),
            os: os.to_string(),
            arch: arch.to_string(),
            apple_silicon,
            performance_cores,
        }
    }

    /// A short label for messages: `M2 Pro, 16 GB`.
    pub fn label(&self) -> String {
        let name = match &self.chip {
            Some(chip) => chip.name.clone(),
            None => self.cpu_brand.clone(),
        };
        format!("{name}, {} GB", gib(self.memory_bytes))
    }
}

/// RAM sizes are sold in binary gigabytes; show them the way Apple does.
fn gib(bytes: u64) -> u64 {
    (bytes as f64 / (1u64 << 30) as f64).round() as u64
}
