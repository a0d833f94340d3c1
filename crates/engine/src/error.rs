//! The engine's error type, shared by the LM, Mimi and the combined `Moshi`.
//!
//! Every variant that wraps a lower-level failure keeps it as its `source()` (MLX's
//! [`Exception`](mlx_rs::error::Exception) with the location that raised it, the I/O or JSON
//! error, the tokenizer's parse error), so a caller can walk the chain or downcast instead of
//! parsing a message. The message also shows the cause, so `to_string()` alone is readable.

use std::path::PathBuf;

/// Everything that can go wrong loading or running the engine. Variants name the
/// file or tensor involved so a user-facing message can say what to fix.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// An MLX operation failed (shape mismatch inside a kernel, allocation failure, a missing
    /// Metal library, ...); MLX's exception, with where it was raised, is the source.
    #[error("MLX: {0}")]
    Mlx(#[from] mlx_rs::error::Exception),
    /// An evaluated array could not be read back as a slice (wrong dtype, not contiguous).
    #[error("reading an array: {0}")]
    ArrayRead(#[from] mlx_rs::error::AsSliceError),
    /// A safetensors checkpoint could not be opened or parsed by MLX (truncated, not
    /// safetensors, out of memory).
    #[error("{}: {source}", path.display())]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// MLX's error.
        #[source]
        source: mlx_rs::error::IoError,
    },
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
    /// A configuration does not parse into the expected shape (a fixture's or test's JSON);
    /// `what` names which configuration.
    #[error("{what}: {source}")]
    ConfigParse {
        /// Which configuration, e.g. `LM config`.
        what: &'static str,
        /// The JSON error, naming the field.
        #[source]
        source: serde_json::Error,
    },
    /// A configuration asks for something the engine does not implement (the message names
    /// the setting).
    #[error("config: {0}")]
    Config(String),
    /// A SentencePiece `.model` file is malformed.
    #[error("{}: {source}", path.display())]
    Tokenizer {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: TokenizerError,
    },
    /// An array has an unexpected shape.
    #[error("shape: {0}")]
    Shape(String),
    /// The caller passed invalid input (wrong frame size, token out of range, ...).
    #[error("input: {0}")]
    Input(String),
    /// Kyutai's candle Mimi (`moshi` crate, [`crate::codec::CandleMimi`]) failed; `what` says
    /// in which step (reading the checkpoint names the file, a missing tensor names it).
    #[error("candle Mimi, {what}: {source}")]
    Candle {
        /// What was being done.
        what: String,
        /// The candle error.
        #[source]
        source: moshi::candle::Error,
    },
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

    /// Builds a [`EngineError::Checkpoint`] for `path`.
    pub fn checkpoint(path: impl Into<PathBuf>, source: mlx_rs::error::IoError) -> Self {
        EngineError::Checkpoint {
            path: path.into(),
            source,
        }
    }

    /// Whether MLX could not find its Metal shader library (`mlx.metallib`): the app bundle
    /// is broken and reinstalling fixes it, the model files are fine.
    pub fn is_missing_metallib(&self) -> bool {
        match self {
            EngineError::Mlx(e) => e.what().to_ascii_lowercase().contains("metallib"),
            _ => false,
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

/// Why a SentencePiece `.model` file (a serialized `ModelProto`) does not parse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenizerError {
    /// The file ends inside a field: truncated or not a protobuf.
    #[error("truncated protobuf field")]
    Truncated,
    /// A varint runs past 64 bits: not a protobuf.
    #[error("varint longer than 64 bits")]
    VarintTooLong,
    /// A protobuf wire type this reader does not know (groups, or not a protobuf).
    #[error("unsupported protobuf wire type {0}")]
    WireType(u8),
    /// A piece's text is not UTF-8.
    #[error("a piece is not UTF-8: {0}")]
    NotUtf8(#[from] std::string::FromUtf8Error),
    /// A piece of the byte type is not spelled `<0xNN>`.
    #[error("byte piece {0:?} is not <0xNN>")]
    BytePiece(String),
    /// A piece has a type SentencePiece does not define.
    #[error("piece {piece:?}: unknown type {kind}")]
    PieceType {
        /// The piece.
        piece: String,
        /// Its type number.
        kind: u64,
    },
    /// The file parsed but holds no pieces: not a SentencePiece model.
    #[error("no pieces: not a SentencePiece model")]
    NoPieces,
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlx_rs::Array;
    use std::error::Error as _;

    fn failing_matmul() -> Result<Array, EngineError> {
        let a = Array::from_slice(&[1.0f32, 2.0, 3.0], &[1, 3]);
        let b = Array::from_slice(&[1.0f32, 2.0], &[2, 1]);
        Ok(a.matmul(&b)?)
    }

    /// A failing MLX operation keeps MLX's exception as the source (downcastable, with the
    /// place it was raised), and the message still says what MLX said.
    #[test]
    fn mlx_failures_keep_the_exception() {
        let e = failing_matmul().expect_err("(1,3) @ (2,1) cannot multiply");
        assert!(matches!(e, EngineError::Mlx(_)), "{e:?}");
        let source = e.source().expect("a source");
        let ex = source
            .downcast_ref::<mlx_rs::error::Exception>()
            .expect("the source is MLX's exception");
        assert!(!ex.what().is_empty());
        assert!(e.to_string().contains(ex.what()), "{e}");
        assert!(!e.is_missing_metallib());
        let metal = EngineError::Mlx("Failed to load the default metallib.".into());
        assert!(metal.is_missing_metallib());
    }

    /// A checkpoint MLX cannot read names the file and keeps MLX's I/O error.
    #[test]
    fn unreadable_checkpoints_name_the_file_and_keep_the_cause() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("model.safetensors");
        std::fs::write(&path, b"not a safetensors file").expect("write");
        let e = crate::weights::WeightStore::load(&path)
            .err()
            .expect("garbage does not load");
        assert!(matches!(e, EngineError::Checkpoint { .. }), "{e:?}");
        assert!(e.to_string().contains("model.safetensors"), "{e}");
        let source = e.source().expect("a source");
        assert!(
            source.downcast_ref::<mlx_rs::error::IoError>().is_some(),
            "{source:?}"
        );
    }
}
