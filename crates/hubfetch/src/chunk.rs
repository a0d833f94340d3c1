//! Fetching one chunk: a Range request whose answer is checked (206, `Content-Range`, exact
//! byte count, ETag unchanged), streamed with positional writes into the partial file while
//! its SHA-256 is computed, resumed inside the chunk after drops, and made durable
//! (`fdatasync`) before the chunk is reported done.

use std::collections::VecDeque;
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use parking_lot::{Mutex, RwLock};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, ETAG, RANGE};
use reqwest::{Method, StatusCode, Url};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub(crate) use crate::connections::ConnLimiter;
use crate::connections::Slot;
use crate::error::{Error, HttpError, NetError, Refusal};
use crate::hashpool::{ChunkHash, ChunkHasher};
use crate::journal::chunk_range;
use crate::netfail;
use crate::pieces::{
    PieceHasher, PieceLog, PieceRecord, Pieces, PIECE_MAX_BYTES, PIECE_MAX_TIME,
    PIECE_RECORD_BYTES, PIECE_RECORD_IDLE, PIECE_RECORD_TIME,
};
use crate::progress::{ChunkState, Tracker};
use crate::resolve::{normalize_etag, Hub, Resolved, RetryPolicy};
use crate::retry::Backoff;
use crate::status::{classify, Verdict};

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
    /// How many connections the link gets now (see `connections`).
    pub limiter: ConnLimiter,
    /// Hashes chunk bytes as they arrive, on its own thread.
    pub hasher: ChunkHasher,
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
        self.url.read().clone()
    }
    fn set_url(&self, u: Url) {
        *self.url.write() = u;
    }
    /// Resolve the file again at the pinned commit; `Fail::Changed` unless the Hub still serves
    /// the same blob (ETag and size).
    pub(crate) async fn resolve_unchanged(&self, sh: &Shared) -> Result<Resolved, Fail> {
        let r = sh
            .hub
            .resolve(
                &self.repo,
                &self.revision,
                &self.path,
                sh.policy,
                &sh.cancel,
                Some(&sh.tracker),
            )
            .await?;
        if r.etag != self.etag || r.size != self.size {
            return Err(Fail::Changed(format!("now {} ({} bytes)", r.etag, r.size)));
        }
        Ok(r)
    }
    /// Remember the first ETag seen; a different one later means the file was replaced.
    fn check_etag(&self, e: &str) -> bool {
        let mut g = self.cdn_etag.lock();
        match g.as_deref() {
            None => {
                *g = Some(e.to_string());
                true
            }
            Some(prev) => prev == e,
        }
    }
}

/// Run `indices` through up to `connections` workers; `on_done` sees each finished chunk with
/// the chunk the same worker finished before it (if any).
pub(crate) async fn run_chunks(
    sh: &Arc<Shared>,
    fj: &Arc<FileJob>,
    indices: Vec<u64>,
    mut on_done: impl FnMut(u64, ChunkDone, Option<u64>) -> Result<(), Fail>,
) -> Result<(), Fail> {
    if indices.is_empty() {
        return Ok(());
    }
    let queue = Arc::new(Mutex::new(indices.into_iter().collect::<VecDeque<u64>>()));
    let n = sh.limiter.max.min(queue.lock().len()).max(1);
    let (tx, mut rx) = mpsc::channel::<(u64, Result<ChunkDone, Fail>, Option<u64>)>(n);
    let mut set = JoinSet::new();
    for _ in 0..n {
        let (sh, fj, queue, tx) = (sh.clone(), fj.clone(), queue.clone(), tx.clone());
        set.spawn(async move {
            let mut prev = None;
            loop {
                // A chunk is taken only when the connection limit has room for it.
                while !sh.limiter.has_room() {
                    if queue.lock().is_empty() {
                        return;
                    }
                    tokio::select! {
                        _ = sh.cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    }
                }
                let Some(idx) = queue.lock().pop_front() else {
                    return;
                };
                sh.tracker.set_chunk(fj.fidx, idx, ChunkState::InFlight);
                let r = fetch_chunk(&sh, &fj, idx).await;
                let stop = r.is_err();
                if tx.send((idx, r, prev)).await.is_err() || stop {
                    return;
                }
                prev = Some(idx);
            }
        });
    }
    drop(tx);
    while let Some((idx, r, prev)) = rx.recv().await {
        match r {
            Ok(done) => on_done(idx, done, prev)?,
            Err(f) => {
                sh.tracker.set_chunk(fj.fidx, idx, ChunkState::Failed);
                set.abort_all();
                return Err(f);
            }
        }
    }
    if sh.cancel.is_cancelled() {
        return Err(Fail::Err(Error::Cancelled));
    }
    Ok(())
}

/// How one attempt at a chunk ended.
enum Step {
    Complete,
    /// Try again (after `after`, else backoff); `cause` says what kind of failure it was.
    Retry {
        why: NetError,
        after: Option<Duration>,
        cause: Cause,
    },
    /// The download server refused the link: resolve again for a fresh one.
    Refresh(HttpError),
    Paused,
    /// The connection limit fell below the transfers in flight: this one gave its slot back.
    Shed,
}

/// What kind of failure a retry follows, for the connection controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// The connection broke (refused, reset, cut body).
    Reset,
    /// No byte for the stall timeout.
    Stall,
    /// The server answered, but not usefully (429/5xx, a bad range, a login page).
    Answer,
}

impl Step {
    fn retry(why: NetError, cause: Cause) -> Step {
        Step::Retry {
            why,
            after: None,
            cause,
        }
    }
    fn protocol(why: impl Into<String>) -> Step {
        Step::retry(NetError::Transfer(why.into()), Cause::Answer)
    }
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
    let mut c = ChunkFetch::new(sh, fj, idx);
    c.rescue().await?;
    while c.got < c.len() || c.len() == 0 {
        c.wait_while_paused().await?;
        let before = c.got;
        match c.attempt().await? {
            Step::Complete => break,
            Step::Paused => continue,
            Step::Shed => c.keep_received().await?,
            Step::Retry { why, after, cause } => c.retry(before, why, after, cause).await?,
            Step::Refresh(http) => c.refresh(http).await?,
        }
        if c.len() == 0 {
            break;
        }
    }
    c.finish().await
}

/// One chunk being fetched: its range, what has arrived, its running hashes and its fault
/// counters. The methods are the phases of a chunk: rescue earlier pieces, send the range
/// request, accept (or refuse) the answer, receive the body, retry or refresh, finish.
struct ChunkFetch<'a> {
    sh: &'a Shared,
    fj: &'a FileJob,
    idx: u64,
    start: u64,
    end: u64,
    /// Bytes of the chunk received and written (from `start`).
    got: u64,
    hasher: ChunkHash<'a>,
    backoff: Backoff,
    tries: u32,
    ignored_range: u32,
    refreshes: u32,
    guards: Guards<'a>,
    paused: watch::Receiver<bool>,
    cursor: Cursor,
}

/// An answer accepted for the body: bytes to skip before the range (a server that ignores
/// `Range` sends the whole file).
struct Accepted {
    skip: u64,
    partial: bool,
}

impl<'a> ChunkFetch<'a> {
    fn new(sh: &'a Shared, fj: &'a FileJob, idx: u64) -> ChunkFetch<'a> {
        let (start, end) = chunk_range(fj.size, fj.chunk_size, idx);
        ChunkFetch {
            sh,
            fj,
            idx,
            start,
            end,
            got: 0,
            hasher: sh.hasher.begin(),
            backoff: Backoff::new(sh.policy.base, sh.policy.cap),
            tries: 0,
            ignored_range: 0,
            refreshes: 0,
            guards: Guards {
                t: &sh.tracker,
                stalled: false,
            },
            paused: sh.paused.clone(),
            cursor: Cursor {
                from: start,
                synced: start,
                hash: PieceHasher::new(),
                since: Instant::now(),
                recorded: Instant::now(),
            },
        }
    }

    fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Keep the durable pieces an earlier run left of this chunk (re-hashed once).
    async fn rescue(&mut self) -> Result<(), Fail> {
        let earlier = self.fj.resume.lock().remove(&self.idx);
        if let Some(recs) = earlier {
            self.got = rescue_pieces(self.fj, &recs, &mut self.hasher).await?;
            if self.got > 0 {
                tracing::debug!(file = %self.fj.path, chunk = self.idx, kept = self.got, "kept the durable pieces of a partial chunk");
            }
        }
        let at = self.start + self.got;
        self.fj.pieces.restart(self.idx, at)?;
        self.cursor = Cursor {
            from: at,
            synced: at,
            hash: PieceHasher::new(),
            since: Instant::now(),
            recorded: Instant::now(),
        };
        Ok(())
    }

    async fn wait_while_paused(&mut self) -> Result<(), Fail> {
        if *self.paused.borrow_and_update() {
            tokio::select! {
                _ = self.sh.cancel.cancelled() => return Err(Fail::Err(Error::Cancelled)),
                r = self.paused.wait_for(|p| !*p) => { if r.is_err() { return Err(Fail::Err(Error::Cancelled)); } }
            }
        }
        Ok(())
    }

    /// One request for the rest of the chunk: send, accept, receive.
    async fn attempt(&mut self) -> Result<Step, Fail> {
        if self.len() == 0 {
            return Ok(Step::Complete);
        }
        let sh = self.sh;
        let Some(mut slot) = sh.limiter.acquire(&sh.cancel).await else {
            return Err(Fail::Err(Error::Cancelled));
        };
        let url = self.fj.url();
        let _conn = ConnGuard::new(&sh.tracker);
        let resp = match self.send(&url).await? {
            Ok(r) => r,
            Err(step) => return Ok(step),
        };
        let accepted = match self.accept(&url, &resp)? {
            Ok(a) => a,
            Err(step) => return Ok(step),
        };
        self.receive(resp, accepted, &mut slot).await
    }

    /// Send the range request; no answer within the stall timeout is a stall.
    async fn send(&mut self, url: &Url) -> Result<Result<reqwest::Response, Step>, Fail> {
        let (sh, from, end) = (self.sh, self.start + self.got, self.end);
        let req = sh
            .hub
            .request(Method::GET, url.clone())
            .header(RANGE, format!("bytes={from}-{}", end - 1));
        let resp = tokio::select! {
            _ = sh.cancel.cancelled() => return Err(Fail::Err(Error::Cancelled)),
            r = tokio::time::timeout(sh.stall, req.send()) => r,
        };
        Ok(match resp {
            Err(_) => {
                self.guards.stall();
                Err(Step::retry(
                    NetError::Transfer(format!("no answer within {:?}", sh.stall)),
                    Cause::Stall,
                ))
            }
            Ok(Err(e)) => Err(Step::retry(
                netfail::request_failed(e, sh.stall),
                Cause::Reset,
            )),
            Ok(Ok(r)) => Ok(r),
        })
    }

    /// Check the answer before a byte of it is written: status (one classification for
    /// every request), `Content-Range`, `Content-Length`, ETag unchanged, no login page.
    fn accept(
        &mut self,
        url: &Url,
        resp: &reqwest::Response,
    ) -> Result<Result<Accepted, Step>, Fail> {
        let (sh, fj) = (self.sh, self.fj);
        let (from, end) = (self.start + self.got, self.end);
        let status = resp.status();
        let h = resp.headers();
        // A captive portal's page (or its redirect to one) is never written into the file.
        if (status.is_success() && netfail::is_html(h) && !netfail::path_is_html(&fj.path))
            || status.is_redirection()
        {
            return Ok(Err(Step::retry(NetError::captive_portal(), Cause::Answer)));
        }
        let what = format!("file {:?}", fj.path);
        match classify(
            &sh.hub.cfg,
            sh.hub.is_hub(url),
            url,
            status,
            h,
            &fj.repo,
            &what,
        ) {
            Verdict::Success | Verdict::Redirect => {}
            // Expired signed URL, or a blob retired after an upstream change: ask the Hub again.
            Verdict::LinkRefused(http) => return Ok(Err(Step::Refresh(http))),
            Verdict::RangeNotSatisfiable(_) => {
                return Err(Fail::Changed("416 Range Not Satisfiable".into()))
            }
            Verdict::Refused(e) => return Err(Fail::Err(e)),
            Verdict::Transient(http, after) => {
                return Ok(Err(Step::Retry {
                    why: NetError::Status(Box::new(http)),
                    after,
                    cause: Cause::Answer,
                }))
            }
            Verdict::Unexpected(http) => {
                return Err(Fail::Err(Error::Http {
                    what: format!("{}: download", fj.path),
                    http: Box::new(http),
                }))
            }
        }
        let content_length = h
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.parse::<u64>().ok());
        let mut skip = 0u64;
        if status == StatusCode::PARTIAL_CONTENT {
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
                    return Ok(Err(Step::protocol(format!(
                        "bad Content-Range {other:?} for bytes {from}-{}",
                        end - 1
                    ))));
                }
            }
            if let Some(cl) = content_length.filter(|cl| *cl != end - from) {
                return Ok(Err(Step::protocol(format!(
                    "Content-Length {cl} != {}",
                    end - from
                ))));
            }
        } else {
            // A 2xx that is not 206: the server ignored the Range header.
            if let Some(cl) = content_length.filter(|cl| *cl != fj.size) {
                return Err(Fail::Changed(format!(
                    "full body is {cl} bytes, expected {}",
                    fj.size
                )));
            }
            self.ignored_range += 1;
            if self.ignored_range < 3 {
                return Ok(Err(Step::protocol(format!(
                    "server ignored the Range header ({status} instead of 206)"
                ))));
            }
            tracing::warn!(file = %fj.path, "server keeps ignoring Range: reading the full body and skipping {from} bytes");
            skip = from;
        }
        if let Some(e) = h.get(ETAG).and_then(|v| v.to_str().ok()) {
            let e = normalize_etag(e);
            if !fj.check_etag(&e) {
                return Err(Fail::Changed(format!("ETag changed to {e}")));
            }
        }
        Ok(Ok(Accepted {
            skip,
            partial: status == StatusCode::PARTIAL_CONTENT,
        }))
    }

    /// Stream the body into the file at the chunk's offset, hashing as it goes and making a
    /// piece durable every `PIECE_MAX_BYTES` or `PIECE_MAX_TIME`.
    async fn receive(
        &mut self,
        resp: reqwest::Response,
        a: Accepted,
        slot: &mut Slot<'_>,
    ) -> Result<Step, Fail> {
        let (sh, fj, start, len) = (self.sh, self.fj, self.start, self.len());
        let mut skip = a.skip;
        let mut stream = resp.bytes_stream();
        let mut first = true;
        let mut last_read = Instant::now();
        loop {
            // Bytes written but not yet recorded are recorded as soon as the link pauses
            // (`PIECE_RECORD_IDLE`), and a read that came after such a pause is recorded at
            // once: on a slow link every read is, so a SIGKILL loses only the bytes in
            // flight; a fast link's reads come back to back and keep the
            // `PIECE_RECORD_BYTES` pace.
            let unrecorded = self.got < len && start + self.got > self.cursor.from;
            let next = tokio::select! {
                biased;
                _ = sh.cancel.cancelled() => return Err(Fail::Err(Error::Cancelled)),
                r = self.paused.changed() => {
                    if r.is_err() || *self.paused.borrow_and_update() { return Ok(Step::Paused); }
                    continue;
                }
                _ = tokio::time::sleep(PIECE_RECORD_IDLE), if unrecorded => {
                    record_piece(fj, start, &mut self.cursor, start + self.got)?;
                    continue;
                }
                r = tokio::time::timeout(sh.stall, stream.next()) => r,
            };
            let sparse = last_read.elapsed() >= PIECE_RECORD_IDLE;
            last_read = Instant::now();
            let mut b = match next {
                Err(_) => {
                    self.guards.stall();
                    return Ok(Step::retry(
                        NetError::Transfer(format!("stalled: no byte for {:?}", sh.stall)),
                        Cause::Stall,
                    ));
                }
                Ok(None) => {
                    return Ok(Step::retry(
                        NetError::Transfer(format!(
                            "body ended early: got {} of {len} bytes",
                            self.got
                        )),
                        Cause::Reset,
                    ));
                }
                Ok(Some(Err(e))) => {
                    return Ok(Step::retry(NetError::Body { source: e }, Cause::Reset))
                }
                Ok(Some(Ok(b))) => b,
            };
            self.guards.unstall();
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
            let remaining = (len - self.got) as usize;
            if b.len() > remaining {
                if a.partial {
                    tracing::warn!(file = %fj.path, "server sent more bytes than the Range asked; ignoring the excess");
                }
                b.truncate(remaining);
            }
            let off = start + self.got;
            write_at(&fj.file, &b, off).map_err(|e| Error::io(format!("write {}", fj.path), e))?;
            let n = b.len() as u64;
            self.cursor.hash.update(&b);
            self.got += n;
            let at = start + self.got;
            if self.got < len
                && (at - self.cursor.synced >= PIECE_MAX_BYTES
                    || self.cursor.since.elapsed() >= PIECE_MAX_TIME)
            {
                commit_piece(fj, start, &mut self.cursor, at).await?;
            } else if self.got < len
                && (sparse
                    || at - self.cursor.from >= PIECE_RECORD_BYTES
                    || self.cursor.recorded.elapsed() >= PIECE_RECORD_TIME)
            {
                record_piece(fj, start, &mut self.cursor, at)?;
            }
            // The chunk's SHA-256 after the record: a hash thread that is behind (it applies
            // back-pressure here) must not hold up what a SIGKILL would keep.
            self.hasher.update(b).await?;
            fj.bytes.fetch_add(n, Ordering::Relaxed);
            let total = sh.tracker.net_bytes.fetch_add(n, Ordering::Relaxed) + n;
            if self.got == len {
                return Ok(Step::Complete);
            }
            sh.limiter.observe(total);
            if slot.should_shed() {
                return Ok(Step::Shed);
            }
        }
    }

    /// What arrived is made durable now (a piece), so that nothing received is lost while
    /// this transfer waits: for a retry's backoff, or for a connection slot after a shed.
    async fn keep_received(&mut self) -> Result<(), Fail> {
        let at = self.start + self.got;
        if at > self.cursor.synced && self.got < self.len() {
            commit_piece(self.fj, self.start, &mut self.cursor, at).await?;
        }
        Ok(())
    }

    /// A failed attempt: keep what arrived, count it, wait (Retry-After or backoff).
    async fn retry(
        &mut self,
        before: u64,
        why: NetError,
        after: Option<Duration>,
        cause: Cause,
    ) -> Result<(), Fail> {
        let (sh, fj) = (self.sh, self.fj);
        if matches!(cause, Cause::Reset | Cause::Stall) {
            sh.limiter.failure();
        }
        if self.got > before {
            self.backoff.reset();
        }
        // What arrived before the failure is made durable now, not after the backoff:
        // a kill during the wait would otherwise lose it (and it is served again).
        self.keep_received().await?;
        sh.tracker.note_error(&why.to_string());
        if sh.policy.max_retries.is_some_and(|m| self.tries >= m) {
            return Err(Fail::Err(Error::Network {
                what: format!("{}: chunk {}", fj.path, self.idx),
                retries: self.tries,
                cause: why,
            }));
        }
        self.tries += 1;
        sh.tracker.retries.fetch_add(1, Ordering::Relaxed);
        let d = after.unwrap_or_else(|| self.backoff.next_delay());
        tracing::warn!(file = %fj.path, chunk = self.idx, why = %why, delay_ms = d.as_millis() as u64, "retrying chunk");
        tokio::select! {
            _ = sh.cancel.cancelled() => Err(Fail::Err(Error::Cancelled)),
            _ = tokio::time::sleep(d) => Ok(()),
        }
    }

    /// The download server refused the link: resolve again at the pinned commit.
    async fn refresh(&mut self, http: HttpError) -> Result<(), Fail> {
        let (sh, fj) = (self.sh, self.fj);
        self.refreshes += 1;
        sh.tracker.retries.fetch_add(1, Ordering::Relaxed);
        // A blob still gone after a fresh link at the pinned commit was retired
        // upstream: the download starts over from the branch's new commit.
        if self.refreshes >= 3 && matches!(http.status, 404 | 410) {
            return Err(Fail::Changed(format!("the blob is gone ({http})")));
        }
        if self.refreshes > 5 {
            return Err(Fail::Err(Error::Unauthorized(Refusal::new(
                format!(
                    "{}: the download server keeps refusing the link the Hub gives ({http}); check your access to {}/{}",
                    fj.path, sh.hub.cfg.endpoint, fj.repo
                ),
                Some(http),
            ))));
        }
        tracing::info!(file = %fj.path, why = %http, "download link refused: resolving again");
        let r = fj.resolve_unchanged(sh).await?;
        fj.set_url(r.url);
        Ok(())
    }

    /// All bytes are in: data durable (`fdatasync`), then the chunk's SHA-256.
    async fn finish(self) -> Result<ChunkDone, Fail> {
        let (sh, fj) = (self.sh, self.fj);
        sh.tracker.clear_error();
        let f = fj.file.clone();
        tokio::task::spawn_blocking(move || f.sync_data())
            .await
            .map_err(Error::task("sync task"))?
            .map_err(|e| Error::io(format!("fdatasync {}", fj.path), e))?;
        let faults = self.tries + self.refreshes + self.ignored_range;
        let sha = self.hasher.finish().await?;
        Ok(ChunkDone { sha, faults })
    }
}

/// Where the piece being received starts, its running hash, and since when.
pub(crate) struct Cursor {
    from: u64,
    /// Everything before this is synced (data and log).
    synced: u64,
    hash: PieceHasher,
    since: Instant,
    /// When the last record (synced or not) was appended.
    recorded: Instant,
}

impl Cursor {
    /// The record of `[self.from, at)` of the chunk starting at `chunk_start`; the next piece
    /// starts at `at`.
    fn take_piece(&mut self, fj: &FileJob, chunk_start: u64, at: u64) -> PieceRecord {
        let rec = PieceRecord {
            chunk: chunk_start / fj.chunk_size.max(1),
            start: self.from,
            end: at,
            hash: std::mem::replace(&mut self.hash, PieceHasher::new()).finish(),
        };
        self.from = at;
        self.recorded = Instant::now();
        rec
    }
}

/// Record `[cursor.from, at)` in the log without syncing (`PIECE_RECORD_BYTES` /
/// `PIECE_RECORD_TIME`).
fn record_piece(fj: &FileJob, chunk_start: u64, cursor: &mut Cursor, at: u64) -> Result<(), Fail> {
    fj.pieces
        .append_unsynced(&cursor.take_piece(fj, chunk_start, at))?;
    Ok(())
}

/// Make `[cursor.synced, at)` durable: data first (`fdatasync`), then the log, with the
/// record of `[cursor.from, at)`.
async fn commit_piece(
    fj: &FileJob,
    chunk_start: u64,
    cursor: &mut Cursor,
    at: u64,
) -> Result<(), Fail> {
    let f = fj.file.clone();
    tokio::task::spawn_blocking(move || f.sync_data())
        .await
        .map_err(Error::task("sync task"))?
        .map_err(|e| Error::io(format!("fdatasync {}", fj.path), e))?;
    if at > cursor.from {
        fj.pieces.append(&cursor.take_piece(fj, chunk_start, at))?;
    } else {
        fj.pieces.sync()?; // the records appended since the last sync
    }
    cursor.synced = at;
    cursor.since = Instant::now();
    cursor.recorded = cursor.since;
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
    // Records are small on a weak link (one every `PIECE_RECORD_TIME`): read runs of
    // contiguous ones (up to `PIECE_MAX_BYTES`) at once, check each record's slice.
    let mut i = 0;
    'runs: while i < recs.len() {
        let mut j = i + 1;
        while j < recs.len()
            && recs[j].start == recs[j - 1].end
            && recs[j].end - recs[i].start <= PIECE_MAX_BYTES
        {
            j += 1;
        }
        let (f, start, len) = (
            fj.file.clone(),
            recs[i].start,
            (recs[j - 1].end - recs[i].start) as usize,
        );
        let buf = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            let mut buf = vec![0u8; len];
            read_at(&f, &mut buf, start)?;
            Ok(buf)
        })
        .await
        .map_err(Error::task("read task"))?
        .map_err(|e| Error::io(format!("read {}", fj.path), e))?;
        let buf = bytes::Bytes::from(buf);
        for r in &recs[i..j] {
            let piece = buf.slice((r.start - start) as usize..(r.end - start) as usize);
            if crate::pieces::piece_hash(&piece) != r.hash {
                tracing::warn!(file = %fj.path, chunk = r.chunk, offset = r.start, "a durable piece does not match its hash on disk: fetching it again");
                break 'runs;
            }
            hasher.update(piece).await?;
            kept = r.end - chunk_start;
        }
        i = j;
    }
    fj.bytes.fetch_add(kept, Ordering::Relaxed);
    Ok(kept)
}

/// Reads exactly `buf.len()` bytes at `off` without moving a shared cursor (the chunk writers
/// and the repair read the same file at once).
#[cfg(unix)]
pub(crate) fn read_at(f: &File, buf: &mut [u8], off: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.read_exact_at(buf, off)
}

#[cfg(not(unix))]
pub(crate) fn read_at(f: &File, buf: &mut [u8], off: u64) -> std::io::Result<()> {
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
