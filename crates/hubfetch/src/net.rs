//! The HTTP client every request goes through (resolve, listing, data, Xet), set up for the
//! networks people are on:
//!
//! - **Proxies**: `HTTPS_PROXY` / `HTTP_PROXY`, `ALL_PROXY` (also `socks5://` and
//!   `socks5h://`), `NO_PROXY`, read by reqwest; without those variables, the system's proxy
//!   settings (macOS: System Settings → Network → Proxies, the manual HTTP/HTTPS entries; an
//!   app started from the Dock sees no shell variables). A PAC file is not evaluated.
//! - **Certificates**: the platform's verifier (`rustls-platform-verifier`): on macOS the
//!   Security framework with the keychain's trust settings, so a corporate or school CA the
//!   Mac trusts is trusted here too; on Linux the system store (`SSL_CERT_FILE` /
//!   `SSL_CERT_DIR` honoured).
//! - **HTTP/1.1 only.** Our parallelism is parallel TCP connections: a weak link that limits
//!   each flow (the seed user's ~100 kB/s per connection) gains only from separate
//!   connections, and a reset should cost one transfer, not all of them. With HTTP/2 the
//!   requests to one host share one TCP connection (one flow, one reset kills every stream),
//!   so "10 connections" would silently be one. HTTP/2's gains (header compression,
//!   multiplexing small requests) do not matter for a few large range requests.

use std::sync::Arc;
use std::time::Duration;

use rustls_platform_verifier::BuilderVerifierExt;

use crate::error::{Error, Result};

/// The TLS settings: ring (as the rest of the tree), the platform verifier, ALPN HTTP/1.1.
fn tls_config() -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let bad = |what: &str, e: rustls::Error| Error::Config {
        what: format!("cannot set up TLS ({what})"),
        source: Some(Box::new(e)),
    };
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("protocol versions", e))?
        .with_platform_verifier()
        .map_err(|e| bad("the platform's certificate verifier", e))?
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// The client: no redirects followed (the resolve code follows Hub-internal ones itself),
/// connections set up within `connect_timeout`, HTTP/1.1, proxies and platform TLS as above.
pub(crate) fn http_client(connect_timeout: Duration) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .http1_only()
        .use_preconfigured_tls(tls_config()?)
        .build()
        .map_err(|e| Error::Config {
            what: "cannot build the HTTP client".into(),
            source: Some(Box::new(e)),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_offers_http1_only() {
        let cfg = tls_config().expect("tls");
        assert_eq!(cfg.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(http_client(Duration::from_secs(1)).is_ok());
    }
}
