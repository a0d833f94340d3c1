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

type Read = (
    Result<hubfetch::xet::XetReport, hubfetch::xet::XetError>,
    Vec<u8>,
    Vec<XetEvent>,
);

async fn read(target: &XetTarget) -> Read {
    read_with(target, fast()).await
}

/// Two transfers at once: later ranges start after earlier ones end (for faults that must
/// hit a transfer started mid-download).
fn two() -> ReaderOptions {
    ReaderOptions {
        connections: 2,
        ..fast()
    }
}

async fn read_with(target: &XetTarget, opts: ReaderOptions) -> Read {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("file");
    let mut reader = Reader::new(reqwest::Client::new(), None, opts);
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
    // The byte is flipped in the 5th xorb transfer (two run at once; not the first: a repair
    // that simply starts from the first term would look as cheap).
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("file");
    let mut reader = Reader::new(reqwest::Client::new(), None, two());
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
    let clean = baseline(&target).await;
    // ~1.5 s for 3 MiB: URLs expire several times, the token at least once (two transfers
    // at once, so later ranges are asked after the first URLs expired).
    hub.set_faults(Faults {
        bandwidth_total: Some(2_000_000),
        ..Faults::default()
    });
    let (r, bytes, events) = read_with(&target, two()).await;
    let report = r.expect("read");
    assert!(bytes == data);
    assert!(events.contains(&XetEvent::Requery), "{events:?}");
    // A refused URL or token costs a query, not body bytes: ≤ 5 % more than a clean read.
    assert!(
        report.bytes_received <= clean + clean / 20,
        "{} vs clean {clean}",
        report.bytes_received
    );
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

/// Transfers at once in the interrupted reads (each interruption loses at most the ranges
/// in flight that have no durable piece yet).
const CONNS: usize = 2;

/// Received bytes of a read interrupted after `after` (the future is dropped, as a crash
/// would), and the partial file's path.
async fn interrupted(target: &XetTarget, out: &std::path::Path, after: Duration) -> u64 {
    let mut reader = Reader::new(
        reqwest::Client::new(),
        None,
        ReaderOptions {
            connections: CONNS,
            ..fast()
        },
    );
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
    let mut resumed = 0;
    let report = reader
        .fetch(&target, &out, |e| {
            if let XetEvent::Resumed(n) = e {
                resumed += n;
            }
        })
        .await
        .expect("resumed read");
    assert!(std::fs::read(&out).expect("read") == data);
    assert!(resumed > 0 && resumed < data.len() as u64, "{resumed}");
    let after = hub.xet_stats();
    // One ranged query per gap the journal left: at most one per transfer in flight, plus
    // the rest of the file; never a whole-file query.
    let ranged = after.ranged_reconstructions - before.ranged_reconstructions;
    let all = after.reconstruction_requests - before.reconstruction_requests;
    assert!(
        (1..=CONNS as u64 + 1).contains(&ranged) && all == ranged,
        "{after:?}"
    );
    assert!(report.resumed_terms >= 1, "{report:?}");
    // Across both runs: the file's xorb bytes once, plus at most the ranges in flight when
    // interrupted (one 512 KiB xorb each) + 5 %.
    let total = first + report.bytes_received;
    assert!(
        first > 0 && report.bytes_received < clean,
        "{first} then {}",
        report.bytes_received
    );
    assert!(
        total <= clean + CONNS as u64 * (512 << 10) + clean / 20,
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

/// A hub whose whole file is one term of one xorb (a long term, as a 64 MiB xorb is on the
/// Hub), the bytes it serves for a clean read, and the target.
async fn one_long_term() -> (TestHub, Vec<u8>, XetTarget) {
    start(XetOptions {
        max_xorb_bytes: 64 << 20,
        ..XetOptions::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_long_term_resumes_after_its_last_durable_piece() {
    let (hub, data, target) = one_long_term().await;
    let clean = baseline(&target).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("file");
    hub.set_faults(Faults {
        bandwidth_total: Some(1_000_000),
        ..Faults::default()
    });
    // ~2.5 MB of the 3 MiB term arrive; pieces are journalled every second.
    let first = interrupted(&target, &out, Duration::from_millis(2500)).await;
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
        "the rest of the term, asked by range: {after:?}"
    );
    // The resumed read fetched only what came after the last piece: across both runs at most
    // ~1 s of the link (1 MB, + slack for a loaded machine) + one chunk more than a clean read
    // (without pieces it is everything the first run received, ~2.4 MB).
    assert!(first > 1_500_000, "{first}");
    let total = first + report.bytes_received;
    assert!(
        total <= clean + 1_300_000 + (128 << 10),
        "{total} vs clean {clean} (first run {first})"
    );
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_transfers_beat_a_per_connection_cap() {
    let (hub, data, target) = start(opts()).await;
    // Each connection is capped at 1 MB/s: one transfer at a time needs ~3 s for 3 MiB.
    hub.set_faults(Faults {
        bandwidth_per_connection: Some(1_000_000),
        ..Faults::default()
    });
    let mut times = Vec::new();
    for conns in [1, 4] {
        hub.reset_stats();
        let t0 = std::time::Instant::now();
        let (r, bytes, _) = read_with(
            &target,
            ReaderOptions {
                connections: conns,
                ..fast()
            },
        )
        .await;
        let report = r.expect("read");
        times.push(t0.elapsed());
        assert!(bytes == data);
        assert_eq!(report.max_parallel, conns as u64, "{report:?}");
        assert!(hub.stats().max_concurrent >= conns as u64);
    }
    assert!(
        times[1] * 2 < times[0],
        "4 connections {:?} vs 1 connection {:?}",
        times[1],
        times[0]
    );
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_the_transfers_and_resume_finishes() {
    let (hub, data, target) = start(opts()).await;
    hub.set_faults(Faults {
        bandwidth_total: Some(1_000_000),
        ..Faults::default()
    });
    let (tx, rx) = tokio::sync::watch::channel(false);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("file");
    let mut reader = Reader::new(
        reqwest::Client::new(),
        None,
        ReaderOptions {
            paused: Some(rx),
            ..fast()
        },
    );
    let hub2 = &hub;
    let pauser = async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        tx.send_replace(true);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let a = hub2.stats().bytes_served;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let b = hub2.stats().bytes_served;
        tx.send_replace(false);
        (a, b)
    };
    let (r, (a, b)) = tokio::join!(reader.fetch(&target, &out, |_| {}), pauser);
    r.expect("read after resume");
    assert!(std::fs::read(&out).expect("read") == data);
    let total = hub.stats().bytes_served;
    assert!(
        a > 0 && total > b,
        "paused before any byte or after the last: {a} {b} {total}"
    );
    assert_eq!(b - a, 0, "bytes served while paused");
    hub.shutdown().await;
}

/// Body bytes the hub served for one read of `target` with `opts` (hash-checked).
async fn served(hub: &TestHub, target: &XetTarget, data: &[u8], opts: ReaderOptions) -> u64 {
    hub.reset_stats();
    let (r, bytes, events) = read_with(target, opts).await;
    r.unwrap_or_else(|e| panic!("read: {e}: {events:?}"));
    assert!(bytes == data, "bytes differ");
    hub.stats().bytes_served
}

/// The server-side Xet faults: each read must end with the file's hash (checked by the
/// reader against X-Xet-Hash and the SHA-256, and here against the bytes) and may re-send
/// at most `ranges` xorb ranges (512 KiB each) + 5 % more than a clean read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xet_fault_matrix_bytes_re_sent_are_bounded() {
    use testhub::XetFaults;
    const XORB: u64 = 512 << 10;
    let opts_r = ReaderOptions {
        stall_timeout: Duration::from_millis(700),
        ..fast()
    };
    // Same content, same xorbs: a clean hub gives the baseline.
    let (hub, data, target) = start(opts()).await;
    let clean = served(&hub, &target, &data, opts_r.clone()).await;
    hub.shutdown().await;
    let cases: Vec<(&str, Faults, XetFaults, u64, &str)> = vec![
        (
            "a chunk header that lies about its length",
            Faults::default(),
            XetFaults {
                lying_header: 1,
                ..XetFaults::default()
            },
            1,
            "xorb_lying_header",
        ),
        (
            "a stalled transfer",
            Faults {
                stall: 1,
                stall_after_bytes: 100_000,
                ..Faults::default()
            },
            XetFaults::default(),
            1,
            "stall",
        ),
        (
            "truncated xorbs",
            Faults {
                truncate_body: 2,
                ..Faults::default()
            },
            XetFaults::default(),
            2,
            "truncate_body",
        ),
        (
            // A stall before the first chunk header: the retry re-uses the signed range,
            // which this CDN serves once (403), so the reader asks the CAS again.
            "403 on a re-used signed range",
            Faults {
                stall: 1,
                stall_after_bytes: 4,
                ..Faults::default()
            },
            XetFaults {
                signed_once: true,
                ..XetFaults::default()
            },
            1,
            "xorb_reused_range",
        ),
        (
            "503 and 429 on xorb transfers",
            Faults {
                status_429: 2,
                retry_after_secs: 0,
                ..Faults::default()
            },
            XetFaults {
                xorb_503: 3,
                ..XetFaults::default()
            },
            0,
            "xorb_503",
        ),
    ];
    for (name, faults, xet_faults, ranges, fault) in cases {
        let (hub, data, target) = start(XetOptions {
            faults: xet_faults,
            ..opts()
        })
        .await;
        hub.set_faults(faults);
        let got = served(&hub, &target, &data, opts_r.clone()).await;
        let injected = hub.stats().faults_injected;
        assert!(
            injected.contains_key(fault),
            "{name}: {fault} not injected: {injected:?}"
        );
        let extra = got.saturating_sub(clean);
        assert!(
            extra <= ranges * XORB + clean / 20,
            "{name}: re-sent {extra} bytes (clean {clean}, {injected:?})"
        );
        hub.shutdown().await;
    }
}
