//! `hubfetch`: a Hugging Face Hub downloader for multi-GB weights over weak, flaky links.
//!
//! Files are fetched in verified chunks over parallel Range requests into a preallocated
//! partial file, with a crash-safe journal, in-order whole-file SHA-256, repair of bad chunks,
//! and the exact cache layout of `huggingface_hub` (so Python tools see our files and we see
//! theirs).
//!
//! ```no_run
//! # async fn demo() -> Result<(), hubfetch::Error> {
//! let client = hubfetch::Client::from_env()?;
//! let job = client.download_files("kyutai/moshiko-mlx-q4", "main", &["model.q4.safetensors"], hubfetch::Options::default());
//! let mut progress = job.progress();
//! tokio::spawn(async move {
//!     while progress.changed().await.is_ok() {
//!         let p = progress.borrow().clone();
//!         eprintln!("{:?} {}/{}", p.phase, p.bytes_done, p.bytes_total);
//!     }
//! });
//! for f in job.wait().await? {
//!     println!("{}", f.local_path.display());
//! }
//! # Ok(()) }
//! ```

pub mod cache;
mod chunk;
mod client;
mod connections;
mod download;
pub mod env;
mod error;
mod hashpool;
mod housekeeping;
pub mod journal;
mod lock;
mod net;
mod netfail;
pub mod pieces;
mod progress;
mod repair;
mod resolve;
mod retry;
pub mod safetensors;
mod sha;
mod status;
mod trust;
pub mod verify;
pub mod xet;
mod xet_path;

pub use client::{CacheEntryStatus, Client, Job, Options, ResolvedFile, VerifyReport};
pub use env::{Config, Token};
pub use error::{Error, ErrorKind, HttpError, NetError, Refusal, Result, UnreachableReason};
pub use housekeeping::{
    delete_repo, prune, scan, BlobInfo, CacheInfo, CachedFile, PartialInfo, PartialKind,
    PruneOptions, PruneReport, RepoInfo, RevisionInfo,
};
pub use progress::{FileProgress, Phase, Progress, ProgressError};
pub use resolve::{ListedFile, Listing, Resolved};
pub use sha::Sha256;
