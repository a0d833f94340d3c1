//! `engine::Moshi` as the session's [`FrameModel`], and loading it from a model directory.
//! Behind the `engine` feature so the audio machinery builds and tests without MLX.
//!
//! **Frame modes (issue 14):** the session runs `Moshi`'s frame serially, on every platform:
//! [`load_with`] turns on neither `Moshi::set_pipelined` (Mimi on its own thread, +160 ms of
//! latency) nor `Moshi::set_lookahead` (LM step t+1 launched before t is read back, +80 ms).
//! Measured on Linux (2 shared cores, crates/engine/README.md): pipelined 0.97× serial and
//! pipelined + lookahead 0.99× on the mid-size model (load 5), the lookahead alone 0.99×, and
//! on the tiny model pipelined 1.07× / 1.58× (slower) under load — gains within the run's
//! noise, not worth 80–240 ms. On a Mac (LM on the GPU, candle Mimi on CPU threads) the
//! pipeline is expected to pay, but it is not measured there yet, so it stays off until it is.

use std::path::Path;

use engine::{LoadOptions, Moshi, MoshiPaths, Quality, SamplingConfig};

use crate::model::{FrameModel, ModelError, ModelFrame};

fn err(e: engine::EngineError) -> ModelError {
    ModelError::Engine(e)
}

/// Parses "bf16", "q8" or "q4" (as the CLI and the app's settings spell them).
pub fn parse_quality(s: &str) -> Result<Quality, ModelError> {
    match s.to_ascii_lowercase().as_str() {
        "bf16" => Ok(Quality::Bf16),
        "q8" => Ok(Quality::Q8),
        "q4" => Ok(Quality::Q4),
        other => Err(ModelError::UnknownQuality(other.to_owned())),
    }
}

/// Loads Moshi from a repo snapshot directory with the engine's default sampling.
pub fn load(dir: &Path, quality: &str) -> Result<Moshi, ModelError> {
    load_with(dir, quality, SamplingConfig::default())
}

/// Loads Moshi with explicit sampling (tests use argmax for determinism).
pub fn load_with(dir: &Path, quality: &str, sampling: SamplingConfig) -> Result<Moshi, ModelError> {
    let quality = parse_quality(quality)?;
    let paths = MoshiPaths::from_dir(dir, quality).map_err(err)?;
    let opts = LoadOptions {
        quality,
        quantize_from_bf16: false,
        sampling,
    };
    Moshi::load(&paths, &opts).map_err(err)
}

impl FrameModel for Moshi {
    fn warmup(&mut self) -> Result<(), ModelError> {
        Moshi::warmup(self).map_err(err)
    }

    fn reset(&mut self) {
        Moshi::reset(self)
    }

    fn process(&mut self, pcm_in: &[f32]) -> Result<ModelFrame, ModelError> {
        let o = self.step_frame(pcm_in).map_err(err)?;
        Ok(ModelFrame {
            pcm: o.pcm,
            text: o.text,
            encode_ms: o.encode_ms,
            lm_ms: o.lm_ms,
            decode_ms: o.decode_ms,
        })
    }
}
