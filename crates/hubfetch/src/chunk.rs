//! Fetching one chunk: a Range request whose answer is checked (206, `Content-Range`, exact
//! byte count, ETag unchanged), streamed with positional writes into the partial file while
//! its SHA-256 is computed, resumed inside the chunk after drops, and made durable
//! (`fdatasync`) before the chunk is reported done.

use std::collections::VecDeque;
use std::fs::File;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, ETAG, RANGE};
use reqwest::{Method, StatusCode, Url};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::hashpool::{ChunkHash, ChunkHasher};
use crate::journal::chunk_range;
use crate::netfail;
use crate::pieces::{PieceHasher, PieceLog, PieceRecord, Pieces, PIECE_MAX_BYTES, PIECE_MAX_TIME};
use crate::progress::Tracker;
use crate::resolve::{normalize_etag, Hub, RetryPolicy};
use crate::retry::{parse_retry_after, Backoff};

/// Why a chunk (and thus the file) stopped.
#[derive(Debug)]
pub(crate) enum Fail {
    /// A permanent error (or cancel, or retries exhausted).
    Err(Error),
    /// The file changed upstream (ETag, size): restart it from a fresh resolve.
    Changed(String),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::Err(e)
    }
}

/// Everything the workers share for one job.
#[derive(Debug)]
pub(crate) struct Shared {
    pub hub: Arc<Hub>,
    pub policy: RetryPolicy,
    pub stall: Duration,
    pub cancel: CancellationToken,
    pub paused: watch::Receiver<bool>,
    pub tracker: Arc<Tracker>,
    pub limiter: ConnLimiter,
    /// Hashes chunk bytes as they arrive, on its own thread.
    pub hasher: ChunkHasher,
}

/// Backs off to fewer connections when resets come in bursts, and grows back on success.
#[derive(Debug)]
pub(crate) struct ConnLimiter {
    pub max: usize,
    pub allowed: AtomicUsize,
    recent: Mutex<VecDeque<Instant>>,
    successes: AtomicU32,
}

impl ConnLimiter {
    pub(crate) fn new(max: usize) -> ConnLimiter {
        let max = max.max(1);
        ConnLimiter {
            max,
            allowed: AtomicUsize::new(max),
            recent: Mutex::new(VecDeque::new()),
            successes: AtomicU32::new(0),
        }
    }
    fn reset_seen(&self) {
        let mut r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        r.push_back(now);
        while r
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(10))
        {
            r.pop_front();
        }
        if r.len() >= 3 {
            r.clear();
            let a = self.allowed.load(Ordering::Relaxed);
            if a > 1 {
                self.allowed.store(a - 1, Ordering::Relaxed);
                tracing::warn!(
                    connections = a - 1,
                    "repeated connection resets: using fewer connections"
                );
            }
            self.successes.store(0, Ordering::Relaxed);
        }
    }
    fn success(&self) {
        if self.successes.fetch_add(1, Ordering::Relaxed) + 1 >= 4 {
            self.successes.store(0, Ordering::Relaxed);
            let a = self.allowed.load(Ordering::Relaxed);
            if a < self.max {
                self.allowed.store(a + 1, Ordering::Relaxed);
            }
        }
    }
}

/// One file being downloaded: where to write, where to read from.
#[derive(Debug)]
pub(crate) struct FileJob {
    pub repo: String,
    pub revision: String,
    pub path: String,
    pub etag: String,
    pub size: u64,
    pub chunk_size: u64,
    pub url: RwLock<Url>,
    pub cdn_etag: Mutex<Option<String>>,
    pub file: Arc<File>,
    pub bytes: Arc<AtomicU64>,
    pub fidx: usize,
    /// Durable pieces of chunks in flight.
    pub pieces: PieceLog,
    /// Pieces from an earlier run, per chunk not yet complete: taken (once) by the first
    /// fetch of the chunk, re-hashed and kept.
    pub resume: Mutex<Pieces>,
}

impl FileJob {
    fn url(&self) -> Url {
        self.url.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
    fn set_url(&self, u: Url) {
        *self.url.write().unwrap_or_else(|p| p.into_inner()) = u;
    }
    /// Remember the first ETag seen; a different one later means the file was replaced.
    fn check_etag(&self, e: &str) -> bool {
        let mut g = self.cdn_etag.lock().unwrap_or_else(|p| p.into_inner());
        match g.as_deref() {
            None => {
                *g = Some(e.to_string());
                true
            }
            Some(prev) => prev == e,
        }
    }
}

enum Step {
    Complete,
    Retry(String, Option<Duration>, bool),
    Refresh(String),
    Paused,
}

/// Counts a request in `connections` while alive; clears our stall mark on drop.
struct Guards<'a> {
    t: &'a Tracker,
    stalled: bool,
}
impl Guards<'_> {
    fn stall(&mut self) {
        if !self.stalled {
            self.stalled = true;
            self.t.stalled.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn unstall(&mut self) {
        if self.stalled {
            self.stalled = false;
            self.t.stalled.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
impl Drop for Guards<'_> {
    fn drop(&mut self) {
        self.unstall();
    }
}

struct ConnGuard<'a>(&'a Tracker);
impl<'a> ConnGuard<'a> {
    fn new(t: &'a Tracker) -> Self {
        t.connections.fetch_add(1, Ordering::Relaxed);
        ConnGuard(t)
    }
}
impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    Some((
        a.trim().parse().ok()?,
        b.trim().parse().ok()?,
        total.trim().parse().ok()?,
    ))
}

/// A chunk that is durable on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChunkDone {
    /// SHA-256 (hex) of its bytes as written.
    pub sha: String,
    /// Retries, drops and link refreshes it took: a chunk that needed them is the likeliest
    /// to hold a silently corrupted byte, so a repair looks at it first.
    pub faults: u32,
}

/// Download chunk `idx` of `fj`: its SHA-256 (hex) and fault count, durable on disk.
pub(crate) async fn fetch_chunk(sh: &Shared, fj: &FileJob, idx: u64) -> Result<ChunkDone, Fail> {
    let (start, end) = chunk_range(fj.size, fj.chunk_size, idx);
    let len = end - start;
    let mut hasher = sh.hasher.begin();
    let mut got = 0u64;
    let mut backoff = Backoff::new(sh.policy.base, sh.policy.cap);
    let mut tries = 0u32;
    let mut ignored_range = 0u32;
    let mut refreshes = 0u32;
    let mut guards = Guards {
        t: &sh.tracker,
        stalled: false,
    };
    let mut paused = sh.paused.clone();
    let earlier = fj
        .resume
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&idx);
    if let Some(recs) = earlier {
        got = rescue_pieces(fj, &recs, &mut hasher).await?;
        if got > 0 {
            tracing::debug!(file = %fj.path, chunk = idx, kept = got, "kept the durable pieces of a partial chunk");
        }
    }
    fj.pieces.restart(idx, start + got)?;
    let mut cursor = Cursor {
        from: start + got,
        hash: PieceHasher::new(),
        since: Instant::now(),
    };
    while got < len || len == 0 {
        if *paused.borrow_and_update() {
            tokio::select! {
                _ = sh.cancel.cancelled() => return Err(Fail::Err(Error::Cancelled)),
                r = paused.wait_for(|p| !*p) => { if r.is_err() { return Err(Fail::Err(Error::Cancelled)); } }
            }
        }
        let before = got;
        let step = attempt(
            sh,
            fj,
            start,
            end,
            &mut got,
            &mut hasher,
            &mut ignored_range,
            &mut guards,
            &mut paused,
            &mut cursor,
        )
        .await?;
        match step {
            Step::Complete => break,
            Step::Paused => continue,
            Step::Retry(why, after, reset) => {
                if reset {
                    sh.limiter.reset_seen();
                }
                if got > before {
                    backoff.reset();
                }
                // What arrived before the failure is made durable now, not after the backoff:
                // a kill during the wait would otherwise lose it (and it is served again).
                if start + got > cursor.from && got < len {
                    commit_piece(fj, start, &mut cursor, start + got).await?;
                }
                sh.tracker.note_error(&why);
                if sh.policy.max_retries.is_some_and(|m| tries >= m) {
                    return Err(Fail::Err(Error::Network(format!(
                        "{}: chunk {idx}: {why} (gave up after {tries} retries)",
                        fj.path
                    ))));
                }
                tries += 1;
                sh.tracker.retries.fetch_add(1, Ordering::Relaxed);
                let d = after.unwrap_or_else(|| backoff.next_delay());
                tracing::warn!(file = %fj.path, chunk = idx, why = %why, delay_ms = d.as_millis() as u64, "retrying chunk");
                tokio::select! {
                    _ = sh.cancel.cancelled() => return Err(Fail::Err(Error::Cancelled)),
                    _ = tokio::time::sleep(d) => {}
                }
            }
            Step::Refresh(why) => {
                refreshes += 1;
                sh.tracker.retries.fetch_add(1, Ordering::Relaxed);
                // A blob still gone after a fresh link at the pinned commit was retired
                // upstream: the download starts over from the branch's new commit.
                if refreshes >= 3 && (why.contains("404") || why.contains("410")) {
                    return Err(Fail::Changed(format!("the blob is gone ({why})")));
                }
                if refreshes > 5 {
                    return Err(Fail::Err(Error::Unauthorized(format!(
                        "{}: the download server keeps refusing the link the Hub gives ({why}); check your access to {}/{}",
                        fj.path, sh.hub.cfg.endpoint, fj.repo
                    ))));
                }
                tracing::info!(file = %fj.path, why = %why, "download link refused: resolving again");
                let r = sh
                    .hub
                    .resolve(
                        &fj.repo,
                        &fj.revision,
                        &fj.path,
                        sh.policy,
                        &sh.cancel,
                        Some(&sh.tracker),
                    )
                    .await?;
                if r.etag != fj.etag || r.size != fj.size {
                    return Err(Fail::Changed(format!("now {} ({} bytes)", r.etag, r.size)));
                }
                fj.set_url(r.url);
            }
        }
        if len == 0 {
            break;
        }
    }
    sh.limiter.success();
    sh.tracker.clear_error();
    let f = fj.file.clone();
    tokio::task::spawn_blocking(move || f.sync_data())
        .await
        .map_err(|e| Error::Other(format!("sync task: {e}")))?
        .map_err(|e| Error::io(format!("fdatasync {}", fj.path), e))?;
    let sha = hasher.finish().await?;
    Ok(ChunkDone {
        sha,
        faults: tries + refreshes + ignored_range,
    })
}

#[allow(clippy::too_many_arguments)]
async fn attempt(
    sh: &Shared,
    fj: &FileJob,
    start: u64,
    end: u64,
    got: &mut u64,
    hasher: &mut ChunkHash<'_>,
    ignored_range: &mut u32,
    guards: &mut Guards<'_>,
    paused: &mut watch::Receiver<bool>,
    cursor: &mut Cursor,
) -> Result<Step, Fail> {
    let len = end - start;
    if len == 0 {
        return Ok(Step::Complete);
    }
    let url = fj.url();
    let from = start + *got;
    let req = sh
        .hub
        .request(Method::GET, url.clone())
        .header(RANGE, format!("bytes={from}-{}", end - 1));
    let _conn = ConnGuard::new(&sh.tracker);
    let resp = tokio::select! {
        _ = sh.cancel.cancelled() => return Err(Fail::Err(Error::Cancelled)),
        r = tokio::time::timeout(sh.stall, req.send()) => r,
    };
    let resp = match resp {
        Err(_) => {
            guards.stall();
            return Ok(Step::Retry(
                format!("no answer within {:?}", sh.stall),
                None,
                false,
            ));
        }
        Ok(Err(e)) => return Ok(Step::Retry(netfail::describe(&e, sh.stall), None, true)),
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    let h = resp.headers().clone();
    // A captive portal's page (or its redirect to one) is never written into the file.
    if (status.is_success() && netfail::is_html(&h) && !netfail::path_is_html(&fj.path))
        || status.is_redirection()
    {
        return Ok(Step::Retry(netfail::LOGIN_PAGE.to_string(), None, false));
    }
    let mut skip = 0u64;
    match status {
        StatusCode::PARTIAL_CONTENT => {
            let cr = h
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_content_range);
            match cr {
                Some((_, _, total)) if total != fj.size => {
                    return Err(Fail::Changed(format!(
                        "Content-Range total {total} != {}",
                        fj.size
                    )));
                }
                Some((a, b, _)) if a == from && b == end - 1 => {}
                other => {
                    return Ok(Step::Retry(
                        format!("bad Content-Range {other:?} for bytes {from}-{}", end - 1),
                        None,
                        false,
                    ));
                }
            }
            if let Some(cl) = h
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.parse::<u64>().ok())
            {
                if cl != end - from {
                    return Ok(Step::Retry(
                        format!("Content-Length {cl} != {}", end - from),
                        None,
                        false,
                    ));
                }
            }
        }
        StatusCode::OK => {
            if let Some(cl) = h
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.parse::<u64>().ok())
            {
                if cl != fj.size {
                    return Err(Fail::Changed(format!(
                        "full body is {cl} bytes, expected {}",
                        fj.size
                    )));
                }
            }
            *ignored_range += 1;
            if *ignored_range < 3 {
                return Ok(Step::Retry(
                    "server ignored the Range header (200 instead of 206)".into(),
                    None,
                    false,
                ));
            }
            tracing::warn!(file = %fj.path, "server keeps ignoring Range: reading the full body and skipping {from} bytes");
            skip = from;
        }
        // Expired signed URL, or a blob retired after an upstream change: ask the Hub again.
        s if matches!(s.as_u16(), 401 | 403 | 404 | 410) && !sh.hub.is_hub(&url) => {
            return Ok(Step::Refresh(format!("download server answered {s}")));
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            return Err(Fail::Changed("416 Range Not Satisfiable".into()));
        }
        s => {
            if sh.hub.is_hub(&url) {
                if let Some(e) = sh
                    .hub
                    .hub_error(s, &h, &fj.repo, &format!("file {:?}", fj.path))
                {
                    return Err(Fail::Err(e));
                }
            }
            if s == StatusCode::TOO_MANY_REQUESTS
                || s.is_server_error()
                || s == StatusCode::REQUEST_TIMEOUT
            {
                return Ok(Step::Retry(
                    format!("server answered {s}"),
                    parse_retry_after(h.get("retry-after")),
                    false,
                ));
            }
            return Err(Fail::Err(Error::Other(format!(
                "{}: unexpected answer {s} from the download server",
                fj.path
            ))));
        }
    }
    if let Some(e) = h.get(ETAG).and_then(|v| v.to_str().ok()) {
        let e = normalize_etag(e);
        if !fj.check_etag(&e) {
            return Err(Fail::Changed(format!("ETag changed to {e}")));
        }
    }
    let mut stream = resp.bytes_stream();
    let mut first = true;
    loop {
        let next = tokio::select! {
            biased;
            _ = sh.cancel.cancelled() => return Err(Fail::Err(Error::Cancelled)),
            r = paused.changed() => {
                if r.is_err() || *paused.borrow_and_update() { return Ok(Step::Paused); }
                continue;
            }
            r = tokio::time::timeout(sh.stall, stream.next()) => r,
        };
        let mut b = match next {
            Err(_) => {
                guards.stall();
                return Ok(Step::Retry(
                    format!("stalled: no byte for {:?}", sh.stall),
                    None,
                    false,
                ));
            }
            Ok(None) => {
                return Ok(Step::Retry(
                    format!("body ended early: got {} of {len} bytes", *got),
                    None,
                    true,
                ));
            }
            Ok(Some(Err(e))) => {
                return Ok(Step::Retry(
                    format!("connection lost mid-body: {e}"),
                    None,
                    true,
                ))
            }
            Ok(Some(Ok(b))) => b,
        };
        guards.unstall();
        if first {
            first = false;
            sh.tracker.clear_error(); // bytes flow again
        }
        if skip > 0 {
            let n = (skip as usize).min(b.len());
            skip -= n as u64;
            let _ = b.split_to(n);
            if b.is_empty() {
                continue;
            }
        }
        let remaining = (len - *got) as usize;
        if b.len() > remaining {
            if status == StatusCode::PARTIAL_CONTENT {
                tracing::warn!(file = %fj.path, "server sent more bytes than the Range asked; ignoring the excess");
            }
            b.truncate(remaining);
        }
        let off = start + *got;
        write_at(&fj.file, &b, off).map_err(|e| Error::io(format!("write {}", fj.path), e))?;
        let n = b.len() as u64;
        cursor.hash.update(&b);
        hasher.update(b).await?;
        *got += n;
        let at = start + *got;
        if *got < len
            && (at - cursor.from >= PIECE_MAX_BYTES || cursor.since.elapsed() >= PIECE_MAX_TIME)
        {
            commit_piece(fj, start, cursor, at).await?;
        }
        fj.bytes.fetch_add(n, Ordering::Relaxed);
        sh.tracker.net_bytes.fetch_add(n, Ordering::Relaxed);
        if *got == len {
            return Ok(Step::Complete);
        }
    }
}

/// Where the piece being received starts, its running hash, and since when.
pub(crate) struct Cursor {
    from: u64,
    hash: PieceHasher,
    since: Instant,
}

/// Make `[cursor.from, at)` durable: data first (`fdatasync`), then its record in the log.
async fn commit_piece(
    fj: &FileJob,
    chunk_start: u64,
    cursor: &mut Cursor,
    at: u64,
) -> Result<(), Fail> {
    let f = fj.file.clone();
    tokio::task::spawn_blocking(move || f.sync_data())
        .await
        .map_err(|e| Error::Other(format!("sync task: {e}")))?
        .map_err(|e| Error::io(format!("fdatasync {}", fj.path), e))?;
    let chunk = chunk_start / fj.chunk_size.max(1);
    fj.pieces.append(&PieceRecord {
        chunk,
        start: cursor.from,
        end: at,
        hash: cursor.hash.finish(),
    })?;
    cursor.from = at;
    cursor.hash = PieceHasher::new();
    cursor.since = Instant::now();
    Ok(())
}

/// Re-hash an earlier run's pieces of a chunk from disk (once), feeding the same bytes to the
/// chunk's SHA-256; returns how many bytes from the chunk start are good and kept.
async fn rescue_pieces(
    fj: &FileJob,
    recs: &[PieceRecord],
    hasher: &mut ChunkHash<'_>,
) -> Result<u64, Fail> {
    let Some(first) = recs.first() else {
        return Ok(0);
    };
    let chunk_start = first.start;
    let mut kept = 0u64;
    for r in recs {
        let (f, start, len) = (fj.file.clone(), r.start, (r.end - r.start) as usize);
        let buf = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            let mut buf = vec![0u8; len];
            read_at(&f, &mut buf, start)?;
            Ok(buf)
        })
        .await
        .map_err(|e| Error::Other(format!("read task: {e}")))?
        .map_err(|e| Error::io(format!("read {}", fj.path), e))?;
        if crate::pieces::piece_hash(&buf) != r.hash {
            tracing::warn!(file = %fj.path, chunk = r.chunk, offset = r.start, "a durable piece does not match its hash on disk: fetching it again");
            break;
        }
        hasher.update(bytes::Bytes::from(buf)).await?;
        kept = r.end - chunk_start;
    }
    fj.bytes.fetch_add(kept, Ordering::Relaxed);
    Ok(kept)
}

#[cfg(unix)]
fn read_at(f: &File, buf: &mut [u8], off: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.read_exact_at(buf, off)
}

#[cfg(not(unix))]
fn read_at(f: &File, buf: &mut [u8], off: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        let n = f.seek_read(&mut buf[done..], off + done as u64)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        done += n;
    }
    Ok(())
}

#[cfg(unix)]
fn write_at(f: &File, buf: &[u8], off: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.write_all_at(buf, off)
}

#[cfg(not(unix))]
fn write_at(f: &File, buf: &[u8], off: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        done += f.seek_write(&buf[done..], off + done as u64)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parsing() {
        assert_eq!(parse_content_range("bytes 0-99/1000"), Some((0, 99, 1000)));
        assert_eq!(parse_content_range("bytes */1000"), None);
    }
}
