//! The Xet transport of one file: when the Hub names an `X-Xet-Hash` (and `HF_HUB_DISABLE_XET`
//! is not set), the file is read with [`crate::xet::Reader`] into the same `.incomplete` path
//! the HTTP path uses; the caller publishes it exactly as an HTTP download. A Xet failure is
//! returned as a reason, so the caller can fall back to HTTP and say why.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::chunk::{Fail, Shared};
use crate::error::Error;
use crate::progress::ChunkState;
use crate::resolve::Resolved;
use crate::xet::{Reader, ReaderOptions, TermState, XetEvent, XetHash, XetTarget};

/// What the Xet attempt gave.
pub(crate) enum XetOutcome {
    /// The file is in `inc`, verified against `X-Xet-Hash` and its SHA-256.
    Done,
    /// Not tried (no `X-Xet-Hash`, disabled, or an HTTP partial is already there).
    NotTried,
    /// Tried and failed: the reason, for the progress stream; HTTP takes over.
    Failed(String),
}

/// Reads the file over Xet into `inc` when it can.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn fetch(
    sh: &Arc<Shared>,
    repo: &str,
    resolved: &Resolved,
    sha256: &str,
    inc: &Path,
    http_partial: bool,
    fidx: usize,
    bytes: &Arc<AtomicU64>,
) -> Result<XetOutcome, Fail> {
    let Some(xh) = resolved.xet_hash.as_deref() else {
        return Ok(XetOutcome::NotTried);
    };
    if sh.hub.cfg.disable_xet || http_partial {
        return Ok(XetOutcome::NotTried);
    }
    let file_hash = match XetHash::from_hex(xh) {
        Ok(h) => h,
        Err(e) => return Ok(XetOutcome::Failed(format!("bad X-Xet-Hash {xh:?}: {e}"))),
    };
    let target = XetTarget {
        endpoint: sh.hub.cfg.endpoint.clone(),
        repo: repo.to_string(),
        revision: resolved.commit.clone(),
        file_hash,
        size: resolved.size,
        sha256: Some(sha256.to_string()),
    };
    let tracker = sh.tracker.clone();
    tracker.set_transport(fidx, "xet");
    tracker.publish();
    let mut reader = Reader::new(
        sh.hub.http.clone(),
        sh.hub.cfg.token.as_ref().map(|t| t.secret().to_string()),
        ReaderOptions {
            stall_timeout: sh.stall,
            connections: sh.limiter.max,
            paused: Some(sh.paused.clone()),
            ..ReaderOptions::default()
        },
    );
    bytes.store(0, Ordering::Relaxed);
    let on_event = |ev: &XetEvent| match ev {
        XetEvent::Received(n) => {
            bytes.fetch_add(*n, Ordering::Relaxed);
            tracker.net_bytes.fetch_add(*n, Ordering::Relaxed);
            tracker.clear_error();
        }
        XetEvent::Retry(why) => {
            tracker.retries.fetch_add(1, Ordering::Relaxed);
            tracker.note_error(why);
        }
        // The chunk map: one slot per term (a xorb range), in the same shape as HTTP chunks.
        XetEvent::Planned(n) => {
            tracker.init_chunks(fidx, resolved.size, *n);
            tracker.publish();
        }
        XetEvent::Term(i, s) => {
            let s = match s {
                TermState::InFlight => ChunkState::InFlight,
                TermState::Stored | TermState::Verified => ChunkState::Verified,
                TermState::Failed => ChunkState::Failed,
            };
            tracker.set_chunk(fidx, *i as u64, s);
        }
        XetEvent::Resumed(n) => {
            bytes.fetch_add(*n, Ordering::Relaxed);
        }
        XetEvent::XorbVerified(_) | XetEvent::Requery | XetEvent::Repair(_) => {}
    };
    let res = tokio::select! {
        r = reader.fetch(&target, inc, on_event) => r,
        _ = sh.cancel.cancelled() => return Err(Fail::Err(Error::Cancelled)),
    };
    match res {
        Ok(report) => {
            tracing::info!(
                file = %inc.display(),
                received = report.bytes_received,
                xorbs_verified = report.xorbs_verified,
                "read over Xet"
            );
            Ok(XetOutcome::Done)
        }
        Err(e) => {
            let mut why = format!("Xet download failed ({e}");
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                why.push_str(&format!(": {s}"));
                src = s.source();
            }
            why.push_str("); downloading over HTTP instead");
            tracing::warn!(reason = %why, "falling back to HTTP");
            bytes.store(0, Ordering::Relaxed);
            Ok(XetOutcome::Failed(why))
        }
    }
}
