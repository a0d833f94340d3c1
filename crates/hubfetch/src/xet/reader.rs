//! Reads one Xet file: token → reconstruction → xorb ranges (exactly the signed `Range`) →
//! decompressed, hashed chunks written at their file offsets → file hash and SHA-256 checks.
//!
//! What is checked against what (see the crate README, "Xet"):
//! - every chunk's hash is computed from its decompressed bytes;
//! - a fetched range that starts at chunk 0 and whose Merkle root equals the term's xorb hash
//!   is a whole xorb, verified against the Hub's name for it (event `XorbVerified`);
//! - the file's Merkle hash over all chunk hashes must equal `X-Xet-Hash` (no extra read); on a
//!   mismatch the terms not verified by a xorb hash are fetched again, one at a time, until it
//!   matches (so one corrupt range costs one range);
//! - the SHA-256 of the written file must equal the LFS sha256 the cache blob is named by.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt as _;
use reqwest::StatusCode;
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};
use tokio::sync::watch;

use super::api::{FetchRange, ReadToken, Reconstruction, Span, Term};
use super::format::hash::{file_hash, xorb_hash, XetHash};
use super::format::xorb::ChunkStream;
use super::journal::{Journal, TermRecord};
use super::XetError;

/// The file to read, as the Hub's `HEAD` names it.
#[derive(Debug, Clone)]
pub struct XetTarget {
    /// `HF_ENDPOINT` (the Hub; the token endpoint lives there).
    pub endpoint: String,
    /// `org/name`.
    pub repo: String,
    /// Commit (or revision) the token is asked for.
    pub revision: String,
    /// `X-Xet-Hash`.
    pub file_hash: XetHash,
    /// `X-Linked-Size`.
    pub size: u64,
    /// The LFS sha256 (`X-Linked-Etag`), checked on the finished file when given.
    pub sha256: Option<String>,
}

/// Where one term (one slot of the file's chunk map) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermState {
    /// Its transfer is running.
    InFlight,
    /// Durable, every chunk hashed; it covers part of a xorb, so only the file hash checks it.
    Stored,
    /// Durable and its whole xorb matched the xorb hash the Hub named.
    Verified,
    /// Its transfer failed or its bytes did not check: it is fetched again.
    Failed,
}

/// What happened while reading, for progress streams and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XetEvent {
    /// Body bytes received from a xorb transfer.
    Received(u64),
    /// The file is read as this many terms (file order; the chunk map's slots).
    Planned(usize),
    /// Bytes kept from the journal of an earlier run (durable, re-hashed), sent once after
    /// `Planned`.
    Resumed(u64),
    /// Term `n` (file order) changed state.
    Term(usize, TermState),
    /// A whole xorb was received and matched its hash.
    XorbVerified(String),
    /// A transfer or query failed and is retried.
    Retry(String),
    /// The signed URLs were refused (403) or expired: the reconstruction is asked again.
    Requery,
    /// The file hash did not match: term `n` is fetched again.
    Repair(usize),
}

/// Totals of one read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XetReport {
    /// Xorb body bytes received (all attempts).
    pub bytes_received: u64,
    /// Terms whose xorb hash was checked.
    pub xorbs_verified: u64,
    /// Reconstruction queries.
    pub queries: u64,
    /// Terms fetched again to repair a file-hash mismatch.
    pub repaired_terms: u64,
    /// Terms kept from the journal of an earlier run (not fetched again).
    pub resumed_terms: u64,
    /// Most xorb transfers running at once.
    pub max_parallel: u64,
    /// Xorb transfer requests sent (all attempts, single- and multi-range).
    pub transfers: u64,
    /// Of those, requests naming several ranges at once (one `multipart/byteranges` answer
    /// for several terms).
    pub multi_range_transfers: u64,
}

/// Knobs of the reader.
#[derive(Debug, Clone)]
pub struct ReaderOptions {
    /// Attempts per term before giving up (transient errors; re-queries count separately).
    pub max_attempts: u32,
    /// Longest wait for the next body bytes.
    pub stall_timeout: Duration,
    /// First backoff delay (doubles, capped at 10 s).
    pub backoff: Duration,
    /// Xorb ranges transferred at once (at least 1).
    pub connections: usize,
    /// While this reads `true` no transfer runs: running ones stop (their range is asked again
    /// on resume), none starts. `None`: never paused.
    pub paused: Option<watch::Receiver<bool>>,
    /// Fetch the ranges of a v2 fetch entry that names several (one signed URL) in one request
    /// with a multi-range `Range` (a `multipart/byteranges` answer). A server that answers such
    /// a request with a single range or the whole xorb gets one request per range from then
    /// on. `false`: always one request per range.
    pub multi_range: bool,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            max_attempts: 8,
            stall_timeout: Duration::from_secs(30),
            backoff: Duration::from_millis(200),
            connections: 8,
            paused: None,
            multi_range: true,
        }
    }
}

/// A Xet reader: one HTTP client, the Hub token (sent only to the token endpoint) and the
/// current CAS token.
pub struct Reader {
    http: reqwest::Client,
    hub_token: Option<String>,
    token: tokio::sync::Mutex<Option<(ReadToken, SystemTime)>>,
    opts: ReaderOptions,
    report: Mutex<XetReport>,
    in_flight: std::sync::atomic::AtomicU64,
    /// Set once the server answered a multi-range request with one range or the whole xorb.
    single_ranges_only: std::sync::atomic::AtomicBool,
}

/// How a term's transfer failed.
enum TermFail {
    /// Retry after a pause.
    Transient(String),
    /// URLs refused or expired: query again.
    Requery,
    /// `paused` turned true: wait, then ask the range again.
    Paused,
    Fatal(XetError),
}

/// One term's outcome: chunk hashes and whether its whole xorb matched.
#[derive(Default)]
pub(crate) struct TermDone {
    chunks: Vec<(XetHash, u64)>,
    xorb_verified: bool,
}

/// The signed URLs in hand: the fetch info of every reconstruction asked so far, freshest first
/// (a refused URL is replaced by asking the CAS again for exactly the term that needs it).
struct Urls(Mutex<Reconstruction>);

impl Urls {
    fn new() -> Self {
        Urls(Mutex::new(Reconstruction {
            offset_into_first_range: 0,
            terms: Vec::new(),
            xorbs: std::collections::HashMap::new(),
        }))
    }

    fn merge(&self, r: Reconstruction) {
        let mut cur = self.0.lock();
        for (hash, mut fetches) in r.xorbs {
            let list = cur.xorbs.entry(hash).or_default();
            fetches.append(list);
            *list = fetches;
        }
    }

    fn find(&self, term: &Term) -> Option<(String, FetchRange)> {
        self.0.lock().fetch_for(term)
    }
}

/// The pieces of one term as they become durable: a long term (up to a 64 MiB xorb) is
/// journalled piece by piece, and a transfer that fails half-way resumes after its last
/// durable chunk instead of from the term's start.
struct Part<'a> {
    /// The term and its file offset.
    offset: u64,
    term: &'a Term,
    /// Chunks of the term written so far, in order.
    chunks: Vec<(XetHash, u64)>,
    /// Of those, how many are in the journal.
    durable: usize,
    /// When the last piece was journalled.
    since: std::time::Instant,
}

impl<'a> Part<'a> {
    /// Nothing of `term` (at file offset `offset`) written yet.
    fn new(offset: u64, term: &'a Term) -> Self {
        Part {
            offset,
            term,
            chunks: Vec::new(),
            durable: 0,
            since: std::time::Instant::now(),
        }
    }

    /// Bytes of the term written so far.
    fn written(&self) -> u64 {
        self.chunks.iter().map(|c| c.1).sum()
    }

    /// What is still to fetch, as a term at its file offset.
    fn rest(&self) -> (u64, Term) {
        let mut t = self.term.clone();
        t.range.start += self.chunks.len() as u64;
        t.unpacked_length -= self.written();
        (self.offset + self.written(), t)
    }

    /// A piece is due: 4 MiB, or at least a chunk and a second since the last one.
    fn due(&self) -> bool {
        let new: u64 = self.chunks[self.durable..].iter().map(|c| c.1).sum();
        new >= PIECE_BYTES || (new > 0 && self.since.elapsed() >= PIECE_EVERY)
    }
}

/// A piece of a long term is journalled once this many bytes are durable...
const PIECE_BYTES: u64 = 4 << 20;
/// ... or this long after the last piece.
const PIECE_EVERY: Duration = Duration::from_secs(1);

/// The event sink, shared by the concurrent transfers (held only while an event is handed on).
struct Sink<F>(Mutex<F>);

impl<F: FnMut(&XetEvent)> Sink<F> {
    fn emit(&self, e: XetEvent) {
        (self.0.lock())(&e);
    }
}

/// Counts a running transfer while alive.
struct Running<'a>(&'a Reader);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Reader {
    /// A reader using `http` (no default Authorization header on it) and the Hub token.
    pub fn new(http: reqwest::Client, hub_token: Option<String>, opts: ReaderOptions) -> Self {
        Reader {
            http,
            hub_token,
            token: tokio::sync::Mutex::new(None),
            opts,
            report: Mutex::new(XetReport::default()),
            in_flight: std::sync::atomic::AtomicU64::new(0),
            single_ranges_only: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn count(&self, f: impl FnOnce(&mut XetReport)) {
        f(&mut self.report.lock());
    }

    /// A fresh CAS token unless the current one is still good.
    async fn token(&self, t: &XetTarget, force: bool) -> Result<ReadToken, XetError> {
        let mut cur = self.token.lock().await;
        if let Some((tok, issued)) = &*cur {
            if !force && !tok.stale(*issued) {
                return Ok(tok.clone());
            }
        }
        let url = format!(
            "{}/api/models/{}/xet-read-token/{}",
            t.endpoint.trim_end_matches('/'),
            t.repo,
            t.revision
        );
        let mut req = self.http.get(&url);
        if let Some(h) = &self.hub_token {
            req = req.bearer_auth(h);
        }
        let resp = req.send().await.map_err(|e| XetError::Http {
            url: url.clone(),
            source: e,
        })?;
        if !resp.status().is_success() {
            return Err(XetError::Status {
                what: "xet-read-token",
                status: resp.status().as_u16(),
            });
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| XetError::Http { url, source: e })?;
        let tok: ReadToken = serde_json::from_slice(&body)
            .map_err(|e| XetError::Protocol(format!("xet-read-token JSON: {e}")))?;
        *cur = Some((tok.clone(), SystemTime::now()));
        Ok(tok)
    }

    /// The reconstruction of the file's bytes `range` (inclusive; `None` = all): v2, else v1.
    async fn reconstruct(
        &self,
        t: &XetTarget,
        range: Option<(u64, u64)>,
    ) -> Result<Reconstruction, XetError> {
        let mut forced = false;
        for _ in 0..3 {
            let tok = self.token(t, forced).await?;
            for version in ["v2", "v1"] {
                self.count(|r| r.queries += 1);
                let url = format!("{}/{version}/reconstructions/{}", tok.cas_url, t.file_hash);
                let mut req = self.http.get(&url).bearer_auth(&tok.access_token);
                if let Some((a, b)) = range {
                    req = req.header("range", format!("bytes={a}-{b}"));
                }
                let resp = req.send().await.map_err(|e| XetError::Http {
                    url: url.clone(),
                    source: e,
                })?;
                let status = resp.status();
                if version == "v2"
                    && (status == StatusCode::NOT_FOUND || status == StatusCode::NOT_IMPLEMENTED)
                {
                    continue;
                }
                if status == StatusCode::UNAUTHORIZED {
                    forced = true;
                    break;
                }
                if !status.is_success() {
                    return Err(XetError::Status {
                        what: "reconstruction",
                        status: status.as_u16(),
                    });
                }
                let body = resp
                    .bytes()
                    .await
                    .map_err(|e| XetError::Http { url, source: e })?;
                return if version == "v2" {
                    Reconstruction::from_v2(&body)
                } else {
                    Reconstruction::from_v1(&body)
                };
            }
        }
        Err(XetError::Status {
            what: "reconstruction (token refused)",
            status: 401,
        })
    }

    /// Asks the CAS again for exactly the bytes of `term` at `offset` (fresh signed URLs,
    /// pruned to its chunks).
    async fn requery(
        &self,
        t: &XetTarget,
        urls: &Urls,
        offset: u64,
        term: &Term,
    ) -> Result<(), XetError> {
        let last = offset + term.unpacked_length.max(1) - 1;
        let r = self.reconstruct(t, Some((offset, last))).await?;
        urls.merge(r);
        Ok(())
    }

    /// Reads the file into `out` (a partial file there is resumed from its journal,
    /// `out.xet-journal`), verified; removes the journal once the file is verified.
    /// Up to [`ReaderOptions::connections`] xorb ranges are transferred at once; each term is
    /// journalled as its bytes become durable (long ones piece by piece).
    pub async fn fetch(
        &mut self,
        t: &XetTarget,
        out: &Path,
        on_event: impl FnMut(&XetEvent) + Send,
    ) -> Result<XetReport, XetError> {
        let sink = Sink(Mutex::new(on_event));
        self.fetch_with(t, out, &sink).await
    }

    async fn fetch_with<F: FnMut(&XetEvent) + Send>(
        &self,
        t: &XetTarget,
        out: &Path,
        sink: &Sink<F>,
    ) -> Result<XetReport, XetError> {
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(out)
            .await
            .map_err(XetError::Io)?;
        if file.metadata().await.map_err(XetError::Io)?.len() != t.size {
            file.set_len(t.size).await.map_err(XetError::Io)?;
        }
        drop(file);
        let (journal, records) =
            Journal::open(&Journal::path_for(out), out, &t.file_hash, t.size).await?;
        let journal = tokio::sync::Mutex::new(journal);
        let urls = Urls::new();
        let (terms, mut done) = self.plan(t, records, &urls).await?;
        sink.emit(XetEvent::Planned(terms.len()));
        let kept: u64 = terms
            .iter()
            .zip(&done)
            .filter(|(_, d)| d.is_some())
            .map(|((_, term), _)| term.unpacked_length)
            .sum();
        if kept > 0 {
            sink.emit(XetEvent::Resumed(kept));
        }
        let mut todo = Vec::new();
        for (i, d) in done.iter().enumerate() {
            match d {
                Some(d) => {
                    self.count(|r| r.resumed_terms += 1);
                    sink.emit(XetEvent::Term(i, state_of(d)));
                }
                None => todo.push(i),
            }
        }
        let conns = self.opts.connections.max(1);
        let ctx = Ctx {
            t,
            urls: &urls,
            out,
            journal: &journal,
        };
        let jobs = self.jobs(&terms, &todo, &urls);
        let mut running = futures_util::stream::iter(jobs.into_iter().map(|job| {
            let (ctx, terms) = (&ctx, &terms);
            async move {
                match job {
                    Job::One(i) => {
                        let (offset, term) = &terms[i];
                        vec![(i, self.term(ctx, i, term, *offset, sink).await)]
                    }
                    Job::Multi { url, ranges } => self.multi(ctx, terms, &url, &ranges, sink).await,
                }
            }
        }))
        .buffer_unordered(conns);
        while let Some(results) = running.next().await {
            for (i, res) in results {
                let d = res?;
                sink.emit(XetEvent::Term(i, state_of(&d)));
                done[i] = Some(d);
            }
        }
        drop(running);
        let mut done: Vec<TermDone> = done.into_iter().map(|d| d.unwrap_or_default()).collect();
        self.check_and_repair(&ctx, &terms, &mut done, sink).await?;
        if let Some(want) = &t.sha256 {
            let got = sha256_of(out).await?;
            if !got.eq_ignore_ascii_case(want) {
                return Err(XetError::Sha256Mismatch {
                    want: want.clone(),
                    got,
                });
            }
        }
        journal.into_inner().remove().await;
        Ok(self.report.lock().clone())
    }

    /// The file's terms in order and which of them the journal already holds. The CAS is
    /// asked only for the gaps between journalled terms (one ranged query per gap; its terms
    /// come pruned to the chunks holding those bytes, as the reference CAS does). A CAS that
    /// does not prune that way gets one whole-file query, keeping the journalled terms it
    /// names identically.
    #[allow(clippy::type_complexity)]
    async fn plan(
        &self,
        t: &XetTarget,
        records: Vec<TermRecord>,
        urls: &Urls,
    ) -> Result<(Vec<(u64, Term)>, Vec<Option<TermDone>>), XetError> {
        let mut gaps = Vec::new();
        let mut at = 0u64;
        for r in &records {
            if r.offset > at {
                gaps.push((at, r.offset - 1));
            }
            at = r.offset + r.len();
        }
        if at < t.size {
            gaps.push((at, t.size - 1));
        }
        let mut planned: BTreeMap<u64, (Term, Option<TermDone>)> = records
            .iter()
            .map(|r| (r.offset, (r.term(), Some(TermDone::from_record(r)))))
            .collect();
        let mut pruned = true;
        for &(a, b) in &gaps {
            let whole = a == 0 && b + 1 == t.size;
            let r = self
                .reconstruct(t, if whole { None } else { Some((a, b)) })
                .await?;
            let held: u64 = r.terms.iter().map(|x| x.unpacked_length).sum();
            if r.offset_into_first_range != 0 || held != b + 1 - a {
                pruned = false;
                break;
            }
            let mut o = a;
            for term in &r.terms {
                planned.insert(o, (term.clone(), None));
                o += term.unpacked_length;
            }
            urls.merge(r);
        }
        if !pruned {
            let r = self.reconstruct(t, None).await?;
            if r.offset_into_first_range != 0 {
                return Err(XetError::Protocol(
                    "offset_into_first_range of a whole file".into(),
                ));
            }
            let by_offset: BTreeMap<u64, &TermRecord> =
                records.iter().map(|r| (r.offset, r)).collect();
            planned.clear();
            let mut o = 0;
            for term in &r.terms {
                let kept = by_offset.get(&o).filter(|r| {
                    r.xorb == term.hash
                        && r.start == term.range.start
                        && r.end == term.range.end
                        && r.len() == term.unpacked_length
                });
                planned.insert(o, (term.clone(), kept.map(|r| TermDone::from_record(r))));
                o += term.unpacked_length;
            }
            urls.merge(r);
        }
        let mut terms = Vec::with_capacity(planned.len());
        let mut done = Vec::with_capacity(planned.len());
        let mut at = 0;
        for (o, (term, d)) in planned {
            if o != at {
                return Err(XetError::Protocol(format!(
                    "terms do not tile the file at byte {at}"
                )));
            }
            at += term.unpacked_length;
            terms.push((o, term));
            done.push(d);
        }
        if at != t.size {
            return Err(XetError::Protocol(format!(
                "terms hold {at} bytes, file is {}",
                t.size
            )));
        }
        Ok((terms, done))
    }

    /// File hash from the chunk hashes; on a mismatch re-fetch unverified terms one by one.
    async fn check_and_repair<F: FnMut(&XetEvent) + Send>(
        &self,
        ctx: &Ctx<'_>,
        terms: &[(u64, Term)],
        done: &mut [TermDone],
        sink: &Sink<F>,
    ) -> Result<(), XetError> {
        let hash_of = |done: &[TermDone]| {
            let all: Vec<(XetHash, u64)> =
                done.iter().flat_map(|d| d.chunks.iter().copied()).collect();
            file_hash(&all)
        };
        if hash_of(done) == ctx.t.file_hash {
            return Ok(());
        }
        for i in 0..terms.len() {
            if done[i].xorb_verified {
                continue;
            }
            sink.emit(XetEvent::Repair(i));
            sink.emit(XetEvent::Term(i, TermState::Failed));
            self.count(|r| r.repaired_terms += 1);
            let (offset, term) = &terms[i];
            done[i] = self.term(ctx, i, term, *offset, sink).await?;
            sink.emit(XetEvent::Term(i, state_of(&done[i])));
            if hash_of(done) == ctx.t.file_hash {
                return Ok(());
            }
        }
        Err(XetError::FileHashMismatch {
            want: ctx.t.file_hash.hex(),
            got: hash_of(done).hex(),
        })
    }

    /// Waits while paused.
    async fn unpaused(&self) {
        if let Some(p) = &self.opts.paused {
            let mut p = p.clone();
            let _ = p.wait_for(|v| !*v).await;
        }
    }

    /// Journals the chunks written since the last piece (after `fdatasync` of their bytes).
    async fn commit(
        &self,
        ctx: &Ctx<'_>,
        file: &mut tokio::fs::File,
        part: &mut Part<'_>,
    ) -> Result<(), XetError> {
        if part.durable == part.chunks.len() {
            return Ok(());
        }
        file.sync_data().await.map_err(XetError::Io)?;
        let before: u64 = part.chunks[..part.durable].iter().map(|c| c.1).sum();
        let new = &part.chunks[part.durable..];
        let rec = TermRecord {
            offset: part.offset + before,
            xorb: part.term.hash.clone(),
            start: part.term.range.start + part.durable as u64,
            end: part.term.range.start + part.chunks.len() as u64,
            chunks: new.to_vec(),
            verified: false,
        };
        ctx.journal.lock().await.append(&rec).await?;
        part.durable = part.chunks.len();
        part.since = std::time::Instant::now();
        Ok(())
    }

    /// One term, with retries and re-queries; on return its bytes are durable and journalled.
    /// A failed transfer keeps the chunks it wrote (journalled as a piece) and the next
    /// attempt asks the CAS for the rest of the term only.
    async fn term<F: FnMut(&XetEvent) + Send>(
        &self,
        ctx: &Ctx<'_>,
        i: usize,
        term: &Term,
        offset: u64,
        sink: &Sink<F>,
    ) -> Result<TermDone, XetError> {
        self.term_from(ctx, i, Part::new(offset, term), sink).await
    }

    /// [`Reader::term`] from a part whose first chunks are already durable and journalled
    /// (what a failed multi-range transfer delivered of it).
    async fn term_from<F: FnMut(&XetEvent) + Send>(
        &self,
        ctx: &Ctx<'_>,
        i: usize,
        mut part: Part<'_>,
        sink: &Sink<F>,
    ) -> Result<TermDone, XetError> {
        let (term, offset) = (part.term, part.offset);
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(ctx.out)
            .await
            .map_err(XetError::Io)?;
        let mut delay = self.opts.backoff;
        let mut attempts = 0;
        let mut requeries = 0;
        let mut range_verified = false;
        loop {
            self.unpaused().await;
            let (rest_at, rest) = part.rest();
            if rest.range.start >= rest.range.end {
                break;
            }
            let Some((url, range)) = ctx.urls.find(&rest) else {
                requeries += 1;
                if requeries > self.opts.max_attempts {
                    return Err(XetError::Protocol(format!(
                        "no fetch info for xorb {} chunks {}..{}",
                        rest.hash, rest.range.start, rest.range.end
                    )));
                }
                self.requery(ctx.t, ctx.urls, rest_at, &rest).await?;
                continue;
            };
            sink.emit(XetEvent::Term(i, TermState::InFlight));
            let before = part.chunks.len();
            let res = self
                .transfer(ctx, &url, range, &rest, rest_at, &mut file, &mut part, sink)
                .await;
            let progressed = part.chunks.len() > before;
            match res {
                Ok(whole_xorb) => {
                    range_verified = whole_xorb && before == 0;
                    break;
                }
                Err(TermFail::Fatal(e)) => return Err(e),
                Err(fail) => {
                    // Keep what arrived; the next attempt asks for the rest only.
                    self.commit(ctx, &mut file, &mut part).await?;
                    if progressed {
                        let (at, rest) = part.rest();
                        if rest.range.start < rest.range.end {
                            self.requery(ctx.t, ctx.urls, at, &rest).await?;
                        }
                    }
                    match fail {
                        TermFail::Paused | TermFail::Fatal(_) => {}
                        TermFail::Requery => {
                            requeries += 1;
                            if requeries > self.opts.max_attempts {
                                return Err(XetError::GaveUp {
                                    attempts: requeries,
                                    last: "signed URLs refused after every re-query".into(),
                                });
                            }
                            sink.emit(XetEvent::Requery);
                            if !progressed {
                                let (at, rest) = part.rest();
                                self.requery(ctx.t, ctx.urls, at, &rest).await?;
                            }
                        }
                        TermFail::Transient(why) => {
                            sink.emit(XetEvent::Term(i, TermState::Failed));
                            attempts = if progressed { 1 } else { attempts + 1 };
                            if attempts >= self.opts.max_attempts {
                                return Err(XetError::GaveUp {
                                    attempts,
                                    last: why,
                                });
                            }
                            tracing::debug!(%why, "xet transfer retried");
                            sink.emit(XetEvent::Retry(why));
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(Duration::from_secs(10));
                        }
                    }
                }
            }
        }
        let len = part.written();
        if len != term.unpacked_length {
            return Err(XetError::Protocol(format!(
                "term decompressed to {len} bytes, not {}",
                term.unpacked_length
            )));
        }
        file.sync_data().await.map_err(XetError::Io)?;
        let d = self.term_done(term, part.chunks, range_verified, sink);
        ctx.journal
            .lock()
            .await
            .append(&TermRecord::new(offset, term, &d))
            .await?;
        Ok(d)
    }

    /// A signed xorb GET with `Range: {range}`; a refused URL (401/403) is asked for again,
    /// 429 and 5xx are retried.
    async fn xorb_get(&self, url: &str, range: String) -> Result<reqwest::Response, TermFail> {
        let resp = self
            .http
            .get(url)
            .header("range", range)
            .send()
            .await
            .map_err(|e| TermFail::Transient(format!("xorb request: {e}")))?;
        let status = resp.status();
        if status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED {
            return Err(TermFail::Requery);
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(TermFail::Transient(format!(
                "xorb transfer answered {status}"
            )));
        }
        Ok(resp)
    }

    /// A term's written chunks as its outcome. It is verified when the range holding it was
    /// its whole xorb and matched (`range_verified`), or when the term's own chunks are the
    /// whole xorb (a whole xorb read in pieces is still checked: its chunks' Merkle root is its
    /// name).
    fn term_done<F: FnMut(&XetEvent) + Send>(
        &self,
        term: &Term,
        chunks: Vec<(XetHash, u64)>,
        range_verified: bool,
        sink: &Sink<F>,
    ) -> TermDone {
        let xorb_verified = range_verified
            || (term.range.start == 0
                && XetHash::from_hex(&term.hash).is_ok_and(|h| h == xorb_hash(&chunks)));
        if xorb_verified {
            self.count(|r| r.xorbs_verified += 1);
            sink.emit(XetEvent::XorbVerified(term.hash.clone()));
        }
        TermDone {
            chunks,
            xorb_verified,
        }
    }

    /// Fetches exactly the signed byte range and writes the chunks of `term` (at `offset`)
    /// into `part`, journalling pieces as they become due. `Ok(true)`: the range was a whole
    /// xorb and matched its hash.
    #[allow(clippy::too_many_arguments)]
    async fn transfer<F: FnMut(&XetEvent) + Send>(
        &self,
        ctx: &Ctx<'_>,
        url: &str,
        range: FetchRange,
        term: &Term,
        offset: u64,
        file: &mut tokio::fs::File,
        part: &mut Part<'_>,
        sink: &Sink<F>,
    ) -> Result<bool, TermFail> {
        use std::sync::atomic::Ordering;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let _running = Running(self);
        self.count(|r| {
            r.max_parallel = r.max_parallel.max(now);
            r.transfers += 1;
        });
        let mut paused = self.opts.paused.clone();
        let want_len = range.bytes.end + 1 - range.bytes.start;
        let resp = self
            .xorb_get(
                url,
                format!("bytes={}-{}", range.bytes.start, range.bytes.end),
            )
            .await?;
        let status = resp.status();
        if status != StatusCode::PARTIAL_CONTENT {
            return Err(TermFail::Transient(format!(
                "xorb transfer answered {status}, not 206"
            )));
        }
        let mut parser = ChunkStream::new();
        let mut idx = range.chunks.start;
        let mut range_chunks: Vec<(XetHash, u64)> = Vec::new();
        let mut pending: Vec<(u64, Vec<u8>, XetHash)> = Vec::new();
        let mut write_at = offset;
        let mut got = 0u64;
        let mut body = resp.bytes_stream();
        loop {
            let next = tokio::select! {
                n = tokio::time::timeout(self.opts.stall_timeout, body.next()) => n,
                _ = pause_requested(&mut paused) => return Err(TermFail::Paused),
            };
            let next = next.map_err(|_| TermFail::Transient("xorb transfer stalled".into()))?;
            let Some(piece) = next else { break };
            let piece = piece.map_err(|e| TermFail::Transient(format!("xorb body: {e}")))?;
            got += piece.len() as u64;
            self.count(|r| r.bytes_received += piece.len() as u64);
            sink.emit(XetEvent::Received(piece.len() as u64));
            if got > want_len {
                return Err(TermFail::Transient(format!(
                    "xorb body longer than {want_len}"
                )));
            }
            let res = parser.push(&piece, |chunk| {
                let h = super::format::hash::chunk_hash(chunk);
                range_chunks.push((h, chunk.len() as u64));
                if idx >= term.range.start && idx < term.range.end {
                    pending.push((write_at, chunk.to_vec(), h));
                    write_at += chunk.len() as u64;
                }
                idx += 1;
                Ok(())
            });
            // Chunks parsed before a bad one are good (each hashed from its own bytes).
            let bad = res.err();
            if write_at > offset + term.unpacked_length {
                return Err(TermFail::Transient(format!(
                    "term decompressed past its {} bytes",
                    term.unpacked_length
                )));
            }
            for (at, data, h) in pending.drain(..) {
                write_at_offset(file, at, &data)
                    .await
                    .map_err(|e| TermFail::Fatal(XetError::Io(e)))?;
                part.chunks.push((h, data.len() as u64));
            }
            if let Some(e) = bad {
                return Err(TermFail::Transient(format!("xorb data: {e}")));
            }
            if part.due() {
                self.commit(ctx, file, part)
                    .await
                    .map_err(TermFail::Fatal)?;
            }
        }
        if got != want_len {
            return Err(TermFail::Transient(format!(
                "xorb body {got} of {want_len} bytes"
            )));
        }
        parser
            .finish()
            .map_err(|e| TermFail::Transient(format!("xorb data: {e}")))?;
        if idx != range.chunks.end {
            return Err(TermFail::Transient(format!(
                "xorb range held {} chunks, not {}",
                idx - range.chunks.start,
                range.chunks.end - range.chunks.start
            )));
        }
        Ok(range.chunks.start == 0
            && XetHash::from_hex(&term.hash).is_ok_and(|h| h == xorb_hash(&range_chunks)))
    }
}

/// Most ranges one multi-range request names (a longer list is split; the Hub's fetch
/// entries stay far below this).
const MAX_RANGES_PER_REQUEST: usize = 64;

/// A unit of transfer work: one term on its own, or the terms of one or several ranges of
/// one signed URL in one request (multi-range when several).
enum Job {
    One(usize),
    Multi {
        url: String,
        /// The ranges asked, by xorb byte offset, each with the terms (indices into the file's
        /// terms) whose chunks it holds.
        ranges: Vec<(FetchRange, Vec<usize>)>,
    },
}

/// What a multi-range transfer leaves when it stops early: why, and every term of the job
/// with the chunks of it already durable and journalled.
struct MultiFail<'a>(TermFail, Vec<(usize, Part<'a>)>);

/// The part of a `multipart/byteranges` answer being parsed.
struct InPart {
    /// Index into the job's ranges.
    range: usize,
    parser: ChunkStream,
    /// Xorb chunk index of the next chunk.
    idx: u64,
    /// Hashes of all its chunks, when it starts at chunk 0 (it may be the whole xorb).
    chunks: Vec<(XetHash, u64)>,
}

impl Reader {
    /// The transfers to run for the terms `todo`, in file order of their first term: terms
    /// whose fetch info is one signed URL naming several ranges are fetched together in one
    /// multi-range request (unless [`ReaderOptions::multi_range`] is off), and terms sharing
    /// one range (a xorb range a file uses twice) in one request for it; all others alone.
    fn jobs(&self, terms: &[(u64, Term)], todo: &[usize], urls: &Urls) -> Vec<Job> {
        let mut jobs: Vec<(usize, Job)> = Vec::new();
        // By URL, in order of first appearance: its ranges and their terms.
        type Group = (usize, String, Vec<(FetchRange, Vec<usize>)>);
        let mut groups: Vec<Group> = Vec::new();
        for &i in todo {
            let Some((url, range)) = urls.find(&terms[i].1) else {
                jobs.push((i, Job::One(i)));
                continue;
            };
            let g = match groups.iter().position(|g| g.1 == url) {
                Some(g) => g,
                None => {
                    groups.push((i, url, Vec::new()));
                    groups.len() - 1
                }
            };
            let ranges = &mut groups[g].2;
            match ranges.iter_mut().find(|(r, _)| r.bytes == range.bytes) {
                Some((_, members)) => members.push(i),
                None => ranges.push((range, vec![i])),
            }
        }
        for (first, url, mut ranges) in groups {
            ranges.sort_by_key(|(r, _)| r.bytes.start);
            let per_request = if self.opts.multi_range {
                MAX_RANGES_PER_REQUEST
            } else {
                1
            };
            for now in ranges.chunks(per_request) {
                if now.len() == 1 && now[0].1.len() == 1 {
                    jobs.push((now[0].1[0], Job::One(now[0].1[0])));
                } else {
                    let first = now
                        .iter()
                        .flat_map(|(_, m)| m)
                        .min()
                        .copied()
                        .unwrap_or(first);
                    jobs.push((
                        first,
                        Job::Multi {
                            url: url.clone(),
                            ranges: now.to_vec(),
                        },
                    ));
                }
            }
        }
        jobs.sort_by_key(|(first, _)| *first);
        jobs.into_iter().map(|(_, j)| j).collect()
    }

    /// Runs a multi-range job: one request for all its ranges; whatever it did not deliver
    /// (a failure, or a server that answers with one range or the whole xorb) continues term
    /// by term from the chunks already durable, one request per range.
    async fn multi<F: FnMut(&XetEvent) + Send>(
        &self,
        ctx: &Ctx<'_>,
        terms: &[(u64, Term)],
        url: &str,
        ranges: &[(FetchRange, Vec<usize>)],
        sink: &Sink<F>,
    ) -> Vec<(usize, Result<TermDone, XetError>)> {
        use std::sync::atomic::Ordering;
        let several = ranges.len() > 1;
        let parts = if several && self.single_ranges_only.load(Ordering::Relaxed) {
            ranges
                .iter()
                .flat_map(|(_, m)| m.iter().map(|&i| (i, Part::new(terms[i].0, &terms[i].1))))
                .collect()
        } else {
            match self.transfer_multi(ctx, url, ranges, terms, sink).await {
                Ok(done) => return done.into_iter().map(|(i, d)| (i, Ok(d))).collect(),
                Err(MultiFail(TermFail::Fatal(e), _)) => {
                    // The file or the journal cannot be written: the whole job fails alike.
                    let why = e.to_string();
                    let mut out: Vec<(usize, Result<TermDone, XetError>)> = ranges
                        .iter()
                        .flat_map(|(_, m)| m.iter().copied())
                        .map(|i| (i, Err(XetError::Protocol(format!("not read: {why}")))))
                        .collect();
                    if let Some(first) = out.first_mut() {
                        first.1 = Err(e);
                    }
                    return out;
                }
                Err(MultiFail(why, parts)) => {
                    match why {
                        TermFail::Transient(why) => {
                            tracing::debug!(%why, "xet multi-range transfer failed: per range");
                            sink.emit(XetEvent::Retry(why));
                        }
                        TermFail::Requery => sink.emit(XetEvent::Requery),
                        TermFail::Paused | TermFail::Fatal(_) => {}
                    }
                    parts
                }
            }
        };
        let mut out = Vec::with_capacity(parts.len());
        for (i, part) in parts {
            out.push((i, self.term_from(ctx, i, part, sink).await));
        }
        out
    }

    /// One request for all `ranges` of the signed `url`; each term is journalled once all of
    /// it arrived. On failure the chunks already written are journalled (pieces) and handed
    /// back with every term of the job.
    async fn transfer_multi<'t, F: FnMut(&XetEvent) + Send>(
        &self,
        ctx: &Ctx<'_>,
        url: &str,
        ranges: &[(FetchRange, Vec<usize>)],
        terms: &'t [(u64, Term)],
        sink: &Sink<F>,
    ) -> Result<Vec<(usize, TermDone)>, MultiFail<'t>> {
        // Every term of the job, and for each range the positions of its terms in `parts`.
        let mut parts: Vec<(usize, Part<'t>)> = Vec::new();
        let mut holds: Vec<Vec<usize>> = Vec::with_capacity(ranges.len());
        for (_, m) in ranges {
            let mut h = Vec::with_capacity(m.len());
            for &i in m {
                h.push(parts.len());
                parts.push((i, Part::new(terms[i].0, &terms[i].1)));
            }
            holds.push(h);
        }
        let mut file = match tokio::fs::OpenOptions::new()
            .write(true)
            .open(ctx.out)
            .await
        {
            Ok(f) => f,
            Err(e) => return Err(MultiFail(TermFail::Fatal(XetError::Io(e)), parts)),
        };
        for (i, _) in &parts {
            sink.emit(XetEvent::Term(*i, TermState::InFlight));
        }
        let res = self
            .multi_body(ctx, url, ranges, &holds, &mut file, &mut parts, sink)
            .await;
        let verified = match res {
            Ok(v) => v,
            Err(why) => {
                // Keep what arrived (journalled as pieces); the terms go on one by one.
                for (_, part) in &mut parts {
                    if let Err(e) = self.commit(ctx, &mut file, part).await {
                        return Err(MultiFail(TermFail::Fatal(e), parts));
                    }
                }
                return Err(MultiFail(why, parts));
            }
        };
        let range_of: Vec<usize> = holds
            .iter()
            .enumerate()
            .flat_map(|(r, h)| h.iter().map(move |_| r))
            .collect();
        if let Err(e) = file.sync_data().await {
            return Err(MultiFail(TermFail::Fatal(XetError::Io(e)), parts));
        }
        let mut done = Vec::with_capacity(parts.len());
        for (pos, (i, part)) in parts.into_iter().enumerate() {
            let term = part.term;
            let d = self.term_done(term, part.chunks, verified[range_of[pos]], sink);
            let rec = TermRecord::new(part.offset, term, &d);
            if let Err(e) = ctx.journal.lock().await.append(&rec).await {
                return Err(MultiFail(TermFail::Fatal(e), Vec::new()));
            }
            done.push((i, d));
        }
        Ok(done)
    }

    /// Sends the request (its `Range` names exactly the ranges of the fetch entry, as the
    /// signature binds) and parses the answer as it streams: for several ranges a
    /// `multipart/byteranges` body (bounded: see `multipart.rs`), for one range a plain `206`
    /// of exactly its bytes. Each part's chunks are written for every term it holds
    /// (`holds[range]`: positions in `parts`). Returns, per range, whether it was a whole xorb
    /// that matched the xorb hash. A `200` or a single-range `206` to a multi-range request
    /// means the server does not do multi-range: one request per range from then on.
    #[allow(clippy::too_many_arguments)]
    async fn multi_body<F: FnMut(&XetEvent) + Send>(
        &self,
        ctx: &Ctx<'_>,
        url: &str,
        ranges: &[(FetchRange, Vec<usize>)],
        holds: &[Vec<usize>],
        file: &mut tokio::fs::File,
        parts: &mut [(usize, Part<'_>)],
        sink: &Sink<F>,
    ) -> Result<Vec<bool>, TermFail> {
        use super::multipart::{boundary, Multipart, Part as Piece};
        use std::sync::atomic::Ordering;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let _running = Running(self);
        let several = ranges.len() > 1;
        self.count(|r| {
            r.max_parallel = r.max_parallel.max(now);
            r.transfers += 1;
            r.multi_range_transfers += u64::from(several);
        });
        let mut paused = self.opts.paused.clone();
        let asked: Vec<(u64, u64)> = ranges
            .iter()
            .map(|(r, _)| (r.bytes.start, r.bytes.end))
            .collect();
        let spec: Vec<String> = asked.iter().map(|(a, b)| format!("{a}-{b}")).collect();
        let resp = self
            .xorb_get(url, format!("bytes={}", spec.join(",")))
            .await?;
        let status = resp.status();
        let single = |what: &str| {
            self.single_ranges_only.store(true, Ordering::Relaxed);
            tracing::info!(
                what,
                "xet: no multi-range answers here; one request per range"
            );
            TermFail::Transient(format!(
                "xorb server answered a multi-range request with {what}: one request per range"
            ))
        };
        if several && status == StatusCode::OK {
            return Err(single("200 (the whole xorb)"));
        }
        if status != StatusCode::PARTIAL_CONTENT {
            return Err(TermFail::Transient(format!(
                "xorb transfer answered {status}, not 206"
            )));
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        // Several ranges: the multipart parser; one: the body is that range's bytes.
        let mut mp = match (several, boundary(content_type)) {
            (true, Ok(Some(b))) => Some(Multipart::new(&b, asked)),
            (true, Ok(None)) => return Err(single("a single range")),
            (true, Err(e)) => return Err(TermFail::Transient(format!("xorb answer: {e}"))),
            (false, _) => None,
        };
        let want_len = ranges[0].0.bytes.end + 1 - ranges[0].0.bytes.start;
        let hashes: Vec<Option<XetHash>> = ranges
            .iter()
            .map(|(r, m)| {
                let t = m.first().and_then(|&i| parts.iter().find(|p| p.0 == i));
                (r.chunks.start == 0)
                    .then(|| t.and_then(|t| XetHash::from_hex(&t.1.term.hash).ok()))
                    .flatten()
            })
            .collect();
        let mut verified = vec![false; ranges.len()];
        let mut cur: Option<InPart> = None;
        let mut pending: Vec<(usize, Vec<u8>, XetHash)> = Vec::new();
        let mut got = 0u64;
        let mut body = resp.bytes_stream();
        let mut first = true;
        loop {
            let next = tokio::select! {
                n = tokio::time::timeout(self.opts.stall_timeout, body.next()) => n,
                _ = pause_requested(&mut paused) => return Err(TermFail::Paused),
            };
            let next = next.map_err(|_| TermFail::Transient("xorb transfer stalled".into()))?;
            let piece = match next {
                Some(p) => p.map_err(|e| TermFail::Transient(format!("xorb body: {e}")))?,
                None => bytes::Bytes::new(),
            };
            let end_of_body = piece.is_empty();
            got += piece.len() as u64;
            self.count(|r| r.bytes_received += piece.len() as u64);
            sink.emit(XetEvent::Received(piece.len() as u64));
            let parts_ro: &[(usize, Part<'_>)] = parts;
            let mut on_piece = |p: Piece<'_>| -> Result<(), String> {
                match p {
                    Piece::Start(n) => {
                        cur = Some(InPart {
                            range: n,
                            parser: ChunkStream::new(),
                            idx: ranges[n].0.chunks.start,
                            chunks: Vec::new(),
                        });
                        Ok(())
                    }
                    Piece::Data(d) => {
                        let c = cur.as_mut().ok_or("multipart data outside a part")?;
                        let members = &holds[c.range];
                        let keep = hashes[c.range].is_some();
                        let (idx, chunks) = (&mut c.idx, &mut c.chunks);
                        c.parser
                            .push(d, |chunk| {
                                let h = super::format::hash::chunk_hash(chunk);
                                for &m in members {
                                    let t = parts_ro[m].1.term;
                                    if *idx >= t.range.start && *idx < t.range.end {
                                        pending.push((m, chunk.to_vec(), h));
                                    }
                                }
                                if keep {
                                    chunks.push((h, chunk.len() as u64));
                                }
                                *idx += 1;
                                Ok(())
                            })
                            .map_err(|e| format!("xorb data: {e}"))?;
                        let end = ranges[c.range].0.chunks.end;
                        if c.idx > end {
                            return Err(format!("xorb range holds more than its {end} chunks"));
                        }
                        Ok(())
                    }
                    Piece::End(n) => {
                        let c = cur.take().ok_or("multipart part ended twice")?;
                        c.parser.finish().map_err(|e| format!("xorb data: {e}"))?;
                        let r = ranges[n].0.chunks;
                        if c.idx != r.end {
                            return Err(format!(
                                "xorb range held {} chunks, not {}",
                                c.idx - r.start,
                                r.end - r.start
                            ));
                        }
                        verified[n] = hashes[n].is_some_and(|h| h == xorb_hash(&c.chunks));
                        Ok(())
                    }
                }
            };
            let res: Result<(), String> = match &mut mp {
                Some(mp) => mp.push(&piece, on_piece).map_err(|e| match e {
                    Ok(why) => why,
                    Err(e) => format!("xorb answer: {e}"),
                }),
                None if got > want_len => Err(format!("xorb body longer than {want_len}")),
                None => (|| {
                    if first {
                        on_piece(Piece::Start(0))?;
                    }
                    if !piece.is_empty() {
                        on_piece(Piece::Data(&piece))?;
                    }
                    if got == want_len && !piece.is_empty() {
                        on_piece(Piece::End(0))?;
                    }
                    Ok(())
                })(),
            };
            first = false;
            // Chunks parsed before a bad one are good (each hashed from its own bytes).
            let bad = res.err().map(TermFail::Transient);
            for (m, data, h) in pending.drain(..) {
                let part = &mut parts[m].1;
                let at = part.offset + part.written();
                if part.written() + data.len() as u64 > part.term.unpacked_length {
                    return Err(TermFail::Transient(format!(
                        "term decompressed past its {} bytes",
                        part.term.unpacked_length
                    )));
                }
                write_at_offset(file, at, &data)
                    .await
                    .map_err(|e| TermFail::Fatal(XetError::Io(e)))?;
                part.chunks.push((h, data.len() as u64));
            }
            if let Some(e) = bad {
                return Err(e);
            }
            for (_, part) in parts.iter_mut() {
                if part.due() {
                    self.commit(ctx, file, part)
                        .await
                        .map_err(TermFail::Fatal)?;
                }
            }
            if end_of_body {
                break;
            }
        }
        match &mp {
            Some(mp) => mp
                .finish()
                .map_err(|e| TermFail::Transient(format!("xorb answer: {e}")))?,
            None if got != want_len => {
                return Err(TermFail::Transient(format!(
                    "xorb body {got} of {want_len} bytes"
                )))
            }
            None => {}
        }
        for (_, part) in parts.iter() {
            if part.written() != part.term.unpacked_length {
                return Err(TermFail::Transient(format!(
                    "term decompressed to {} bytes, not {}",
                    part.written(),
                    part.term.unpacked_length
                )));
            }
        }
        Ok(verified)
    }
}

/// What the transfers of one read share.
struct Ctx<'a> {
    t: &'a XetTarget,
    urls: &'a Urls,
    out: &'a Path,
    journal: &'a tokio::sync::Mutex<Journal>,
}

/// Resolves once `paused` reads true (never without a pause switch, or once it is gone).
async fn pause_requested(paused: &mut Option<watch::Receiver<bool>>) {
    match paused {
        Some(p) => {
            if p.wait_for(|v| *v).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

fn state_of(d: &TermDone) -> TermState {
    if d.xorb_verified {
        TermState::Verified
    } else {
        TermState::Stored
    }
}

impl TermDone {
    fn from_record(r: &TermRecord) -> Self {
        TermDone {
            chunks: r.chunks.clone(),
            xorb_verified: r.verified,
        }
    }
}

async fn write_at_offset(file: &mut tokio::fs::File, at: u64, data: &[u8]) -> std::io::Result<()> {
    file.seek(std::io::SeekFrom::Start(at)).await?;
    file.write_all(data).await
}

async fn sha256_of(path: &Path) -> Result<String, XetError> {
    use tokio::io::AsyncReadExt as _;
    let mut f = tokio::fs::File::open(path).await.map_err(XetError::Io)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).await.map_err(XetError::Io)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(hex::encode(ctx.finish().as_ref()))
}

impl TermRecord {
    fn new(offset: u64, term: &Term, d: &TermDone) -> Self {
        TermRecord {
            offset,
            xorb: term.hash.clone(),
            start: term.range.start,
            end: term.range.end,
            chunks: d.chunks.clone(),
            verified: d.xorb_verified,
        }
    }

    fn term(&self) -> Term {
        Term {
            hash: self.xorb.clone(),
            unpacked_length: self.len(),
            range: Span {
                start: self.start,
                end: self.end,
            },
        }
    }
}
