//! `engine::Moshi` as the session's [`FrameModel`], and loading it from a model directory.
//! Behind the `engine` feature so the audio machinery builds and tests without MLX.

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
