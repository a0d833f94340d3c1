//! Helpers shared by the integration tests.
#![allow(dead_code)]

use sha2::Digest as _;
use testhub::{generated_bytes, FileContent, Repo, RepoFile};

pub const REPO: &str = "kyutai/tiny";
pub const BIG: &str = "model.safetensors";
pub const BIG_SIZE: u64 = 3 * 1024 * 1024 + 17;
pub const BIG_SEED: u64 = 42;
pub const SMALL: &str = "config.json";
pub const SMALL_BYTES: &[u8] = b"{\"dim\": 16}\n";

pub fn repo() -> Repo {
    Repo::new(
        REPO,
        vec![
            RepoFile::new(
                BIG,
                FileContent::Generated {
                    size: BIG_SIZE,
                    seed: BIG_SEED,
                },
            ),
            RepoFile::new(SMALL, FileContent::Bytes(SMALL_BYTES.to_vec())),
            RepoFile::new("sub/dir/notes.txt", FileContent::Bytes(b"hello".to_vec())),
        ],
    )
}

pub fn big_bytes() -> Vec<u8> {
    let mut v = vec![0u8; BIG_SIZE as usize];
    generated_bytes(BIG_SIZE, BIG_SEED, 0, &mut v);
    v
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

/// A client that does not follow redirects (to look at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

/// Resolve a file and return the CDN location.
pub async fn location(hub: &testhub::TestHub, path: &str) -> String {
    let r = client()
        .get(format!("{}/{REPO}/resolve/main/{path}", hub.endpoint()))
        .send()
        .await
        .expect("resolve");
    assert_eq!(r.status(), 302, "resolve {path}");
    r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string()
}

/// GET a URL and read the body as far as it goes: (status, bytes, whether the body ended in an error).
pub async fn get_all(url: &str, range: Option<&str>) -> (u16, Vec<u8>, bool) {
    let mut req = client().get(url);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let mut resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => out.extend_from_slice(&c),
            Ok(None) => return (status, out, false),
            Err(_) => return (status, out, true),
        }
    }
}
