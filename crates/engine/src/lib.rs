//! Moshi on MLX: the Helium language model with its depformer, and the Mimi codec.
//!
//! Runs Kyutai's Moshi speech-to-speech model with `mlx-rs`: Metal on Apple
//! Silicon, MLX's CPU backend on Linux (where the parity tests run against
//! `moshi_mlx` reference fixtures). The voice session uses [`Moshi`].

// The modules are private; the crate's surface is the curated re-exports below, plus two
// public modules with an API of their own: `config` (Kyutai's `config.json`, `LmConfig`,
// the built-in 7B) and `speedtest` (the on-device speed test the app and `moshi-speedtest` run).
mod codec;
pub mod config;
mod error;
mod lm;
mod mimi;
mod moshi;
mod nn;
/// The checks behind `moshi-parity` (LM and Mimi against `moshi_mlx` fixtures). Only with the
/// `parity` feature: the tool and the parity tests use it, the app does not ship it.
#[cfg(feature = "parity")]
pub mod parity;
mod pipeline;
mod quant;
mod sampling;
pub mod speedtest;
mod tokenizer;
mod weights;

// The session: one call per 80 ms frame.
pub use moshi::{
    read_repo_config, FrameOutput, LoadOptions, Moshi, MoshiPaths, Quality, FIXTURE_MIMI_CONFIG,
    FRAME_SAMPLES,
};
// Errors.
pub use error::{EngineError, TokenizerError};
// The language model, step by step.
pub use config::LmConfig;
pub use lm::{DepOut, Lm, LmGen, MainOut, StepOutput};
pub use nn::{CpuSplit, WeightFormat};
pub use quant::QuantSpec;
pub use sampling::{Sampler, SamplingConfig};
// The Mimi codec and its two backends.
pub use codec::{load_codec, CandleMimi, MimiBackend, MimiCodec};
pub use mimi::{Mimi, MimiConfig, SeanetConfig, TransformerConfig};
// Transcript text.
pub use tokenizer::{PieceKind, TextDecoder, TextTokenizer};

#[cfg(test)]
mod smoke_tests {
    use mlx_rs::Array;

    /// MLX links and computes: a 2×2 matmul on the default device.
    #[test]
    fn mlx_matmul() {
        let a = Array::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
        let b = Array::from_slice(&[5.0f32, 6.0, 7.0, 8.0], &[2, 2]);
        let c = a.matmul(&b).expect("matmul");
        c.eval().expect("eval");
        assert_eq!(c.as_slice::<f32>(), &[19.0, 22.0, 43.0, 50.0]);
    }
}
