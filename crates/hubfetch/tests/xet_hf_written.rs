//! hubfetch reads what the reference writer wrote: files made here are uploaded by `hf_xet`
//! itself (PyPI `hf-xet`, `upload_files` into a `local://` CAS folder: its own CDC chunking,
//! compression choice, xorbs and MDB shards), testhub imports that folder
//! (`XetOptions::import`: file terms from the shards, bytes served from `hf_xet`'s xorb
//! files as they are) and hubfetch's Xet reader downloads them over testhub's CAS.
//!
//! Checked: byte-identical files and SHA-256; the `X-Xet-Hash` testhub announces is the hash
//! `hf_xet` reported; every xorb transfer was served from an imported xorb (none built by
//! testhub) and every verified xorb is one of `hf_xet`'s files; one byte flipped in one of
//! `hf_xet`'s xorb files on disk makes the read fail on the hashes (not a wrong file).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hubfetch::xet::{Reader, ReaderOptions, XetError, XetEvent, XetHash, XetTarget};
use sha2::{Digest, Sha256};
use testhub::{FileContent, Repo, RepoFile, TestHub, XetOptions};

const REPO: &str = "kyutai/hf-written";

/// Deterministic pseudo-random bytes (xorshift), incompressible.
fn random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// bf16-like weights: small normal-ish values, so the exponent bytes repeat (`hf_xet` picks
/// byte-grouping + LZ4 or LZ4 for such chunks).
fn bf16_like(n_values: usize, seed: u64) -> Vec<u8> {
    let noise = random(n_values * 2, seed);
    let mut out = Vec::with_capacity(n_values * 2);
    for w in noise.chunks_exact(2) {
        let v = (f32::from(w[0]) - 127.5) / 127.5 * 0.02 + (f32::from(w[1]) - 127.5) * 1e-5;
        out.extend_from_slice(&v.to_bits().to_le_bytes()[2..4]);
    }
    out
}

/// The files: random, bf16-like, and one made of pieces of both around new bytes (its terms
/// point back into the first two files' xorbs: dedup, as on the Hub).
fn files() -> Vec<(&'static str, Vec<u8>)> {
    let a = random(3_000_000, 1);
    let b = bf16_like(2_000_000, 2);
    let mut c = a[..1_500_000].to_vec();
    c.extend_from_slice(&random(1_000_000, 3));
    c.extend_from_slice(&b[..2_000_000]);
    c.extend_from_slice(&a[2_000_000..]);
    vec![
        ("random.safetensors", a),
        ("bf16.safetensors", b),
        ("mixed.safetensors", c),
    ]
}

/// `hf_xet.upload_files` of each path in its own session into `local://{cas}`: the Xet hash
/// `hf_xet` reports per file.
fn hf_xet_upload(cas: &Path, home: &Path, paths: &[PathBuf]) -> Vec<String> {
    let script = "import sys, hf_xet\n\
                  for p in sys.argv[2:]:\n    \
                  [r] = hf_xet.upload_files([p], 'local://' + sys.argv[1], None, None, None, 'model')\n    \
                  print(r.hash)";
    let out = Command::new(test_util::venv_python())
        .arg("-c")
        .arg(script)
        .arg(cas)
        .args(paths)
        .env("HF_HOME", home)
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("HF_XET_TELEMETRY_ENABLED", "false")
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "hf_xet.upload_files: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8")
        .lines()
        .map(str::to_string)
        .collect()
}

/// Every xorb file `hf_xet` wrote under `cas` (`default.{hash}`), by hash.
fn hf_xet_xorbs(cas: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![cas.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(h) = name.strip_prefix("default.") {
                if XetHash::from_hex(h).is_ok() {
                    out.push((h.to_string(), p));
                }
            }
        }
    }
    out
}

/// The reference writer's CAS for [`files`]: (tempdir holding it, cas folder, hashes, files).
struct Written {
    _dir: tempfile::TempDir,
    cas: PathBuf,
    hashes: Vec<String>,
    files: Vec<(&'static str, Vec<u8>)>,
}

fn write_with_hf_xet() -> Written {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = files();
    let mut paths = Vec::new();
    for (name, data) in &files {
        let p = dir.path().join(name);
        std::fs::write(&p, data).expect("write");
        paths.push(p);
    }
    let cas = dir.path().join("cas");
    let hashes = hf_xet_upload(&cas, &dir.path().join("home"), &paths);
    assert_eq!(hashes.len(), files.len());
    Written {
        _dir: dir,
        cas,
        hashes,
        files,
    }
}

async fn hub_for(w: &Written, cas: &Path) -> TestHub {
    let repo_files = w
        .files
        .iter()
        .map(|(name, data)| RepoFile {
            path: (*name).into(),
            content: FileContent::Bytes(data.clone()),
            lfs: Some(true),
        })
        .collect();
    let hub = TestHub::start(vec![Repo::new(REPO, repo_files)], Default::default())
        .await
        .expect("start");
    hub.enable_xet(XetOptions {
        import: vec![cas.to_path_buf()],
        ..XetOptions::default()
    })
    .await
    .expect("xet with hf_xet's CAS imported");
    hub
}

/// The `X-Xet-Hash` testhub announces for `name`, and the reader's target for it.
async fn target(hub: &TestHub, name: &str, size: usize) -> XetTarget {
    let head = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .head(format!("{}/{REPO}/resolve/main/{name}", hub.endpoint()))
        .send()
        .await
        .expect("head");
    let hash = head.headers()["x-xet-hash"].to_str().expect("x-xet-hash");
    XetTarget {
        endpoint: hub.endpoint(),
        repo: REPO.into(),
        revision: hub.commit(REPO).expect("commit"),
        file_hash: XetHash::from_hex(hash).expect("hash"),
        size: size as u64,
        sha256: hub.sha256(REPO, name),
    }
}

type Read = (
    Result<hubfetch::xet::XetReport, XetError>,
    Vec<u8>,
    Vec<XetEvent>,
);

async fn read(t: &XetTarget) -> Read {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("file");
    let mut reader = Reader::new(
        reqwest::Client::new(),
        None,
        ReaderOptions {
            backoff: Duration::from_millis(20),
            max_attempts: 3,
            ..ReaderOptions::default()
        },
    );
    let mut events = Vec::new();
    let r = reader.fetch(t, &out, |e| events.push(e.clone())).await;
    let bytes = std::fs::read(&out).unwrap_or_default();
    (r, bytes, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_files_hf_xet_wrote_from_its_own_xorbs() {
    let w = write_with_hf_xet();
    let written = hf_xet_xorbs(&w.cas);
    // One upload session per file, and dedup in the third: several xorbs.
    assert!(written.len() >= 3, "hf_xet wrote {} xorbs", written.len());
    let hub = hub_for(&w, &w.cas).await;
    let mut verified = Vec::new();
    for ((name, data), want_hash) in w.files.iter().zip(&w.hashes) {
        let t = target(&hub, name, data.len()).await;
        assert_eq!(
            &t.file_hash.hex(),
            want_hash,
            "{name}: testhub's X-Xet-Hash is not hf_xet's"
        );
        let (r, bytes, events) = read(&t).await;
        let report = r.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(bytes == *data, "{name}: bytes differ");
        assert_eq!(
            Some(hex::encode(Sha256::digest(&bytes))),
            hub.sha256(REPO, name),
            "{name}: SHA-256"
        );
        assert_eq!(report.repaired_terms, 0, "{name}: {report:?}");
        verified.extend(events.into_iter().filter_map(|e| match e {
            XetEvent::XorbVerified(h) => Some(h),
            _ => None,
        }));
    }
    let stats = hub.xet_stats();
    assert!(stats.imported_xorb_transfers >= 3, "{stats:?}");
    assert_eq!(
        stats.built_xorb_transfers, 0,
        "every transfer must be one of hf_xet's xorbs: {stats:?}"
    );
    // The whole-xorb terms (random and bf16 files) were checked against hf_xet's xorb names.
    assert!(verified.len() >= 2, "verified xorbs: {verified:?}");
    for h in &verified {
        assert!(
            written.iter().any(|(x, _)| x == h),
            "verified xorb {h} is not one hf_xet wrote"
        );
    }
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_flipped_in_hf_xets_xorb_is_refused() {
    let w = write_with_hf_xet();
    // The random file's xorb is stored uncompressed: a flipped payload byte still parses,
    // so only the hashes can catch it.
    let (name, data) = &w.files[0];
    let written = hf_xet_xorbs(&w.cas);
    let hub = hub_for(&w, &w.cas).await;
    let t = target(&hub, name, data.len()).await;
    let (r, bytes, _) = read(&t).await;
    r.expect("clean read first");
    assert!(bytes == *data);
    hub.shutdown().await;

    // The xorb holding the random file's bytes (stored uncompressed).
    let (corrupt, path) = written
        .iter()
        .find(|(_, p)| {
            let b = std::fs::read(p).expect("read xorb");
            b.windows(64).any(|w| w == &data[100_000..100_064])
        })
        .expect("the random file's xorb, stored uncompressed");
    let mut bytes = std::fs::read(path).expect("read xorb");
    let at = bytes
        .windows(64)
        .position(|w| w == &data[100_000..100_064])
        .expect("payload");
    bytes[at + 10] ^= 0x01;
    let mut perm = std::fs::metadata(path).expect("meta").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(path, perm).expect("chmod");
    std::fs::write(path, &bytes).expect("corrupt the xorb");

    let hub = hub_for(&w, &w.cas).await;
    let t = target(&hub, name, data.len()).await;
    let (r, _, events) = read(&t).await;
    match r {
        Err(XetError::FileHashMismatch { .. }) => {}
        other => panic!("a corrupt hf_xet xorb must fail on the hashes, got {other:?}"),
    }
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, XetEvent::XorbVerified(h) if h == corrupt)),
        "the corrupt xorb was taken as verified"
    );
    assert!(
        hub.xet_stats().imported_xorb_transfers >= 2,
        "the term was fetched again"
    );
    hub.shutdown().await;
}
