//! `Client::download_files` picks the transport: Xet when the Hub's HEAD names an
//! `X-Xet-Hash` (testhub with `enable_xet`, as `testhub serve --xet`), HTTP with
//! `HF_HUB_DISABLE_XET=1`, and HTTP again, with the reason in the progress stream, when the
//! Xet path fails hard. The published file is the same either way (blob, snapshot link).

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use hubfetch::Progress;
use testhub::{Faults, TestHub, XetFaults, XetOptions};

const REPO: &str = "org/xet";
const SIZE: u64 = (2 << 20) + 4321;

async fn hub(faults: Faults) -> TestHub {
    hub_with(faults, XetFaults::default()).await
}

async fn hub_with(faults: Faults, xet_faults: XetFaults) -> TestHub {
    let hub = TestHub::start(vec![repo(REPO, vec![gen("model.bin", SIZE, 11)])], faults)
        .await
        .expect("testhub");
    hub.enable_xet(XetOptions {
        max_xorb_bytes: 512 << 10,
        faults: xet_faults,
        ..XetOptions::default()
    })
    .await
    .expect("xet");
    hub
}

/// Downloads the file; returns every progress snapshot seen.
async fn download(hub: &TestHub, disable_xet: bool) -> Vec<Progress> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&hub.endpoint(), dir.path(), None);
    cfg.disable_xet = disable_xet;
    let c = hubfetch::Client::new(cfg).expect("client");
    let job = c.download_files(REPO, "main", &["model.bin"], opts());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut rx = job.progress();
    let s2 = seen.clone();
    let watcher = tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let p = rx.borrow_and_update().clone();
            s2.lock().expect("lock").push(p);
        }
    });
    let files = within(120, job.wait()).await.expect("download verified");
    let _ = watcher.await;
    let f = files.into_iter().next().expect("one file");
    let want = hub.sha256(REPO, "model.bin").expect("sha");
    assert_eq!(sha256_file(&f.local_path), want);
    assert!(f.downloaded && f.verified);
    assert!(std::fs::read_link(&f.local_path)
        .expect("link")
        .is_relative());
    assert!(!incomplete_path(dir.path(), REPO, &want).exists());
    let v = seen.lock().expect("lock").clone();
    v
}

fn transports(seen: &[Progress]) -> Vec<String> {
    let mut t: Vec<String> = seen
        .iter()
        .filter_map(|p| p.files.first().and_then(|f| f.transport.clone()))
        .collect();
    t.dedup();
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xet_backed_file_is_read_over_xet_not_the_cdn() {
    let hub = hub(Faults::default()).await;
    let seen = download(&hub, false).await;
    assert_eq!(transports(&seen), vec!["xet".to_string()]);
    let s = hub.stats();
    assert_eq!(s.cdn_requests, 0, "the plain CDN must not be asked: {s:?}");
    assert!(hub.xet_stats().xorb_requests > 0);
    let last = seen.last().expect("progress");
    assert!(last.files[0].xet_fallback.is_none());
    let json = serde_json::to_value(last).expect("json");
    assert_eq!(json["files"][0]["transport"], "xet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_xet_uses_http() {
    let hub = hub(Faults::default()).await;
    let seen = download(&hub, true).await;
    assert_eq!(transports(&seen), vec!["http".to_string()]);
    assert!(hub.stats().cdn_requests > 0);
    assert_eq!(hub.xet_stats().xorb_requests, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_cas_falls_back_to_http_and_says_why() {
    // Every xorb transfer answers 503 until the reader gives up on a term (8 attempts); the
    // HTTP path gets the CDN without faults (xorb_503 does not touch blobs).
    let hub = hub_with(
        Faults::default(),
        XetFaults {
            xorb_503: 1000,
            ..XetFaults::default()
        },
    )
    .await;
    let seen = download(&hub, false).await;
    assert_eq!(
        transports(&seen),
        vec!["xet".to_string(), "http".to_string()]
    );
    let why = seen
        .iter()
        .find_map(|p| p.files.first().and_then(|f| f.xet_fallback.clone()))
        .expect("a fallback reason");
    assert!(why.contains("Xet") && why.contains("HTTP"), "{why}");
    assert!(
        seen.iter()
            .any(|p| p.last_error.as_deref() == Some(why.as_str())),
        "the reason is in lastError too"
    );
    assert!(hub.stats().cdn_requests > 0);
}
