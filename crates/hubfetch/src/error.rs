//! Errors of the library: each variant says what happened and what to do next, and maps to
//! the `error.kind` strings of `docs/ipc.md` so the UI can pick an action.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The error kinds the UI understands (`Progress.error.kind` in docs/ipc.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorKind {
    Gated,
    Unauthorized,
    NotFound,
    DiskFull,
    Network,
    Corrupt,
    Offline,
    Other,
}

/// Everything that can stop a download. Permanent ones (auth, not found, invalid path,
/// corrupt upstream) are never retried; `Network` is what is left once retries are exhausted.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repo is gated and this token has not accepted its terms (or there is no token).
    #[error("{repo} is a gated model: open {url}, log in and accept its terms, then make sure HF_TOKEN (or `hf auth login`) uses that account")]
    Gated { repo: String, url: String },
    /// The Hub refused the token, or a token is needed.
    #[error("{0}")]
    Unauthorized(String),
    /// Wrong repo, revision or file name.
    #[error("{0}")]
    NotFound(String),
    /// Not enough free space where the cache lives.
    #[error("not enough disk space in {}: need {:.2} GB more (file needs {:.2} GB, {:.2} GB free); free up space or set HF_HUB_CACHE to another disk", dir.display(), gb(need.saturating_sub(*free)), gb(*need), gb(*free))]
    DiskFull { dir: PathBuf, need: u64, free: u64 },
    /// Transient network trouble that outlived the configured retry limit.
    #[error("network error: {0} (partial data is kept; run again to resume)")]
    Network(String),
    /// The content could not be made to match the Hub's hash, or is malformed.
    #[error("{0}")]
    Corrupt(String),
    /// `HF_HUB_OFFLINE` is set and the file is not in the cache.
    #[error("offline mode (HF_HUB_OFFLINE is set) and {0} is not in the cache; unset HF_HUB_OFFLINE to download it")]
    Offline(String),
    /// The network is down, refuses, times out, fails TLS or answers with a login page, and the
    /// requested file is not complete in the cache (`kind()` is `Offline`).
    #[error("offline: cannot reach the Hub ({reason}) and {what} is not in the cache; connect to the internet and try again (partial data is kept)")]
    Unreachable {
        /// What was asked for (`repo/file at revision`).
        what: String,
        /// The last network error, in words a person understands.
        reason: String,
    },
    /// A repo id, revision or file path that could escape the cache directory.
    #[error(
        "invalid name {0:?}: repo paths must be relative, without '..', '.' or empty components"
    )]
    InvalidPath(String),
    /// The caller cancelled the job. Partial data is kept for the next run.
    #[error("download cancelled (partial data kept; it resumes next time)")]
    Cancelled,
    /// A local file-system error.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Anything else (unexpected server answers, bad JSON, ...).
    #[error("{0}")]
    Other(String),
}

fn gb(b: u64) -> f64 {
    b as f64 / 1e9
}

impl Error {
    /// The UI-facing kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Gated { .. } => ErrorKind::Gated,
            Error::Unauthorized(_) => ErrorKind::Unauthorized,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::DiskFull { .. } => ErrorKind::DiskFull,
            Error::Network(_) => ErrorKind::Network,
            Error::Corrupt(_) => ErrorKind::Corrupt,
            Error::Offline(_) | Error::Unreachable { .. } => ErrorKind::Offline,
            Error::InvalidPath(_) | Error::Cancelled | Error::Other(_) => ErrorKind::Other,
            Error::Io { source, .. } if is_enospc(source) => ErrorKind::DiskFull,
            Error::Io { .. } => ErrorKind::Other,
        }
    }

    /// Wrap an io error with what we were doing.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// True for "no space left on device" (and quota exceeded).
pub(crate) fn is_enospc(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(28) | Some(122)) || e.kind() == std::io::ErrorKind::StorageFull
}

/// Library result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
