//! Errors of the library API (not HTTP errors: those are responses, see `http_error`).

use std::path::{Path, PathBuf};

/// Why the test hub could not start or change its contents.
#[derive(Debug, thiserror::Error)]
pub enum TestHubError {
    /// A file to serve could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A listener could not be bound on 127.0.0.1.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port asked for (0 = any).
        port: u16,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The repositories given to `start` are not valid (bad id, duplicate, ...).
    #[error("invalid repository: {0}")]
    InvalidRepo(String),
    /// A background task failed.
    #[error("internal task failed: {0}")]
    Task(String),
}

impl TestHubError {
    pub(crate) fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        TestHubError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
}
