//! What each Moshi quality needs: memory to hold it and memory bandwidth to
//! run it at 12.5 frames a second.
//!
//! Figures from `docs/moshi-architecture.md` §5 (computed from the real
//! checkpoints): the weights, a KV cache of 0.524 MB per step for the
//! 3001-step window the engine keeps, and about 0.8 GB for Mimi and the
//! runtime. Every step streams all non-embedding weights plus the KV window.

use serde::Serialize;

/// One gigabyte, 10^9 bytes: the unit the Hub and Apple use.
pub const GB: f64 = 1e9;

/// Frames per second Moshi must produce to keep up (one per 80 ms).
pub const FRAME_RATE_HZ: f64 = 12.5;

/// KV-cache bytes per step: 32 layers × (K and V) × 4096 dims × 2 bytes.
pub const KV_BYTES_PER_STEP: u64 = 32 * 2 * 4096 * 2;

/// Steps the engine's KV ring keeps (context 3000 + the current step).
pub const KV_STEPS: u64 = 3001;

/// Mimi weights (fp32) plus runtime buffers and activations.
pub const RUNTIME_BYTES: u64 = 800_000_000;

pub use moshi_repo::{Quality, UnknownQuality};

/// What each [`Quality`] needs to run; a trait because `Quality` itself lives in the
/// shared `moshi-repo` vocabulary crate, which knows nothing about hardware.
pub trait QualityNeeds {
    /// What this quality needs; see the module docs for where the figures come from.
    fn needs(self) -> Needs;
}

impl QualityNeeds for Quality {
    fn needs(self) -> Needs {
        // (weights file bytes, weight bytes streamed per step)
        let (weights, streamed) = match self {
            Quality::Bf16 => (15_375_630_336, 14_750_000_000),
            Quality::Q8 => (8_168_645_376, 7_870_000_000),
            Quality::Q4 => (4_805_385_728, 4_590_000_000),
        };
        let kv = KV_BYTES_PER_STEP * KV_STEPS;
        Needs {
            weights_bytes: weights,
            kv_bytes: kv,
            runtime_bytes: RUNTIME_BYTES,
            memory_bytes: weights + kv + RUNTIME_BYTES,
            bandwidth_gbps: (streamed + kv) as f64 * FRAME_RATE_HZ / GB,
        }
    }
}

/// The resources one quality needs to run Moshi in real time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Needs {
    /// Size of the LM weights.
    pub weights_bytes: u64,
    /// KV cache for the full attention window.
    pub kv_bytes: u64,
    /// Mimi and runtime buffers.
    pub runtime_bytes: u64,
    /// Everything that must sit in GPU-visible memory at once.
    pub memory_bytes: u64,
    /// Memory bandwidth needed to produce 12.5 frames a second.
    pub bandwidth_gbps: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_match_the_architecture_brief() {
        // §5: bf16 ≈ 204 GB/s, q8 ≈ 118 GB/s, q4 ≈ 77 GB/s.
        let bw = |q: Quality| q.needs().bandwidth_gbps.round();
        assert_eq!(bw(Quality::Bf16), 204.0);
        assert_eq!(bw(Quality::Q8), 118.0);
        assert_eq!(bw(Quality::Q4), 77.0);
        // §5: 1.57 GB of KV cache at 3001 steps.
        assert_eq!((Quality::Q4.needs().kv_bytes as f64 / 1e7).round(), 157.0);
    }

    #[test]
    fn parses_names() {
        assert_eq!("Q8".parse::<Quality>().ok(), Some(Quality::Q8));
        assert!("fp16".parse::<Quality>().is_err());
    }
}
