//! Networks (issue 10 item 7), for real on loopback: the `hubfetch` CLI behind a tiny proxy
//! that counts what goes through it — an HTTP forward proxy (`HTTP_PROXY`, also CONNECT for
//! `HTTPS_PROXY`), a SOCKS5 proxy (`ALL_PROXY=socks5://`), and `NO_PROXY` bypassing it. The
//! data transfers must be separate TCP connections (HTTP/1.1, see the README's "Networks").

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use testhub::{Faults, TestHub};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KIB: u64 = 1024;

/// What the proxy saw.
#[derive(Default)]
struct Seen {
    /// Client connections accepted.
    connections: AtomicUsize,
    /// Tunnels to the CDN's port open at once, at most.
    max_cdn_tunnels: AtomicUsize,
    cdn_tunnels: AtomicUsize,
    /// Requests by kind.
    forwarded: AtomicUsize,
    connects: AtomicUsize,
    socks: AtomicUsize,
    /// Requests refused with 407 (no or wrong `Proxy-Authorization`), and accepted with it.
    denied: AtomicUsize,
    authorized: AtomicUsize,
}

/// `Proxy-Authorization` of `user:s3cret-pw` (Basic).
const AUTH: &str = "Basic dXNlcjpzM2NyZXQtcHc=";
/// The password in it, which must never appear in what hubfetch prints.
const PASSWORD: &str = "s3cret-pw";

/// A proxy on 127.0.0.1 that speaks HTTP forwarding (absolute-form requests), CONNECT and
/// SOCKS5, and pipes each client connection to one upstream.
async fn proxy(cdn_port: u16) -> (SocketAddr, Arc<Seen>) {
    proxy_with(cdn_port, None).await
}

/// The same proxy; with `auth`, a request (forwarded or CONNECT) without exactly that
/// `Proxy-Authorization` gets `407 Proxy Authentication Required`.
async fn proxy_with(cdn_port: u16, auth: Option<&'static str>) -> (SocketAddr, Arc<Seen>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let seen = Arc::new(Seen::default());
    let s2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((c, _)) = l.accept().await {
            s2.connections.fetch_add(1, Ordering::SeqCst);
            let seen = s2.clone();
            tokio::spawn(async move {
                let _ = serve(c, seen, cdn_port, auth).await;
            });
        }
    });
    (addr, seen)
}

async fn serve(
    mut c: TcpStream,
    seen: Arc<Seen>,
    cdn_port: u16,
    auth: Option<&str>,
) -> std::io::Result<()> {
    let mut first = [0u8; 1];
    c.peek(&mut first).await?;
    let (up, early) = if first[0] == 5 {
        seen.socks.fetch_add(1, Ordering::SeqCst);
        (socks5(&mut c).await?, Vec::new())
    } else {
        // Read the request head.
        let mut head = Vec::new();
        let mut b = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = c.read(&mut b).await?;
            if n == 0 {
                return Ok(());
            }
            head.extend_from_slice(&b[..n]);
        }
        let line = String::from_utf8_lossy(&head)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if let Some(want) = auth {
            let text = String::from_utf8_lossy(&head).to_string();
            let given = text.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("proxy-authorization")
                    .then(|| v.trim().to_string())
            });
            if given.as_deref() != Some(want) {
                seen.denied.fetch_add(1, Ordering::SeqCst);
                c.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await?;
                return Ok(());
            }
            seen.authorized.fetch_add(1, Ordering::SeqCst);
        }
        if method == "CONNECT" {
            seen.connects.fetch_add(1, Ordering::SeqCst);
            c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await?;
            (
                target
                    .parse::<SocketAddr>()
                    .map_err(std::io::Error::other)?,
                Vec::new(),
            )
        } else {
            seen.forwarded.fetch_add(1, Ordering::SeqCst);
            // `http://127.0.0.1:PORT/...`: the upstream, and the head goes on unchanged
            // (HTTP/1.1 servers accept absolute-form targets).
            let hostport = target
                .strip_prefix("http://")
                .and_then(|r| r.split('/').next())
                .unwrap_or("");
            (
                hostport
                    .parse::<SocketAddr>()
                    .map_err(std::io::Error::other)?,
                head,
            )
        }
    };
    let mut u = TcpStream::connect(up).await?;
    u.write_all(&early).await?;
    let to_cdn = up.port() == cdn_port;
    if to_cdn {
        let now = seen.cdn_tunnels.fetch_add(1, Ordering::SeqCst) + 1;
        seen.max_cdn_tunnels.fetch_max(now, Ordering::SeqCst);
    }
    let r = tokio::io::copy_bidirectional(&mut c, &mut u).await;
    if to_cdn {
        seen.cdn_tunnels.fetch_sub(1, Ordering::SeqCst);
    }
    r.map(|_| ())
}

/// The SOCKS5 handshake (no auth, CONNECT to an IPv4 address or a name): the upstream.
async fn socks5(c: &mut TcpStream) -> std::io::Result<SocketAddr> {
    let mut h = [0u8; 2];
    c.read_exact(&mut h).await?;
    let mut methods = vec![0u8; h[1] as usize];
    c.read_exact(&mut methods).await?;
    c.write_all(&[5, 0]).await?;
    let mut req = [0u8; 4];
    c.read_exact(&mut req).await?;
    let ip = match req[3] {
        1 => {
            let mut a = [0u8; 4];
            c.read_exact(&mut a).await?;
            std::net::IpAddr::from(a)
        }
        3 => {
            let mut n = [0u8; 1];
            c.read_exact(&mut n).await?;
            let mut name = vec![0u8; n[0] as usize];
            c.read_exact(&mut name).await?;
            let name = String::from_utf8_lossy(&name).to_string();
            if name == "localhost" {
                std::net::IpAddr::from([127, 0, 0, 1])
            } else {
                name.parse().map_err(std::io::Error::other)?
            }
        }
        _ => return Err(std::io::Error::other("unsupported address type")),
    };
    let mut port = [0u8; 2];
    c.read_exact(&mut port).await?;
    c.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
    Ok(SocketAddr::new(ip, u16::from_be_bytes(port)))
}

/// `hubfetch download` of a 2 MiB file over 4 fixed connections, with `env` set (and every
/// proxy variable not in `env` removed); returns the local path printed.
async fn download(hub: &TestHub, cache: &Path, env: &[(&str, String)]) -> String {
    let out = run_cli(hub, cache, env).await;
    assert!(
        out.status.success(),
        "hubfetch failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The same CLI run, its output whatever the outcome (debug logs on).
async fn run_cli(hub: &TestHub, cache: &Path, env: &[(&str, String)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hubfetch"));
    cmd.args([
        "download",
        "org/m",
        "w.bin",
        "--chunk-size",
        "256K",
        "--connections",
        "4",
        "--initial-connections",
        "4",
        "--max-retries",
        "20",
    ])
    .env("HF_ENDPOINT", hub.endpoint())
    .env("HF_HUB_CACHE", cache.join("hub"))
    .env("HF_HUB_DISABLE_XET", "1")
    .env("RUST_LOG", "hubfetch=debug,reqwest=debug")
    .env_remove("HF_TOKEN");
    clear_network_env(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run hubfetch")
}

async fn hub() -> TestHub {
    TestHub::start(
        vec![repo("org/m", vec![gen("w.bin", 2048 * KIB, 9)])],
        Faults {
            // 1 s per chunk: the four transfers overlap.
            bandwidth_per_connection: Some(256 * KIB),
            ..Faults::default()
        },
    )
    .await
    .expect("testhub")
}

fn cdn_port(hub: &TestHub) -> u16 {
    hub.cdn_endpoint()
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("cdn port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_proxy_carries_every_request_on_separate_connections() {
    let hub = hub().await;
    let (addr, seen) = proxy(cdn_port(&hub)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = download(
        &hub,
        dir.path(),
        &[("HTTP_PROXY", format!("http://{addr}"))],
    )
    .await;
    assert_eq!(
        sha256_file(Path::new(&p)),
        hub.sha256("org/m", "w.bin").expect("sha")
    );
    let s = hub.stats();
    // Every request the hub and the CDN answered came through the proxy.
    assert!(
        seen.forwarded.load(Ordering::SeqCst) >= 1,
        "no request went through the proxy"
    );
    assert!(seen.connections.load(Ordering::SeqCst) >= 2);
    // Four transfers at once are four TCP connections to the CDN (not four streams on one).
    let max = seen.max_cdn_tunnels.load(Ordering::SeqCst);
    assert!(
        max >= 4,
        "at most {max} connections to the CDN at once; {s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks5_all_proxy_is_used() {
    let hub = hub().await;
    let (addr, seen) = proxy(cdn_port(&hub)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = download(
        &hub,
        dir.path(),
        &[("ALL_PROXY", format!("socks5://{addr}"))],
    )
    .await;
    assert_eq!(
        sha256_file(Path::new(&p)),
        hub.sha256("org/m", "w.bin").expect("sha")
    );
    assert!(
        seen.socks.load(Ordering::SeqCst) >= 2,
        "hub and CDN through SOCKS"
    );
    assert_eq!(seen.forwarded.load(Ordering::SeqCst), 0);
    assert!(seen.max_cdn_tunnels.load(Ordering::SeqCst) >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_proxy_bypasses_the_proxy() {
    let hub = hub().await;
    let (addr, seen) = proxy(cdn_port(&hub)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = download(
        &hub,
        dir.path(),
        &[
            ("HTTP_PROXY", format!("http://{addr}")),
            ("ALL_PROXY", format!("socks5://{addr}")),
            ("NO_PROXY", "127.0.0.1,localhost".to_string()),
        ],
    )
    .await;
    assert_eq!(
        sha256_file(Path::new(&p)),
        hub.sha256("org/m", "w.bin").expect("sha")
    );
    assert_eq!(
        seen.connections.load(Ordering::SeqCst),
        0,
        "NO_PROXY ignored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticated_proxy_gets_the_credentials_from_the_url_and_never_prints_them() {
    let hub = hub().await;
    let (addr, seen) = proxy_with(cdn_port(&hub), Some(AUTH)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // Without credentials: 407, a clear error at once (no retries), nothing downloaded.
    let out = run_cli(
        &hub,
        dir.path(),
        &[("HTTP_PROXY", format!("http://{addr}"))],
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("proxy asks for a login"), "{err}");
    assert!(seen.denied.load(Ordering::SeqCst) >= 1);
    assert_eq!(seen.authorized.load(Ordering::SeqCst), 0);
    assert_eq!(hub.stats().bytes_served, 0);
    // With `user:password@` in the variable: Proxy-Authorization on every request.
    let denied = seen.denied.load(Ordering::SeqCst);
    for var in ["HTTP_PROXY", "ALL_PROXY"] {
        let out = run_cli(
            &hub,
            &dir.path().join(var),
            &[(var, format!("http://user:{PASSWORD}@{addr}"))],
        )
        .await;
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{var}: {stderr}");
        assert_eq!(
            sha256_file(Path::new(stdout.trim())),
            hub.sha256("org/m", "w.bin").expect("sha")
        );
        assert!(
            !stderr.contains(PASSWORD) && !stdout.contains(PASSWORD),
            "{var}: the proxy password was printed: {stderr}"
        );
    }
    assert_eq!(
        seen.denied.load(Ordering::SeqCst),
        denied,
        "a request went without the login"
    );
    assert!(seen.authorized.load(Ordering::SeqCst) >= 4);
}
