//! Interop: the official `huggingface_hub` Python client downloads from testhub.

mod common;

use std::process::Command;

use common::*;
use testhub::{Faults, TestHub};

const SCRIPT: &str = r#"
import hashlib, os, sys
from huggingface_hub import hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError
repo = sys.argv[1]
if sys.argv[2:] == ["--snapshot"]:
    root = snapshot_download(repo)
    for d, _, names in sorted(os.walk(root)):
        for n in sorted(names):
            p = os.path.join(d, n)
            with open(p, "rb") as fh:
                print("SNAP", os.path.relpath(p, root), hashlib.sha256(fh.read()).hexdigest())
    sys.exit(0)
for f in sys.argv[2:]:
    try:
        p = hf_hub_download(repo, f)
    except GatedRepoError as e:
        print("GATED", f, str(e).replace("\n", " "))
        continue
    with open(p, "rb") as fh:
        print("OK", f, hashlib.sha256(fh.read()).hexdigest())
"#;

/// Run the official client; returns its stdout lines.
fn hf_download(endpoint: &str, token: Option<&str>, repo: &str, files: &[&str]) -> Vec<String> {
    let home = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(test_util::venv_python());
    cmd.arg("-c")
        .arg(SCRIPT)
        .arg(repo)
        .args(files)
        .env("HF_ENDPOINT", endpoint)
        .env("HF_HOME", home.path())
        .env("HF_HUB_CACHE", home.path().join("hub"))
        .env("HF_HUB_DISABLE_XET", "1")
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("HF_TOKEN");
    if let Some(t) = token {
        cmd.env("HF_TOKEN", t);
    }
    let out = cmd.output().expect("run python");
    assert!(
        out.status.success(),
        "huggingface_hub failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_client_downloads_lfs_and_small_files_and_sees_gating() {
    let mut gated = repo();
    gated.id = "kyutai/gated".into();
    gated.gated = true;
    // a fault the client survives: a drop mid-body, which it resumes with a Range request
    let hub = TestHub::start(
        vec![repo(), gated],
        Faults {
            drop_mid_body: 1,
            ..Faults::default()
        },
    )
    .await
    .expect("start");
    hub.add_token("hf_good", true);
    hub.add_token("hf_noterms", false);
    let endpoint = hub.endpoint();
    let lines = tokio::task::spawn_blocking(move || {
        hf_download(
            &endpoint,
            Some("hf_good"),
            REPO,
            &[BIG, SMALL, "sub/dir/notes.txt"],
        )
    })
    .await
    .expect("python");
    assert_eq!(
        lines,
        vec![
            format!("OK {BIG} {}", sha256_hex(&big_bytes())),
            format!("OK {SMALL} {}", sha256_hex(SMALL_BYTES)),
            format!("OK sub/dir/notes.txt {}", sha256_hex(b"hello")),
        ]
    );
    let st = hub.stats();
    assert_eq!(
        st.auth_headers_on_cdn, 0,
        "the token went to the CDN: {st:?}"
    );
    assert_eq!(st.faults_injected.get("drop_mid_body"), Some(&1));

    let endpoint = hub.endpoint();
    let lines = tokio::task::spawn_blocking(move || {
        hf_download(&endpoint, Some("hf_noterms"), "kyutai/gated", &[BIG])
    })
    .await
    .expect("python");
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with(&format!("GATED {BIG}")), "{lines:?}");
    assert!(lines[0].contains("not in the authorized list"), "{lines:?}");
    let endpoint = hub.endpoint();
    let lines = tokio::task::spawn_blocking(move || {
        hf_download(&endpoint, Some("hf_good"), "kyutai/gated", &[BIG])
    })
    .await
    .expect("python");
    assert!(lines[0].starts_with(&format!("OK {BIG}")), "{lines:?}");
    hub.shutdown().await;
}

#[test]
fn binary_serves_a_folder_to_the_official_client() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("config.json"), b"{\"tiny\": true}\n").expect("write");
    std::fs::create_dir_all(dir.path().join("tok")).expect("mkdir");
    std::fs::write(dir.path().join("tok/vocab.txt"), b"a\nb\n").expect("write");
    let weights: Vec<u8> = (0..1_500_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(dir.path().join("model.q4.safetensors"), &weights).expect("write");

    let (mut child, endpoint) = test_util::spawn_hub(
        Command::new(env!("CARGO_BIN_EXE_testhub"))
            .args([
                "serve",
                "--repo",
                "kyutai/tiny-bin",
                "--faults",
                "drops=1,flip-at=5,flip-at-count=0",
                "--generated-file",
                "extra.bin=2MiB,9",
                "--dir",
            ])
            .arg(dir.path()),
    );
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");

    // flip-at=5 corrupts file offset 5 every time it is served (vocab.txt is shorter: clean).
    let lines = hf_download(
        &endpoint,
        None,
        "kyutai/tiny-bin",
        &["model.q4.safetensors", "tok/vocab.txt"],
    );
    let mut flipped = weights.clone();
    flipped[5] ^= 0xFF;
    // the official client does not verify sha256: it stores the corrupted byte — which shows
    // the fault reached it; hubfetch must catch this.
    assert_eq!(
        lines,
        vec![
            format!("OK model.q4.safetensors {}", sha256_hex(&flipped)),
            format!("OK tok/vocab.txt {}", sha256_hex(b"a\nb\n")),
        ]
    );
    // snapshot_download: model info + tree listing + every file
    let lines = hf_download(&endpoint, None, "kyutai/tiny-bin", &["--snapshot"]);
    // flip-at=5 corrupts offset 5 of every file long enough
    let flip5 = |mut v: Vec<u8>| {
        v[5] ^= 0xFF;
        v
    };
    let mut extra = vec![0u8; 2 * 1024 * 1024];
    testhub::generated_bytes(extra.len() as u64, 9, 0, &mut extra);
    assert_eq!(
        lines,
        vec![
            format!(
                "SNAP config.json {}",
                sha256_hex(&flip5(b"{\"tiny\": true}\n".to_vec()))
            ),
            format!("SNAP extra.bin {}", sha256_hex(&flip5(extra))),
            format!("SNAP model.q4.safetensors {}", sha256_hex(&flipped)),
            format!("SNAP tok/vocab.txt {}", sha256_hex(b"a\nb\n")),
        ]
    );

    // closing stdin stops the server
    drop(child.0.stdin.take());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(status) = child.0.try_wait().expect("try_wait") {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "testhub did not stop when stdin closed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
