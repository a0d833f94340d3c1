//! One classification of HTTP answers for every request hubfetch makes (resolve `HEAD`,
//! listing, data `GET`): what a status means and what to do about it. Resolve, listing and
//! chunk code each used to keep their own copy of these rules, and the copies drifted (408
//! was retried on one path and fatal on another).

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Url};

use crate::env::Config;
use crate::error::{Error, HttpError, Refusal};
use crate::retry::parse_retry_after;

/// What to do with an answer.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// 2xx: use it.
    Success,
    /// 3xx: follow it (resolve) or treat it as a login page in the way (data).
    Redirect,
    /// A permanent refusal by the Hub (token, gated, not found): never retried.
    Refused(Error),
    /// The download server (not the Hub) refuses the link: 401/403/404/410 from a CDN mean an
    /// expired signature or a blob retired upstream. Resolve again for a fresh link.
    LinkRefused(HttpError),
    /// 416: the range does not fit the file any more (it changed upstream).
    RangeNotSatisfiable(HttpError),
    /// 408, 429, 5xx: retry, after `Retry-After` when the server says so.
    Transient(HttpError, Option<Duration>),
    /// Anything else: an error.
    Unexpected(HttpError),
}

/// Classify `status` (with headers `h`) of a request to `url`. `on_hub` says whether `url` is
/// on the Hub host (where 401/403/404 are about the repo, not about a link); `repo` and
/// `what` word the refusals.
pub(crate) fn classify(
    cfg: &Config,
    on_hub: bool,
    url: &Url,
    status: StatusCode,
    h: &HeaderMap,
    repo: &str,
    what: &str,
) -> Verdict {
    if status.is_success() {
        return Verdict::Success;
    }
    if status.is_redirection() {
        return Verdict::Redirect;
    }
    let http = HttpError::new(status.as_u16(), url, h);
    if status == StatusCode::PROXY_AUTHENTICATION_REQUIRED {
        // The answer of a proxy between us and the Hub, not the Hub's: no token helps, no
        // retry either.
        return Verdict::Refused(Error::Config {
            what: "the network's proxy asks for a login (HTTP 407): put its user and password in the proxy variable (HTTPS_PROXY / HTTP_PROXY / ALL_PROXY=http://user:password@host:port), or check them".into(),
            source: Some(Box::new(http)),
        });
    }
    if on_hub {
        if let Some(e) = hub_refusal(cfg, status, &http, repo, what) {
            return Verdict::Refused(e);
        }
    } else if matches!(status.as_u16(), 401 | 403 | 404 | 410) {
        return Verdict::LinkRefused(http);
    }
    if status == StatusCode::RANGE_NOT_SATISFIABLE {
        return Verdict::RangeNotSatisfiable(http);
    }
    if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        let after = parse_retry_after(h.get("retry-after"));
        return Verdict::Transient(http, after);
    }
    Verdict::Unexpected(http)
}

/// Map a Hub error status to a permanent error (None: not a permanent Hub error), worded
/// with what to do (accept terms, set a token, check the name).
fn hub_refusal(
    cfg: &Config,
    status: StatusCode,
    http: &HttpError,
    repo: &str,
    what: &str,
) -> Option<Error> {
    let code = http.error_code.as_deref().unwrap_or("");
    let msg = http.error_message.as_deref().unwrap_or("");
    let ep = &cfg.endpoint;
    let has_token = cfg.token.is_some();
    let h = || Some(http.clone());
    let gated = || Error::Gated {
        repo: repo.to_string(),
        url: format!("{ep}/{repo}"),
        http: h().map(Box::new),
    };
    let refusal = |m: String| Refusal::new(m, h());
    match (status.as_u16(), code) {
        (_, "GatedRepo") => Some(gated()),
        (404, "RepoNotFound") => Some(Error::NotFound(refusal(format!(
            "repo {repo} not found ({msg}); check the repo id at {ep}/{repo}"
        )))),
        (_, "RepoNotFound") | (401, _) if !has_token => Some(Error::Unauthorized(refusal(format!(
            "{repo} needs a Hub token (private, gated or nonexistent repo; Hub said: {status} {msg}). Set HF_TOKEN or run `hf auth login`, and check the repo id at {ep}/{repo}"
        )))),
        (_, "RepoNotFound") => Some(Error::NotFound(refusal(format!(
            "repo {repo} not found, or your token has no access to it (Hub said: {msg}); check the name at {ep}/{repo}"
        )))),
        (401, _) => Some(Error::Unauthorized(refusal(format!(
            "the Hub rejected your token for {repo} ({status} {msg}): it is invalid, expired or lacks read access; make a new one at {ep}/settings/tokens and set HF_TOKEN"
        )))),
        (403, _) => Some(gated()),
        (_, "RevisionNotFound") => Some(Error::NotFound(refusal(format!(
            "{what}: revision not found in {repo} ({msg}); check the branch, tag or commit at {ep}/{repo}/tree/main"
        )))),
        (404, _) => Some(Error::NotFound(refusal(format!(
            "{what} not found in {repo} ({status} {msg}); check the repo id, revision and file name at {ep}/{repo}"
        )))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn cfg(token: bool) -> Config {
        Config {
            endpoint: "https://hub.example".into(),
            hf_home: "/x".into(),
            cache_dir: "/x/hub".into(),
            offline: false,
            token: token.then(|| crate::env::Token::new("t")).flatten(),
            etag_timeout: Duration::from_secs(1),
            disable_xet: false,
        }
    }

    fn verdict(on_hub: bool, code: u16, headers: &[(&'static str, &'static str)]) -> Verdict {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, v.parse().expect("hv"));
        }
        let url = Url::parse("https://hub.example/org/m/resolve/main/a.bin?sig=1").expect("url");
        let s = StatusCode::from_u16(code).expect("status");
        classify(&cfg(false), on_hub, &url, s, &h, "org/m", "file \"a.bin\"")
    }

    #[test]
    fn one_table_for_hub_and_cdn() {
        assert!(matches!(verdict(true, 206, &[]), Verdict::Success));
        assert!(matches!(verdict(false, 302, &[]), Verdict::Redirect));
        // The same status means a refusal on the Hub and a stale link on the CDN.
        match verdict(true, 404, &[("x-error-code", "EntryNotFound")]) {
            Verdict::Refused(e) => {
                assert_eq!(e.kind(), ErrorKind::NotFound);
                assert_eq!(e.http().map(|h| h.status), Some(404));
            }
            v => panic!("{v:?}"),
        }
        assert!(matches!(verdict(false, 403, &[]), Verdict::LinkRefused(_)));
        assert!(matches!(verdict(false, 410, &[]), Verdict::LinkRefused(_)));
        match verdict(true, 403, &[("x-error-code", "GatedRepo")]) {
            Verdict::Refused(e) => assert_eq!(e.kind(), ErrorKind::Gated),
            v => panic!("{v:?}"),
        }
        match verdict(true, 401, &[]) {
            Verdict::Refused(e) => assert_eq!(e.kind(), ErrorKind::Unauthorized),
            v => panic!("{v:?}"),
        }
        // Transient on every path, 408 included, with Retry-After.
        for (on_hub, code) in [(true, 408), (false, 408), (true, 429), (false, 503)] {
            match verdict(on_hub, code, &[("retry-after", "3")]) {
                Verdict::Transient(h, after) => {
                    assert_eq!(h.status, code);
                    assert_eq!(after, Some(Duration::from_secs(3)));
                    assert!(!h.url.contains("sig="), "{}", h.url);
                }
                v => panic!("{code}: {v:?}"),
            }
        }
        assert!(matches!(
            verdict(false, 416, &[]),
            Verdict::RangeNotSatisfiable(_)
        ));
        assert!(matches!(verdict(true, 418, &[]), Verdict::Unexpected(_)));
    }
}
