//! Network failures in words a person understands ("no network", "the network answers with a
//! login page", "certificate not valid — is the clock right?"), for the progress stream's
//! `lastError` and for the offline error. DNS, refused connections, timeouts, TLS and captive
//! portals otherwise all look like "0 B/s".

use std::time::Duration;

use reqwest::header::{HeaderMap, CONTENT_TYPE};

use crate::error::{NetError, UnreachableReason};

/// A failed request (no HTTP answer) as a retried failure: its reason, described for a
/// person, with the client's error kept as the source.
pub(crate) fn request_failed(e: reqwest::Error, timeout: Duration) -> NetError {
    let reason = classify(&e);
    let chain = chain_text(&e);
    let summary = match reason {
        Some(r) => r.describe(&chain, timeout),
        None => format!("the connection failed — {chain}"),
    };
    NetError::Request {
        reason,
        summary,
        source: e,
    }
}

/// Why a request got no HTTP answer (None: not a "cannot reach" failure).
pub(crate) fn classify(e: &reqwest::Error) -> Option<UnreachableReason> {
    let lower = chain_text(e).to_ascii_lowercase();
    if lower.contains("dns error")
        || lower.contains("failed to lookup address")
        || lower.contains("name or service not known")
        || lower.contains("nodename nor servname")
    {
        return Some(UnreachableReason::Dns);
    }
    if io_kinds(e).contains(&std::io::ErrorKind::ConnectionRefused)
        || lower.contains("connection refused")
    {
        return Some(UnreachableReason::Refused);
    }
    if lower.contains("certificate")
        || lower.contains("invalidcertificate")
        || lower.contains("tls handshake")
        || lower.contains("unknownissuer")
    {
        return Some(UnreachableReason::Certificate);
    }
    if e.is_timeout() {
        return Some(UnreachableReason::Timeout);
    }
    if e.is_connect() {
        return Some(UnreachableReason::Connect);
    }
    None
}

/// True when the answer is an HTML page (where a file or a Hub answer was expected).
pub(crate) fn is_html(h: &HeaderMap) -> bool {
    h.get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("text/html"))
}

/// True when a repo file is itself an HTML page (then `text/html` is not a login page).
pub(crate) fn path_is_html(path: &str) -> bool {
    let l = path.to_ascii_lowercase();
    l.ends_with(".html") || l.ends_with(".htm")
}

fn chain_text(e: &reqwest::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        src = s.source();
    }
    parts.join(": ")
}

fn io_kinds(e: &reqwest::Error) -> Vec<std::io::ErrorKind> {
    let mut out = Vec::new();
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            out.push(io.kind());
        }
        src = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_connection_reads_as_no_network() {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let e = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .expect_err("nothing listens");
        assert_eq!(classify(&e), Some(UnreachableReason::Refused));
        let n = request_failed(e, Duration::from_secs(10));
        assert_eq!(n.unreachable_reason(), Some(UnreachableReason::Refused));
        let d = n.to_string();
        assert!(
            d.starts_with("no network: the connection was refused"),
            "{d}"
        );
    }

    #[test]
    fn html_detection() {
        let mut h = HeaderMap::new();
        assert!(!is_html(&h));
        h.insert(
            CONTENT_TYPE,
            "text/html; charset=utf-8".parse().expect("hv"),
        );
        assert!(is_html(&h));
        assert!(path_is_html("docs/index.HTML"));
        assert!(!path_is_html("model.safetensors"));
    }
}
