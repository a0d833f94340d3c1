//! `testhub serve --stats FILE`: on exit the binary writes a JSON summary whose
//! `bytes_served` is every response body byte of every path (file data, redirects, errors,
//! JSON), checked here against the bytes a client actually received.

use std::process::Command;

use test_util::KillOnDrop;

fn spawn(stats: &std::path::Path, extra: &[&str]) -> (KillOnDrop, String) {
    test_util::spawn_hub(
        Command::new(env!("CARGO_BIN_EXE_testhub"))
            .args([
                "serve",
                "--repo",
                "kyutai/stats",
                "--generated-file",
                "model.safetensors=1MiB,3",
                "--stats",
            ])
            .arg(stats)
            .args(extra),
    )
}

/// GETs `url` without following redirects; returns (status, Location, body length).
async fn get(c: &reqwest::Client, url: &str) -> (u16, Option<String>, u64) {
    let r = c.get(url).send().await.expect("get");
    let status = r.status().as_u16();
    let loc = r
        .headers()
        .get("location")
        .map(|v| v.to_str().expect("location").to_string());
    let body = r.bytes().await.expect("body");
    (status, loc, body.len() as u64)
}

fn summary(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("stats file written on exit");
    serde_json::from_str(&text).expect("stats JSON")
}

#[tokio::test]
async fn stats_file_counts_every_body_byte_on_stdin_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stats = dir.path().join("stats.json");
    let (mut child, endpoint) = spawn(&stats, &["--xet"]);
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut received = 0;
    let (s, loc, n) = get(
        &c,
        &format!("{endpoint}/kyutai/stats/resolve/main/model.safetensors"),
    )
    .await;
    assert_eq!(s, 302);
    received += n;
    let (s, _, n) = get(&c, &loc.expect("location")).await;
    assert_eq!((s, n), (200, 1 << 20));
    received += n;
    let (s, _, n) = get(&c, &format!("{endpoint}/kyutai/stats/resolve/main/missing")).await;
    assert_eq!(s, 404);
    assert!(n > 0, "an error body");
    received += n;
    // A JSON answer of the Xet token endpoint counts too.
    let commit_url = format!("{endpoint}/api/models/kyutai/stats/xet-read-token/main");
    let (s, _, n) = get(&c, &commit_url).await;
    assert_eq!(s, 200);
    received += n;

    drop(child.0.stdin.take()); // stdin closed: the server stops and writes the file
    let status = child.0.wait().expect("wait");
    assert!(status.success(), "{status}");
    let v = summary(&stats);
    assert_eq!(v["bytes_served"], received, "{v}");
    assert_eq!(v["stats"]["bytes_served"], received, "{v}");
    assert_eq!(v["xet"]["tokenRequests"], 1, "{v}");
}

#[cfg(unix)]
#[tokio::test]
async fn stats_file_is_written_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stats = dir.path().join("stats.json");
    let (mut child, endpoint) = spawn(&stats, &[]);
    let c = reqwest::Client::new(); // follows the redirect
    let body = c
        .get(format!(
            "{endpoint}/kyutai/stats/resolve/main/model.safetensors"
        ))
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body");
    assert_eq!(body.len(), 1 << 20);
    let kill = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = child.0.wait().expect("wait");
    assert!(status.success(), "{status}");
    let served = summary(&stats)["bytes_served"]
        .as_u64()
        .expect("bytes_served");
    // The file plus the redirect's small body.
    assert!((1 << 20..(1 << 20) + 1024).contains(&served), "{served}");
}
