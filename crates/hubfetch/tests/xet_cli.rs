//! The `hubfetch` CLI on a Xet-backed repo (testhub with `enable_xet`, as `testhub serve
//! --xet`): the `--json` progress names the transport and shows the xorb ranges (terms) on
//! the chunk map in the shape of HTTP chunks; and the kill -9 loop of the weak-link issue on
//! the Xet path: SIGKILL every 3 s on a 1 MB/s link with drops, restarted until done, with a
//! bound on every body byte the hub served (`Stats::bytes_served`, as `testhub serve --stats`).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use testhub::{Faults, TestHub, XetOptions};

fn session(endpoint: &str, cache: &std::path::Path, repo: &str) -> Command {
    cli_download(endpoint, cache, repo)
}

async fn xet_hub(repo_id: &str, size: u64, max_xorb: usize, faults: Faults) -> TestHub {
    let hub = TestHub::start(
        vec![repo(repo_id, vec![gen("model.bin", size, 21)])],
        faults,
    )
    .await
    .expect("testhub");
    hub.enable_xet(XetOptions {
        max_xorb_bytes: max_xorb,
        ..XetOptions::default()
    })
    .await
    .expect("xet");
    hub
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_json_progress_shows_xet_terms_on_the_chunk_map() {
    const SIZE: u64 = 3_000_000;
    let hub = xet_hub(
        "org/x",
        SIZE,
        256 << 10,
        Faults {
            bandwidth_total: Some(3_000_000),
            ..Faults::default()
        },
    )
    .await;
    let sha = hub.sha256("org/x", "model.bin").expect("sha");
    let dir = tempfile::tempdir().expect("tempdir");
    let (ep, cache) = (hub.endpoint(), dir.path().to_path_buf());
    let out = tokio::task::spawn_blocking(move || {
        session(&ep, &cache, "org/x")
            .stderr(Stdio::piped())
            .output()
            .expect("run hubfetch")
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(sha256_file(std::path::Path::new(&path)), sha);
    assert_eq!(hub.stats().cdn_requests, 0, "no plain blob download");
    let snaps: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v.get("files").is_some())
        .collect();
    let xet: Vec<&serde_json::Value> = snaps
        .iter()
        .filter(|v| v["files"][0]["transport"] == "xet")
        .collect();
    assert!(!xet.is_empty(), "no progress line names the xet transport");
    let last = snaps.last().expect("progress");
    assert_eq!(last["phase"], "done");
    let map = last["files"][0]["chunkMap"].as_str().expect("chunkMap");
    // 3 MB in 256 KiB xorbs: one slot per term, all verified at the end.
    assert!(map.len() >= 10, "{map}");
    assert!(map.chars().all(|c| c == '#'), "{map}");
    assert_eq!(last["verifiedChunks"], map.len());
    assert_eq!(last["totalChunks"], map.len());
    // On the way: terms in flight and verified ones side by side, counted as chunks are.
    let partial = xet.iter().find(|v| {
        let m = v["files"][0]["chunkMap"].as_str().unwrap_or("");
        m.len() == map.len() && m.contains('#') && m.contains(['>', '.'])
    });
    let partial =
        partial.unwrap_or_else(|| panic!("no partial chunk map among {} lines", xet.len()));
    let m = partial["files"][0]["chunkMap"].as_str().unwrap_or("");
    assert_eq!(
        partial["verifiedChunks"],
        m.chars().filter(|&c| c == '#').count()
    );
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xet_sigkill_every_three_seconds_on_a_1mbps_link_serves_at_most_1_6_x() {
    const SIZE: u64 = 6_000_000;
    // Default 64 MiB xorbs: the whole file is one term of one xorb, so only the pieces
    // journalled inside the term carry progress from one session to the next.
    let hub = xet_hub(
        "org/k",
        SIZE,
        64 << 20,
        Faults {
            bandwidth_total: Some(1_000_000),
            drop_probability: 0.1,
            seed: 5,
            ..Faults::default()
        },
    )
    .await;
    let sha = hub.sha256("org/k", "model.bin").expect("sha");
    let dir = tempfile::tempdir().expect("tempdir");
    let (ep, cache) = (hub.endpoint(), dir.path().to_path_buf());
    let (sessions, out) = tokio::task::spawn_blocking(move || {
        for n in 1..=20u32 {
            let mut child = session(&ep, &cache, "org/k")
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn hubfetch");
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(3) {
                if let Ok(Some(_)) = child.try_wait() {
                    return (n, child.wait_with_output().expect("output"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            child.kill().expect("SIGKILL");
            let _ = child.wait();
        }
        panic!("not finished after 20 sessions of 3 s");
    })
    .await
    .expect("join");
    assert!(out.status.success(), "the last session succeeded");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(sha256_file(std::path::Path::new(&path)), sha);
    let s = hub.stats();
    let x = hub.xet_stats();
    assert_eq!(s.cdn_requests, 0, "over Xet, not the plain blob: {s:?}");
    assert!(sessions >= 2, "the download was killed at least once");
    let ratio = s.bytes_served as f64 / SIZE as f64;
    eprintln!(
        "xet kill loop: {sessions} sessions, {} xorb requests, bytes served {:.2} x the file",
        x.xorb_requests, ratio
    );
    assert!(
        ratio <= 1.6,
        "bytes served {} = {ratio:.2} x the file over {sessions} sessions",
        s.bytes_served
    );
}
