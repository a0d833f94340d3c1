//! The typed progress stream (`Progress`, the `download-progress` event of docs/ipc.md).
//!
//! Delivered through `tokio::sync::watch`: every event is a full snapshot, so a slow consumer
//! (the UI thread, a Tauri bridge) only ever needs the newest one. `watch` keeps exactly one
//! value, never blocks or slows the downloader, and cannot grow without bound — a bounded mpsc
//! would either stall the download when the UI lags or drop events anyway.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, MutexGuard};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::{Error, ErrorKind};

/// Where a job (or one file) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "DownloadPhase"))]
pub enum Phase {
    #[default]
    /// Asking the Hub which commit and files (HEAD, listing).
    Resolving,
    /// Bytes are being fetched.
    Downloading,
    /// Hashing the whole file against the Hub's hash.
    Verifying,
    /// The whole-file hash failed: finding and re-fetching the bad range.
    Repairing,
    /// Paused by the caller; resumes where it stopped.
    Paused,
    /// Verified and in the cache.
    Done,
    /// Gave up with an error (partial data kept).
    Failed,
    /// Cancelled by the caller (partial data kept).
    Cancelled,
}

/// What went wrong, for the UI: a kind to pick an action, a message saying what to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ProgressError {
    /// What kind of failure, to pick the action offered.
    pub kind: ErrorKind,
    /// What happened and what to do, for a person.
    pub message: String,
}

impl ProgressError {
    /// An error of `kind` with its message for a person.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ProgressError {
        ProgressError {
            kind,
            message: message.into(),
        }
    }
}

/// One file of the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FileProgress {
    /// The file's path in the repo.
    pub path: String,
    /// The file's size in bytes.
    pub size: u64,
    /// Bytes verified or received so far.
    pub bytes_done: u64,
    /// Where this file is.
    pub phase: Phase,
    /// One char per chunk: `.` pending, `>` in flight, `#` verified, `!` failed (refetched).
    pub chunk_map: String,
    /// The Hub's SHA-256 for it (LFS files).
    pub sha256: Option<String>,
    /// How the file's bytes are fetched: `"xet"` or `"http"` (absent before it is decided).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub transport: Option<String>,
    /// Why the Xet path was given up for HTTP, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub xet_fallback: Option<String>,
}

/// A full snapshot of a download job (serde shape fixed by docs/ipc.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Progress {
    /// Where the job is.
    pub phase: Phase,
    /// The repo id (`org/name`).
    pub repo: String,
    /// The revision asked for (branch, tag or commit).
    pub revision: String,
    /// The file being worked on now, if one.
    pub file: Option<String>,
    /// Bytes done across all files.
    pub bytes_done: u64,
    /// Bytes of all files.
    pub bytes_total: u64,
    /// Chunks (HTTP) or terms (Xet) verified so far.
    pub verified_chunks: u64,
    /// Chunks or terms in all.
    pub total_chunks: u64,
    /// Recent transfer rate, bytes per second.
    pub rate_bps: f64,
    /// Time left at the recent rate, seconds (`None` before a rate is known).
    pub eta_secs: Option<f64>,
    /// No byte arrived for a while (shown to the person as stalled).
    pub stalled: bool,
    /// Transient failures retried so far.
    pub retries: u64,
    /// Connections transferring now (the adaptive level).
    pub connections: u32,
    /// Each file of the job.
    pub files: Vec<FileProgress>,
    /// The error the job ended with, if it failed.
    pub error: Option<ProgressError>,
    /// The last transient error (retried), in words a person understands ("no network", "the
    /// network answers with a login page", ...); `None` once bytes flow again.
    #[serde(default)]
    pub last_error: Option<String>,
}

/// Chunk states for `chunkMap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkState {
    Pending,
    InFlight,
    Verified,
    Failed,
}

impl ChunkState {
    fn ch(self) -> char {
        match self {
            ChunkState::Pending => '.',
            ChunkState::InFlight => '>',
            ChunkState::Verified => '#',
            ChunkState::Failed => '!',
        }
    }
}

#[derive(Debug, Default)]
struct FileState {
    path: String,
    size: u64,
    phase: Phase,
    chunks: Vec<ChunkState>,
    sha256: Option<String>,
    transport: Option<&'static str>,
    xet_fallback: Option<String>,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    files: Vec<FileState>,
    current: Option<usize>,
    rate: f64,
    last: Option<(Instant, u64)>,
    error: Option<ProgressError>,
    last_error: Option<String>,
}

/// Shared, cheap-to-update progress state; `publish()` turns it into a `Progress` snapshot.
#[derive(Debug)]
pub(crate) struct Tracker {
    repo: String,
    revision: String,
    state: Mutex<State>,
    /// Bytes on disk per file (verified chunks + bytes of chunks in flight).
    file_bytes: Mutex<Vec<Arc<AtomicU64>>>,
    /// Bytes received from the network (monotone; drives the rate).
    pub net_bytes: AtomicU64,
    pub retries: AtomicU64,
    pub stalled: AtomicU32,
    pub connections: AtomicUsize,
    tx: watch::Sender<Progress>,
}

impl Tracker {
    pub(crate) fn new(repo: &str, revision: &str) -> (Arc<Tracker>, watch::Receiver<Progress>) {
        let first = Progress {
            repo: repo.to_string(),
            revision: revision.to_string(),
            ..Progress::default()
        };
        let (tx, rx) = watch::channel(first);
        let t = Tracker {
            repo: repo.to_string(),
            revision: revision.to_string(),
            state: Mutex::new(State {
                phase: Phase::Resolving,
                files: Vec::new(),
                current: None,
                rate: 0.0,
                last: None,
                error: None,
                last_error: None,
            }),
            file_bytes: Mutex::new(Vec::new()),
            net_bytes: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            stalled: AtomicU32::new(0),
            connections: AtomicUsize::new(0),
            tx,
        };
        (Arc::new(t), rx)
    }

    fn st(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Register a file; returns its index and its byte counter.
    pub(crate) fn add_file(&self, path: &str, size: u64) -> (usize, Arc<AtomicU64>) {
        let mut st = self.st();
        st.files.push(FileState {
            path: path.to_string(),
            size,
            ..FileState::default()
        });
        let c = Arc::new(AtomicU64::new(0));
        let mut fb = self.file_bytes.lock();
        fb.push(c.clone());
        (st.files.len() - 1, c)
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        self.st().phase = phase;
        self.publish();
    }

    /// Record a transient error that is being retried (shown as `lastError`).
    pub(crate) fn note_error(&self, why: &str) {
        let mut st = self.st();
        if st.last_error.as_deref() != Some(why) {
            st.last_error = Some(why.to_string());
        }
    }

    /// Bytes flow again: the last error is history.
    pub(crate) fn clear_error(&self) {
        let mut st = self.st();
        if st.last_error.is_some() {
            st.last_error = None;
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        self.st().phase
    }

    pub(crate) fn set_file_phase(&self, idx: usize, phase: Phase) {
        if let Some(f) = self.st().files.get_mut(idx) {
            f.phase = phase;
        }
    }

    pub(crate) fn set_current(&self, idx: usize) {
        self.st().current = Some(idx);
    }

    /// Record the transport of a file (`"xet"` or `"http"`).
    pub(crate) fn set_transport(&self, idx: usize, transport: &'static str) {
        if let Some(f) = self.st().files.get_mut(idx) {
            f.transport = Some(transport);
        }
    }

    /// Record why the Xet path fell back to HTTP (also shown as `lastError`).
    pub(crate) fn note_xet_fallback(&self, idx: usize, why: &str) {
        if let Some(f) = self.st().files.get_mut(idx) {
            f.xet_fallback = Some(why.to_string());
        }
        self.note_error(why);
    }

    /// (Re)initialise a file's chunk map, e.g. when it changed upstream.
    pub(crate) fn init_chunks(&self, idx: usize, size: u64, n: usize) {
        if let Some(f) = self.st().files.get_mut(idx) {
            f.size = size;
            f.chunks = vec![ChunkState::Pending; n];
        }
    }

    pub(crate) fn set_chunk(&self, idx: usize, chunk: u64, s: ChunkState) {
        if let Some(c) = self
            .st()
            .files
            .get_mut(idx)
            .and_then(|f| f.chunks.get_mut(chunk as usize))
        {
            *c = s;
        }
    }

    /// Mark a file complete and verified.
    pub(crate) fn file_done(&self, idx: usize, sha: Option<String>) {
        let size = {
            let mut st = self.st();
            let Some(f) = st.files.get_mut(idx) else {
                return;
            };
            f.phase = Phase::Done;
            f.sha256 = sha;
            for c in &mut f.chunks {
                *c = ChunkState::Verified;
            }
            f.size
        };
        if let Some(c) = self.file_bytes.lock().get(idx) {
            c.store(size, Ordering::Relaxed);
        }
    }

    /// Final state of the job.
    pub(crate) fn finish(&self, res: Result<(), &Error>) {
        {
            let mut st = self.st();
            match res {
                Ok(()) => {
                    st.phase = Phase::Done;
                    st.rate = 0.0;
                }
                Err(Error::Cancelled) => st.phase = Phase::Cancelled,
                Err(e) => {
                    st.phase = Phase::Failed;
                    st.error = Some(ProgressError {
                        kind: e.kind(),
                        message: e.to_string(),
                    });
                }
            }
        }
        self.publish();
    }

    /// Build and send a snapshot (also updates the smoothed rate).
    pub(crate) fn publish(&self) {
        let p = self.snapshot();
        self.tx.send_replace(p);
    }

    pub(crate) fn snapshot(&self) -> Progress {
        let now = Instant::now();
        let net = self.net_bytes.load(Ordering::Relaxed);
        let fb: Vec<u64> = self
            .file_bytes
            .lock()
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let mut st = self.st();
        // EWMA of the receive rate with a ~5 s time constant.
        match st.last {
            Some((t0, b0)) => {
                let dt = now.duration_since(t0).as_secs_f64();
                if dt >= 0.05 {
                    let inst = net.saturating_sub(b0) as f64 / dt;
                    let alpha = 1.0 - (-dt / 5.0f64).exp();
                    st.rate = if st.rate == 0.0 {
                        inst
                    } else {
                        st.rate + alpha * (inst - st.rate)
                    };
                    st.last = Some((now, net));
                }
            }
            None => st.last = Some((now, net)),
        }
        let files: Vec<FileProgress> = st
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| FileProgress {
                path: f.path.clone(),
                size: f.size,
                bytes_done: fb.get(i).copied().unwrap_or(0).min(f.size),
                phase: f.phase,
                chunk_map: f.chunks.iter().map(|c| c.ch()).collect(),
                sha256: f.sha256.clone(),
                transport: f.transport.map(str::to_string),
                xet_fallback: f.xet_fallback.clone(),
            })
            .collect();
        let bytes_total: u64 = files.iter().map(|f| f.size).sum();
        let bytes_done: u64 = files.iter().map(|f| f.bytes_done).sum();
        let total_chunks: u64 = st.files.iter().map(|f| f.chunks.len() as u64).sum();
        let verified_chunks: u64 = st
            .files
            .iter()
            .flat_map(|f| f.chunks.iter())
            .filter(|c| **c == ChunkState::Verified)
            .count() as u64;
        let active = matches!(st.phase, Phase::Downloading | Phase::Repairing);
        let rate = if active { st.rate } else { 0.0 };
        let eta_secs =
            (rate > 1.0 && active).then(|| bytes_total.saturating_sub(bytes_done) as f64 / rate);
        Progress {
            phase: st.phase,
            repo: self.repo.clone(),
            revision: self.revision.clone(),
            file: st
                .current
                .and_then(|i| st.files.get(i))
                .map(|f| f.path.clone()),
            bytes_done,
            bytes_total,
            verified_chunks,
            total_chunks,
            rate_bps: rate,
            eta_secs,
            stalled: self.stalled.load(Ordering::Relaxed) > 0,
            retries: self.retries.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed) as u32,
            files,
            error: st.error.clone(),
            last_error: st.last_error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_exactly_like_the_ipc_contract() {
        let (t, _rx) = Tracker::new("kyutai/moshiko-mlx-q4", "main");
        let (i, c) = t.add_file("model.safetensors", 100);
        t.init_chunks(i, 100, 4);
        t.set_chunk(i, 0, ChunkState::Verified);
        t.set_chunk(i, 1, ChunkState::InFlight);
        t.set_chunk(i, 3, ChunkState::Failed);
        c.store(30, Ordering::Relaxed);
        t.set_current(i);
        let v = serde_json::to_value(t.snapshot()).expect("json");
        for k in [
            "phase",
            "repo",
            "revision",
            "file",
            "bytesDone",
            "bytesTotal",
            "verifiedChunks",
            "totalChunks",
            "rateBps",
            "etaSecs",
            "stalled",
            "retries",
            "connections",
            "files",
            "error",
            "lastError",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        assert_eq!(v["phase"], "resolving");
        assert_eq!(v["files"][0]["chunkMap"], "#>.!");
        assert_eq!(v["files"][0]["bytesDone"], 30);
        assert_eq!(v["verifiedChunks"], 1);
        t.finish(Err(&Error::DiskFull {
            dir: "/x".into(),
            need: 2_000_000_000,
            free: 0,
        }));
        let v = serde_json::to_value(t.snapshot()).expect("json");
        assert_eq!(v["phase"], "failed");
        assert_eq!(v["error"]["kind"], "diskFull");
    }
}
