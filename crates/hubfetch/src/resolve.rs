//! Talking to the Hub: `HEAD …/resolve/{rev}/{path}` without following cross-host redirects,
//! the listing API, the token (sent to the Hub host only), and the mapping of 401/403/404 to
//! specific, non-retried errors.

use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::header::{
    HeaderMap, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_LENGTH, ETAG, LOCATION, USER_AGENT,
};
use reqwest::{Method, Url};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::env::Config;
use crate::error::{Error, NetError, Result, UnreachableReason};
use crate::netfail;
use crate::progress::Tracker;
use crate::retry::Backoff;
use crate::status::{classify, Verdict};

/// Retry settings shared by resolve and chunk requests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    pub max_retries: Option<u32>,
    /// Limit on retries after failures that got no usable answer at all (`Attempt::Offline`);
    /// reaching it gives `Error::Unreachable` (None: only `max_retries` applies).
    pub max_offline: Option<u32>,
}

/// The HTTP side: one connection pool, the Hub origin, the token.
#[derive(Debug)]
pub(crate) struct Hub {
    pub http: reqwest::Client,
    pub cfg: Config,
    pub endpoint: Url,
}

/// What the Hub says about one file at one revision.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Resolved {
    /// The commit the revision points to (`X-Repo-Commit`).
    pub commit: String,
    /// Normalised `X-Linked-Etag`/`ETag`: sha256 for LFS files, git blob sha1 otherwise.
    pub etag: String,
    /// `X-Linked-Size` (or `Content-Length` when not redirected).
    pub size: u64,
    /// Where the bytes come from (the redirect target, or the resolve URL itself).
    pub url: Url,
    /// `X-Xet-Hash`: the file is Xet-backed and can be read over the Xet protocol.
    pub xet_hash: Option<String>,
}

/// One file of a repo listing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListedFile {
    /// Path in the repo.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// `lfs.sha256` for LFS files.
    pub sha256: Option<String>,
    /// Git blob id.
    pub blob_id: Option<String>,
}

/// A repo at one revision: its commit and files.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Listing {
    /// The commit the branch resolved to.
    pub commit: String,
    /// Every file at that commit.
    pub files: Vec<ListedFile>,
}

/// Strip `W/` and quotes, like `huggingface_hub._normalize_etag`.
pub(crate) fn normalize_etag(s: &str) -> String {
    s.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_string()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The outcome of one try of a retried request.
pub(crate) enum Attempt<T> {
    Done(T),
    /// Worth retrying after (at least) this delay, if given.
    Retry(NetError, Option<Duration>),
    /// No usable answer at all (refused, DNS, timeout, TLS, a login page): retried like
    /// `Retry`, and `Error::Unreachable` once the retry limit is reached.
    Offline(NetError),
}

impl Hub {
    pub(crate) fn new(cfg: Config) -> Result<Hub> {
        // A connection that cannot be set up within the ETag timeout will not be set up:
        // bounded, so an offline launch falls back to the cache quickly.
        let connect_timeout = cfg.etag_timeout;
        let endpoint = Url::parse(&cfg.endpoint).map_err(|e| Error::Config {
            what: format!("HF_ENDPOINT {:?} is not a URL", cfg.endpoint),
            source: Some(Box::new(e)),
        })?;
        let http = crate::net::http_client(connect_timeout)?;
        Ok(Hub {
            http,
            cfg,
            endpoint,
        })
    }

    /// True when `url` is on the Hub host: only there may the token go.
    pub(crate) fn is_hub(&self, url: &Url) -> bool {
        url.scheme() == self.endpoint.scheme()
            && url.host_str() == self.endpoint.host_str()
            && url.port_or_known_default() == self.endpoint.port_or_known_default()
    }

    /// A request with our user agent, no compression, and the token only for the Hub host.
    /// A resolve or listing request, bounded by `HF_HUB_ETAG_TIMEOUT`; a failure to get an
    /// answer (refused, DNS, TLS, timeout) as the network error it is.
    async fn send_bounded(
        &self,
        method: Method,
        url: Url,
    ) -> std::result::Result<reqwest::Response, NetError> {
        let timeout = self.cfg.etag_timeout;
        self.request(method, url)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| netfail::request_failed(e, timeout))
    }

    pub(crate) fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        let with_token = self.is_hub(&url);
        let mut rb = self
            .http
            .request(method, url)
            .header(USER_AGENT, concat!("hubfetch/", env!("CARGO_PKG_VERSION")))
            .header(ACCEPT_ENCODING, "identity");
        if with_token {
            if let Some(t) = &self.cfg.token {
                rb = rb.header(AUTHORIZATION, format!("Bearer {}", t.secret()));
            }
        }
        rb
    }

    pub(crate) fn resolve_url(&self, repo: &str, revision: &str, path: &str) -> Result<Url> {
        let mut url = self.endpoint.clone();
        {
            let mut seg = url.path_segments_mut().map_err(|_| Error::Config {
                what: format!("HF_ENDPOINT {} cannot be a base URL", self.endpoint),
                source: None,
            })?;
            seg.pop_if_empty();
            seg.extend(repo.split('/'));
            seg.push("resolve");
            seg.push(revision); // one segment: `refs/pr/1` becomes `refs%2Fpr%2F1`
            seg.extend(path.split('/'));
        }
        Ok(url)
    }

    /// Retry `f` (transient failures) with backoff; permanent errors return at once.
    pub(crate) async fn with_retries<T, F, Fut>(
        &self,
        policy: RetryPolicy,
        cancel: &CancellationToken,
        tracker: Option<&Tracker>,
        what: &str,
        mut f: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Attempt<T>>>,
    {
        let mut backoff = Backoff::new(policy.base, policy.cap);
        let mut tries = 0u32;
        let mut offline_tries = 0u32;
        loop {
            let r = tokio::select! {
                _ = cancel.cancelled() => return Err(Error::Cancelled),
                r = f() => r?,
            };
            let (why, after, offline) = match r {
                Attempt::Done(v) => return Ok(v),
                Attempt::Retry(why, after) => (why, after, false),
                Attempt::Offline(why) => (why, None, true),
            };
            if offline {
                offline_tries += 1;
            }
            let offline_out = offline && policy.max_offline.is_some_and(|m| offline_tries > m);
            if offline_out || policy.max_retries.is_some_and(|m| tries >= m) {
                if offline {
                    return Err(Error::Unreachable {
                        what: what.to_string(),
                        reason: why
                            .unreachable_reason()
                            .unwrap_or(UnreachableReason::Connect),
                        cause: why,
                    });
                }
                return Err(Error::Network {
                    what: what.to_string(),
                    retries: tries,
                    cause: why,
                });
            }
            tries += 1;
            if let Some(t) = tracker {
                t.retries.fetch_add(1, Ordering::Relaxed);
                t.note_error(&why.to_string());
            }
            let d = after.unwrap_or_else(|| backoff.next_delay());
            tracing::warn!(what, why = %why, delay_ms = d.as_millis() as u64, "retrying");
            tokio::select! {
                _ = cancel.cancelled() => return Err(Error::Cancelled),
                _ = tokio::time::sleep(d) => {}
            }
        }
    }

    /// `HEAD` the resolve URL; relative (same-host) redirects are followed like huggingface_hub,
    /// a redirect to another host (the CDN) is not: its `Location` is where the data lives.
    pub(crate) async fn resolve(
        &self,
        repo: &str,
        revision: &str,
        path: &str,
        policy: RetryPolicy,
        cancel: &CancellationToken,
        tracker: Option<&Tracker>,
    ) -> Result<Resolved> {
        let start = self.resolve_url(repo, revision, path)?;
        let what = format!("file {path:?} at revision {revision:?}");
        self.with_retries(
            policy,
            cancel,
            tracker,
            &format!("resolve {repo}/{path}"),
            || {
                let start = start.clone();
                let what = what.clone();
                async move { self.resolve_once(repo, &what, start).await }
            },
        )
        .await
    }

    async fn resolve_once(&self, repo: &str, what: &str, start: Url) -> Result<Attempt<Resolved>> {
        let mut url = start;
        for _ in 0..10 {
            let resp = match self.send_bounded(Method::HEAD, url.clone()).await {
                Ok(r) => r,
                Err(e) => return Ok(Attempt::Offline(e)),
            };
            let status = resp.status();
            let h = resp.headers();
            if (status.is_success() || status.is_redirection())
                && header(h, "x-repo-commit").is_none()
            {
                // Not the Hub talking: a captive portal's page or its redirect to one.
                return Ok(Attempt::Offline(
                    if netfail::is_html(h) || status.is_redirection() {
                        NetError::captive_portal()
                    } else {
                        NetError::Intercepted {
                            reason: UnreachableReason::NotTheHub,
                            summary: format!("the server at {} does not answer like the Hub (no X-Repo-Commit header; {status}): a proxy or login page in the way, or a wrong HF_ENDPOINT", self.cfg.endpoint),
                        }
                    },
                ));
            }
            match classify(&self.cfg, self.is_hub(&url), &url, status, h, repo, what) {
                Verdict::Redirect => {
                    let loc = header(h, LOCATION.as_str()).ok_or_else(|| {
                        Error::bad_answer(format!("redirect {status} without Location"))
                    })?;
                    let next = url.join(loc).map_err(|e| Error::BadAnswer {
                        what: format!("bad Location {loc:?}"),
                        source: Some(Box::new(e)),
                    })?;
                    if self.is_hub(&next) && header(h, "x-linked-etag").is_none() {
                        url = next; // renamed repo etc.: follow within the Hub
                        continue;
                    }
                    return parse_resolved(h, next, true).map(Attempt::Done);
                }
                Verdict::Success => return parse_resolved(h, url, false).map(Attempt::Done),
                Verdict::Refused(e) => return Err(e),
                Verdict::Transient(http, after) => {
                    return Ok(Attempt::Retry(NetError::Status(Box::new(http)), after))
                }
                Verdict::LinkRefused(http)
                | Verdict::RangeNotSatisfiable(http)
                | Verdict::Unexpected(http) => {
                    return Err(Error::Http {
                        what: format!("resolve {repo}: {what}"),
                        http: Box::new(http),
                    })
                }
            }
        }
        Err(Error::bad_answer(format!(
            "too many redirects resolving {repo}: {what}"
        )))
    }

    /// `GET {endpoint}/api/models/{repo}/revision/{rev}?blobs=true`: all files of a revision.
    pub(crate) async fn list(
        &self,
        repo: &str,
        revision: &str,
        policy: RetryPolicy,
        cancel: &CancellationToken,
        tracker: Option<&Tracker>,
    ) -> Result<Listing> {
        let mut url = self.endpoint.clone();
        {
            let mut seg = url.path_segments_mut().map_err(|_| Error::Config {
                what: "HF_ENDPOINT cannot be a base URL".into(),
                source: None,
            })?;
            seg.pop_if_empty();
            seg.push("api");
            seg.push("models");
            seg.extend(repo.split('/'));
            seg.push("revision");
            seg.push(revision);
        }
        url.set_query(Some("blobs=true"));
        let what = format!("revision {revision:?}");
        self.with_retries(policy, cancel, tracker, &format!("list {repo}"), || {
            let url = url.clone();
            let what = what.clone();
            async move {
                let resp = match self.send_bounded(Method::GET, url.clone()).await {
                    Ok(r) => r,
                    Err(e) => return Ok(Attempt::Offline(e)),
                };
                let status = resp.status();
                if netfail::is_html(resp.headers()) {
                    return Ok(Attempt::Offline(NetError::captive_portal()));
                }
                let on_hub = self.is_hub(&url);
                match classify(&self.cfg, on_hub, &url, status, resp.headers(), repo, &what) {
                    Verdict::Success => {}
                    Verdict::Refused(e) => return Err(e),
                    Verdict::Transient(http, after) => {
                        return Ok(Attempt::Retry(NetError::Status(Box::new(http)), after))
                    }
                    Verdict::Redirect => return Ok(Attempt::Offline(NetError::captive_portal())),
                    Verdict::LinkRefused(http)
                    | Verdict::RangeNotSatisfiable(http)
                    | Verdict::Unexpected(http) => {
                        return Err(Error::Http {
                            what: format!("list {repo}"),
                            http: Box::new(http),
                        })
                    }
                }
                let body = match resp.bytes().await {
                    Ok(b) => b,
                    Err(e) => {
                        let timeout = self.cfg.etag_timeout;
                        return Ok(Attempt::Offline(netfail::request_failed(e, timeout)));
                    }
                };
                parse_listing(&body).map(Attempt::Done)
            }
        })
        .await
    }
}

fn parse_resolved(h: &HeaderMap, url: Url, redirected: bool) -> Result<Resolved> {
    let commit = header(h, "x-repo-commit")
        .map(str::to_string)
        .ok_or_else(|| {
            Error::bad_answer("the Hub answer has no X-Repo-Commit header (is HF_ENDPOINT a Hub?)")
        })?;
    let etag = header(h, "x-linked-etag")
        .or_else(|| header(h, ETAG.as_str()))
        .map(normalize_etag)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| Error::bad_answer("the Hub answer has no ETag"))?;
    let size = header(h, "x-linked-size")
        .or_else(|| {
            if redirected {
                None
            } else {
                header(h, CONTENT_LENGTH.as_str())
            }
        })
        .and_then(|s| s.trim().parse::<u64>().ok())
        .ok_or_else(|| Error::bad_answer("the Hub answer has no X-Linked-Size/Content-Length"))?;
    if etag.contains('/') || etag.contains("..") {
        return Err(Error::InvalidPath(etag));
    }
    let xet_hash = header(h, "x-xet-hash")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    Ok(Resolved {
        commit,
        etag,
        size,
        url,
        xet_hash,
    })
}

#[derive(Deserialize)]
struct ApiLfs {
    sha256: Option<String>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiSibling {
    rfilename: String,
    size: Option<u64>,
    blob_id: Option<String>,
    lfs: Option<ApiLfs>,
}
#[derive(Deserialize)]
struct ApiModel {
    sha: Option<String>,
    #[serde(default)]
    siblings: Vec<ApiSibling>,
}

fn parse_listing(body: &[u8]) -> Result<Listing> {
    let m: ApiModel = serde_json::from_slice(body).map_err(|e| Error::BadAnswer {
        what: "the Hub's file listing is not the JSON it should be".into(),
        source: Some(Box::new(e)),
    })?;
    Ok(Listing {
        commit: m.sha.unwrap_or_default(),
        files: m
            .siblings
            .into_iter()
            .map(|s| ListedFile {
                path: s.rfilename,
                size: s.size.unwrap_or(0),
                sha256: s.lfs.and_then(|l| l.sha256),
                blob_id: s.blob_id,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_normalisation_and_listing() {
        assert_eq!(normalize_etag("W/\"abc\""), "abc");
        assert_eq!(normalize_etag("\"abc\""), "abc");
        let l = parse_listing(br#"{"sha":"c1","siblings":[{"rfilename":"a.bin","size":3,"blobId":"b","lfs":{"sha256":"s","size":3}},{"rfilename":"c.json"}]}"#).expect("parse");
        assert_eq!(l.commit, "c1");
        assert_eq!(l.files[0].sha256.as_deref(), Some("s"));
        assert_eq!(l.files[1].size, 0);
    }
}
