//! Errors of the library: each variant says what happened and what to do next, keeps its
//! cause (`source()`), and maps to the `error.kind` strings of `docs/ipc.md` so the UI can
//! pick an action.
//!
//! HTTP answers that stop a download carry an [`HttpError`]: the status, the URL without its
//! query (signed CDN links carry their signature there), and the request id the Hub's or the
//! CDN's logs know the request by — what a bug report needs, in the spirit of `hf-hub`'s
//! HTTP error context and `huggingface_hub`'s `HfHubHTTPError`.

use std::fmt;
use std::path::PathBuf;

use reqwest::header::HeaderMap;
use reqwest::Url;
use serde::{Deserialize, Serialize};

/// The error kinds the UI understands (`Progress.error.kind` in docs/ipc.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "DownloadErrorKind"))]
pub enum ErrorKind {
    /// Terms to accept on the Hub.
    Gated,
    /// A token is missing or refused.
    Unauthorized,
    /// Wrong repo, revision or file.
    NotFound,
    /// Not enough space in the cache.
    DiskFull,
    /// Transient network trouble outlived the retry limit.
    Network,
    /// The content does not match its hash or is malformed.
    Corrupt,
    /// No network (or offline mode) and nothing cached.
    Offline,
    /// Anything else.
    Other,
}

/// An HTTP answer we could not use, with the context a bug report needs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpError {
    /// The HTTP status code.
    pub status: u16,
    /// The request URL without query, fragment or user info (no signatures, no secrets).
    pub url: String,
    /// `X-Request-Id` (Hub), else `X-Amz-Cf-Id` (CloudFront), else `X-Amzn-Trace-Id`.
    pub request_id: Option<String>,
    /// The Hub's `X-Error-Code` (`RepoNotFound`, `GatedRepo`, ...).
    pub error_code: Option<String>,
    /// The Hub's `X-Error-Message`.
    pub error_message: Option<String>,
}

impl HttpError {
    /// The context of an answer `status` with headers `h` to a request for `url`.
    pub(crate) fn new(status: u16, url: &Url, h: &HeaderMap) -> HttpError {
        let get = |n: &str| {
            h.get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        HttpError {
            status,
            url: redact_url(url),
            request_id: get("x-request-id")
                .or_else(|| get("x-amz-cf-id"))
                .or_else(|| get("x-amzn-trace-id")),
            error_code: get("x-error-code"),
            error_message: get("x-error-message"),
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(r) = reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
        {
            write!(f, " {r}")?;
        }
        write!(f, " from {}", self.url)?;
        if let Some(c) = &self.error_code {
            write!(f, " ({c}")?;
            if let Some(m) = &self.error_message {
                write!(f, ": {m}")?;
            }
            write!(f, ")")?;
        } else if let Some(m) = &self.error_message {
            write!(f, " ({m})")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for HttpError {}

/// `url` as it may appear in logs and errors: scheme, host, port and path only.
pub(crate) fn redact_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// A refusal by the Hub (token, access, not found): what to do, and the answer it came in.
#[derive(Debug)]
#[non_exhaustive]
pub struct Refusal {
    /// What happened and what to do, for a person.
    pub message: String,
    /// The HTTP answer, when the refusal came in one.
    pub http: Option<Box<HttpError>>,
}

impl Refusal {
    pub(crate) fn new(message: impl Into<String>, http: Option<HttpError>) -> Refusal {
        Refusal {
            message: message.into(),
            http: http.map(Box::new),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.http.as_deref().map(|h| h as _)
    }
}

/// What a captive portal (hotel / airport Wi-Fi) answer is called everywhere.
pub(crate) const LOGIN_PAGE: &str =
    "the network answers with a login page (captive portal?): open a web page in a browser to sign in to the network";

/// Why the Hub (or its CDN) could not be reached, as something a person and the UI can act
/// on: "no network" (refused, DNS, cannot connect), "no answer" (timeout), "is the clock
/// right?" (certificate), "sign in to the network" (captive portal). The words shown for it
/// ([`UnreachableReason::describe`]) are what the progress stream's `lastError` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum UnreachableReason {
    /// The connection was refused (nothing listens: the network or the server is down).
    Refused,
    /// The server's name cannot be looked up (no network, or DNS broken).
    Dns,
    /// No answer within the timeout (no network, a black hole, or a very slow link).
    Timeout,
    /// TLS failed: the certificate is not valid (a wrong clock, or a proxy intercepting HTTPS).
    Certificate,
    /// A login page (or a redirect to one) answered instead of the Hub: hotel / airport Wi-Fi.
    CaptivePortal,
    /// An answer that is not the Hub's (no `X-Repo-Commit`): a proxy in the way or a wrong
    /// `HF_ENDPOINT`.
    NotTheHub,
    /// The connection could not be made for another reason (reset, unreachable host).
    Connect,
}

impl UnreachableReason {
    /// What happened in words a person understands; `detail` is the client's error chain
    /// (empty when there is none), `timeout` the limit that applied.
    pub fn describe(self, detail: &str, timeout: std::time::Duration) -> String {
        let with = |s: &str| {
            if detail.is_empty() {
                s.to_string()
            } else {
                format!("{s} — {detail}")
            }
        };
        match self {
            UnreachableReason::Refused => with("no network: the connection was refused"),
            UnreachableReason::Dns => {
                with("no network: the server's name cannot be looked up (DNS)")
            }
            UnreachableReason::Timeout => format!(
                "no answer within {:.0} s (no network, or a very slow one)",
                timeout.as_secs_f64()
            ),
            UnreachableReason::Certificate => with(
                "certificate not valid — is the clock right? (or a network proxy intercepts HTTPS)",
            ),
            UnreachableReason::CaptivePortal => with(LOGIN_PAGE),
            UnreachableReason::NotTheHub => with("the server does not answer like the Hub: a proxy or login page in the way, or a wrong HF_ENDPOINT"),
            UnreachableReason::Connect => with("no network: cannot connect"),
        }
    }
}

/// One failed exchange with a server (a retried, transient failure), with its cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// No HTTP answer: refused, DNS, timeout, TLS, reset. `summary` is `reason` in plain
    /// words ([`UnreachableReason::describe`]), `None` for a failure that is not about
    /// reaching the server (a broken request).
    #[error("{summary}")]
    Request {
        /// Why no answer came, when it is one of the "cannot reach" reasons.
        reason: Option<UnreachableReason>,
        /// What happened, for a person.
        summary: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// An answer that came from something other than the Hub: a captive portal's login page
    /// (or a redirect to one) or a proxy. Never written into a file.
    #[error("{summary}")]
    Intercepted {
        /// [`UnreachableReason::CaptivePortal`] or [`UnreachableReason::NotTheHub`].
        reason: UnreachableReason,
        /// What happened, for a person.
        summary: String,
    },
    /// An HTTP status worth retrying (429, 408, 5xx).
    #[error(transparent)]
    Status(Box<HttpError>),
    /// The body broke off (reset, truncation).
    #[error("connection lost mid-body: {source}")]
    Body {
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// An answer that breaks the protocol or arrived too slowly (a stall, a wrong
    /// `Content-Range`, a body that ended early, a login page).
    #[error("{0}")]
    Transfer(String),
}

impl NetError {
    /// A captive portal's answer (login page or redirect).
    pub(crate) fn captive_portal() -> NetError {
        NetError::Intercepted {
            reason: UnreachableReason::CaptivePortal,
            summary: UnreachableReason::CaptivePortal.describe("", Default::default()),
        }
    }

    /// Why the server could not be reached, when this failure is of that sort.
    pub fn unreachable_reason(&self) -> Option<UnreachableReason> {
        match self {
            NetError::Request { reason, .. } => *reason,
            NetError::Intercepted { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// The HTTP status, when the failure was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            NetError::Status(h) => Some(h.status),
            _ => None,
        }
    }
}

/// Everything that can stop a download. Permanent ones (auth, not found, invalid path,
/// corrupt upstream) are never retried; `Network` is what is left once retries are exhausted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The repo is gated and this token has not accepted its terms (or there is no token).
    #[error("{repo} is a gated model: open {url}, log in and accept its terms, then make sure HF_TOKEN (or `hf auth login`) uses that account")]
    Gated {
        /// The repo id.
        repo: String,
        /// Where the terms are accepted.
        url: String,
        /// The Hub's answer.
        #[source]
        http: Option<Box<HttpError>>,
    },
    /// The Hub refused the token, or a token is needed.
    #[error(transparent)]
    Unauthorized(Refusal),
    /// Wrong repo, revision or file name.
    #[error(transparent)]
    NotFound(Refusal),
    /// Not enough free space where the cache lives.
    #[error("not enough disk space in {}: need {:.2} GB more (file needs {:.2} GB, {:.2} GB free); free up space or set HF_HUB_CACHE to another disk", dir.display(), gb(need.saturating_sub(*free)), gb(*need), gb(*free))]
    DiskFull {
        /// The cache's blob folder.
        dir: PathBuf,
        /// Bytes the file still needs.
        need: u64,
        /// Bytes free there.
        free: u64,
    },
    /// Transient network trouble that outlived the configured retry limit.
    #[error("network error: {what}: {cause} (gave up after {retries} retries; partial data is kept; run again to resume)")]
    Network {
        /// What was being done (`resolve org/m/file`, `model.bin: chunk 3`).
        what: String,
        /// Retries made.
        retries: u32,
        /// The last failure.
        #[source]
        cause: NetError,
    },
    /// The content could not be made to match the Hub's hash, or is malformed.
    #[error("{0}")]
    Corrupt(String),
    /// `HF_HUB_OFFLINE` is set and the file is not in the cache.
    #[error("offline mode (HF_HUB_OFFLINE is set) and {0} is not in the cache; unset HF_HUB_OFFLINE to download it")]
    Offline(String),
    /// The network is down, refuses, times out, fails TLS or answers with a login page, and the
    /// requested file is not complete in the cache (`kind()` is `Offline`).
    #[error("offline: cannot reach the Hub ({cause}) and {what} is not in the cache; connect to the internet and try again (partial data is kept)")]
    Unreachable {
        /// What was asked for (`repo/file at revision`).
        what: String,
        /// Why the Hub could not be reached (the UI picks its advice by it).
        reason: UnreachableReason,
        /// The last failure, in words a person understands, with the client's error behind it.
        #[source]
        cause: NetError,
    },
    /// A repo id, revision or file path that could escape the cache directory.
    #[error(
        "invalid name {0:?}: repo paths must be relative, without '..', '.' or empty components"
    )]
    InvalidPath(String),
    /// The caller cancelled the job. Partial data is kept for the next run.
    #[error("download cancelled (partial data kept; it resumes next time)")]
    Cancelled,
    /// A local file-system error.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// An HTTP answer that is neither success nor a known refusal nor worth retrying.
    #[error("{what}: unexpected answer: {http}")]
    Http {
        /// What was being done.
        what: String,
        /// The answer.
        #[source]
        http: Box<HttpError>,
    },
    /// A server answer we cannot use (missing headers, bad JSON): a proxy in the way, a wrong
    /// `HF_ENDPOINT`, or a server bug.
    #[error("{what}")]
    BadAnswer {
        /// What is wrong with it.
        what: String,
        /// The parse error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The configuration cannot be used (`HF_ENDPOINT` is not a URL, the HTTP client cannot
    /// be built).
    #[error("{what}")]
    Config {
        /// What is wrong.
        what: String,
        /// Why.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A background task of ours panicked or was aborted.
    #[error("{what} failed")]
    Task {
        /// Which task.
        what: &'static str,
        /// The runtime's error.
        #[source]
        source: tokio::task::JoinError,
    },
    /// An internal condition without a further cause (a helper thread that stopped).
    #[error("{0}")]
    Other(String),
}

fn gb(b: u64) -> f64 {
    b as f64 / 1e9
}

impl Error {
    /// The UI-facing kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Gated { .. } => ErrorKind::Gated,
            Error::Unauthorized(_) => ErrorKind::Unauthorized,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::DiskFull { .. } => ErrorKind::DiskFull,
            Error::Network { .. } => ErrorKind::Network,
            Error::Corrupt(_) => ErrorKind::Corrupt,
            Error::Offline(_) | Error::Unreachable { .. } => ErrorKind::Offline,
            Error::Io { source, .. } if is_enospc(source) => ErrorKind::DiskFull,
            Error::InvalidPath(_)
            | Error::Cancelled
            | Error::Io { .. }
            | Error::Http { .. }
            | Error::BadAnswer { .. }
            | Error::Config { .. }
            | Error::Task { .. }
            | Error::Other(_) => ErrorKind::Other,
        }
    }

    /// The HTTP answer behind this error, when there is one (status, URL, request id).
    pub fn http(&self) -> Option<&HttpError> {
        match self {
            Error::Gated { http, .. } => http.as_deref(),
            Error::Unauthorized(r) | Error::NotFound(r) => r.http.as_deref(),
            Error::Http { http, .. } => Some(http),
            Error::Network {
                cause: NetError::Status(h),
                ..
            } => Some(h),
            _ => None,
        }
    }

    /// Wrap an io error with what we were doing.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// A join error of one of our blocking tasks.
    pub(crate) fn task(what: &'static str) -> impl FnOnce(tokio::task::JoinError) -> Error {
        move |source| Error::Task { what, source }
    }

    /// A server answer we cannot use, without a parse error behind it.
    pub(crate) fn bad_answer(what: impl Into<String>) -> Error {
        Error::BadAnswer {
            what: what.into(),
            source: None,
        }
    }
}

/// True for "no space left on device" (and quota exceeded).
pub(crate) fn is_enospc(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(28) | Some(122)) || e.kind() == std::io::ErrorKind::StorageFull
}

/// Library result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn http_context_hides_signatures_and_keeps_the_request_id() {
        let url = Url::parse(
            "https://user:pw@cdn.example/repos/ab/cd?X-Amz-Signature=secret&Expires=1#frag",
        )
        .expect("url");
        let mut h = HeaderMap::new();
        h.insert("x-amz-cf-id", "cf-123".parse().expect("hv"));
        h.insert("x-error-code", "EntryNotFound".parse().expect("hv"));
        let e = HttpError::new(404, &url, &h);
        assert_eq!(e.url, "https://cdn.example/repos/ab/cd");
        assert_eq!(e.request_id.as_deref(), Some("cf-123"));
        let shown = e.to_string();
        assert!(
            !shown.contains("secret") && !shown.contains("pw"),
            "{shown}"
        );
        assert!(
            shown.contains("404 Not Found") && shown.contains("cf-123"),
            "{shown}"
        );
        // The Hub's own id wins over the CDN's.
        h.insert("x-request-id", "hub-9".parse().expect("hv"));
        assert_eq!(
            HttpError::new(404, &url, &h).request_id.as_deref(),
            Some("hub-9")
        );
    }

    #[test]
    fn refusals_keep_the_answer_as_their_source() {
        let url = Url::parse("https://hub.example/org/m/resolve/main/x").expect("url");
        let http = HttpError::new(401, &url, &HeaderMap::new());
        let e = Error::Unauthorized(Refusal::new("token refused", Some(http.clone())));
        assert_eq!(e.to_string(), "token refused");
        assert_eq!(e.http(), Some(&http));
        let src = e.source().expect("a source");
        assert_eq!(src.to_string(), http.to_string());
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
    }
}
