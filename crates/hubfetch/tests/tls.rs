//! Certificates and `HTTPS_PROXY` (issue 10 item 7), for real on loopback: testhub's Hub
//! behind a TLS front whose certificate is signed by a throwaway CA. The platform verifier
//! trusts it only when the platform trusts the CA (on Linux: `SSL_CERT_FILE`, the way a
//! corporate CA is installed); otherwise the error says so in words. Through `HTTPS_PROXY`
//! the TLS connection is tunnelled with CONNECT.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use testhub::{Faults, TestHub};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;

/// A CA (PEM) and a `localhost` server certificate signed by it.
fn ca_and_server() -> (
    String,
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.distinguished_name
        .push(DnType::CommonName, "hubfetch test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    let cert = params
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("server cert");
    let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    (ca_cert.pem(), cert.der().clone(), der)
}

/// A TLS front on 127.0.0.1 for `upstream` (plain HTTP); counts finished handshakes.
async fn tls_front(upstream: SocketAddr) -> (u16, String, Arc<AtomicUsize>) {
    let (ca_pem, cert, key) = ca_and_server();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let h2 = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((c, _)) = l.accept().await {
            let (acceptor, h) = (acceptor.clone(), h2.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(c).await else {
                    return;
                };
                h.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut up) = TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                }
            });
        }
    });
    (port, ca_pem, handshakes)
}

/// A CONNECT-only proxy on 127.0.0.1; counts tunnels.
async fn connect_proxy() -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let tunnels = Arc::new(AtomicUsize::new(0));
    let t2 = tunnels.clone();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            let t = t2.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 512];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&b[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                let mut parts = line.split_whitespace();
                if parts.next() != Some("CONNECT") {
                    let _ = c.write_all(b"HTTP/1.1 405 Only CONNECT\r\n\r\n").await;
                    return;
                }
                let target = parts.next().unwrap_or("").replace("localhost", "127.0.0.1");
                let Ok(mut up) = TcpStream::connect(target.as_str()).await else {
                    return;
                };
                t.fetch_add(1, Ordering::SeqCst);
                if c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_ok()
                {
                    let _ = tokio::io::copy_bidirectional(&mut c, &mut up).await;
                }
            });
        }
    });
    (addr, tunnels)
}

/// `hubfetch download org/m w.bin` against `endpoint` with `env`; (success, stdout, stderr).
async fn download(
    endpoint: &str,
    cache: &Path,
    env: Vec<(&'static str, String)>,
) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hubfetch"));
    cmd.args(["download", "org/m", "w.bin"])
        .env("HF_ENDPOINT", endpoint)
        .env("HF_HUB_CACHE", cache.join("hub"))
        .env("HF_HUB_DISABLE_XET", "1")
        .env("HF_HUB_ETAG_TIMEOUT", "2")
        .env_remove("HF_TOKEN");
    clear_network_env(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run hubfetch");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

async fn hub() -> TestHub {
    TestHub::start(
        vec![repo("org/m", vec![gen("w.bin", 300 * 1024, 5)])],
        Faults::default(),
    )
    .await
    .expect("testhub")
}

fn hub_addr(hub: &TestHub) -> SocketAddr {
    let ep = hub.endpoint();
    ep.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("hub address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_the_platform_trusts_is_trusted_and_others_are_named() {
    let hub = hub().await;
    let (port, ca_pem, handshakes) = tls_front(hub_addr(&hub)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &ca_pem).expect("write ca");
    let endpoint = format!("https://localhost:{port}");

    // Not trusted: a clear certificate error, nothing written.
    let (ok, _, err) = download(&endpoint, dir.path(), vec![]).await;
    assert!(!ok, "an unknown CA was accepted");
    assert!(err.contains("certificate not valid"), "{err}");
    assert_eq!(handshakes.load(Ordering::SeqCst), 0);

    // Trusted by the platform (here: SSL_CERT_FILE, as a corporate CA would be installed).
    let (ok, out, err) = download(
        &endpoint,
        dir.path(),
        vec![("SSL_CERT_FILE", ca.display().to_string())],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(
        sha256_file(Path::new(&out)),
        hub.sha256("org/m", "w.bin").expect("sha")
    );
    assert!(handshakes.load(Ordering::SeqCst) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_proxy_tunnels_with_connect() {
    let hub = hub().await;
    let (port, ca_pem, handshakes) = tls_front(hub_addr(&hub)).await;
    let (proxy, tunnels) = connect_proxy().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &ca_pem).expect("write ca");
    let (ok, out, err) = download(
        &format!("https://localhost:{port}"),
        dir.path(),
        vec![
            ("SSL_CERT_FILE", ca.display().to_string()),
            ("HTTPS_PROXY", format!("http://{proxy}")),
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(
        sha256_file(Path::new(&out)),
        hub.sha256("org/m", "w.bin").expect("sha")
    );
    // The Hub's TLS went through the proxy; the CDN (plain http) did not need it.
    assert!(tunnels.load(Ordering::SeqCst) >= 1, "no CONNECT tunnel");
    assert!(handshakes.load(Ordering::SeqCst) >= 1);
}
