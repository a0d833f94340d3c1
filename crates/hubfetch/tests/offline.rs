//! Offline and broken networks (issue 10, Deliver 4): with the model cached, a closed port, a
//! black hole (accepts, never answers) and a captive portal all give the cached files quickly;
//! with nothing cached, a clear "offline" error; a login page is never written into a file.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use hubfetch::ErrorKind;
use testhub::{Faults, TestHub};

const SIZE: u64 = 300 * 1024;

/// The CLI with a clean HF_* environment pointing at `endpoint` and the cache under `cache`.
fn hubfetch(endpoint: &str, cache: &Path, etag_timeout: Option<&str>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hubfetch"));
    for v in [
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_HUB_OFFLINE",
        "HF_HUB_ETAG_TIMEOUT",
        "HF_HUB_DOWNLOAD_TIMEOUT",
        "HUGGINGFACE_HUB_CACHE",
    ] {
        c.env_remove(v);
    }
    if let Some(t) = etag_timeout {
        c.env("HF_HUB_ETAG_TIMEOUT", t);
    }
    c.env("HF_ENDPOINT", endpoint)
        .env("HF_HOME", cache.join("hf_home"))
        .env("HF_HUB_CACHE", cache.join("hub"))
        .args(["download", "org/m", "model.bin", "config.json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Run the CLI on a blocking thread; returns its output and how long it took.
async fn run(mut c: Command) -> (Output, Duration) {
    tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let out = c.output().expect("run hubfetch");
        (out, t.elapsed())
    })
    .await
    .expect("join")
}

fn hub_repo() -> testhub::Repo {
    repo(
        "org/m",
        vec![
            gen("model.bin", SIZE, 4),
            bytes("config.json", b"{\"dim\": 16}", None),
        ],
    )
}

/// Download the model into `cache` from a healthy hub; returns the two snapshot paths.
async fn cache_model(hub: &TestHub, cache: &Path) -> Vec<PathBuf> {
    let c = client(&hub.endpoint(), cache, None);
    let files = within(
        60,
        c.download_files("org/m", "main", &["model.bin", "config.json"], opts())
            .wait(),
    )
    .await
    .expect("first download");
    files.into_iter().map(|f| f.local_path).collect()
}

/// An endpoint whose port is closed (nothing listens: connections are refused).
fn closed_port() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    format!("http://127.0.0.1:{port}")
}

/// A black hole: accepts connections and never answers (keeps them open).
fn black_hole() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    format!("http://{addr}")
}

fn paths(out: &Output) -> Vec<PathBuf> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_model_with_the_hub_port_closed_returns_the_cached_paths() {
    let hub = TestHub::start(vec![hub_repo()], Faults::default())
        .await
        .expect("testhub");
    let dir = tempfile::tempdir().expect("tempdir");
    let want = cache_model(&hub, dir.path()).await;
    hub.shutdown().await;
    let (out, took) = run(hubfetch(&closed_port(), dir.path(), Some("2"))).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(paths(&out), want);
    assert!(took < Duration::from_secs(2 + 5), "took {took:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("using the cached copy"),
        "a warning says the cache was used"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_model_behind_a_black_hole_returns_within_the_default_etag_timeout() {
    let hub = TestHub::start(vec![hub_repo()], Faults::default())
        .await
        .expect("testhub");
    let dir = tempfile::tempdir().expect("tempdir");
    let want = cache_model(&hub, dir.path()).await;
    // Default HF_HUB_ETAG_TIMEOUT (10 s): one bounded attempt, then the cache.
    let (out, took) = run(hubfetch(&black_hole(), dir.path(), None)).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(paths(&out), want);
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_cached_and_no_network_is_a_clear_offline_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (endpoint, etag) in [(closed_port(), "2"), (black_hole(), "1")] {
        let (out, took) = run(hubfetch(&endpoint, dir.path(), Some(etag))).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains("offline: cannot reach the Hub"), "{err}");
        assert!(
            err.contains("no network") || err.contains("no answer within"),
            "{err}"
        );
        // Three bounded attempts (the ETag timeout each) plus backoff (1 s, then <= 2 s).
        assert!(
            took < Duration::from_secs(3 * etag.parse::<u64>().unwrap_or(2) + 6),
            "took {took:?}"
        );
    }
    // The library says the same with its kind.
    let c = client(&closed_port(), dir.path(), None);
    let e = within(
        30,
        c.download_files("org/m", "main", &["model.bin"], opts())
            .wait(),
    )
    .await
    .expect_err("offline");
    assert_eq!(e.kind(), ErrorKind::Offline);
    // The reason is typed (the UI's advice depends on it) and keeps the client's error.
    assert!(
        matches!(
            e,
            hubfetch::Error::Unreachable {
                reason: hubfetch::UnreachableReason::Refused,
                ..
            }
        ),
        "{e:?}"
    );
    let cause = std::error::Error::source(&e).expect("the network failure");
    assert!(cause.to_string().starts_with("no network"), "{cause}");
    assert!(
        cause.source().is_some(),
        "the client's error is kept: {cause:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captive_portal_gives_the_cached_model_and_never_enters_a_file() {
    let hub = TestHub::start(vec![hub_repo()], Faults::default())
        .await
        .expect("testhub");
    let dir = tempfile::tempdir().expect("tempdir");
    let want = cache_model(&hub, dir.path()).await;
    // Cached: every request answered by the portal, the cached files come back.
    hub.set_faults(Faults {
        captive_portal: 1_000,
        ..Faults::default()
    });
    let (out, took) = run(hubfetch(&hub.endpoint(), dir.path(), Some("2"))).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(paths(&out), want);
    assert!(took < Duration::from_secs(7), "took {took:?}");
    assert!(hub.stats().faults_injected.get("captive_portal").copied() >= Some(1));

    // Not cached: the portal answers data requests for a while; the login page is never
    // written, the progress stream says what is going on, and the file ends right.
    hub.set_faults(Faults {
        captive_portal_cdn: 6,
        ..Faults::default()
    });
    let fresh = tempfile::tempdir().expect("tempdir");
    let c = client(&hub.endpoint(), fresh.path(), None);
    let mut o = opts();
    o.connections = 1; // one connection meets every portal answer, in order
    let job = c.download_files("org/m", "main", &["model.bin"], o);
    let mut rx = job.progress();
    let seen = tokio::spawn(async move {
        let mut errors = Vec::new();
        while rx.changed().await.is_ok() {
            let p = rx.borrow_and_update().clone();
            if let Some(e) = p.last_error {
                errors.push(e);
            }
            if matches!(p.phase, hubfetch::Phase::Done | hubfetch::Phase::Failed) {
                break;
            }
        }
        errors
    });
    let files = within(60, job.wait())
        .await
        .expect("download through the portal");
    let errors = seen.await.expect("join");
    assert_eq!(
        sha256_file(&files[0].local_path),
        hub.sha256("org/m", "model.bin").expect("sha")
    );
    assert_eq!(
        hub.stats()
            .faults_injected
            .get("captive_portal_cdn")
            .copied(),
        Some(6)
    );
    assert!(
        errors.iter().any(|e| e.contains("login page")),
        "lastError told the person: {errors:?}"
    );
}
