//! hubfetch's Xet reader against testhub's Xet CAS (`TestHub::enable_xet`, whose xorbs the
//! reference `hf_xet` reads byte-identically: testhub's `xet_official_client` test): clean
//! reads over v2 and v1, and the Xet fault matrix — flipped bytes, drops, truncated bodies,
//! 503s, signed URLs expiring mid-download (403 → re-query), a token expiring mid-download.

use std::time::Duration;

use hubfetch::xet::{Reader, ReaderOptions, XetEvent, XetHash, XetTarget};
use testhub::{generated_bytes, Faults, FileContent, Repo, RepoFile, TestHub, XetOptions};

const REPO: &str = "kyutai/xet-reader";
const SIZE: usize = 3 << 20;

fn content() -> Vec<u8> {
    let mut data = vec![0u8; SIZE];
    generated_bytes(SIZE as u64, 5, 0, &mut data);
    // Some compressible regions (LZ4 chunks) among incompressible ones (stored chunks).
    for b in &mut data[1 << 20..(1 << 20) + 400_000] {
        *b &= 0x0F;
    }
    data
}

async fn start(opts: XetOptions) -> (TestHub, Vec<u8>, XetTarget) {
    let data = content();
    let mut f = RepoFile::new("model.safetensors", FileContent::Bytes(data.clone()));
    f.lfs = Some(true);
    let hub = TestHub::start(vec![Repo::new(REPO, vec![f])], Faults::default())
        .await
        .expect("start");
    hub.enable_xet(opts).await.expect("xet");
    let head = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .head(format!(
            "{}/{REPO}/resolve/main/model.safetensors",
            hub.endpoint()
        ))
        .send()
        .await
        .expect("head");
    let hash = head.headers()["x-xet-hash"].to_str().expect("x-xet-hash");
    let target = XetTarget {
        endpoint: hub.endpoint(),
        repo: REPO.into(),
        revision: hub.commit(REPO).expect("commit"),
        file_hash: XetHash::from_hex(hash).expect("hash"),
        size: data.len() as u64,
        sha256: hub.sha256(REPO, "model.safetensors"),
    };
    (hub, data, target)
}

fn opts() -> XetOptions {
    XetOptions {
        max_xorb_bytes: 512 << 10,
        ..XetOptions::default()
    }
}

fn fast() -> ReaderOptions {
    ReaderOptions {
        backoff: Duration::from_millis(20),
        ..ReaderOptions::default()
    }
}

async fn read(
    target: &XetTarget,
) -> (
    Result<hubfetch::xet::XetReport, hubfetch::xet::XetError>,
    Vec<u8>,
    Vec<XetEvent>,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("file");
    let mut reader = Reader::new(reqwest::Client::new(), None, fast());
    let mut events = Vec::new();
    let r = reader.fetch(target, &out, |e| events.push(e.clone())).await;
    let bytes = std::fs::read(&out).unwrap_or_default();
    (r, bytes, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_byte_identical_and_verifies_xorbs_v2_and_v1() {
    for v2 in [true, false] {
        let (hub, data, target) = start(XetOptions { v2, ..opts() }).await;
        let (r, bytes, events) = read(&target).await;
        let report = r.expect("read");
        assert!(bytes == data, "v2={v2}: bytes differ");
        // 3 MiB in 512 KiB xorbs: several xorbs, each fetched whole and checked.
        assert!(report.xorbs_verified >= 5, "{report:?}");
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, XetEvent::XorbVerified(_)))
                .count() as u64,
            report.xorbs_verified
        );
        assert_eq!(report.repaired_terms, 0);
        assert_eq!(hub.stats().cdn_requests, 0, "Xet only, no blob download");
        hub.shutdown().await;
    }
}

/// Bytes received for a clean read on this hub (the baseline of "bytes re-sent").
async fn baseline(target: &XetTarget) -> u64 {
    let (r, _, _) = read(target).await;
    r.expect("clean read").bytes_received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_byte_costs_one_xorb_range() {
    let (hub, data, target) = start(opts()).await;
    let clean = baseline(&target).await;
    // The byte is flipped in the 4th xorb transfer (not the first: a repair that simply starts
    // from the first term would look as cheap).
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("file");
    let mut reader = Reader::new(reqwest::Client::new(), None, fast());
    let mut events = Vec::new();
    let mut verified = 0;
    let r = reader
        .fetch(&target, &out, |e| {
            if matches!(e, XetEvent::XorbVerified(_)) {
                verified += 1;
                if verified == 3 {
                    hub.set_faults(Faults {
                        flip_byte: 1,
                        ..Faults::default()
                    });
                }
            }
            events.push(e.clone());
        })
        .await;
    let report = r.expect("read despite a flipped byte");
    assert!(std::fs::read(&out).expect("read") == data, "bytes differ");
    assert_eq!(hub.stats().faults_injected.get("flip_byte"), Some(&1));
    // Found at once (an LZ4 error or the xorb hash), re-fetched alone: at most one xorb
    // (512 KiB + headers) + 5 % more than a clean read.
    let extra = report.bytes_received - clean;
    assert!(
        extra <= (512 << 10) + (512 << 10) / 20,
        "re-sent {extra} bytes: {events:?}"
    );
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drops_truncation_and_503_are_retried() {
    let (hub, data, target) = start(opts()).await;
    let clean = baseline(&target).await;
    hub.set_faults(Faults {
        drop_mid_body: 2,
        truncate_body: 1,
        cdn_503: 2,
        retry_after_secs: 0,
        ..Faults::default()
    });
    let (r, bytes, events) = read(&target).await;
    let report = r.expect("read");
    assert!(bytes == data);
    let retries = events
        .iter()
        .filter(|e| matches!(e, XetEvent::Retry(_)))
        .count();
    // 2 × 503, and the body faults (a drop and a truncation may hit the same response).
    let injected = hub.stats().faults_injected;
    assert_eq!(injected.get("cdn_503"), Some(&2), "{injected:?}");
    assert!(retries >= 4, "{events:?}");
    // Each failure costs at most the range it hit.
    let extra = report.bytes_received - clean;
    assert!(
        extra <= 3 * (512 << 10) + (512 << 10) / 20,
        "re-sent {extra}"
    );
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_urls_and_token_are_renewed_mid_download() {
    let (hub, data, target) = start(XetOptions {
        token_lifetime: Duration::from_millis(1200),
        url_lifetime: Duration::from_millis(400),
        ..opts()
    })
    .await;
    // ~1.5 s for 3 MiB: URLs expire several times, the token at least once.
    hub.set_faults(Faults {
        bandwidth_total: Some(2_000_000),
        ..Faults::default()
    });
    let (r, bytes, events) = read(&target).await;
    r.expect("read");
    assert!(bytes == data);
    assert!(events.contains(&XetEvent::Requery), "{events:?}");
    let x = hub.xet_stats();
    assert!(x.refused >= 1 && x.token_requests >= 2, "{x:?}");
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_file_hash_or_sha256_is_an_error_not_a_file() {
    let (hub, _data, target) = start(opts()).await;
    let mut wrong = target.clone();
    wrong.sha256 = Some("00".repeat(32));
    let (r, _, _) = read(&wrong).await;
    assert!(
        matches!(r, Err(hubfetch::xet::XetError::Sha256Mismatch { .. })),
        "{r:?}"
    );
    let mut unknown = target.clone();
    unknown.file_hash = XetHash([7; 32]);
    let (r, _, _) = read(&unknown).await;
    assert!(
        matches!(r, Err(hubfetch::xet::XetError::Status { status: 404, .. })),
        "{r:?}"
    );
    hub.shutdown().await;
    // CAS unreachable (the hub is gone): an error the HTTP path can fall back from.
    let (r, _, _) = read(&target).await;
    assert!(
        matches!(r, Err(hubfetch::xet::XetError::Http { .. })),
        "{r:?}"
    );
}

/// Received bytes of a read interrupted after `after` (the future is dropped, as a crash
/// would), and the partial file's path.
async fn interrupted(target: &XetTarget, out: &std::path::Path, after: Duration) -> u64 {
    let mut reader = Reader::new(reqwest::Client::new(), None, fast());
    let mut received = 0u64;
    let r = tokio::time::timeout(
        after,
        reader.fetch(target, out, |e| {
            if let XetEvent::Received(n) = e {
                received += n;
            }
        }),
    )
    .await;
    assert!(r.is_err(), "the read finished before it was interrupted");
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_read_resumes_asking_only_for_missing_bytes() {
    let (hub, data, target) = start(opts()).await;
    let clean = baseline(&target).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("file");
    hub.set_faults(Faults {
        bandwidth_total: Some(2_000_000),
        ..Faults::default()
    });
    let first = interrupted(&target, &out, Duration::from_millis(900)).await;
    assert!(
        out.with_extension("xet-journal").exists() || dir.path().join("file.xet-journal").exists()
    );
    hub.set_faults(Faults::default());
    let before = hub.xet_stats();
    let mut reader = Reader::new(reqwest::Client::new(), None, fast());
    let report = reader
        .fetch(&target, &out, |_| {})
        .await
        .expect("resumed read");
    assert!(std::fs::read(&out).expect("read") == data);
    let after = hub.xet_stats();
    assert_eq!(
        after.ranged_reconstructions - before.ranged_reconstructions,
        1,
        "{after:?}"
    );
    // Across both runs: the file's xorb bytes once, plus at most the range in flight when
    // interrupted (one 512 KiB xorb) + 5 %.
    let total = first + report.bytes_received;
    assert!(
        first > 0 && report.bytes_received < clean,
        "{first} then {}",
        report.bytes_received
    );
    assert!(
        total <= clean + (512 << 10) + clean / 20,
        "{total} vs clean {clean}"
    );
    assert!(
        !dir.path().join("file.xet-journal").exists(),
        "journal left after success"
    );
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_rotted_on_disk_between_runs_are_fetched_again() {
    let (hub, data, target) = start(opts()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("file");
    hub.set_faults(Faults {
        bandwidth_total: Some(2_000_000),
        ..Faults::default()
    });
    interrupted(&target, &out, Duration::from_millis(1200)).await;
    hub.set_faults(Faults::default());
    // Corrupt a byte of the first (journalled) xorb on disk.
    let mut bytes = std::fs::read(&out).expect("partial");
    bytes[1000] ^= 0xFF;
    std::fs::write(&out, &bytes).expect("write");
    let mut reader = Reader::new(reqwest::Client::new(), None, fast());
    reader.fetch(&target, &out, |_| {}).await.expect("read");
    assert!(std::fs::read(&out).expect("read") == data);
    hub.shutdown().await;
}
