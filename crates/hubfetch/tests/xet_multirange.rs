//! Multi-range v2 transfers: when a v2 reconstruction gives one signed URL for several ranges
//! of a xorb, hubfetch asks for all of them in ONE request (a multi-range `Range`, exactly the
//! signed ranges) and parses the `multipart/byteranges` answer; a server that answers with a
//! single range (206) or the whole xorb (200) gets one request per range instead, and a
//! malformed multipart answer costs that one request.
//!
//! The file: `a.bin` = X Y Z (three random MiB, one xorb) is chunked first; `b.bin` = X Z Y
//! reuses a.bin's chunks out of order, so its terms need three disjoint chunk ranges of
//! a.bin's xorb (the chunks at the X|Y and Y|Z seams of a.bin are not in b.bin) plus a few new
//! chunks (b.bin's own seams) in a second xorb.

use std::time::Duration;

use hubfetch::xet::{Reader, ReaderOptions, XetHash, XetReport, XetTarget};
use testhub::{
    generated_bytes, Faults, FileContent, MultiRange, Repo, RepoFile, TestHub, XetFaults,
    XetOptions,
};

const REPO: &str = "kyutai/xet-multirange";
const MIB: usize = 1 << 20;

fn random(seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; MIB];
    generated_bytes(MIB as u64, seed, 0, &mut v);
    v
}

/// (a.bin, b.bin).
fn files() -> (Vec<u8>, Vec<u8>) {
    let (x, y, z) = (random(1), random(2), random(3));
    ([&x[..], &y, &z].concat(), [&x[..], &z, &y].concat())
}

async fn start(opts: XetOptions) -> (TestHub, Vec<u8>, XetTarget) {
    let (a, b) = files();
    let lfs = |name: &str, data: &[u8]| {
        let mut f = RepoFile::new(name, FileContent::Bytes(data.to_vec()));
        f.lfs = Some(true);
        f
    };
    let hub = TestHub::start(
        vec![Repo::new(REPO, vec![lfs("a.bin", &a), lfs("b.bin", &b)])],
        Faults::default(),
    )
    .await
    .expect("start");
    hub.enable_xet(opts).await.expect("xet");
    let head = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .head(format!("{}/{REPO}/resolve/main/b.bin", hub.endpoint()))
        .send()
        .await
        .expect("head");
    let hash = head.headers()["x-xet-hash"].to_str().expect("x-xet-hash");
    let target = XetTarget {
        endpoint: hub.endpoint(),
        repo: REPO.into(),
        revision: hub.commit(REPO).expect("commit"),
        file_hash: XetHash::from_hex(hash).expect("hash"),
        size: b.len() as u64,
        sha256: hub.sha256(REPO, "b.bin"),
    };
    (hub, b, target)
}

fn reader_opts(multi_range: bool) -> ReaderOptions {
    ReaderOptions {
        backoff: Duration::from_millis(20),
        multi_range,
        ..ReaderOptions::default()
    }
}

/// Reads b.bin; returns the report and the bytes.
async fn read(target: &XetTarget, opts: ReaderOptions) -> (XetReport, Vec<u8>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("b.bin");
    let mut reader = Reader::new(reqwest::Client::new(), None, opts);
    let report = reader.fetch(target, &out, |_| {}).await.expect("read");
    (report, std::fs::read(&out).expect("read back"))
}

/// The xorb byte ranges b.bin's v2 reconstruction asks for, per fetch entry.
async fn fetch_entries(target: &XetTarget) -> Vec<usize> {
    let http = reqwest::Client::new();
    let tok: serde_json::Value = http
        .get(format!(
            "{}/api/models/{REPO}/xet-read-token/{}",
            target.endpoint, target.revision
        ))
        .send()
        .await
        .expect("token")
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).expect("token json"))
        .expect("token body");
    let r: serde_json::Value = http
        .get(format!(
            "{}/v2/reconstructions/{}",
            tok["casUrl"].as_str().expect("casUrl"),
            target.file_hash
        ))
        .bearer_auth(tok["accessToken"].as_str().expect("accessToken"))
        .send()
        .await
        .expect("reconstruction")
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).expect("reconstruction json"))
        .expect("reconstruction body");
    let mut n: Vec<usize> = r["xorbs"]
        .as_object()
        .expect("xorbs")
        .values()
        .flat_map(|fetches| fetches.as_array().expect("fetches"))
        .map(|f| f["ranges"].as_array().expect("ranges").len())
        .collect();
    n.sort_unstable();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_ranges_of_one_xorb_come_in_one_request() {
    let (hub, data, target) = start(XetOptions::default()).await;
    // The premise: one fetch entry with three ranges (a.bin's xorb), one with one (b.bin's
    // new seam chunks).
    assert_eq!(fetch_entries(&target).await, vec![1, 3]);
    hub.reset_stats();
    let before = hub.xet_stats();

    let (report, bytes) = read(&target, reader_opts(true)).await;
    assert!(bytes == data, "bytes differ");
    let xet = hub.xet_stats();
    // Two requests: the three ranges of a.bin's xorb in one, b.bin's own xorb in the other.
    assert_eq!(xet.xorb_requests - before.xorb_requests, 2, "{report:?}");
    assert_eq!(xet.multi_range_requests - before.multi_range_requests, 1);
    assert_eq!((report.transfers, report.multi_range_transfers), (2, 1));
    assert_eq!(report.repaired_terms, 0);
    assert_eq!(
        hub.stats().cdn_requests,
        0,
        "xorb transfers only, no blob download"
    );

    // Off: one request per range (what the count above rules out).
    let (report, bytes) = read(&target, reader_opts(false)).await;
    assert!(bytes == data, "bytes differ (multi-range off)");
    assert_eq!((report.transfers, report.multi_range_transfers), (4, 0));
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_multi_range_gets_one_request_per_range() {
    for mode in [MultiRange::FirstOnly, MultiRange::Whole] {
        let (hub, data, target) = start(XetOptions {
            multi_range: mode,
            ..XetOptions::default()
        })
        .await;
        let before = hub.xet_stats();
        let (report, bytes) = read(&target, reader_opts(true)).await;
        assert!(bytes == data, "{mode:?}: bytes differ");
        // One multi-range attempt (answered with one range or the whole xorb, dropped), then
        // the three ranges one by one, and b.bin's own xorb.
        assert_eq!(
            (report.transfers, report.multi_range_transfers),
            (5, 1),
            "{mode:?}"
        );
        assert_eq!(hub.xet_stats().xorb_requests - before.xorb_requests, 5);
        hub.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_multipart_answer_is_refused_and_costs_one_request() {
    let (hub, data, target) = start(XetOptions {
        faults: XetFaults {
            bad_multipart: 1,
            ..XetFaults::default()
        },
        ..XetOptions::default()
    })
    .await;
    let (report, bytes) = read(&target, reader_opts(true)).await;
    assert!(bytes == data, "bytes differ");
    assert_eq!(
        hub.stats().faults_injected.get("xorb_bad_multipart"),
        Some(&1)
    );
    // The first part was good and is kept: only the ranges from the bad part on are asked
    // again, one request each (the server still does multi-range; the retry is per term).
    assert_eq!(report.multi_range_transfers, 1, "{report:?}");
    assert!(
        (4..=5).contains(&report.transfers),
        "1 multi + at most 3 single + 1: {report:?}"
    );
    // Bytes re-sent: at most the two ranges after the bad part's start (< 2 MiB + seams).
    assert!(
        report.bytes_received < data.len() as u64 + (2 * MIB as u64 + 512 * 1024),
        "{report:?}"
    );
    hub.shutdown().await;
}
