//! Xet: the Hub's content-addressed storage, read over its own chunk protocol.
//!
//! - [`mod@format`]: the wire and hash formats (chunk hashes, xorb/file Merkle hashes, CDC
//!   chunking, xorb chunk parsing with bounds checks);
//! - [`api`]: the token and reconstruction (v2, v1) JSON;
//! - [`Reader`]: reads one file, verified (see `reader.rs` for what is checked against what).

pub mod api;
pub mod format;
mod journal;
mod multipart;
mod reader;

pub use format::hash::{chunk_hash, file_hash, xorb_hash, XetHash};
pub use reader::{Reader, ReaderOptions, TermState, XetEvent, XetReport, XetTarget};

/// A Xet read that failed (the HTTP path may still serve the file).
#[derive(Debug, thiserror::Error)]
pub enum XetError {
    /// The request did not complete.
    #[error("Xet request to {url} failed")]
    Http {
        /// The URL (signed URLs included: they carry no token).
        url: String,
        /// What reqwest said.
        #[source]
        source: reqwest::Error,
    },
    /// An endpoint answered an error status.
    #[error("Xet {what} answered HTTP {status}")]
    Status {
        /// Which endpoint.
        what: &'static str,
        /// The status.
        status: u16,
    },
    /// An answer that does not follow the protocol.
    #[error("Xet protocol: {0}")]
    Protocol(String),
    /// Transient failures on one term did not stop.
    #[error("Xet transfer gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The chunks never hashed to `X-Xet-Hash`, even after re-fetching every unverified term.
    #[error("Xet file hash mismatch: want {want}, got {got}")]
    FileHashMismatch {
        /// `X-Xet-Hash`.
        want: String,
        /// From the chunks received.
        got: String,
    },
    /// The file's SHA-256 is not the one the Hub names it by.
    #[error("SHA-256 mismatch after Xet read: want {want}, got {got}")]
    Sha256Mismatch {
        /// The LFS sha256.
        want: String,
        /// Of the bytes written.
        got: String,
    },
    /// Writing the partial file failed.
    #[error("writing the Xet download")]
    Io(#[source] std::io::Error),
}
