//! Moshi on MLX: the Helium language model with its depformer, and the Mimi codec.
//!
//! Runs Kyutai's Moshi speech-to-speech model with `mlx-rs`: Metal on Apple
//! Silicon, MLX's CPU backend on Linux (where the parity tests run against
//! `moshi_mlx` reference fixtures). The voice session uses [`moshi::Moshi`].

pub mod codec;
pub mod config;
pub mod error;
pub mod lm;
pub mod mimi;
pub mod moshi;
pub mod nn;
pub mod parity;
mod pipeline;
pub mod quant;
pub mod sampling;
pub mod speedtest;
pub mod tokenizer;
pub mod weights;

pub use codec::{CandleMimi, MimiBackend, MimiCodec};
pub use config::LmConfig;
pub use error::EngineError;
pub use lm::{Lm, LmGen, StepOutput};
pub use moshi::{FrameOutput, LoadOptions, Moshi, MoshiPaths, Quality};
pub use sampling::{Sampler, SamplingConfig};

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
