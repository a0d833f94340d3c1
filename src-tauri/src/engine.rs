//! Loading Moshi from a verified model directory (feature `engine`).
//!
//! MLX arrays and streams belong to the thread that created them: a `engine::Moshi` loaded on
//! one thread fails on another ("no Stream(cpu, 0) in current thread"). So the app never moves a
//! loaded model between threads. It keeps a [`ModelSpec`] (what to load) and every user of the
//! model loads it on the thread that runs it: the loading stage ([`ModelSpec::verify`], which
//! loads, warms up and drops it), the voice session's model thread
//! (`voice::Session::start_with`) and the WAV-file session's thread.

use std::path::PathBuf;
use std::time::Instant;

use voice::FrameModel;

use crate::state::UiError;

/// Why the model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The engine failed to load or run the files.
    #[error("{0}")]
    Engine(String),
    /// This build has no engine.
    #[error("This build was made without the `engine` feature, so it cannot run Moshi.")]
    NoEngine,
}

impl LoadError {
    /// The error as the person sees it.
    pub fn to_ui(&self) -> UiError {
        match self {
            LoadError::Engine(e) => UiError::new(
                "Loading Moshi failed",
                format!(
                    "The model files could not be loaded: {e}. Retry; if it fails again, \
                     delete the model from the cache so that it is downloaded again."
                ),
                Some("retry"),
            ),
            LoadError::NoEngine => UiError::new("No engine in this build", self.to_string(), None),
        }
    }
}

/// What the sessions run: the real engine from a model directory, or (explicit test/dev
/// override, `MOSHIBAR_ECHO_MODEL`) voice's deterministic echo model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// Moshi from a verified snapshot directory.
    Engine {
        /// The snapshot directory (the plan's files).
        dir: PathBuf,
        /// The quality to run at.
        quality: hardware::Quality,
        /// The plan's source is `quantizeFromBf16`: the directory holds the bf16 weights and
        /// they are quantized to `quality` at load time.
        quantize_from_bf16: bool,
    },
    /// voice's echo model, delayed by this many frames (tests only).
    Echo(usize),
}

impl ModelSpec {
    /// Loads the model on the calling thread (the thread that will run it).
    pub fn load(&self) -> Result<Box<dyn FrameModel>, LoadError> {
        match self {
            ModelSpec::Echo(delay) => Ok(Box::new(voice::EchoModel::new(*delay))),
            ModelSpec::Engine {
                dir,
                quality,
                quantize_from_bf16,
            } => {
                let started = Instant::now();
                let model = load_engine(dir, *quality, *quantize_from_bf16)?;
                tracing::info!(
                    dir = %dir.display(),
                    %quality,
                    quantize_from_bf16,
                    ms = started.elapsed().as_millis() as u64,
                    "engine loaded"
                );
                Ok(model)
            }
        }
    }

    /// Loads the model and runs the warm-up frame on the calling thread, then drops it: proves
    /// the files load and run before the app says "ready".
    pub fn verify(&self) -> Result<(), LoadError> {
        let mut model = self.load()?;
        let started = Instant::now();
        model
            .warmup()
            .map_err(|e| LoadError::Engine(format!("warm-up failed: {e}")))?;
        tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            "engine warm-up done"
        );
        Ok(())
    }
}

#[cfg(feature = "engine")]
fn load_engine(
    dir: &std::path::Path,
    quality: hardware::Quality,
    quantize_from_bf16: bool,
) -> Result<Box<dyn FrameModel>, LoadError> {
    let quality = match quality {
        hardware::Quality::Bf16 => engine::Quality::Bf16,
        hardware::Quality::Q8 => engine::Quality::Q8,
        hardware::Quality::Q4 => engine::Quality::Q4,
    };
    let paths =
        engine::MoshiPaths::from_dir(dir, quality).map_err(|e| LoadError::Engine(e.to_string()))?;
    // `from_dir` falls back to the bf16 file when the quantized one is absent; `Moshi::load`
    // quantizes a bf16 file at load time and uses an already quantized file as is.
    let lm_is_bf16 = paths
        .lm
        .file_name()
        .is_some_and(|n| n == engine::Quality::Bf16.lm_file());
    let opts = engine::LoadOptions {
        quality,
        quantize_from_bf16: quality != engine::Quality::Bf16 && (quantize_from_bf16 || lm_is_bf16),
        sampling: engine::SamplingConfig::default(),
    };
    let moshi = engine::Moshi::load(&paths, &opts).map_err(|e| LoadError::Engine(e.to_string()))?;
    Ok(Box::new(moshi))
}

#[cfg(not(feature = "engine"))]
fn load_engine(
    _dir: &std::path::Path,
    _quality: hardware::Quality,
    _quantize_from_bf16: bool,
) -> Result<Box<dyn FrameModel>, LoadError> {
    Err(LoadError::NoEngine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_spec_loads_and_verifies() -> Result<(), LoadError> {
        ModelSpec::Echo(2).verify()?;
        let mut m = ModelSpec::Echo(0).load()?;
        let out = m
            .process(&[0.25; voice::FRAME_SAMPLES])
            .map_err(|e| LoadError::Engine(e.to_string()))?;
        assert_eq!(out.pcm.len(), voice::FRAME_SAMPLES);
        Ok(())
    }

    #[test]
    fn missing_files_are_a_load_error_for_the_person() -> Result<(), std::io::Error> {
        let dir = tempfile::tempdir()?;
        let spec = ModelSpec::Engine {
            dir: dir.path().to_path_buf(),
            quality: hardware::Quality::Q8,
            quantize_from_bf16: false,
        };
        let Err(err) = spec.verify() else {
            panic!("an empty directory loaded");
        };
        let ui = err.to_ui();
        assert!(!ui.title.is_empty() && !ui.message.is_empty());
        if cfg!(feature = "engine") {
            assert!(matches!(err, LoadError::Engine(_)), "{err}");
            assert_eq!(ui.action.as_deref(), Some("retry"));
        } else {
            assert!(matches!(err, LoadError::NoEngine));
        }
        Ok(())
    }
}
