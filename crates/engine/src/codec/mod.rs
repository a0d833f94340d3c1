//! The Mimi codec behind one small interface, with two implementations to choose from:
//! Kyutai's own candle Mimi on CPU threads ([`CandleMimi`], the `moshi` 0.6 crate) and our
//! MLX port ([`crate::mimi::Mimi`], the default).
//!
//! [`crate::Moshi`] and its pipelined frame ([`crate::Moshi::set_pipelined`]) only talk to a
//! `Box<dyn MimiCodec>`, so the backend is a load-time choice ([`MimiBackend`],
//! [`crate::Moshi::set_mimi_backend`]). Both are checked code for code against rustymimi 0.4
//! past the attention context (`tests/mimi_rustymimi.rs`); the candle backend is the default,
//! by speed (`scripts/reference/bench_mimi_vs_rustymimi.sh`: 0.6 x rustymimi per frame, the MLX
//! port 4.1 x on this CPU; figures in the crate README).
//!
//! ```no_run
//! use engine::{load_codec, MimiBackend};
//! use engine::MimiConfig;
//! # fn main() -> Result<(), engine::EngineError> {
//! let path = std::path::Path::new("tokenizer-e351c8d8-checkpoint125.safetensors");
//! let mut mimi = load_codec(MimiBackend::Candle, path, &MimiConfig::v0_1(), 8)?;
//! let codes = mimi.encode_step(&[0.0; 1920])?; // one frame of 8 codes
//! let pcm = mimi.decode_step(&codes[0])?; // 1920 samples
//! assert_eq!(pcm.len(), 1920);
//! # Ok(()) }
//! ```

mod candle;

pub use self::candle::CandleMimi;

use crate::error::EngineError;
use crate::mimi::{Mimi, MimiConfig};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A streaming Mimi: what the frame loop needs from a codec, 80 ms at a time.
///
/// `Send` so that [`crate::Moshi`] can move between threads; the pipelined frame still loads
/// its codec on the Mimi thread (an MLX codec's streams belong to the thread that made them).
pub trait MimiCodec: Send {
    /// Streaming encode: appends `pcm` (24 kHz mono, any length) and returns one Vec of
    /// [`MimiCodec::num_codebooks`] codes for each frame completed so far.
    fn encode_step(&mut self, pcm: &[f32]) -> Result<Vec<Vec<u32>>, EngineError>;
    /// Streaming decode of one frame of codes into [`MimiCodec::frame_size`] samples.
    fn decode_step(&mut self, codes: &[u32]) -> Result<Vec<f32>, EngineError>;
    /// Clears the streaming state of both directions (a new conversation).
    fn reset(&mut self);
    /// Codes per frame.
    fn num_codebooks(&self) -> usize;
    /// Samples per frame (1920 = 80 ms at 24 kHz).
    fn frame_size(&self) -> usize;
}

/// Which Mimi implementation runs the codec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MimiBackend {
    /// Kyutai's `moshi` crate (candle) on the CPU. The default: code for code rustymimi 0.4
    /// like the MLX port, and measured 0.6 x rustymimi per frame here (the MLX port 4.1 x);
    /// on a Mac it leaves the GPU to the LM, as Kyutai's MLX app does with rustymimi.
    #[default]
    Candle,
    /// The MLX port in [`Mimi`](crate::Mimi) (Metal on a Mac, MLX's CPU backend elsewhere), on the
    /// same device as the LM.
    Mlx,
}

impl MimiBackend {
    /// A short name for logs and benchmark tables (`candle`, `mlx`).
    pub fn name(self) -> &'static str {
        match self {
            MimiBackend::Candle => "candle",
            MimiBackend::Mlx => "mlx",
        }
    }
}

impl std::str::FromStr for MimiBackend {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "candle" => Ok(MimiBackend::Candle),
            "mlx" => Ok(MimiBackend::Mlx),
            other => Err(EngineError::Config(format!(
                "unknown Mimi backend \"{other}\"; use candle or mlx"
            ))),
        }
    }
}

/// Loads the PyTorch-named Mimi checkpoint at `path` with `backend`, using its first
/// `num_codebooks` codebooks.
pub fn load_codec(
    backend: MimiBackend,
    path: &Path,
    cfg: &MimiConfig,
    num_codebooks: usize,
) -> Result<Box<dyn MimiCodec>, EngineError> {
    Ok(match backend {
        MimiBackend::Candle => Box::new(CandleMimi::load(path, cfg, num_codebooks)?),
        MimiBackend::Mlx => Box::new(Mimi::load(path, cfg, num_codebooks)?),
    })
}

impl MimiCodec for Mimi {
    fn encode_step(&mut self, pcm: &[f32]) -> Result<Vec<Vec<u32>>, EngineError> {
        Mimi::encode_step(self, pcm)
    }

    fn decode_step(&mut self, codes: &[u32]) -> Result<Vec<f32>, EngineError> {
        Mimi::decode_step(self, codes)
    }

    fn reset(&mut self) {
        Mimi::reset(self)
    }

    fn num_codebooks(&self) -> usize {
        Mimi::num_codebooks(self)
    }

    fn frame_size(&self) -> usize {
        Mimi::frame_size(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_parse_back() {
        for b in [MimiBackend::Candle, MimiBackend::Mlx] {
            assert_eq!(b.name().parse::<MimiBackend>().expect("parses"), b);
        }
        assert!("torch".parse::<MimiBackend>().is_err());
        assert_eq!(MimiBackend::default(), MimiBackend::Candle);
    }
}
