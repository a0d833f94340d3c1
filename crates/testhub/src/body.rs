//! Serving file bytes: ranges, body faults, bandwidth caps and byte counting, streamed in chunks
//! (a file is never held in memory).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::content::{ChunkReader, FileContent};
use crate::faults::{BodyPlan, Site, DEFAULT_STALL_MAX};
use crate::http_error::{hub_error, retry_later};
use crate::stats::{Counters, InFlight};
use crate::store::Entry;
use crate::throttle::{chunk_for_rate, Pacer, CATCH_UP};
use crate::Inner;

/// Default chunk of a body.
const CHUNK: usize = 64 * 1024;

/// Pause before an injected cut, so that the bytes before it (and the headers) reach the client:
/// hyper flushes its write buffer when the body is not ready.
const FLUSH_PAUSE: Duration = Duration::from_millis(50);

/// Middleware: count every request and keep it "in flight" until its body is done.
pub(crate) async fn track(State(inner): State<Arc<Inner>>, req: Request, next: Next) -> Response {
    Counters::add(&inner.counters.requests, 1);
    if req.headers().contains_key(header::RANGE) {
        Counters::add(&inner.counters.range_requests, 1);
    }
    let guard = inner.counters.begin();
    let resp = next.run(req).await;
    let (parts, body) = resp.into_parts();
    Response::from_parts(
        parts,
        Body::new(Guarded {
            inner: body,
            _guard: guard,
        }),
    )
}

/// A body that holds an in-flight guard.
struct Guarded {
    inner: Body,
    _guard: InFlight,
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(f))) = &polled {
            if let Some(d) = f.data_ref() {
                Counters::add(&self._guard.counters().bytes_served, d.len() as u64);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The login page a captive portal shows instead of what was asked, if one is due.
pub(crate) fn portal_fault(inner: &Inner, site: Site) -> Option<Response> {
    let mut f = inner.faults();
    let (n, n_cdn) = (f.cfg.captive_portal, f.cfg.captive_portal_cdn);
    let name = if f.take("captive_portal", n) {
        "captive_portal"
    } else if site == Site::Cdn && f.take("captive_portal_cdn", n_cdn) {
        "captive_portal_cdn"
    } else {
        return None;
    };
    drop(f);
    inner.counters.fault(name);
    let page = "<!DOCTYPE html><html><head><title>Sign in to Wi-Fi</title></head><body><form>Accept the terms to use this network</form></body></html>";
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CONTENT_LENGTH, page.len().to_string())
        .body(axum::body::Body::from(page))
        .ok()
}

/// An injected 429/503 for this request, if one is due.
pub(crate) fn status_fault(inner: &Inner, site: Site) -> Option<Response> {
    let mut f = inner.faults();
    let retry = f.cfg.retry_after_secs;
    let (n429, n503, site_503) = (
        f.cfg.status_429,
        f.cfg.status_503,
        match site {
            Site::Resolve => f.cfg.resolve_503,
            Site::Cdn => f.cfg.cdn_503,
        },
    );
    let fired = if f.take("status_429", n429) {
        Some(("status_429", StatusCode::TOO_MANY_REQUESTS))
    } else if f.take("status_503", n503) {
        Some(("status_503", StatusCode::SERVICE_UNAVAILABLE))
    } else {
        let name = match site {
            Site::Resolve => "resolve_503",
            Site::Cdn => "cdn_503",
        };
        f.take(name, site_503)
            .then_some((name, StatusCode::SERVICE_UNAVAILABLE))
    };
    drop(f);
    let (name, status) = fired?;
    inner.counters.fault(name);
    Some(retry_later(status, retry))
}

/// A parsed `Range` header.
enum RangeReq {
    None,
    Satisfiable(u64, u64),
    Unsatisfiable,
}

/// Parse a single `bytes=` range (multi-range and malformed headers are ignored, as RFC 9110 allows).
fn parse_range(headers: &HeaderMap, size: u64) -> RangeReq {
    let Some(v) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return RangeReq::None;
    };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return RangeReq::None;
    };
    if spec.contains(',') {
        return RangeReq::None;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeReq::None;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // suffix: last b bytes
        let Ok(n) = b.parse::<u64>() else {
            return RangeReq::None;
        };
        if n == 0 || size == 0 {
            return RangeReq::Unsatisfiable;
        }
        return RangeReq::Satisfiable(size.saturating_sub(n), size - 1);
    }
    let Ok(start) = a.parse::<u64>() else {
        return RangeReq::None;
    };
    let end = if b.is_empty() {
        u64::MAX
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e,
            _ => return RangeReq::None,
        }
    };
    if start >= size {
        return RangeReq::Unsatisfiable;
    }
    RangeReq::Satisfiable(start, end.min(size - 1))
}

/// Answer a `GET`/`HEAD` for the bytes of `entry`, with range support and body faults.
/// `extra` headers (e.g. `X-Repo-Commit`) are added to every answer.
pub(crate) fn serve_data(
    inner: &Arc<Inner>,
    entry: Arc<Entry>,
    method: &Method,
    headers: &HeaderMap,
    etag: &str,
    extra: Vec<(&'static str, String)>,
) -> Response {
    let size = entry.size;
    let mut range = parse_range(headers, size);
    if !matches!(range, RangeReq::None) && method != Method::HEAD {
        let mut f = inner.faults();
        let n = f.cfg.ignore_range;
        if f.take("ignore_range", n) {
            drop(f);
            inner.counters.fault("ignore_range");
            range = RangeReq::None;
        }
    }
    let (status, start, len) = match range {
        RangeReq::None => (StatusCode::OK, 0, size),
        RangeReq::Satisfiable(a, b) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        RangeReq::Unsatisfiable => {
            let mut r = hub_error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                None,
                "Requested Range Not Satisfiable",
            );
            let h = r.headers_mut();
            h.insert(header::CONTENT_RANGE, hv(&format!("bytes */{size}")));
            h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return r;
        }
    };
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, format!("\"{etag}\""))
        .header(header::CONTENT_LENGTH, len.to_string())
        .header(
            header::CONTENT_DISPOSITION,
            format!(
                "inline; filename=\"{}\"",
                entry.path.rsplit('/').next().unwrap_or(&entry.path)
            ),
        );
    if status == StatusCode::PARTIAL_CONTENT {
        builder = builder.header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    for (k, v) in extra {
        builder = builder.header(k, v);
    }
    let body = if method == Method::HEAD || len == 0 {
        Body::empty()
    } else {
        let plan = plan_body(inner, start, len);
        Body::from_stream(body_stream(inner.clone(), entry, start, len, plan))
    };
    builder
        .body(body)
        .unwrap_or_else(|e| hub_error(StatusCode::INTERNAL_SERVER_ERROR, None, &e.to_string()))
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""))
}

/// Decide the body faults of one data response (`len` > 0 bytes from file offset `start`).
fn plan_body(inner: &Inner, start: u64, len: u64) -> BodyPlan {
    let mut fired: Vec<&'static str> = Vec::new();
    let mut plan = BodyPlan::default();
    let mut f = inner.faults();
    let cfg = f.cfg.clone();
    plan.stall_max = cfg.stall_max.unwrap_or(DEFAULT_STALL_MAX);
    if f.take("drop_mid_body", cfg.drop_mid_body) {
        plan.drop_at = Some(len / 2);
        fired.push("drop_mid_body");
    } else if cfg.drop_probability > 0.0 && f.next_unit() < cfg.drop_probability {
        plan.drop_at = Some(f.next_random() % len);
        fired.push("drop_probability");
    }
    if f.take("flip_byte", cfg.flip_byte) {
        plan.flips.push(len / 2);
        fired.push("flip_byte");
    }
    if cfg.flip_probability > 0.0 && f.next_unit() < cfg.flip_probability {
        plan.flips.push(f.next_random() % len);
        fired.push("flip_probability");
    }
    if let Some(at) = cfg.flip_byte_at {
        if at >= start && at < start + len {
            let due = if cfg.flip_byte_at_count == 0 {
                true
            } else {
                f.take("flip_byte_at", cfg.flip_byte_at_count)
            };
            if due {
                plan.flips.push(at - start);
                fired.push("flip_byte_at");
            }
        }
    }
    if f.take("stall", cfg.stall) {
        plan.stall_at = Some(cfg.stall_after_bytes.min(len - 1));
        fired.push("stall");
    }
    if f.take("truncate_body", cfg.truncate_body) {
        plan.truncate_at = Some(len - (len / 4).max(1));
        fired.push("truncate_body");
    }
    drop(f);
    for name in fired {
        inner.counters.fault(name);
    }
    plan
}

/// The state of one streamed body.
struct Streamer {
    inner: Arc<Inner>,
    entry: Arc<Entry>,
    reader: ChunkReader,
    start: u64,
    len: u64,
    sent: u64,
    plan: BodyPlan,
    conn_pacer: Option<Pacer>,
    done: bool,
}

fn body_stream(
    inner: Arc<Inner>,
    entry: Arc<Entry>,
    start: u64,
    len: u64,
    plan: BodyPlan,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let conn_pacer = inner
        .faults()
        .cfg
        .bandwidth_per_connection
        .map(|r| Pacer::new(r, CATCH_UP));
    let reader = ChunkReader::new(&entry.content, entry.shared.as_ref());
    let s = Streamer {
        inner,
        entry,
        reader,
        start,
        len,
        sent: 0,
        plan,
        conn_pacer,
        done: false,
    };
    futures_util::stream::unfold(s, |mut s| async move {
        if s.done {
            return None;
        }
        let item = s.next_chunk().await;
        match item {
            Some(Ok(b)) => Some((Ok(b), s)),
            Some(Err(e)) => {
                s.done = true;
                Some((Err(e), s))
            }
            None => None,
        }
    })
}

impl Streamer {
    async fn next_chunk(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        if self.sent >= self.len {
            return None;
        }
        if self.plan.truncate_at == Some(self.sent) {
            // let the connection flush what was sent (headers included) before cutting it
            tokio::time::sleep(FLUSH_PAUSE).await;
            return None;
        }
        if self.plan.drop_at == Some(self.sent) {
            tokio::time::sleep(FLUSH_PAUSE).await;
            return Some(Err(std::io::Error::other(
                "testhub: injected connection drop",
            )));
        }
        if self.plan.stall_at == Some(self.sent) {
            tokio::select! {
                _ = tokio::time::sleep(self.plan.stall_max) => {}
                _ = self.inner.shutdown.cancelled() => {}
            }
            return Some(Err(std::io::Error::other("testhub: stall ended")));
        }
        let total = self.inner.total_pacer();
        let rate = [
            self.conn_pacer.as_ref().map(Pacer::rate),
            total.as_ref().map(|p| p.rate()),
        ]
        .into_iter()
        .flatten()
        .min();
        let chunk = rate.map(chunk_for_rate).unwrap_or(CHUNK) as u64;
        let boundary = [self.plan.drop_at, self.plan.stall_at, self.plan.truncate_at]
            .into_iter()
            .flatten()
            .filter(|b| *b > self.sent)
            .fold(self.len, u64::min);
        let n = chunk.min(boundary - self.sent);
        let mut buf = match self.reader.read(self.start + self.sent, n as usize).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, path = %self.entry.path, "cannot read file to serve");
                return Some(Err(e));
            }
        };
        for &at in &self.plan.flips {
            if at >= self.sent && at < self.sent + n {
                buf[(at - self.sent) as usize] ^= 0xFF;
            }
        }
        let mut until = None;
        if let Some(p) = &self.conn_pacer {
            until = Some(p.reserve(n));
        }
        if let Some(p) = &total {
            let t = p.reserve(n);
            until = Some(until.map_or(t, |u: std::time::Instant| u.max(t)));
        }
        if let Some(t) = until {
            tokio::time::sleep_until(t.into()).await;
        }
        self.sent += n;
        Counters::add(&self.inner.counters.body_bytes_sent, n);
        self.count_upstream(n);
        Some(Ok(Bytes::from(buf)))
    }

    /// `change_upstream_after_bytes`: once enough bytes were served, the file being served changes.
    fn count_upstream(&self, n: u64) {
        let mut f = self.inner.faults();
        let Some(limit) = f.cfg.change_upstream_after_bytes else {
            return;
        };
        if f.upstream_fired {
            return;
        }
        f.upstream_bytes += n;
        if f.upstream_bytes < limit {
            return;
        }
        f.upstream_fired = true;
        let retire = f.cfg.retire_old_blobs;
        drop(f);
        self.inner.counters.fault("change_upstream");
        let inner = self.inner.clone();
        let old = self.entry.clone();
        tokio::spawn(async move {
            let users = inner.store().users_of(&old.sha256);
            for (repo_id, path) in users {
                let seed = u64::from_str_radix(&old.sha256[..16], 16).unwrap_or(1) ^ 0xC4A9_6E5D;
                let content = FileContent::Generated {
                    size: old.size,
                    seed,
                };
                let lfs = Some(old.lfs);
                let built =
                    tokio::task::spawn_blocking(move || Entry::build(&path, content, lfs)).await;
                match built {
                    Ok(Ok(entry)) => {
                        tracing::info!(repo = %repo_id, path = %entry.path, sha256 = %entry.sha256, "upstream file changed");
                        inner.store_mut().replace(&repo_id, entry, retire);
                    }
                    Ok(Err(e)) => tracing::error!(error = %e, "cannot change upstream file"),
                    Err(e) => tracing::error!(error = %e, "cannot change upstream file"),
                }
            }
        });
    }
}
