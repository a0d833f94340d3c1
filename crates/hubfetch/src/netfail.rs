//! Network failures in words a person understands ("no network", "the network answers with a
//! login page", "certificate not valid — is the clock right?"), for the progress stream's
//! `lastError` and for the offline error. DNS, refused connections, timeouts, TLS and captive
//! portals otherwise all look like "0 B/s".

use std::time::Duration;

use reqwest::header::{HeaderMap, CONTENT_TYPE};

use crate::error::NetError;

/// What a captive portal (hotel / airport Wi-Fi) answer is called everywhere.
pub(crate) const LOGIN_PAGE: &str =
    "the network answers with a login page (captive portal?): open a web page in a browser to sign in to the network";

/// A failed request (no HTTP answer) as a retried failure: described for a person, with the
/// client's error kept as the source.
pub(crate) fn request_failed(e: reqwest::Error, timeout: Duration) -> NetError {
    NetError::Request {
        summary: describe(&e, timeout),
        source: e,
    }
}

/// Describe a failed request (no HTTP answer) for a person.
pub(crate) fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    let chain = chain_text(e);
    let lower = chain.to_ascii_lowercase();
    let refused = io_kinds(e).contains(&std::io::ErrorKind::ConnectionRefused)
        || lower.contains("connection refused");
    if lower.contains("dns error")
        || lower.contains("failed to lookup address")
        || lower.contains("name or service not known")
        || lower.contains("nodename nor servname")
    {
        return format!("no network: the server's name cannot be looked up (DNS) — {chain}");
    }
    if refused {
        return format!("no network: the connection was refused — {chain}");
    }
    if lower.contains("certificate")
        || lower.contains("invalidcertificate")
        || lower.contains("tls handshake")
        || lower.contains("unknownissuer")
    {
        return format!(
            "certificate not valid — is the clock right? (or a network proxy intercepts HTTPS) — {chain}"
        );
    }
    if e.is_timeout() {
        return format!(
            "no answer within {:.0} s (no network, or a very slow one)",
            timeout.as_secs_f64()
        );
    }
    if e.is_connect() {
        return format!("no network: cannot connect — {chain}");
    }
    format!("the connection failed — {chain}")
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
        let d = describe(&e, Duration::from_secs(10));
        assert!(d.starts_with("no network"), "{d}");
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
