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

use std::path::Path;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt as _;
use reqwest::StatusCode;
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};

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

/// What happened while reading, for progress streams and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XetEvent {
    /// Body bytes received from a xorb transfer.
    Received(u64),
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
}

/// Knobs of the reader.
#[derive(Debug, Clone)]
pub struct ReaderOptions {
    /// Attempts per term before giving up (transient errors).
    pub max_attempts: u32,
    /// Longest wait for the next body bytes.
    pub stall_timeout: Duration,
    /// First backoff delay (doubles, capped at 10 s).
    pub backoff: Duration,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            max_attempts: 8,
            stall_timeout: Duration::from_secs(30),
            backoff: Duration::from_millis(200),
        }
    }
}

/// A Xet reader: one HTTP client, the Hub token (sent only to the token endpoint) and the
/// current CAS token.
pub struct Reader {
    http: reqwest::Client,
    hub_token: Option<String>,
    token: Option<(ReadToken, SystemTime)>,
    opts: ReaderOptions,
    report: XetReport,
}

/// How a term's transfer failed.
enum TermFail {
    /// Retry after a pause.
    Transient(String),
    /// URLs refused or expired: query again.
    Requery,
    Fatal(XetError),
}

/// One term's outcome: chunk hashes and whether its whole xorb matched.
pub(crate) struct TermDone {
    chunks: Vec<(XetHash, u64)>,
    xorb_verified: bool,
}

impl Reader {
    /// A reader using `http` (no default Authorization header on it) and the Hub token.
    pub fn new(http: reqwest::Client, hub_token: Option<String>, opts: ReaderOptions) -> Self {
        Reader {
            http,
            hub_token,
            token: None,
            opts,
            report: XetReport::default(),
        }
    }

    /// A fresh CAS token unless the current one is still good.
    async fn token(&mut self, t: &XetTarget, force: bool) -> Result<ReadToken, XetError> {
        if let Some((tok, issued)) = &self.token {
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
        self.token = Some((tok.clone(), SystemTime::now()));
        Ok(tok)
    }

    /// The reconstruction of the file from byte `from` on: v2, else v1.
    async fn reconstruct(&mut self, t: &XetTarget, from: u64) -> Result<Reconstruction, XetError> {
        let mut forced = false;
        for _ in 0..3 {
            let tok = self.token(t, forced).await?;
            for version in ["v2", "v1"] {
                self.report.queries += 1;
                let url = format!("{}/{version}/reconstructions/{}", tok.cas_url, t.file_hash);
                let mut req = self.http.get(&url).bearer_auth(&tok.access_token);
                if from > 0 {
                    req = req.header(
                        "range",
                        format!("bytes={from}-{}", t.size.saturating_sub(1)),
                    );
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

    /// Reads the file into `out` (a partial file there is resumed from its journal,
    /// `out.xet-journal`), verified; removes the journal once the file is verified.
    pub async fn fetch(
        &mut self,
        t: &XetTarget,
        out: &Path,
        mut on_event: impl FnMut(&XetEvent),
    ) -> Result<XetReport, XetError> {
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(out)
            .await
            .map_err(XetError::Io)?;
        if file.metadata().await.map_err(XetError::Io)?.len() != t.size {
            file.set_len(t.size).await.map_err(XetError::Io)?;
        }
        let (mut journal, mut records) =
            Journal::open(&Journal::path_for(out), out, &t.file_hash, t.size).await?;
        let mut resume_at: u64 = records.iter().map(TermRecord::len).sum();
        let mut recon = self.reconstruct(t, resume_at).await?;
        if recon.offset_into_first_range != 0 {
            // The server's terms do not start where our prefix ends: start over.
            records.clear();
            resume_at = 0;
            recon = self.reconstruct(t, 0).await?;
            if recon.offset_into_first_range != 0 {
                return Err(XetError::Protocol(
                    "offset_into_first_range of a whole file".into(),
                ));
            }
        }
        let rest: u64 = recon.terms.iter().map(|term| term.unpacked_length).sum();
        if resume_at + rest != t.size {
            return Err(XetError::Protocol(format!(
                "terms hold {rest} bytes after {resume_at}, file is {}",
                t.size
            )));
        }
        let mut terms: Vec<(u64, Term)> = Vec::new();
        let mut done: Vec<TermDone> = Vec::new();
        for r in &records {
            terms.push((r.offset, r.term()));
            done.push(TermDone {
                chunks: r.hashes().unwrap_or_default(),
                xorb_verified: r.verified,
            });
        }
        let mut offset = resume_at;
        for term in recon.terms.clone() {
            let d = self
                .term(t, &mut recon, &term, offset, &mut file, &mut on_event)
                .await?;
            file.sync_data().await.map_err(XetError::Io)?;
            journal.append(&TermRecord::new(offset, &term, &d)).await?;
            done.push(d);
            terms.push((offset, term.clone()));
            offset += term.unpacked_length;
        }
        self.check_and_repair(
            t,
            &mut recon,
            &terms,
            &mut done,
            (&mut file, &mut journal),
            &mut on_event,
        )
        .await?;
        file.sync_data().await.map_err(XetError::Io)?;
        drop(file);
        if let Some(want) = &t.sha256 {
            let got = sha256_of(out).await?;
            if !got.eq_ignore_ascii_case(want) {
                return Err(XetError::Sha256Mismatch {
                    want: want.clone(),
                    got,
                });
            }
        }
        journal.remove().await;
        Ok(self.report.clone())
    }

    /// File hash from the chunk hashes; on a mismatch re-fetch unverified terms one by one.
    async fn check_and_repair(
        &mut self,
        t: &XetTarget,
        recon: &mut Reconstruction,
        terms: &[(u64, Term)],
        done: &mut [TermDone],
        (file, journal): (&mut tokio::fs::File, &mut Journal),
        on_event: &mut impl FnMut(&XetEvent),
    ) -> Result<(), XetError> {
        let hash_of = |done: &[TermDone]| {
            let all: Vec<(XetHash, u64)> =
                done.iter().flat_map(|d| d.chunks.iter().copied()).collect();
            file_hash(&all)
        };
        if hash_of(done) == t.file_hash {
            return Ok(());
        }
        for i in 0..terms.len() {
            if done[i].xorb_verified {
                continue;
            }
            on_event(&XetEvent::Repair(i));
            self.report.repaired_terms += 1;
            let (offset, term) = &terms[i];
            done[i] = self.term(t, recon, term, *offset, file, on_event).await?;
            file.sync_data().await.map_err(XetError::Io)?;
            journal
                .append(&TermRecord::new(*offset, term, &done[i]))
                .await?;
            if hash_of(done) == t.file_hash {
                return Ok(());
            }
        }
        Err(XetError::FileHashMismatch {
            want: t.file_hash.hex(),
            got: hash_of(done).hex(),
        })
    }

    /// One term, with retries and re-queries.
    async fn term(
        &mut self,
        t: &XetTarget,
        recon: &mut Reconstruction,
        term: &Term,
        offset: u64,
        file: &mut tokio::fs::File,
        on_event: &mut impl FnMut(&XetEvent),
    ) -> Result<TermDone, XetError> {
        let mut delay = self.opts.backoff;
        let mut attempts = 0;
        loop {
            let Some((url, range)) = recon.fetch_for(term) else {
                return Err(XetError::Protocol(format!(
                    "no fetch info for xorb {}",
                    term.hash
                )));
            };
            match self
                .transfer(&url, range, term, offset, file, on_event)
                .await
            {
                Ok(d) => return Ok(d),
                Err(TermFail::Fatal(e)) => return Err(e),
                Err(TermFail::Requery) => {
                    on_event(&XetEvent::Requery);
                    *recon = self.reconstruct(t, 0).await?;
                }
                Err(TermFail::Transient(why)) => {
                    attempts += 1;
                    if attempts >= self.opts.max_attempts {
                        return Err(XetError::GaveUp {
                            attempts,
                            last: why,
                        });
                    }
                    tracing::debug!(%why, "xet transfer retried");
                    on_event(&XetEvent::Retry(why));
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    /// Fetches exactly the signed byte range and writes the term's chunks at `offset`.
    async fn transfer(
        &mut self,
        url: &str,
        range: FetchRange,
        term: &Term,
        offset: u64,
        file: &mut tokio::fs::File,
        on_event: &mut impl FnMut(&XetEvent),
    ) -> Result<TermDone, TermFail> {
        let want_len = range.bytes.end + 1 - range.bytes.start;
        let resp = self
            .http
            .get(url)
            .header(
                "range",
                format!("bytes={}-{}", range.bytes.start, range.bytes.end),
            )
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
        if status != StatusCode::PARTIAL_CONTENT {
            return Err(TermFail::Transient(format!(
                "xorb transfer answered {status}, not 206"
            )));
        }
        let mut parser = ChunkStream::new();
        let mut idx = range.chunks.start;
        let mut range_chunks: Vec<(XetHash, u64)> = Vec::new();
        let mut pending: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut write_at = offset;
        let mut got = 0u64;
        let mut body = resp.bytes_stream();
        loop {
            let next = tokio::time::timeout(self.opts.stall_timeout, body.next())
                .await
                .map_err(|_| TermFail::Transient("xorb transfer stalled".into()))?;
            let Some(piece) = next else { break };
            let piece = piece.map_err(|e| TermFail::Transient(format!("xorb body: {e}")))?;
            got += piece.len() as u64;
            self.report.bytes_received += piece.len() as u64;
            on_event(&XetEvent::Received(piece.len() as u64));
            if got > want_len {
                return Err(TermFail::Transient(format!(
                    "xorb body longer than {want_len}"
                )));
            }
            let res = parser.push(&piece, |chunk| {
                let h = super::format::hash::chunk_hash(chunk);
                range_chunks.push((h, chunk.len() as u64));
                if idx >= term.range.start && idx < term.range.end {
                    pending.push((write_at, chunk.to_vec()));
                    write_at += chunk.len() as u64;
                }
                idx += 1;
                Ok(())
            });
            res.map_err(|e| TermFail::Transient(format!("xorb data: {e}")))?;
            for (at, data) in pending.drain(..) {
                write_at_offset(file, at, &data)
                    .await
                    .map_err(|e| TermFail::Fatal(XetError::Io(e)))?;
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
        let skip = (term.range.start - range.chunks.start) as usize;
        let n = (term.range.end - term.range.start) as usize;
        let chunks: Vec<(XetHash, u64)> = range_chunks[skip..skip + n].to_vec();
        let len: u64 = chunks.iter().map(|c| c.1).sum();
        if len != term.unpacked_length {
            return Err(TermFail::Transient(format!(
                "term decompressed to {len} bytes, not {}",
                term.unpacked_length
            )));
        }
        let xorb_verified = range.chunks.start == 0
            && XetHash::from_hex(&term.hash).is_ok_and(|h| h == xorb_hash(&range_chunks));
        if xorb_verified {
            self.report.xorbs_verified += 1;
            on_event(&XetEvent::XorbVerified(term.hash.clone()));
        }
        Ok(TermDone {
            chunks,
            xorb_verified,
        })
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
            chunks: d.chunks.iter().map(|(h, l)| (h.hex(), *l)).collect(),
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
