//! Shared helpers for the tests against `testhub` (the local Hub emulator with faults).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use hubfetch::{Client, Config, Options, Token};
use sha2::{Digest, Sha256};
use testhub::{FileContent, Repo, RepoFile};

/// A generated (seeded) LFS repo file (served through a 302 to the CDN).
pub fn gen(path: &str, size: u64, seed: u64) -> RepoFile {
    RepoFile {
        path: path.into(),
        content: FileContent::Generated { size, seed },
        lfs: Some(true),
    }
}

/// A small in-memory repo file.
pub fn bytes(path: &str, b: &[u8], lfs: Option<bool>) -> RepoFile {
    RepoFile {
        path: path.into(),
        content: FileContent::Bytes(b.to_vec()),
        lfs,
    }
}

pub fn repo(id: &str, files: Vec<RepoFile>) -> Repo {
    Repo::new(id, files)
}

/// Small chunks, short timeouts, a retry limit so a bug fails instead of hanging.
pub fn opts() -> Options {
    let mut o = Options::default();
    o.chunk_size = 64 * 1024;
    o.connections = 4;
    o.max_retries = Some(200);
    o.stall_timeout = Duration::from_millis(700);
    o.backoff_base = Duration::from_millis(10);
    o.backoff_max = Duration::from_millis(200);
    o.progress_interval = Duration::from_millis(20);
    o
}

pub fn config(endpoint: &str, cache: &Path, token: Option<&str>) -> Config {
    let mut c = Config::from_env();
    c.endpoint = endpoint.to_string();
    c.hf_home = cache.join("hf_home");
    c.cache_dir = cache.join("hub");
    c.offline = false;
    c.token = token.and_then(Token::new);
    c.etag_timeout = Duration::from_secs(3);
    c.disable_xet = false;
    c
}

pub fn client(endpoint: &str, cache: &Path, token: Option<&str>) -> Client {
    Client::new(config(endpoint, cache, token)).expect("client")
}

pub fn sha256_file(p: &Path) -> String {
    let data = std::fs::read(p).expect("read downloaded file");
    hex::encode(Sha256::digest(&data))
}

/// `{cache}/hub/models--org--name`.
pub fn storage(cache: &Path, repo: &str) -> PathBuf {
    cache
        .join("hub")
        .join(format!("models--{}", repo.replace('/', "--")))
}

pub fn journal_path(cache: &Path, repo: &str, etag: &str) -> PathBuf {
    storage(cache, repo)
        .join("blobs")
        .join(format!("{etag}.chunked.journal"))
}

pub fn incomplete_path(cache: &Path, repo: &str, etag: &str) -> PathBuf {
    storage(cache, repo)
        .join("blobs")
        .join(format!("{etag}.chunked.incomplete"))
}

/// Number of chunks the journal on disk records.
pub fn journalled(cache: &Path, repo: &str, etag: &str) -> Vec<u64> {
    hubfetch::journal::Journal::load(&journal_path(cache, repo, etag))
        .map(|j| j.chunks.keys().copied().collect())
        .unwrap_or_default()
}

/// Guard against hangs: every test body runs under this.
pub async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test timed out")
}

/// The durable pieces the piece log on disk records, per chunk.
pub fn durable_pieces(
    cache: &Path,
    repo: &str,
    etag: &str,
    size: u64,
    chunk_size: u64,
) -> hubfetch::pieces::Pieces {
    let p = storage(cache, repo)
        .join("blobs")
        .join(format!("{etag}.chunked.pieces"));
    hubfetch::pieces::replay(&p, size, chunk_size)
}

/// Run `code` in the venv's Python against `endpoint` and the cache `{cache}/hub` (no token,
/// no Xet, no telemetry); returns stdout, panics with stderr on failure.
pub fn run_python(code: &str, args: &[&str], endpoint: &str, cache: &Path) -> String {
    let out = std::process::Command::new(test_util::venv_python())
        .arg("-c")
        .arg(code)
        .args(args)
        .env("HF_ENDPOINT", endpoint)
        .env("HF_HUB_CACHE", cache.join("hub"))
        .env("HF_HUB_DISABLE_XET", "1")
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_OFFLINE")
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `hubfetch download REPO model.bin --json` against `endpoint` with `cache` as `HF_HOME`, the
/// caller's HF settings removed, short timeouts and backoff (the CLI sessions of the kill loops).
pub fn cli_download(endpoint: &str, cache: &Path, repo: &str) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_hubfetch"));
    for v in [
        "HF_TOKEN",
        "HF_HUB_OFFLINE",
        "HF_HUB_DOWNLOAD_TIMEOUT",
        "HUGGINGFACE_HUB_CACHE",
        "HF_HUB_DISABLE_XET",
    ] {
        c.env_remove(v);
    }
    c.env("HF_ENDPOINT", endpoint)
        .env("HF_HOME", cache.join("hf_home"))
        .env("HF_HUB_CACHE", cache.join("hub"))
        .env("HF_HUB_ETAG_TIMEOUT", "3")
        .args([
            "download",
            repo,
            "model.bin",
            "--stall-timeout",
            "2",
            "--backoff-base",
            "0.05",
            "--backoff-max",
            "0.3",
            "--json",
        ])
        .stdout(std::process::Stdio::piped());
    c
}

/// Removes the caller's proxy and extra-certificate settings from `cmd`, so a test sets exactly
/// the network environment it is about.
pub fn clear_network_env(cmd: &mut std::process::Command) {
    for v in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ] {
        cmd.env_remove(v);
    }
}
