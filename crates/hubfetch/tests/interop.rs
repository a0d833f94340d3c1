//! Cache interop with the real `huggingface_hub` (the venv made by `scripts/setup.sh`, or
//! `MOSHIBAR_VENV`), both directions, against the same local Hub (`testhub`).

mod common;

use std::path::Path;

use common::*;
use testhub::{Faults, TestHub};

/// `hf_hub_download` in a child Python; returns the path it prints.
async fn hf_hub_download(
    endpoint: &str,
    cache: &Path,
    repo: &str,
    file: &str,
    local_only: bool,
) -> String {
    let (py, ep, cache, repo, file) = (
        test_util::venv_python(),
        endpoint.to_string(),
        cache.join("hub"),
        repo.to_string(),
        file.to_string(),
    );
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(py)
            .args([
                "-c",
                "import sys; from huggingface_hub import hf_hub_download as d; print(d(sys.argv[1], sys.argv[2], revision='main', local_files_only=sys.argv[3]=='1'))",
                &repo,
                &file,
                if local_only { "1" } else { "0" },
            ])
            .env("HF_ENDPOINT", &ep)
            .env("HF_HUB_CACHE", &cache)
            .env("HF_HUB_DISABLE_XET", "1")
            .env("HF_HUB_DISABLE_TELEMETRY", "1")
            .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            .env_remove("HF_TOKEN")
            .env_remove("HF_HUB_OFFLINE")
            .output()
    })
    .await
    .expect("join")
    .expect("run python");
    assert!(
        out.status.success(),
        "hf_hub_download failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

fn files() -> Vec<testhub::RepoFile> {
    vec![
        gen("model.bin", 700 * 1024, 21),
        bytes("config.json", b"{\"x\": 2}\n", Some(false)),
        gen("sub/dir/w.bin", 100 * 1024, 22),
    ]
}

const NAMES: [&str; 3] = ["model.bin", "config.json", "sub/dir/w.bin"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huggingface_hub_finds_what_hubfetch_downloaded() {
    let hub = TestHub::start(vec![repo("org/interop", files())], Faults::default())
        .await
        .expect("testhub");
    let dir = tempfile::tempdir().expect("tempdir");
    let c = client(&hub.endpoint(), dir.path(), None);
    let got = within(
        60,
        c.download_files("org/interop", "main", &NAMES, opts())
            .wait(),
    )
    .await
    .expect("hubfetch download");
    hub.reset_stats();
    for f in &got {
        let p = hf_hub_download(&hub.endpoint(), dir.path(), "org/interop", &f.path, true).await;
        assert_eq!(Path::new(&p), f.local_path, "{}", f.path);
    }
    assert_eq!(hub.stats().requests, 0, "local_files_only needs no request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubfetch_reuses_what_huggingface_hub_downloaded() {
    let hub = TestHub::start(vec![repo("org/interop", files())], Faults::default())
        .await
        .expect("testhub");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut theirs = Vec::new();
    for n in NAMES {
        theirs.push(hf_hub_download(&hub.endpoint(), dir.path(), "org/interop", n, false).await);
    }
    hub.reset_stats();
    let c = client(&hub.endpoint(), dir.path(), None);
    let got = within(
        60,
        c.download_files("org/interop", "main", &NAMES, opts())
            .wait(),
    )
    .await
    .expect("hubfetch");
    for (f, p) in got.iter().zip(&theirs) {
        assert_eq!(f.local_path, Path::new(p));
        assert!(!f.downloaded, "{} reused", f.path);
    }
    assert_eq!(hub.stats().body_bytes_sent, 0, "not a byte downloaded");
    // And `verify` re-hashes their files against the Hub's hashes.
    let rep = within(60, c.verify("org/interop", "main", &NAMES, &opts()))
        .await
        .expect("verify");
    assert!(rep.iter().all(|r| r.ok), "{rep:?}");
}
