//! What each Moshi quality needs: memory to hold it and memory bandwidth to
//! run it at 12.5 frames a second.
//!
//! Figures from `docs/moshi-architecture.md` §5 (computed from the real
//! checkpoints): the weights, a KV cache of 0.524 MB per step for the
//! 3001-step window the engine keeps, and about 0.8 GB for Mimi and the
//! runtime. Every step streams all non-embedding weights plus the KV window.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

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

/// A weight format of the Moshi checkpoints Kyutai publishes for MLX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// 4-bit affine quantization, group 32 (`kyutai/moshiko-mlx-q4`).
    Q4,
    /// 8-bit affine quantization, group 64 (`kyutai/moshiko-mlx-q8`).
    Q8,
    /// The original bfloat16 weights (`kyutai/moshiko-mlx-bf16`).
    Bf16,
}

impl Quality {
    /// All qualities, best first: the order the planner tries them in.
    pub const BEST_FIRST: [Quality; 3] = [Quality::Bf16, Quality::Q8, Quality::Q4];

    /// The lower-case name used in repo names, settings and the UI.
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Q4 => "q4",
            Quality::Q8 => "q8",
            Quality::Bf16 => "bf16",
        }
    }

    /// The Hub repository with this quality's MLX weights.
    pub fn repo(self) -> String {
        format!("kyutai/moshiko-mlx-{}", self.as_str())
    }

    /// The name of the LM weight file inside [`Quality::repo`].
    pub fn model_file(self) -> &'static str {
        match self {
            Quality::Q4 => "model.q4.safetensors",
            Quality::Q8 => "model.q8.safetensors",
            Quality::Bf16 => "model.safetensors",
        }
    }

    /// What this quality needs; see the module docs for where the figures
    /// come from.
    pub fn needs(self) -> Needs {
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

impl fmt::Display for Quality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a quality name that is not `bf16`, `q8` or `q4`.
#[derive(Debug, thiserror::Error)]
#[error("unknown quality {0:?}: expected bf16, q8 or q4")]
pub struct UnknownQuality(pub String);

impl FromStr for Quality {
    type Err = UnknownQuality;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bf16" => Ok(Quality::Bf16),
            "q8" => Ok(Quality::Q8),
            "q4" => Ok(Quality::Q4),
            other => Err(UnknownQuality(other.to_string())),
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
