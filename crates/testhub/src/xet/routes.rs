//! The Xet HTTP endpoints: token (hub), reconstruction v1/v2 (CAS), xorb transfers (CDN).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::cas::{XetFile, Xorb, XorbData};
use super::format::hash::XetHash;
use super::token::{self, Refused};
use super::{cas_url, MultiRange, XetState};
use crate::access::{bearer, lookup};
use crate::body::{serve_data, status_fault};
use crate::faults::Site;
use crate::http_error::{hub_error, retry_later};
use crate::signing::now_ms;
use crate::store::Entry;
use crate::{FileContent, Inner};

/// Routes on the hub listener: the token endpoint.
pub(crate) fn hub_routes() -> Router<Arc<Inner>> {
    Router::new().route(
        "/api/models/{org}/{name}/xet-read-token/{rev}",
        get(read_token),
    )
}

/// Routes on the hub listener under `casUrl`.
pub(crate) fn cas_routes() -> Router<Arc<Inner>> {
    Router::new()
        .route(
            "/_xet-cas/v1/reconstructions/{hash}",
            get(reconstruction_v1),
        )
        .route(
            "/_xet-cas/v2/reconstructions/{hash}",
            get(reconstruction_v2),
        )
}

/// Routes on the CDN listener: xorb transfers.
pub(crate) fn transfer_routes() -> Router<Arc<Inner>> {
    Router::new().route("/xorbs/default/{hash}", get(xorb))
}

fn xet_of(inner: &Inner) -> Option<&Arc<XetState>> {
    inner.xet.get()
}

async fn read_token(
    State(inner): State<Arc<Inner>>,
    Path((org, name, rev)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(xet) = xet_of(&inner) else {
        return hub_error(
            StatusCode::NOT_FOUND,
            None,
            "Xet is not enabled on this hub",
        );
    };
    xet.count(|s| s.token_requests += 1);
    let repo_id = format!("{org}/{name}");
    if let Err(r) = lookup(&inner, &repo_id, &rev, &headers, false) {
        return *r;
    }
    let exp_ms = now_ms() + xet.opts.token_lifetime.as_millis() as u64;
    let access = token::mint(&inner.secret, &repo_id, exp_ms);
    // `exp` is in seconds; round down so a client never believes it valid past its expiry.
    let exp = exp_ms / 1000;
    let cas = cas_url(&inner);
    let body = json!({ "accessToken": access, "exp": exp, "casUrl": cas }).to_string();
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-xet-cas-url", &cas)
        .header("x-xet-access-token", &access)
        .header("x-xet-token-expiration", exp.to_string())
        .body(Body::from(body))
        .unwrap_or_else(|e| hub_error(StatusCode::INTERNAL_SERVER_ERROR, None, &e.to_string()))
}

async fn reconstruction_v1(
    State(inner): State<Arc<Inner>>,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> Response {
    reconstruction(&inner, &hash, &headers, 1)
}

async fn reconstruction_v2(
    State(inner): State<Arc<Inner>>,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> Response {
    match xet_of(&inner) {
        Some(x) if !x.opts.v2 => hub_error(StatusCode::NOT_FOUND, None, "Not Found"),
        _ => reconstruction(&inner, &hash, &headers, 2),
    }
}

/// Checks the CAS bearer token: `Some(response)` to refuse.
fn refuse_token(inner: &Inner, headers: &HeaderMap) -> Option<Response> {
    let repos: Vec<String> = inner.store().repos.keys().cloned().collect();
    let why = match bearer(headers) {
        None => "missing Xet token",
        Some(t) => match token::check(&inner.secret, &t, &repos) {
            Ok(()) => return None,
            Err(Refused::Expired) => "Xet token expired",
            Err(Refused::Invalid) => "invalid Xet token",
        },
    };
    Some(hub_error(StatusCode::UNAUTHORIZED, None, why))
}

/// `bytes=a-b` / `bytes=a-` of a reconstruction query, trimmed to the file: `Err` = 416.
fn file_range(headers: &HeaderMap, size: u64) -> Result<(u64, u64), ()> {
    let Some(v) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return if size == 0 {
            Err(())
        } else {
            Ok((0, size - 1))
        };
    };
    let spec = v.trim().strip_prefix("bytes=").ok_or(())?;
    let (a, b) = spec.split_once('-').ok_or(())?;
    let start: u64 = a.trim().parse().map_err(|_| ())?;
    let end: u64 = if b.trim().is_empty() {
        u64::MAX
    } else {
        b.trim().parse().map_err(|_| ())?
    };
    if start >= size || end < start {
        return Err(());
    }
    Ok((start, end.min(size - 1)))
}

fn reconstruction(inner: &Arc<Inner>, hash: &str, headers: &HeaderMap, version: u8) -> Response {
    let Some(xet) = xet_of(inner) else {
        return hub_error(StatusCode::NOT_FOUND, None, "Not Found");
    };
    xet.count(|s| {
        s.reconstruction_requests += 1;
        s.ranged_reconstructions += u64::from(headers.contains_key(header::RANGE));
    });
    if let Some(r) = refuse_token(inner, headers) {
        return r;
    }
    let Ok(file_hash) = XetHash::from_hex(hash) else {
        return hub_error(StatusCode::BAD_REQUEST, None, "invalid file hash");
    };
    let (file, xorbs) = {
        let cas = xet.cas.lock();
        let Some(file) = cas.by_hash.get(&file_hash).cloned() else {
            return hub_error(StatusCode::NOT_FOUND, None, "file not found");
        };
        (file, cas.xorbs.clone())
    };
    let Ok((start, end)) = file_range(headers, file.size) else {
        let mut r = hub_error(
            StatusCode::RANGE_NOT_SATISFIABLE,
            None,
            "Range Not Satisfiable",
        );
        if let Ok(v) = format!("bytes */{}", file.size).parse() {
            r.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        return r;
    };
    let body = plan(inner, xet, &file, &xorbs, start, end, version);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_else(|e| hub_error(StatusCode::INTERNAL_SERVER_ERROR, None, &e.to_string()))
}

/// The terms covering file bytes `[start, end]`, with fetch info for their chunk ranges.
fn plan(
    inner: &Inner,
    xet: &XetState,
    file: &XetFile,
    xorbs: &[Arc<Xorb>],
    start: u64,
    end: u64,
    version: u8,
) -> serde_json::Value {
    let mut terms = Vec::new();
    let mut offset_into_first = 0;
    // Chunk ranges needed per xorb (merged below).
    let mut needed: BTreeMap<usize, Vec<(u32, u32)>> = BTreeMap::new();
    let mut at = 0u64;
    for t in &file.terms {
        let t_end = at + t.unpacked_len;
        if t_end > start && at <= end {
            // Pruned on chunk boundaries to the asked bytes, as xet-core's reference CAS
            // (`compute_reconstruction_ranges`) does: a ranged query gets only the chunks
            // holding those bytes, so a reader can resume inside a long term.
            let xorb = &xorbs[t.xorb];
            let (mut a, mut b, mut first_at, mut len) = (t.start, t.end, at, t.unpacked_len);
            while a + 1 < b && first_at + xorb.chunk_len(a) <= start {
                first_at += xorb.chunk_len(a);
                len -= xorb.chunk_len(a);
                a += 1;
            }
            while b > a + 1 && first_at + len - xorb.chunk_len(b - 1) > end {
                len -= xorb.chunk_len(b - 1);
                b -= 1;
            }
            if terms.is_empty() {
                offset_into_first = start - first_at;
            }
            terms.push(json!({
                "hash": xorb.hash.hex(),
                "unpacked_length": len,
                "range": { "start": a, "end": b },
            }));
            needed.entry(t.xorb).or_default().push((a, b));
        }
        at = t_end;
    }
    let lifetime = inner
        .faults()
        .cfg
        .expire_signed_urls_after
        .unwrap_or(xet.opts.url_lifetime)
        .min(xet.opts.url_lifetime);
    let iat = now_ms();
    let exp = iat + lifetime.as_millis() as u64;
    let mut fetch = serde_json::Map::new();
    for (xorb_idx, mut ranges) in needed {
        let xorb = &xorbs[xorb_idx];
        ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::new();
        for (a, b) in ranges {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        let bytes = |(a, b): (u32, u32)| {
            (
                xorb.chunk_offsets[a as usize],
                xorb.chunk_offsets[b as usize] - 1,
            )
        };
        let hash = xorb.hash.hex();
        let url = |spec: &str| {
            format!(
                "{}/xorbs/default/{hash}?ranges={spec}&iat={iat}&exp={exp}&sig={}",
                inner.cdn_url,
                token::url_signature(&inner.secret, &hash, spec, iat, exp)
            )
        };
        let entries: Vec<serde_json::Value> = if version == 1 {
            merged
                .iter()
                .map(|&r| {
                    let (bs, be) = bytes(r);
                    json!({
                        "range": { "start": r.0, "end": r.1 },
                        "url": url(&format!("{bs}-{be}")),
                        "url_range": { "start": bs, "end": be },
                    })
                })
                .collect()
        } else {
            let spec: Vec<String> = merged
                .iter()
                .map(|&r| {
                    let (bs, be) = bytes(r);
                    format!("{bs}-{be}")
                })
                .collect();
            let ranges: Vec<serde_json::Value> = merged
                .iter()
                .map(|&r| {
                    let (bs, be) = bytes(r);
                    json!({ "chunks": { "start": r.0, "end": r.1 }, "bytes": { "start": bs, "end": be } })
                })
                .collect();
            vec![json!({ "url": url(&spec.join(",")), "ranges": ranges })]
        };
        fetch.insert(hash, serde_json::Value::Array(entries));
    }
    let key = if version == 1 { "fetch_info" } else { "xorbs" };
    json!({ "offset_into_first_range": offset_into_first, "terms": terms, key: fetch })
}

/// Parses `bytes=a-b[,c-d...]` (closed ranges only, as the reconstruction gives them).
fn requested_ranges(headers: &HeaderMap) -> Option<Vec<(u64, u64)>> {
    let v = headers.get(header::RANGE)?.to_str().ok()?;
    let spec = v.trim().strip_prefix("bytes=")?;
    spec.split(',')
        .map(|r| {
            let (a, b) = r.trim().split_once('-')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect()
}

fn forbidden(xet: &XetState, why: &str) -> Response {
    xet.count(|s| s.refused += 1);
    hub_error(StatusCode::FORBIDDEN, Some("AccessDenied"), why)
}

async fn xorb(
    State(inner): State<Arc<Inner>>,
    Path(hash): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let Some(xet) = xet_of(&inner).cloned() else {
        return hub_error(StatusCode::NOT_FOUND, None, "Not Found");
    };
    xet.count(|s| s.xorb_requests += 1);
    if let Some(r) = status_fault(&inner, Site::Cdn) {
        return r;
    }
    if xet.take_fault(|o| o.xorb_503, |u| &mut u.0) {
        inner.counters.fault("xorb_503");
        return retry_later(StatusCode::SERVICE_UNAVAILABLE, 0);
    }
    let (Some(spec), Some(iat), Some(exp), Some(sig)) =
        (q.get("ranges"), q.get("iat"), q.get("exp"), q.get("sig"))
    else {
        return forbidden(&xet, "Missing signature");
    };
    let (Ok(iat_ms), Ok(exp_ms)) = (iat.parse::<u64>(), exp.parse::<u64>()) else {
        return forbidden(&xet, "Invalid signature");
    };
    if &token::url_signature(&inner.secret, &hash, spec, iat_ms, exp_ms) != sig {
        return forbidden(&xet, "Invalid signature");
    }
    let now = now_ms();
    let fault_expiry = inner.faults().cfg.expire_signed_urls_after;
    let expired_by_fault = fault_expiry.is_some_and(|d| now >= iat_ms + d.as_millis() as u64);
    if now >= exp_ms || expired_by_fault {
        if expired_by_fault {
            inner.counters.fault("expired_signed_url");
        }
        return forbidden(&xet, "Request has expired");
    }
    let signed: Vec<(u64, u64)> = spec
        .split(',')
        .filter_map(|r| {
            let (a, b) = r.split_once('-')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect();
    let Some(asked) = requested_ranges(&headers) else {
        return forbidden(&xet, "a Range inside the signed ranges is required");
    };
    if asked.is_empty() || !asked.iter().all(|r| signed.contains(r)) {
        return forbidden(&xet, "Range not covered by the signature");
    }
    let Ok(xorb_hash) = XetHash::from_hex(&hash) else {
        return hub_error(StatusCode::NOT_FOUND, Some("NoSuchKey"), "no such xorb");
    };
    let Some((xorb, entry)) = xet.xorb_entry(&xorb_hash) else {
        return hub_error(StatusCode::NOT_FOUND, Some("NoSuchKey"), "no such xorb");
    };
    xet.count(|s| {
        if xorb.imported {
            s.imported_xorb_transfers += 1;
        } else {
            s.built_xorb_transfers += 1;
        }
        s.multi_range_requests += u64::from(asked.len() > 1);
    });
    if xet.opts.faults.signed_once {
        let mut served = xet.served.lock();
        if asked
            .iter()
            .any(|&(a, b)| served.contains(&(sig.clone(), a, b)))
        {
            drop(served);
            inner.counters.fault("xorb_reused_range");
            return forbidden(&xet, "Signed range already used");
        }
        served.extend(asked.iter().map(|&(a, b)| (sig.clone(), a, b)));
    }
    if asked.len() == 1 && xet.take_fault(|o| o.lying_header, |u| &mut u.1) {
        inner.counters.fault("xorb_lying_header");
        return lying_header(&xorb, asked[0]);
    }
    if asked.len() == 1 {
        return serve_data(&inner, entry, &method, &headers, &hash, Vec::new());
    }
    match xet.opts.multi_range {
        MultiRange::Parts => {}
        MultiRange::FirstOnly => {
            let mut first = headers.clone();
            if let Ok(v) = format!("bytes={}-{}", asked[0].0, asked[0].1).parse() {
                first.insert(header::RANGE, v);
            }
            return serve_data(&inner, entry, &method, &first, &hash, Vec::new());
        }
        MultiRange::Whole => {
            let mut whole = headers.clone();
            whole.remove(header::RANGE);
            return serve_data(&inner, entry, &method, &whole, &hash, Vec::new());
        }
    }
    let malformed = xet.take_fault(|o| o.bad_multipart, |u| &mut u.2);
    if malformed {
        inner.counters.fault("xorb_bad_multipart");
    }
    multipart(xorb, &asked, malformed)
}

/// The range with its first chunk header claiming 7 more compressed bytes than it has (the
/// body keeps its length, so only the chunk parser can notice).
fn lying_header(xorb: &Xorb, (a, b): (u64, u64)) -> Response {
    if b >= xorb.size || a > b || b - a < 8 {
        return hub_error(
            StatusCode::RANGE_NOT_SATISFIABLE,
            None,
            "Range Not Satisfiable",
        );
    }
    let mut body = match xorb.read(a, b) {
        Ok(b) => b,
        Err(e) => return hub_error(StatusCode::INTERNAL_SERVER_ERROR, None, &e.to_string()),
    };
    let claimed = u32::from_le_bytes([body[1], body[2], body[3], 0]) + 7;
    body[1..4].copy_from_slice(&claimed.to_le_bytes()[..3]);
    Response::builder()
        .status(StatusCode::PARTIAL_CONTENT)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(
            header::CONTENT_RANGE,
            format!("bytes {a}-{b}/{}", xorb.size),
        )
        .header(header::CONTENT_LENGTH, body.len().to_string())
        .body(Body::from(body))
        .unwrap_or_else(|e| hub_error(StatusCode::INTERNAL_SERVER_ERROR, None, &e.to_string()))
}

/// Boundary of the `multipart/byteranges` answers.
const BOUNDARY: &str = "testhub-xorb-ranges";

/// A `multipart/byteranges` answer (RFC 7233) for several ranges, streamed from the xorb
/// (1 MiB at a time: a disk xorb is never read whole). `malformed`: the second part's
/// `Content-Range` names the bytes one past the ones sent (fault `bad-multipart`).
fn multipart(xorb: Arc<Xorb>, ranges: &[(u64, u64)], malformed: bool) -> Response {
    let size = xorb.size;
    if ranges.iter().any(|&(a, b)| b >= size || a > b) {
        let mut r = hub_error(
            StatusCode::RANGE_NOT_SATISFIABLE,
            None,
            "Range Not Satisfiable",
        );
        if let Ok(v) = format!("bytes */{size}").parse() {
            r.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        return r;
    }
    let heads: Vec<Vec<u8>> = ranges
        .iter()
        .enumerate()
        .map(|(i, &(a, b))| {
            let shift = u64::from(malformed && i == 1);
            format!(
                "\r\n--{BOUNDARY}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {}-{}/{size}\r\n\r\n",
                a + shift,
                b + shift
            )
            .into_bytes()
        })
        .collect();
    let tail = format!("\r\n--{BOUNDARY}--\r\n").into_bytes();
    let len: u64 = heads.iter().map(|h| h.len() as u64).sum::<u64>()
        + ranges.iter().map(|&(a, b)| b - a + 1).sum::<u64>()
        + tail.len() as u64;
    // Pieces: (header bytes | xorb bytes [a, b]) in order, then the closing delimiter.
    let mut pieces: Vec<Result<Vec<u8>, (u64, u64)>> = Vec::new();
    for (h, &(a, b)) in heads.into_iter().zip(ranges) {
        pieces.push(Ok(h));
        let mut at = a;
        while at <= b {
            let end = (at + (1 << 20) - 1).min(b);
            pieces.push(Err((at, end)));
            at = end + 1;
        }
    }
    pieces.push(Ok(tail));
    let stream =
        futures_util::stream::unfold((pieces.into_iter(), xorb), |(mut it, xorb)| async move {
            let piece = match it.next()? {
                Ok(bytes) => Ok(bytes::Bytes::from(bytes)),
                Err((a, b)) => {
                    let x = xorb.clone();
                    match tokio::task::spawn_blocking(move || x.read(a, b)).await {
                        Ok(Ok(v)) => Ok(bytes::Bytes::from(v)),
                        Ok(Err(e)) => Err(e),
                        Err(e) => Err(std::io::Error::other(e)),
                    }
                }
            };
            Some((piece, (it, xorb)))
        });
    Response::builder()
        .status(StatusCode::PARTIAL_CONTENT)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/byteranges; boundary={BOUNDARY}"),
        )
        .header(header::CONTENT_LENGTH, len.to_string())
        .body(Body::from_stream(stream))
        .unwrap_or_else(|e| hub_error(StatusCode::INTERNAL_SERVER_ERROR, None, &e.to_string()))
}

impl XetState {
    /// Uses one injection of a counted Xet fault; false once all are used.
    fn take_fault(
        &self,
        limit: impl FnOnce(&super::XetFaults) -> u32,
        used: impl FnOnce(&mut (u32, u32, u32)) -> &mut u32,
    ) -> bool {
        let limit = limit(&self.opts.faults);
        let mut u = self.used.lock();
        let used = used(&mut u);
        if *used < limit {
            *used += 1;
            true
        } else {
            false
        }
    }

    /// The xorb and a servable entry of it (built once per xorb; no hashing pass: its name
    /// is its hash).
    fn xorb_entry(&self, hash: &XetHash) -> Option<(Arc<Xorb>, Arc<Entry>)> {
        let xorb = {
            let cas = self.cas.lock();
            let idx = *cas.xorb_index.get(hash)?;
            cas.xorbs[idx].clone()
        };
        let mut cache = self.entries.lock();
        if let Some(e) = cache.get(hash) {
            return Some((xorb, e.clone()));
        }
        let content = match &xorb.data {
            XorbData::Memory(b) => FileContent::Bytes(b.to_vec()),
            XorbData::Disk(p) => FileContent::Disk(p.clone()),
        };
        let path = format!("xorbs/{}", hash.hex());
        let entry = Arc::new(Entry::unhashed(&path, content, xorb.size, hash.hex()));
        cache.insert(*hash, entry.clone());
        Some((xorb, entry))
    }
}
