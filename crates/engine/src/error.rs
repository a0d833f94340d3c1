//! The engine's error type, shared by the LM, Mimi and the combined `Moshi`.

use std::path::PathBuf;

/// Everything that can go wrong loading or running the engine. Variants name the
/// file or tensor involved so a user-facing message can say what to fix.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// An MLX operation failed (shape mismatch inside a kernel, allocation failure, ...).
    #[error("MLX: {0}")]
    Mlx(String),
    /// Reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint tensor is missing, misshaped or of the wrong dtype.
    #[error("tensor `{tensor}`: {message}")]
    Weights {
        /// The checkpoint tensor name, e.g. `transformer.layers.0.norm1.weight`.
        tensor: String,
        /// What is wrong with it.
        message: String,
    },
    /// A repo's `config.json` (Kyutai's format) is malformed; the source names the key.
    #[error("{}: {source}", path.display())]
    RepoConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        #[source]
        source: moshi_repo::ConfigError,
    },
    /// A configuration is invalid or unreadable.
    #[error("config: {0}")]
    Config(String),
    /// An array has an unexpected shape.
    #[error("shape: {0}")]
    Shape(String),
    /// The caller passed invalid input (wrong frame size, token out of range, ...).
    #[error("input: {0}")]
    Input(String),
    /// A JSON document (config, fixture) could not be parsed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl EngineError {
    /// Builds a [`EngineError::Weights`] naming `tensor`.
    pub fn weights(tensor: impl Into<String>, message: impl Into<String>) -> Self {
        EngineError::Weights {
            tensor: tensor.into(),
            message: message.into(),
        }
    }

    /// Builds a [`EngineError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<mlx_rs::error::Exception> for EngineError {
    fn from(e: mlx_rs::error::Exception) -> Self {
        EngineError::Mlx(e.to_string())
    }
}

impl From<mlx_rs::error::AsSliceError> for EngineError {
    fn from(e: mlx_rs::error::AsSliceError) -> Self {
        EngineError::Mlx(e.to_string())
    }
}

impl From<mlx_rs::error::IoError> for EngineError {
    fn from(e: mlx_rs::error::IoError) -> Self {
        EngineError::Mlx(e.to_string())
    }
}
