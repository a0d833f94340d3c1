//! [`Quality`]: the weight formats Kyutai publishes for MLX.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A weight format of the Moshi checkpoints Kyutai publishes for MLX.
///
/// Ordered from the smallest to the best (`Q4 < Q8 < Bf16`), so `max()` is the best.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Quality {
    /// 4-bit affine quantization, group 32 (`kyutai/moshiko-mlx-q4`, 4.8 GB).
    Q4,
    /// 8-bit affine quantization, group 64 (`kyutai/moshiko-mlx-q8`, 8.2 GB).
    Q8,
    /// The original bfloat16 weights (`kyutai/moshiko-mlx-bf16`, 15.4 GB).
    Bf16,
}

/// The quantization of a q8/q4 checkpoint, as `mlx.nn.quantize` applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quantization {
    /// Bits per weight.
    pub bits: u32,
    /// Weights sharing one scale and bias.
    pub group_size: u32,
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

    /// The standard name of the LM weight file of this quality in Kyutai's repos (used when a
    /// repo's `config.json` names none).
    pub fn lm_file(self) -> &'static str {
        match self {
            Quality::Q4 => "model.q4.safetensors",
            Quality::Q8 => "model.q8.safetensors",
            Quality::Bf16 => "model.safetensors",
        }
    }

    /// Same as [`Quality::lm_file`] (the name the planner has always used).
    pub fn model_file(self) -> &'static str {
        self.lm_file()
    }

    /// How the weights are quantized (`None` for bf16); what moshi_mlx's `run_inference.py`
    /// applies for `.q4.safetensors` / `.q8.safetensors` files.
    pub fn quantization(self) -> Option<Quantization> {
        match self {
            Quality::Bf16 => None,
            Quality::Q8 => Some(Quantization {
                bits: 8,
                group_size: 64,
            }),
            Quality::Q4 => Some(Quantization {
                bits: 4,
                group_size: 32,
            }),
        }
    }
}

impl fmt::Display for Quality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a quality name that is not `bf16`, `q8` or `q4`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for q in Quality::BEST_FIRST {
            assert_eq!(q.as_str().parse::<Quality>(), Ok(q));
            assert_eq!(
                serde_json::to_string(&q).expect("serialises"),
                format!("\"{q}\"")
            );
        }
        assert_eq!(" Q8 ".parse::<Quality>(), Ok(Quality::Q8));
        assert_eq!(
            "fp16".parse::<Quality>(),
            Err(UnknownQuality("fp16".into()))
        );
    }

    #[test]
    fn order_is_smallest_to_best() {
        assert!(Quality::Q4 < Quality::Q8 && Quality::Q8 < Quality::Bf16);
        assert_eq!(Quality::BEST_FIRST.iter().max(), Some(&Quality::Bf16));
    }

    #[test]
    fn files_and_quantization() {
        assert_eq!(Quality::Bf16.lm_file(), "model.safetensors");
        assert_eq!(Quality::Q8.lm_file(), "model.q8.safetensors");
        assert_eq!(Quality::Q4.model_file(), "model.q4.safetensors");
        assert_eq!(Quality::Bf16.quantization(), None);
        assert_eq!(
            Quality::Q4.quantization(),
            Some(Quantization {
                bits: 4,
                group_size: 32
            })
        );
        assert_eq!(Quality::Q8.quantization().map(|q| q.group_size), Some(64));
    }
}
